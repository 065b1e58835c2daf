"""``aiida-wigner-worker``: one heavy step from input files, on any machine (no AiiDA import).

The CalcJobs of :mod:`aiida_wigner.calculations.jobs` write these files into the job folder,
run the worker there (under ``core.direct``, SLURM, ...) and parse what it writes back:

``linewidths``
    3ph / 4ph / isotope half widths γ (THz) at a chunk of irreducible q-points, all
    temperatures: :func:`aiida_wigner.physics.kappa.compute_linewidths`.
``renormalize``
    SCP (+ bubble): :func:`aiida_wigner.physics.renormalization.renormalize`.
``fit``
    hiphive fit of the force constants to a training set:
    :func:`aiida_wigner.fitting.hiphive_fit.fit_step` (the ``wigner.fit_hiphive`` calcfunction's).

Every run writes :data:`STATUS_FILE` (JSON ``{"exit_status": 0 | code, "label": ...,
"message": ...}``, the label one of :mod:`aiida_wigner.exit_codes`) and the output file only
when the step succeeded; the process exits with 0 (success), :data:`EXIT_REFUSED` (the inputs
cannot give a result: the status file says why and what to change) or, for a crash, Python's
traceback and 1.
"""

#: Names of the files in a job folder (shared by the worker and the CalcJobs).
FORCE_CONSTANTS_FILE = "force_constants.h5"
JOB_FILE = "job.json"
RENORMALIZATION_FILE = "renormalization.npz"
PREVIOUS_FILE = "previous_linewidths.npz"
LINEWIDTHS_FILE = "linewidths.npz"
STATUS_FILE = "status.json"
TRAINING_FILE = "training.npz"
FIT_FILE = "fit.npz"
FCP_FILE = "potential.fcp"

#: Process exit status of a run whose inputs cannot give a result (see STATUS_FILE).
EXIT_REFUSED = 3

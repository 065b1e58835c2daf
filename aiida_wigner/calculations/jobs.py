"""CalcJobs of the heavy steps: ``aiida-wigner-worker`` run on any computer, and their parser.

``wigner.linewidths`` (:class:`LinewidthsCalculation`)
    3ph / 4ph / isotope half widths γ (THz) at a chunk of irreducible q-points, every
    temperature; output ``linewidths`` (``ArrayData``: the arrays of
    :class:`~aiida_wigner.physics.kappa.Linewidths`, attribute ``units``).
``wigner.renormalize_job`` (:class:`RenormalizeCalculation`)
    SCP (+ bubble); outputs exactly those of the ``wigner.renormalize`` calcfunction
    (``renormalization``, ``summary``, ``effective_fc2_T*``).
``wigner.fit_job`` (:class:`FitCalculation`)
    hiphive fit of the force constants to a training set; outputs exactly those of the
    ``wigner.fit_hiphive`` calcfunction (``fcp``, ``scores``, ``force_constants``); refusals
    ERROR_FIT_SETUP / ERROR_TOO_MANY_PARAMETERS as there.

Both copy the ``force_constants.h5`` of the input node into the job folder (the worker reads
it bit for bit), write ``job.json`` (the settings) and retrieve the worker's output and
``status.json``.  The parser (``wigner.worker``) maps what it finds to the package's exit
codes: the worker's own refusal (300 invalid input, 340 unstable phonons, 350 SCP not
converged, with the physics message), 362 / 363 when the scheduler (``ERROR_SCHEDULER_OUT_OF_
WALLTIME`` / ``_OUT_OF_MEMORY``) or the job's stderr says walltime / memory ran out, 364 for a
crash (the traceback's last line), 360 for a missing and 361 for an unreadable output.

``gather_linewidths`` and ``kappa_from_linewidths_calcfunction`` (calcfunctions) are the
reduce step of the chunked κ in ``wigner.conductivity``: the provenance graph shows every
chunk job feeding the gathered linewidths and the Wigner κ.
:func:`ensure_localhost_computer_and_worker_code` sets up the ``localhost`` computer
(``core.local`` / ``core.direct``) and the worker's ``InstalledCode``;
:func:`ensure_localhost_python_code` the Python code of the ASE engine's PythonJobs there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys

import numpy as np
from aiida import orm
from aiida.common.datastructures import CalcInfo, CodeInfo
from aiida.engine import CalcJob, calcfunction
from aiida.parsers import Parser

from aiida_wigner import worker as files
from aiida_wigner.data.force_constants import FILENAME as FC_NODE_FILE
from aiida_wigner.data.force_constants import ForceConstantsData
from aiida_wigner.exit_codes import define_exit_codes, exit_code

from .fitting import define_ensemble_output
from .validators import settings_validator

__all__ = [
    "LinewidthsCalculation",
    "RenormalizeCalculation",
    "FitCalculation",
    "WorkerParser",
    "gather_linewidths",
    "kappa_from_linewidths_calcfunction",
    "failure_label",
    "ensure_localhost_computer_and_worker_code",
    "ensure_localhost_python_code",
]

#: Exit codes a worker CalcJob can end with (aiida_wigner.exit_codes).
WORKER_EXIT_CODES = (
    "ERROR_INVALID_INPUT",
    "ERROR_UNSTABLE_PHONONS",
    "ERROR_SCP_NOT_CONVERGED",
    "ERROR_WORKER_OUTPUT_MISSING",
    "ERROR_WORKER_OUTPUT_CORRUPT",
    "ERROR_WORKER_OUT_OF_WALLTIME",
    "ERROR_WORKER_OUT_OF_MEMORY",
    "ERROR_WORKER_FAILED",
)

#: Scheduler-stderr lines that mean the job hit its walltime / memory limit (SLURM, PBS,
#: the kernel's OOM killer, Python).
WALLTIME_PATTERN = re.compile(
    r"DUE TO TIME LIMIT|TIME LIMIT|walltime .*exceeded|"
    r"job killed: walltime",
    re.IGNORECASE,
)
MEMORY_PATTERN = re.compile(
    r"oom[-_ ]kill|out of memory|MemoryError|"
    r"exceeded (job )?memory limit|\d+ Killed\b|^Killed\b",
    re.IGNORECASE | re.MULTILINE,
)

#: Exit statuses of ``CalcJob.parse_scheduler_output`` (aiida-core's CalcJob spec).
SCHEDULER_WALLTIME, SCHEDULER_MEMORY = 120, 110


def failure_label(scheduler_status: int | None, stderr: str) -> str:
    """The exit-code label of a worker job that left no output.

    ``scheduler_status``: the node's exit status set by the scheduler's ``parse_output``
    (120 out of walltime, 110 out of memory; None or 0: nothing detected); ``stderr``: the
    job's scheduler stderr.  Walltime and memory first (from the scheduler, else from the
    messages of SLURM, PBS, the OOM killer or Python), then a Python traceback, else
    ERROR_WORKER_OUTPUT_MISSING.
    """
    if scheduler_status == SCHEDULER_WALLTIME or WALLTIME_PATTERN.search(stderr):
        return "ERROR_WORKER_OUT_OF_WALLTIME"
    if scheduler_status == SCHEDULER_MEMORY or MEMORY_PATTERN.search(stderr):
        return "ERROR_WORKER_OUT_OF_MEMORY"
    if "Traceback (most recent call last)" in stderr:
        return "ERROR_WORKER_FAILED"
    return "ERROR_WORKER_OUTPUT_MISSING"


class _WorkerCalculation(CalcJob):
    """One ``aiida-wigner-worker STEP`` run on ``force_constants`` with ``settings``.

    Subclasses set ``STEP`` and ``OUTPUT_FILE`` and define ``outputs_from_file(node, arrays,
    meta)``: the output nodes from the worker's arrays (ValueError when they are unusable).
    """

    STEP = ""
    OUTPUT_FILE = ""
    #: the ForceConstantsData input whose HDF5 file goes to the job (``--force-constants``)
    FC_INPUT, FC_REQUIRED = "force_constants", True
    FC_HELP = "The force constants (eV/Å^n); their HDF5 file goes to the job."
    #: files retrieved besides OUTPUT_FILE and the status file
    EXTRA_RETRIEVE: tuple[str, ...] = ()
    EXIT_CODES = WORKER_EXIT_CODES

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            cls.FC_INPUT, valid_type=ForceConstantsData, required=cls.FC_REQUIRED, help=cls.FC_HELP
        )
        spec.input(
            "settings", valid_type=orm.Dict, help="Settings of the step (with temperatures)."
        )
        options = spec.inputs["metadata"]["options"]
        options["resources"].default = {"num_machines": 1, "num_mpiprocs_per_machine": 1}
        options["withmpi"].default = False
        options["parser_name"].default = "wigner.worker"
        define_exit_codes(spec, *cls.EXIT_CODES)

    def _write_inputs(self, folder) -> list[str]:
        """Files besides force_constants.h5 and job.json; returns the extra command-line args."""
        return []

    def _job(self) -> dict:
        return {"settings": self.inputs.settings.get_dict()}

    def prepare_for_submission(self, folder):
        args = [self.STEP, "--job", files.JOB_FILE, "--output", self.OUTPUT_FILE]
        if self.FC_INPUT in self.inputs:
            with self.inputs[self.FC_INPUT].base.repository.open(FC_NODE_FILE, "rb") as src:
                with folder.open(files.FORCE_CONSTANTS_FILE, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            args += ["--force-constants", files.FORCE_CONSTANTS_FILE]
        with folder.open(files.JOB_FILE, "w") as fh:
            json.dump(self._job(), fh)
        codeinfo = CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = [*args, *self._write_inputs(folder)]
        calcinfo = CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.retrieve_list = [self.OUTPUT_FILE, files.STATUS_FILE, *self.EXTRA_RETRIEVE]
        return calcinfo


def _write_npz_input(folder, name: str, arrays: dict, **meta) -> None:
    from aiida_wigner.worker.cli import write_npz

    write_npz(folder.get_abs_path(name), arrays, **meta)


def linewidths_node(linewidths) -> orm.ArrayData:
    """An unstored ``ArrayData`` of a :class:`~aiida_wigner.physics.kappa.Linewidths`."""
    node = orm.ArrayData()
    for name, value in linewidths.arrays().items():
        node.set_array(name, value)
    node.base.attributes.set("units", dict(linewidths.UNITS))
    return node


def linewidths_from_node(node: orm.ArrayData):
    """The :class:`~aiida_wigner.physics.kappa.Linewidths` of a ``linewidths`` node."""
    from aiida_wigner.physics.kappa import Linewidths

    return Linewidths.from_arrays({name: node.get_array(name) for name in node.get_arraynames()})


def _kappa_settings_validator():
    from .kappa import settings_from_dict

    return settings_validator(settings_from_dict)


class LinewidthsCalculation(_WorkerCalculation):
    """Half widths γ (THz) of a chunk of irreducible q-points.

    Runs ``aiida-wigner-worker linewidths``.
    """

    STEP = "linewidths"
    OUTPUT_FILE = files.LINEWIDTHS_FILE

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.inputs["settings"].validator = _kappa_settings_validator()
        spec.inputs[
            "settings"
        ].help = "KappaSettings fields with temperatures (as for wigner.kappa)."
        spec.input(
            "grid_points",
            valid_type=orm.List,
            required=False,
            help="Mesh indices of the chunk's irreducible q-points (default: all).",
        )
        spec.input(
            "parts",
            valid_type=orm.List,
            required=False,
            help="Channels to compute, of 3ph, isotope, 4ph (default: all switched on).",
        )
        spec.input(
            "renormalization",
            valid_type=orm.ArrayData,
            required=False,
            help="wigner.renormalize output: each temperature on its renormalized phonons.",
        )
        spec.input(
            "previous",
            valid_type=orm.ArrayData,
            required=False,
            help="Linewidths at the same points whose 3ph + isotope are kept (and weight "
            "the 'kappa' allocation of sampled 4ph).",
        )
        spec.output(
            "linewidths",
            valid_type=orm.ArrayData,
            help="grid_points, temperatures (K), gamma_3ph, gamma_isotope, gamma_4ph, "
            "gamma_4ph_stderr (T, G, B) THz half widths.",
        )

    def _job(self) -> dict:
        job = super()._job()
        for name in ("grid_points", "parts"):
            if name in self.inputs:
                job[name] = self.inputs[name].get_list()
        return job

    def _write_inputs(self, folder) -> list[str]:
        from aiida_wigner.physics.renormalization import Renormalization

        args = []
        if "renormalization" in self.inputs:
            node = self.inputs.renormalization
            _write_npz_input(
                folder,
                files.RENORMALIZATION_FILE,
                {name: node.get_array(name) for name in Renormalization.ARRAYS},
                kind=node.base.attributes.get("kind"),
            )
            args += ["--renormalization", files.RENORMALIZATION_FILE]
        if "previous" in self.inputs:
            _write_npz_input(
                folder, files.PREVIOUS_FILE, linewidths_from_node(self.inputs.previous).arrays()
            )
            args += ["--previous", files.PREVIOUS_FILE]
        return args

    @classmethod
    def outputs_from_file(cls, node, arrays: dict, meta: dict) -> dict:
        from aiida_wigner.physics.kappa import Linewidths

        return {"linewidths": linewidths_node(Linewidths.from_arrays(arrays))}


class RenormalizeCalculation(_WorkerCalculation):
    """SCP (+ bubble) renormalization (``aiida-wigner-worker renormalize``); the outputs of
    the ``wigner.renormalize`` calcfunction."""

    STEP = "renormalize"
    OUTPUT_FILE = files.RENORMALIZATION_FILE

    @classmethod
    def define(cls, spec):
        from .renormalize import settings_from_dict

        super().define(spec)
        spec.inputs["settings"].validator = settings_validator(settings_from_dict)
        spec.output("renormalization", valid_type=orm.ArrayData)
        spec.output("summary", valid_type=orm.Dict)
        spec.output_namespace(
            "effective_fc2",
            valid_type=ForceConstantsData,
            dynamic=True,
            required=False,
            help="Effective FC2 per temperature (T300, ...).",
        )

    @classmethod
    def outputs_from_file(cls, node, arrays: dict, meta: dict) -> dict:
        from aiida_wigner.physics.renormalization import Renormalization

        from .renormalize import renormalization_outputs

        result = Renormalization.from_arrays(meta["kind"], arrays)
        outputs = renormalization_outputs(node.inputs.force_constants.get_force_constants(), result)
        prefix = "effective_fc2_"
        effective = {
            key[len(prefix) :]: outputs.pop(key) for key in list(outputs) if key.startswith(prefix)
        }
        return {**outputs, "effective_fc2": effective}


class FitCalculation(_WorkerCalculation):
    """hiphive fit (``aiida-wigner-worker fit``); the outputs of the ``wigner.fit_hiphive``
    calcfunction (``fcp``, ``scores``, ``force_constants``, ``ensemble``), the same numbers."""

    STEP = "fit"
    OUTPUT_FILE = files.FIT_FILE
    FC_INPUT, FC_REQUIRED = "harmonic_force_constants", False
    FC_HELP = (
        "FC2 from the finite displacements of the same supercell (no cutoff); with "
        "harmonic='fixed' it is the harmonic part of the fit and of force_constants."
    )
    EXTRA_RETRIEVE = (files.FCP_FILE,)
    EXIT_CODES = (*WORKER_EXIT_CODES, "ERROR_FIT_SETUP", "ERROR_TOO_MANY_PARAMETERS")

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.inputs["settings"].help = (
            "Parameters of wigner.fit_hiphive: supercell_matrix, primitive_matrix, cutoffs "
            "{order: Å}, method, harmonic, validation, ..."
        )
        spec.input("structure", valid_type=orm.StructureData, help="Unit cell (Å).")
        spec.input("displacements", valid_type=orm.ArrayData, help="'displacements' (m, N, 3) Å.")
        spec.input("forces", valid_type=orm.ArrayData, help="'forces' (m, N, 3) eV/Å.")
        spec.input(
            "harmonic_dataset",
            valid_type=orm.ArrayData,
            required=False,
            help="Finite-displacement 'displacements' (Å) and 'forces' (eV/Å).",
        )
        spec.output("fcp", valid_type=orm.SinglefileData, help="hiphive ForceConstantPotential.")
        spec.output("scores", valid_type=orm.Dict, help="Fit and validation scores.")
        spec.output("force_constants", valid_type=ForceConstantsData)
        define_ensemble_output(spec)

    def _write_inputs(self, folder) -> list[str]:
        atoms = self.inputs.structure.get_ase()
        arrays = {
            "lattice": atoms.cell.array,
            "positions": atoms.get_scaled_positions(wrap=False),
            "numbers": atoms.numbers,
            "masses": atoms.get_masses(),
            "displacements": self.inputs.displacements.get_array("displacements"),
            "forces": self.inputs.forces.get_array("forces"),
        }
        if "harmonic_dataset" in self.inputs:
            for name in ("displacements", "forces"):
                arrays[f"harmonic_{name}"] = self.inputs.harmonic_dataset.get_array(name)
        _write_npz_input(folder, files.TRAINING_FILE, arrays)
        return ["--training", files.TRAINING_FILE]

    @classmethod
    def outputs_from_file(cls, node, arrays: dict, meta: dict) -> dict:
        from aiida_wigner.fitting.ensemble import member_label
        from aiida_wigner.physics.forceconstants import ForceConstants, SparseForceConstants

        from .fitting import _setup

        setup = _setup(node.inputs.structure, node.inputs.settings.get_dict())

        def node_from_arrays(source, prefix=""):
            fc4 = None
            if prefix + "fc4_atoms" in arrays:
                fc4 = SparseForceConstants(
                    4, arrays[prefix + "fc4_atoms"], arrays[prefix + "fc4_values"]
                )
            fc = ForceConstants(
                setup, arrays[prefix + "fc2"], arrays.get(prefix + "fc3"), fc4, source
            )
            return ForceConstantsData.from_force_constants(fc)

        with node.outputs.retrieved.base.repository.open(files.FCP_FILE, "rb") as fh:
            fcp = orm.SinglefileData(fh, filename=files.FCP_FILE)
        outputs = {
            "fcp": fcp,
            "scores": orm.Dict(meta["scores"]),
            "force_constants": node_from_arrays(meta["source"]),
        }
        members = meta.get("ensemble_sources", [])
        if members:
            outputs["ensemble"] = {
                member_label(b): node_from_arrays(source, f"{member_label(b)}_")
                for b, source in enumerate(members)
            }
        return outputs


class WorkerParser(Parser):
    """``wigner.worker``: the worker's output file → output nodes, or a named exit code."""

    def parse(self, **kwargs):
        from aiida_wigner.worker.cli import read_npz

        retrieved = self.retrieved
        names = retrieved.base.repository.list_object_names()
        if files.STATUS_FILE in names:
            status = json.loads(retrieved.base.repository.get_object_content(files.STATUS_FILE))
            if status.get("label"):
                return exit_code(status["label"], status.get("message", ""))
        process = self.node.process_class
        if process.OUTPUT_FILE not in names:
            stderr = self.node.get_scheduler_stderr() or ""
            label = failure_label(self.node.exit_status, stderr)
            last = stderr.strip().splitlines()[-1] if stderr.strip() else "(empty stderr)"
            return self.exit_codes[label].format(message=f"{process.OUTPUT_FILE} ({last})")
        try:
            with retrieved.base.repository.open(process.OUTPUT_FILE, "rb") as fh:
                arrays, meta = read_npz(fh)
            outputs = process.outputs_from_file(self.node, arrays, meta)
        except (OSError, ValueError, KeyError) as exc:
            return self.exit_codes["ERROR_WORKER_OUTPUT_CORRUPT"].format(
                message=f"{process.OUTPUT_FILE}: {exc}"
            )
        for label, value in outputs.items():
            self.out(label, value)
        return None


@calcfunction
def gather_linewidths(**chunks):
    """The linewidths of all chunk nodes (``chunk_0000``, ...) in one ``ArrayData``, points in
    ascending mesh index (the order of the irreducible grid); exit 300 when a point is given
    twice or the chunks are at other temperatures."""
    from aiida_wigner.physics.kappa import Linewidths

    parts = [linewidths_from_node(chunks[key]) for key in sorted(chunks)]
    points = np.sort(np.concatenate([p.grid_points for p in parts]))
    try:
        return {"linewidths": linewidths_node(Linewidths.gather(parts, points))}
    except ValueError as exc:
        return exit_code("ERROR_INVALID_INPUT", str(exc))


@calcfunction
def kappa_from_linewidths_calcfunction(
    force_constants: ForceConstantsData,
    settings: orm.Dict,
    linewidths: orm.ArrayData,
    renormalization: orm.ArrayData | None = None,
):
    """Wigner κ (Eq. 5) with the gathered ``linewidths``: the outputs of ``wigner.kappa``
    (``kappa``, ``modes``, ``summary``), the same numbers as the in-process calcfunction."""
    from aiida_wigner.physics.kappa import kappa_from_linewidths

    from .kappa import (
        _failure_label,
        _input_failures,
        renormalization_models,
        result_to_nodes,
        settings_from_dict,
    )

    kappa_settings = settings_from_dict(settings.get_dict())
    try:
        fc = force_constants.get_force_constants()
        models = renormalization_models(renormalization, fc, kappa_settings)
        result = kappa_from_linewidths(fc, kappa_settings, linewidths_from_node(linewidths), models)
    except _input_failures() as exc:
        return exit_code(_failure_label(exc), str(exc))
    except ValueError as exc:
        return exit_code("ERROR_INVALID_INPUT", str(exc))
    return result_to_nodes(result)


#: Cost model of the linewidths of one irreducible q-point (s, every temperature; isotope
#: neglected), from docs/performance.md §1 (CsCu4Se3, B = 24 branches, 16x16x12 mesh, 2
#: threads at load 15): 3ph 105 s for B^3 x n_q mode triples, sampled 4ph 91 s for 64 pairs of
#: B^4 mode quadruples.  On a quiet node divide by about load / threads (give the measured
#: ``seconds_per_point`` of a finished chunk instead: its walltime / its points).
SECONDS_PER_3PH_TERM = 105.0 / (24**3 * 16 * 16 * 12)
SECONDS_PER_4PH_TERM = 91.0 / (64 * 24**4)


def linewidth_seconds_per_point(settings: dict, n_branches: int, four_phonon: bool = True) -> float:
    """Estimated seconds of one irreducible point's linewidths (the cost model above).

    ``settings``: KappaSettings fields (``mesh``, ``three_phonon``, ``four_phonon``,
    ``four_phonon_samples``); ``four_phonon``: count the 4ph term (False when γ_4ph runs in a
    job of its own).  Exhaustive 4ph counts n_q^2 pairs per point.
    """
    n_q = int(np.prod(settings["mesh"]))
    seconds = 0.0
    if settings.get("three_phonon", True):
        seconds += SECONDS_PER_3PH_TERM * n_branches**3 * n_q
    mode = settings.get("four_phonon") if four_phonon else None
    if mode == "sampled":
        seconds += (
            SECONDS_PER_4PH_TERM * n_branches**4 * int(settings.get("four_phonon_samples", 256))
        )
    elif mode == "exhaustive":
        seconds += SECONDS_PER_4PH_TERM * n_branches**4 * n_q**2
    return seconds


def chunks_for_walltime(n_points: int, seconds_per_point: float, target_seconds: float) -> int:
    """The fewest chunks (1..n_points) whose even split keeps each job's estimated time,
    ceil(n_points / chunks) x ``seconds_per_point``, within ``target_seconds``."""
    per_job = (
        max(1, int(target_seconds // seconds_per_point)) if seconds_per_point > 0 else n_points
    )
    return max(1, min(n_points, -(-n_points // per_job)))


def worker_executable() -> str:
    """Absolute path of ``aiida-wigner-worker`` (next to this Python, or on PATH)."""
    here = os.path.join(os.path.dirname(sys.executable), "aiida-wigner-worker")
    found = here if os.access(here, os.X_OK) else shutil.which("aiida-wigner-worker")
    if not found:
        raise FileNotFoundError(
            "aiida-wigner-worker is not installed next to this Python: "
            "pip install aiida-wigner (or pip install -e . in a checkout)"
        )
    return found


def ensure_localhost_computer(workdir: str | None = None) -> orm.Computer:
    """The ``localhost`` computer (``core.local`` transport, ``core.direct`` scheduler, like
    ``verdi presto``), created and configured when missing; ``workdir``: default
    ``<AIIDA_PATH config dir>/scratch``.  Idempotent: an existing computer is reused."""
    from aiida.common.exceptions import NotExistent

    try:
        computer = orm.load_computer("localhost")
    except NotExistent:
        from aiida.manage.configuration import get_config

        workdir = workdir or os.path.join(get_config().dirpath, "scratch")
        os.makedirs(workdir, exist_ok=True)
        computer = orm.Computer(
            label="localhost",
            hostname="localhost",
            description="this machine (aiida-wigner worker jobs)",
            transport_type="core.local",
            scheduler_type="core.direct",
            workdir=workdir,
        ).store()
        computer.set_minimum_job_poll_interval(0.0)
        computer.set_default_mpiprocs_per_machine(1)
    if not computer.is_configured:
        computer.configure(safe_interval=0.0)
    return computer


def ensure_localhost_code(
    label: str,
    executable: str,
    description: str,
    plugin: str | None = None,
    workdir: str | None = None,
) -> orm.InstalledCode:
    """The ``InstalledCode`` ``label@localhost`` running ``executable``, created (with the
    computer, :func:`ensure_localhost_computer`) when missing; ``plugin``: its default CalcJob
    plugin.  Idempotent: an existing code of that label is reused as it is."""
    from aiida.common.exceptions import NotExistent

    computer = ensure_localhost_computer(workdir)
    try:
        return orm.load_code(f"{label}@localhost")
    except NotExistent:
        code = orm.InstalledCode(
            computer=computer,
            label=label,
            filepath_executable=executable,
            description=description,
            default_calc_job_plugin=plugin,
        )
        return code.store()


def ensure_localhost_computer_and_worker_code(
    label: str = "aiida-wigner-worker", executable: str | None = None, workdir: str | None = None
) -> orm.InstalledCode:
    """The worker's ``InstalledCode`` ``label@localhost`` (:func:`ensure_localhost_code`);
    ``executable``: default :func:`worker_executable`."""
    return ensure_localhost_code(
        label,
        executable or worker_executable(),
        "aiida-wigner-worker (heavy steps of aiida-wigner)",
        workdir=workdir,
    )


#: label of the Python code on localhost that runs the ASE engine's PythonJobs under --daemon
LOCALHOST_PYTHON = "aiida-wigner-python"


def ensure_localhost_python_code(
    label: str = LOCALHOST_PYTHON, workdir: str | None = None
) -> orm.InstalledCode:
    """This interpreter (``sys.executable``, where aiida-wigner is importable) as the
    ``InstalledCode`` ``label@localhost`` for aiida-pythonjob's ``PythonJob``
    (``pythonjob.pythonjob``): the code of the ASE engine's force calls, MD and relaxations
    under ``--daemon`` (:mod:`aiida_wigner.workflows.engine`), :func:`ensure_localhost_code`."""
    return ensure_localhost_code(
        label,
        sys.executable,
        "this Python with aiida-wigner (the ASE engine as aiida-pythonjob PythonJobs)",
        plugin="pythonjob.pythonjob",
        workdir=workdir,
    )

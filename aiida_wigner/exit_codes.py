"""The exit codes of aiida-wigner: one table for every calcfunction and WorkChain.

Ranges (docs/exit_codes.md lists every code): 300s bad input, 310s force engine, 320s fit,
330s relaxation, 340s unstable phonons, 350s self-consistent phonons, 400s a failed child
workflow.  A code means the same thing wherever it appears: a WorkChain whose child failed
with a code of this table ends with the same code and the child's message, so a user sees
what to change without opening the child.

WorkChains declare their codes with :func:`define_exit_codes`; calcfunctions return
:func:`exit_code` (an ``ExitCode`` whose message starts with the label).  The module imports
no AiiDA at import time, so remote engine functions may use its statuses.
"""

from __future__ import annotations

#: label -> (status, message template).  Templates take ``{message}``: the specific reason
#: and what to change.
EXIT_CODES: dict[str, tuple[int, str]] = {
    "ERROR_INVALID_INPUT": (300, "Invalid input: {message}"),
    "ERROR_HARMONIC_MISMATCH": (301, "The harmonic input does not fit: {message}"),
    "ERROR_ENGINE_FAILED": (
        310,
        "The force engine failed: {message}. Check the structure and the "
        "calculator (elements supported? atoms too close?).",
    ),
    "ERROR_BAD_CALCULATOR": (
        311,
        "The calculator spec is invalid: {message}. Fix engine.calculator.",
    ),
    "ERROR_JOB_FAILED": (312, "The engine job failed: {message}"),
    "ERROR_FIT_SETUP": (320, "The fit could not be set up: {message}"),
    "ERROR_FIT_VALIDATION": (321, "{message}"),
    "ERROR_TOO_FEW_FRAMES": (
        322,
        "{message}. Raise md.n_steps or lower parameters.n_snapshots / discard_steps.",
    ),
    "ERROR_TOO_MANY_PARAMETERS": (323, "The fit has too many free parameters: {message}"),
    "ERROR_RELAX_NOT_CONVERGED": (330, "{message}"),
    "ERROR_SPACEGROUP_CHANGED": (331, "{message}"),
    "ERROR_VOLUME_CHANGED": (332, "{message}"),
    "ERROR_UNSTABLE_PHONONS": (340, "{message}"),
    "ERROR_SCP_NOT_CONVERGED": (350, "{message}"),
    "ERROR_WORKER_OUTPUT_MISSING": (
        360,
        "The worker job wrote no {message}: look at "
        "_scheduler-stderr.txt in `verdi calcjob outputcat PK`",
    ),
    "ERROR_WORKER_OUTPUT_CORRUPT": (
        361,
        "The worker job's output is unreadable: {message}. The "
        "disk may be full or the job was killed while writing: "
        "rerun it",
    ),
    "ERROR_WORKER_OUT_OF_WALLTIME": (
        362,
        "The worker job ran out of walltime: {message}. Raise "
        "metadata.options.max_wallclock_seconds or use more "
        "chunks",
    ),
    "ERROR_WORKER_OUT_OF_MEMORY": (
        363,
        "The worker job ran out of memory: {message}. Raise "
        "metadata.options.max_memory_kb or use more chunks",
    ),
    "ERROR_WORKER_FAILED": (
        364,
        "The worker crashed: {message}. `verdi calcjob outputcat PK "
        "_scheduler-stderr.txt` has the traceback",
    ),
    # 380s: restart workchains (wigner.vasp_base).  The first four are aiida-core's
    # BaseRestartWorkChain labels, moved out of the 300 and 400 ranges that mean other things here
    "ERROR_SUB_PROCESS_EXCEPTED": (
        380,
        "The CalcJob of the restart workchain excepted: "
        "`verdi process report` shows the traceback.",
    ),
    "ERROR_SUB_PROCESS_KILLED": (381, "The CalcJob of the restart workchain was killed."),
    "ERROR_MAXIMUM_ITERATIONS_EXCEEDED": (
        382,
        "The CalcJob still failed after max_iterations runs: `verdi process report`.",
    ),
    "ERROR_UNHANDLED_FAILURE": (
        383,
        "The CalcJob failed in a way no restart handler fixes: {message}",
    ),
    "ERROR_VASP_OUT_OF_WALLTIME": (384, "VASP ran out of walltime: {message}"),
    "ERROR_VASP_ELECTRONIC_NOT_CONVERGED": (
        385,
        "The electronic loop of VASP did not converge: {message}",
    ),
    "ERROR_VASP_IONIC_NOT_CONVERGED": (386, "The VASP relaxation did not converge: {message}"),
    "ERROR_RELAX_FAILED": (401, "Relaxation failed: {message}"),
    "ERROR_HARMONIC_FAILED": (402, "Harmonic step failed: {message}"),
    "ERROR_SAMPLING_FAILED": (403, "Sampling step failed: {message}"),
    "ERROR_FIT_FAILED": (404, "Fit failed: {message}"),
    "ERROR_FORCE_CONSTANTS_FAILED": (405, "The force-constant workflow failed: {message}"),
    "ERROR_RENORMALIZATION_FAILED": (406, "The renormalization failed: {message}"),
    "ERROR_KAPPA_FAILED": (407, "The conductivity calculation failed: {message}"),
    "ERROR_ENSEMBLE_FAILED": (
        408,
        "A bootstrap member's run failed (the full-data κ and its summary are stored): "
        "{message}. Fit with fewer members (ensemble.size), or fix what the member's "
        "message names",
    ),
}


def status(label: str) -> int:
    """The exit status of ``label``."""
    return EXIT_CODES[label][0]


def label_of(exit_status: int | None) -> str | None:
    """The label of ``exit_status``, or None when it is not one of this package's codes."""
    for label, (code, _) in EXIT_CODES.items():
        if code == exit_status:
            return label
    return None


def define_exit_codes(spec, *labels: str) -> None:
    """Declare the codes ``labels`` of the table on a process ``spec``."""
    for label in labels:
        code, message = EXIT_CODES[label]
        spec.exit_code(code, label, message=message)


def exit_code(label: str, message: str):
    """The ``ExitCode`` a calcfunction returns: status of ``label``, message 'LABEL: message'."""
    from aiida.engine import ExitCode

    return ExitCode(status(label), f"{label}: {message}")


def child_exit_code(process, node, fallback: str):
    """The exit code with which ``process`` (a WorkChain) ends after its child ``node`` failed.

    The child's own code (same status, the child's message prefixed with its PK and label)
    when it is one of this table's codes declared by ``process``, so the user sees the real
    reason two levels up; otherwise ``fallback`` (a 400-range label of the failed step).
    """
    from aiida.engine import ExitCode

    if node.exit_message:
        reason = node.exit_message
    elif node.is_excepted and node.exception:
        reason = f"the process excepted: {node.exception.strip().splitlines()[-1]}"
    else:
        reason = f"exit status {node.exit_status}"
    message = f"<{node.pk}> {node.process_label}: {reason}"
    label = label_of(node.exit_status)
    if label is None or label not in process.spec().exit_codes:
        return process.exit_codes[fallback].format(message=message)
    return ExitCode(status(label), message)

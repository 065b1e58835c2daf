"""``BaseRestartWorkChain`` wrappers of the worker CalcJobs (:mod:`..calculations.jobs`).

``wigner.linewidths_restart``, ``wigner.renormalize_job_restart`` and
``wigner.fit_job_restart`` run their CalcJob
(inputs in the ``job`` namespace) and, when it ran out of walltime (362, or the scheduler's
120) or memory (363, or 110), resubmit it once with twice ``max_wallclock_seconds`` /
``max_memory_kb`` (the default when unset: 1 h / 4 GB, doubled).  A second failure of the same
kind, a refusal of the inputs (300, 340, 350, the fit's 320 and 323) and a crash end the
workflow with the job's own exit code and message (advice included), never a silent retry
of a hopeless job.  A chunk that needs more than twice the time should be split: raise
``chunks`` of ``wigner.conductivity``.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import (
    BaseRestartWorkChain,
    ExitCode,
    ProcessHandlerReport,
    process_handler,
    while_,
)

from ..calculations.jobs import FitCalculation, LinewidthsCalculation, RenormalizeCalculation
from ..exit_codes import define_exit_codes, status

#: Defaults doubled by the handlers when the option was not set (s, kB).
DEFAULT_WALLTIME, DEFAULT_MEMORY_KB = 3600, 4 * 1024 * 1024

#: Statuses after which resubmitting cannot help (the job's own exit code ends the workflow).
FINAL = tuple(
    status(label)
    for label in (
        "ERROR_INVALID_INPUT",
        "ERROR_UNSTABLE_PHONONS",
        "ERROR_SCP_NOT_CONVERGED",
        "ERROR_WORKER_OUTPUT_MISSING",
        "ERROR_WORKER_OUTPUT_CORRUPT",
        "ERROR_WORKER_FAILED",
        "ERROR_FIT_SETUP",
        "ERROR_TOO_MANY_PARAMETERS",
    )
)
WALLTIME = (status("ERROR_WORKER_OUT_OF_WALLTIME"), 120)
MEMORY = (status("ERROR_WORKER_OUT_OF_MEMORY"), 110)


class _WorkerRestartWorkChain(BaseRestartWorkChain):
    """Run a worker CalcJob; resubmit once with more walltime or memory."""

    _process_class = None

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(cls._process_class, namespace="job")
        spec.expose_outputs(cls._process_class)
        spec.outline(
            cls.setup,
            while_(cls.should_run_process)(cls.run_process, cls.inspect_process),
            cls.results,
        )
        spec.inputs["max_iterations"].default = lambda: orm.Int(3)  # walltime and memory once each
        # aiida-core's restart labels with this package's statuses (380s, as wigner.vasp_base),
        # and the job's codes, which end the workflow unchanged
        define_exit_codes(
            spec,
            "ERROR_SUB_PROCESS_EXCEPTED",
            "ERROR_SUB_PROCESS_KILLED",
            "ERROR_MAXIMUM_ITERATIONS_EXCEEDED",
            "ERROR_UNHANDLED_FAILURE",
            *cls._process_class.EXIT_CODES,
        )

    def setup(self):
        super().setup()
        self.ctx.inputs = self.exposed_inputs(self._process_class, "job")
        self.ctx.raised = set()

    def _raise_option(self, node, option: str, default: int, kind: str):
        if kind in self.ctx.raised:  # once only: the second time, the job's code ends the run
            return ProcessHandlerReport(True, ExitCode(node.exit_status, node.exit_message))
        self.ctx.raised.add(kind)
        options = dict(self.ctx.inputs.get("metadata", {}).get("options", {}))
        new = 2 * int(options.get(option) or default)
        self.ctx.inputs.setdefault("metadata", {}).setdefault("options", {})[option] = new
        self.report(
            f"{node.process_label} <{node.pk}> ran out of {kind}: resubmitting with "
            f"{option} = {new}"
        )
        return ProcessHandlerReport(False)

    @process_handler(priority=600)
    def handle_out_of_walltime(self, node):
        """Out of walltime: resubmit once with twice the walltime."""
        if node.exit_status in WALLTIME:
            return self._raise_option(node, "max_wallclock_seconds", DEFAULT_WALLTIME, "walltime")
        return None

    @process_handler(priority=590)
    def handle_out_of_memory(self, node):
        """Out of memory: resubmit once with twice the memory."""
        if node.exit_status in MEMORY:
            return self._raise_option(node, "max_memory_kb", DEFAULT_MEMORY_KB, "memory")
        return None

    @process_handler(priority=500)
    def handle_final(self, node):
        """A refusal of the inputs, a crash or a missing output: end with the job's code."""
        if node.exit_status in FINAL:
            self.report(
                f"{node.process_label} <{node.pk}> failed [{node.exit_status}]: {node.exit_message}"
            )
            return ProcessHandlerReport(True, ExitCode(node.exit_status, node.exit_message))
        return None


class LinewidthsRestartWorkChain(_WorkerRestartWorkChain):
    """``wigner.linewidths`` with walltime / memory restarts."""

    _process_class = LinewidthsCalculation


class RenormalizeRestartWorkChain(_WorkerRestartWorkChain):
    """``wigner.renormalize_job`` with walltime / memory restarts."""

    _process_class = RenormalizeCalculation


class FitRestartWorkChain(_WorkerRestartWorkChain):
    """``wigner.fit_job`` with walltime / memory restarts."""

    _process_class = FitCalculation

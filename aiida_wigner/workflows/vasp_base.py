"""``wigner.vasp_base``: one aiida-vasp ``vasp.vasp`` CalcJob, restarted by handlers that act.

Built the aiida-core way (``BaseRestartWorkChain`` + ``process_handler``, as
aiida-quantumespresso's ``PwBaseWorkChain``): the CalcJob runs, each handler looks at the
finished job and, if it knows the failure, changes the inputs and runs it again; when it
can do no more it ends the workchain with a named exit code of the 380s and a message
saying what to change.

====================  ============================  ============================================
failure               seen as                       action
====================  ============================  ============================================
out of walltime       exit 700 (VASP did not        walltime × ``walltime_factor`` (up to
                      finish), 120 (scheduler), or  ``max_walltime``); a relaxation restarts
                      ``run_status.finished``       from its last structure (CONTCAR), MD and
                      False                         single points from the same structure
electronic loop       exit 701                      ALGO Normal (or Fast/VeryFast) → All →
                                                    Damped, then NELM × 2 up to ``max_nelm``; a
                                                    relaxation restarts from its last structure
ionic loop (relax)    ``run_status``                restart from the last structure
                      ``ionic_converged`` False,
                      or exit 702
anything else         any other failure             none: exit 383 with the CalcJob's message
====================  ============================  ============================================

The task is read from the INCAR (:func:`vasp_task`): IBRION 1, 2 or 3 with NSW > 1 is a
relaxation; IBRION 0 is molecular dynamics, whose normal end is NSW ionic steps (never an
unconverged relaxation, and never restarted from its CONTCAR: the sampling needs one
continuous trajectory); anything else is a single point.  A handler that would restart on
the last allowed run (``max_iterations``) gives up with its own code instead.

Units: walltime in s.
"""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import (
    BaseRestartWorkChain,
    ExitCode,
    ProcessHandlerReport,
    process_handler,
    while_,
)
from aiida.plugins import CalculationFactory

from ..exit_codes import define_exit_codes

#: aiida-vasp's ``VaspCalculation`` exit statuses that the handlers act on (written out so
#: that this module imports without aiida-vasp)
VASP_DID_NOT_FINISH = ExitCode(700, "ERROR_DID_NOT_FINISH")
VASP_ELECTRONIC_NOT_CONVERGED = ExitCode(701, "ERROR_ELECTRONIC_NOT_CONVERGED")
VASP_IONIC_NOT_CONVERGED = ExitCode(702, "ERROR_IONIC_NOT_CONVERGED")
#: aiida-core's CalcJob exit status when the scheduler reports the walltime was exceeded
SCHEDULER_OUT_OF_WALLTIME = ExitCode(120, "ERROR_SCHEDULER_OUT_OF_WALLTIME")

#: ALGO values (lower case, VASP's one-letter forms included) -> the next one to try
ALGO_LADDER = {
    "normal": "All",
    "n": "All",
    "fast": "All",
    "f": "All",
    "veryfast": "All",
    "v": "All",
    "all": "Damped",
    "a": "Damped",
}
NELM_DEFAULT = 60  # VASP's default


def vasp_task(incar: dict) -> str:
    """``relax``, ``md`` or ``static`` from the INCAR tags (any case) IBRION and NSW."""
    tags = {str(k).upper(): v for k, v in incar.items()}
    nsw = int(tags.get("NSW", 0))
    ibrion = int(tags.get("IBRION", -1 if nsw <= 0 else 0))
    if nsw > 0 and ibrion == 0:
        return "md"
    if nsw > 1 and ibrion in (1, 2, 3):
        return "relax"
    return "static"


def did_not_finish(node) -> bool:
    """Whether the VASP CalcJob ``node`` failed because VASP stopped before its end."""
    if node.exit_status in (VASP_DID_NOT_FINISH.status, SCHEDULER_OUT_OF_WALLTIME.status):
        return True
    if not node.is_failed or "misc" not in node.outputs:
        return False
    return (node.outputs.misc.get("run_status") or {}).get("finished") is False


def electronic_fix(incar: dict, max_nelm: int) -> dict | None:
    """The INCAR tags to change after an unconverged electronic loop, None when none is left.

    ALGO moves one rung up :data:`ALGO_LADDER` (Davidson → all-band conjugate gradient →
    damped MD of the orbitals); from Damped (or an ALGO outside the ladder) NELM is doubled
    up to ``max_nelm``.
    """
    tags = {str(k).upper(): v for k, v in incar.items()}
    algo = str(tags.get("ALGO", "Normal")).strip().lower()
    if algo in ALGO_LADDER:
        return {"ALGO": ALGO_LADDER[algo]}
    nelm = int(tags.get("NELM", NELM_DEFAULT))
    if nelm < max_nelm:
        return {"NELM": min(2 * nelm, int(max_nelm))}
    return None


class VaspBaseWorkChain(BaseRestartWorkChain):
    """Run one ``vasp.vasp`` CalcJob and restart it on walltime, electronic and ionic failures.

    Inputs: ``vasp`` (the CalcJob's inputs), ``max_iterations`` (runs at most),
    ``walltime_factor``, ``max_walltime`` (s), ``max_nelm``.  Outputs: those of the last
    CalcJob.
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        process = CalculationFactory("vasp.vasp")
        spec.expose_inputs(process, namespace="vasp")
        spec.input(
            "walltime_factor",
            valid_type=orm.Float,
            default=lambda: orm.Float(2.0),
            help="Factor on max_wallclock_seconds after a run out of walltime.",
        )
        spec.input(
            "max_walltime",
            valid_type=orm.Int,
            default=lambda: orm.Int(86400),
            help="Largest max_wallclock_seconds the walltime handler asks for (s).",
        )
        spec.input(
            "max_nelm",
            valid_type=orm.Int,
            default=lambda: orm.Int(300),
            help="Largest NELM the electronic handler sets.",
        )
        spec.outline(
            cls.setup,
            while_(cls.should_run_process)(cls.run_process, cls.inspect_process),
            cls.results,
        )
        spec.expose_outputs(process)
        # aiida-core's labels, given this package's statuses (380s), and the handlers' own
        define_exit_codes(
            spec,
            "ERROR_SUB_PROCESS_EXCEPTED",
            "ERROR_SUB_PROCESS_KILLED",
            "ERROR_MAXIMUM_ITERATIONS_EXCEEDED",
            "ERROR_UNHANDLED_FAILURE",
            "ERROR_VASP_OUT_OF_WALLTIME",
            "ERROR_VASP_ELECTRONIC_NOT_CONVERGED",
            "ERROR_VASP_IONIC_NOT_CONVERGED",
        )

    @property
    def process_class(self):
        return CalculationFactory("vasp.vasp")

    @classmethod
    def inputs_around(cls, calc_inputs: dict, restart: dict) -> dict:
        """This workchain's inputs around the CalcJob inputs of :mod:`aiida_wigner.engines.vasp`.

        ``restart``: :func:`aiida_wigner.engines.vasp.restart_settings`.  The CalcJob's
        ``call_link_label`` and ``label`` move to this workchain.
        """
        vasp = dict(calc_inputs)
        metadata = dict(vasp.pop("metadata"))
        link = metadata.pop("call_link_label", None)
        vasp["metadata"] = metadata
        outer = {"label": metadata.get("label", "")}
        if link:
            outer["call_link_label"] = link
        return {
            "vasp": vasp,
            "metadata": outer,
            "max_iterations": orm.Int(int(restart["max_iterations"])),
            "walltime_factor": orm.Float(float(restart["walltime_factor"])),
            "max_walltime": orm.Int(int(restart["max_walltime"])),
            "max_nelm": orm.Int(int(restart["max_nelm"])),
        }

    def setup(self):
        super().setup()
        self.ctx.inputs = AttributeDict(self.exposed_inputs(self.process_class, "vasp"))
        self.ctx.inputs.parameters = {
            str(k).upper(): v for k, v in self.ctx.inputs.parameters.get_dict().items()
        }
        self.ctx.inputs.metadata = dict(self.ctx.inputs.get("metadata") or {})
        self.ctx.inputs.metadata["options"] = dict(self.ctx.inputs.metadata.get("options") or {})
        self.ctx.task = vasp_task(self.ctx.inputs.parameters)

    # -- helpers of the handlers -------------------------------------------------------------

    def _give_up(self, label: str, message: str) -> ProcessHandlerReport:
        # is_finished: BaseRestartWorkChain then returns this code as it is (on the last run
        # it would otherwise put its generic ERROR_MAXIMUM_ITERATIONS_EXCEEDED in its place)
        self.ctx.is_finished = True
        return ProcessHandlerReport(True, self.exit_codes[label].format(message=message))

    def _restart(
        self,
        node,
        label: str,
        why: str,
        hint: str,
        changes: dict | None = None,
        options: dict | None = None,
        last_structure: bool = False,
    ) -> ProcessHandlerReport:
        """Run again with the INCAR ``changes``, CalcJob ``options`` (and the last structure);
        on the last allowed run give up with ``label``, ``why`` and ``hint`` (what to change)."""
        if self.ctx.iteration >= self.inputs.max_iterations.value:
            return self._give_up(
                label,
                (
                    f"<{node.pk}> {why}, on the last of max_iterations = "
                    f"{self.inputs.max_iterations.value} runs: {hint}"
                ),
            )
        changes, options = dict(changes or {}), dict(options or {})
        self.ctx.inputs.parameters = {**self.ctx.inputs.parameters, **changes}
        self.ctx.inputs.metadata["options"].update(options)
        actions = [f"{k} = {v}" for k, v in {**changes, **options}.items()]
        if last_structure and "structure" in node.outputs:
            self.ctx.inputs.structure = node.outputs.structure
            actions.append(f"from its last structure <{node.outputs.structure.pk}>")
        self.report(
            f"{node.process_label}<{node.pk}> {why}: restarting with "
            f"{', '.join(actions) or 'the same inputs'}"
        )
        return ProcessHandlerReport(True)

    # -- the handlers, highest priority first ------------------------------------------------

    @process_handler(priority=600)
    def handle_out_of_walltime(self, node):
        """Out of walltime: more walltime; a relaxation continues from its last structure.

        Also when the parser failed on the cut-off files (aiida-vasp 5.1 cannot build the MD
        trajectory of a killed run: exit 1004) but its ``run_status`` says not finished.
        """
        if not did_not_finish(node):
            return None
        options = self.ctx.inputs.metadata["options"]
        current = int(options.get("max_wallclock_seconds") or 0)
        cap = self.inputs.max_walltime.value
        new = min(int(current * self.inputs.walltime_factor.value), cap)
        if new <= current:
            return self._give_up(
                "ERROR_VASP_OUT_OF_WALLTIME",
                (
                    f"<{node.pk}> did not finish in {current} s, the walltime cap "
                    f"(engine.calculator "
                    f"restart.max_walltime = {cap} s): give more resources "
                    "(engine.calculator.options.resources), make the run cheaper (ENCUT, "
                    "k-points, "
                    "NSW) or raise restart.max_walltime"
                ),
            )
        return self._restart(
            node,
            "ERROR_VASP_OUT_OF_WALLTIME",
            f"did not finish in {current} s",
            "raise engine.calculator.options.max_wallclock_seconds or restart.max_iterations",
            options={"max_wallclock_seconds": new},
            last_structure=self.ctx.task == "relax",
        )

    @process_handler(priority=500, exit_codes=[VASP_ELECTRONIC_NOT_CONVERGED])
    def handle_electronic_not_converged(self, node):
        """Electronic loop not converged: next ALGO, then more NELM."""
        changes = electronic_fix(self.ctx.inputs.parameters, self.inputs.max_nelm.value)
        tried = (
            f"ALGO = {self.ctx.inputs.parameters.get('ALGO', 'Normal')}, NELM = "
            f"{self.ctx.inputs.parameters.get('NELM', NELM_DEFAULT)}"
        )
        if changes is None:
            return self._give_up(
                "ERROR_VASP_ELECTRONIC_NOT_CONVERGED",
                (
                    f"<{node.pk}> still unconverged with {tried} (restart.max_nelm = "
                    f"{self.inputs.max_nelm.value}): check the structure and the smearing "
                    "(ISMEAR, SIGMA), try other mixing (AMIX, BMIX) in engine.calculator.incar"
                ),
            )
        return self._restart(
            node,
            "ERROR_VASP_ELECTRONIC_NOT_CONVERGED",
            f"electronic loop not converged with {tried}",
            f"raise restart.max_iterations or set {changes} in engine.calculator.incar",
            changes=changes,
            last_structure=self.ctx.task == "relax",
        )

    @process_handler(priority=400)
    def handle_ionic_not_converged(self, node):
        """Relaxation that used all NSW steps: continue from its last structure.

        Acts only on relaxations (:func:`vasp_task`): an MD run ends at NSW by design.
        """
        if self.ctx.task != "relax":
            return None
        status = (node.outputs.misc.get("run_status") or {}) if "misc" in node.outputs else {}
        if not (
            node.exit_status == VASP_IONIC_NOT_CONVERGED.status
            or (node.is_finished_ok and status.get("ionic_converged") is False)
        ):
            return None
        nsw = self.ctx.inputs.parameters.get("NSW")
        if "structure" not in node.outputs:
            return self._give_up(
                "ERROR_VASP_IONIC_NOT_CONVERGED",
                (
                    f"<{node.pk}> used its NSW = {nsw} steps and has no output structure to "
                    "continue from: raise max_steps"
                ),
            )
        return self._restart(
            node,
            "ERROR_VASP_IONIC_NOT_CONVERGED",
            f"relaxation not converged in NSW = {nsw} steps",
            "raise max_steps (NSW) or engine.calculator restart.max_iterations, or loosen fmax",
            last_structure=True,
        )

    @process_handler(priority=0)
    def handle_unrecoverable_failure(self, node):
        """Any other failure: stop with the CalcJob's exit message and what to check."""
        if not node.is_failed:
            return None
        from ..engines.vasp import failure_message

        return self._give_up("ERROR_UNHANDLED_FAILURE", failure_message(node))

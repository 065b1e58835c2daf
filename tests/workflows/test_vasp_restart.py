"""The restart handlers of ``wigner.vasp_base`` against the stand-in VASP's failures on request.

Each test makes the stand-in (``tests/stand_in_vasp``) fail the way VASP does (killed at the
walltime, electronic loop at NELM, relaxation at NSW) and checks that the handler changed
the inputs of the next CalcJob (structure from the last run's CONTCAR, ALGO / NELM,
walltime) and that the workchain ends OK, or with its named exit code when the handler
has nothing left to try.  An MD run that ends at NSW is a success and is not restarted.
"""

from __future__ import annotations

import pytest

pytest.importorskip(
    "aiida_vasp", reason="the VASP engine needs aiida-vasp (pip install 'aiida-wigner[vasp]')"
)

from aiida import orm  # noqa: E402
from aiida.engine import run_get_node  # noqa: E402
from ase.build import bulk  # noqa: E402
from vasp_inputs import vasp_engine_inputs  # noqa: E402

from aiida_wigner.exit_codes import status  # noqa: E402
from aiida_wigner.workflows.engine import EngineMdWorkChain, RelaxWorkChain, engine_job  # noqa: E402
from aiida_wigner.workflows.vasp_base import VaspBaseWorkChain, electronic_fix, vasp_task  # noqa: E402

RESOURCES = {"num_machines": 1, "num_mpiprocs_per_machine": 1}


def engine(code, walltime=600, env=None, **spec):
    options = {
        "resources": RESOURCES,
        "max_wallclock_seconds": walltime,
        "environment_variables": dict(env or {}),
    }
    return vasp_engine_inputs(code, options=options, **spec)


def run_base(engine_inputs, task, structure, **kwargs):
    """Run ``wigner.vasp_base`` as the engine launches it; its CalcJobs in order."""
    process, inputs = engine_job(engine_inputs, task, structure, **kwargs)
    assert process is VaspBaseWorkChain
    _, node = run_get_node(process, **inputs)
    return node, calcjobs(node)


def calcjobs(node):
    return sorted(
        (n for n in node.called_descendants if isinstance(n, orm.CalcJobNode)), key=lambda n: n.pk
    )


def incar(calc) -> dict:
    return calc.inputs.parameters.get_dict()


def walltime(calc) -> int:
    return calc.get_option("max_wallclock_seconds")


def cu(a=3.61, cubic=False):
    """fcc Cu, 1 atom (4 in the cubic cell: parsevasp 3.4 reads a cut-off vasprun.xml of
    a 1-atom MD run as NaN positions)."""
    return orm.StructureData(ase=bulk("Cu", "fcc", a=a, cubic=cubic))


# -- plain rules -------------------------------------------------------------------------------


def test_task_from_incar():
    assert vasp_task({"IBRION": 2, "NSW": 60}) == "relax"
    assert vasp_task({"ibrion": 0, "nsw": 41}) == "md"  # NSW > 0 but not a relaxation
    assert vasp_task({"IBRION": -1, "NSW": 0}) == "static"
    assert vasp_task({"IBRION": 2, "NSW": 1}) == "static"  # one ionic step: VASP cannot tell
    assert vasp_task({}) == "static"


def test_electronic_ladder():
    assert electronic_fix({}, 300) == {"ALGO": "All"}
    assert electronic_fix({"ALGO": "Fast"}, 300) == {"ALGO": "All"}
    assert electronic_fix({"algo": "all"}, 300) == {"ALGO": "Damped"}
    assert electronic_fix({"ALGO": "Damped"}, 300) == {"NELM": 120}
    assert electronic_fix({"ALGO": "Damped", "NELM": 200}, 300) == {"NELM": 300}
    assert electronic_fix({"ALGO": "Damped", "NELM": 300}, 300) is None


def test_exit_codes_from_the_table():
    """aiida-core's restart labels get this package's 380s; the handlers' codes are declared."""
    codes = VaspBaseWorkChain.spec().exit_codes
    for label in (
        "ERROR_SUB_PROCESS_EXCEPTED",
        "ERROR_SUB_PROCESS_KILLED",
        "ERROR_MAXIMUM_ITERATIONS_EXCEEDED",
        "ERROR_UNHANDLED_FAILURE",
        "ERROR_VASP_OUT_OF_WALLTIME",
        "ERROR_VASP_ELECTRONIC_NOT_CONVERGED",
        "ERROR_VASP_IONIC_NOT_CONVERGED",
    ):
        assert codes[label].status == status(label) and 380 <= status(label) < 390
    assert all(c.status < 300 or c.status == status(lab) for lab, c in codes.items())


# -- each failure, through the stand-in --------------------------------------------------------


def test_walltime_relaxation_restarts_from_contcar(stand_in):
    """Killed after 3 of 5 BFGS steps (100 s each, 300 s walltime) -> CONTCAR, 600 s."""
    eng = engine(stand_in, walltime=300, env={"STAND_IN_VASP_SECONDS_PER_STEP": "100"})
    node, calcs = run_base(eng, "relax", cu(3.75), parameters={"fmax": 1e-3, "max_steps": 60})
    assert node.is_finished_ok, node.exit_message
    assert [c.exit_status for c in calcs] == [700, 0]  # aiida-vasp: did not finish
    first, second = calcs
    assert second.inputs.structure.pk == first.outputs.structure.pk  # its CONTCAR
    assert [walltime(c) for c in calcs] == [300, 600]
    assert incar(second) == incar(first)
    assert second.outputs.misc["run_status"]["ionic_converged"] is True
    assert node.outputs.structure.pk == second.outputs.structure.pk


def test_walltime_md_restarts_from_the_start_and_ends_at_nsw(stand_in):
    """MD killed at step 10 of 13 -> the same initial structure with 2000 s; 13 steps is OK."""
    eng = engine(stand_in, walltime=1000, env={"STAND_IN_VASP_SECONDS_PER_STEP": "100"})
    structure = cu(cubic=True)
    node, calcs = run_base(eng, "md", structure, parameters={"n_steps": 12, "interval": 3})
    assert node.is_finished_ok, node.exit_message
    # aiida-vasp cannot build the trajectory of the cut-off run (1004); run_status: unfinished
    assert [c.exit_status for c in calcs] == [1004, 0]
    assert calcs[0].outputs.misc["run_status"]["finished"] is False
    assert [c.inputs.structure.pk for c in calcs] == [structure.pk] * 2  # not the CONTCAR
    assert [walltime(c) for c in calcs] == [1000, 2000]
    nsw = incar(calcs[1])["NSW"]
    assert calcs[1].outputs.misc["run_status"]["last_iteration_index"][0] == nsw == 13
    assert len(node.outputs.trajectory.get_array("positions")) == 13


def test_electronic_algo(stand_in):
    """Davidson (Normal) never converges, All in 20 steps: ALGO -> All, same structure."""
    eng = engine(stand_in, env={"STAND_IN_VASP_SCF_STEPS": "normal:500,all:20"})
    structure = cu()
    node, calcs = run_base(eng, "static", structure)
    assert node.is_finished_ok, node.exit_message
    assert [c.exit_status for c in calcs] == [701, 0]  # aiida-vasp: electronic not converged
    assert [incar(c).get("ALGO") for c in calcs] == [None, "All"]
    assert all(c.inputs.structure.pk == structure.pk for c in calcs)


def test_electronic_nelm_then_gives_up(stand_in):
    """Damped needs 100 steps: NELM 40 -> 80 (= max_nelm), still short -> 385, passed up."""
    eng = engine(
        stand_in,
        env={"STAND_IN_VASP_SCF_STEPS": "*:100"},
        incar={"algo": "Damped", "nelm": 40},
        restart={"max_nelm": 80},
    )
    _, node = run_get_node(
        EngineMdWorkChain,
        engine=eng,
        structure=cu(cubic=True),
        parameters=orm.Dict({"n_steps": 2, "interval": 1}),
    )
    assert node.exit_status == status("ERROR_VASP_ELECTRONIC_NOT_CONVERGED") == 385
    assert "ALGO = Damped, NELM = 80" in node.exit_message and "max_nelm" in node.exit_message
    calcs = calcjobs(node)
    assert [c.exit_status for c in calcs] == [701, 701]
    assert [incar(c)["NELM"] for c in calcs] == [40, 80]


def test_ionic_relaxation_restarts_from_last_structure(stand_in):
    """NSW = 4 used up (parser: run OK, ionic_converged False) -> again from the last structure."""
    _, node = run_get_node(
        RelaxWorkChain,
        engine=engine(stand_in),
        structure=cu(3.75),
        parameters=orm.Dict({"fmax": 1e-3, "max_steps": 4}),
    )
    assert node.is_finished_ok, node.exit_message
    calcs = calcjobs(node)
    assert [c.outputs.misc["run_status"]["ionic_converged"] for c in calcs] == [False, True]
    assert calcs[1].inputs.structure.pk == calcs[0].outputs.structure.pk
    assert incar(calcs[1])["NSW"] == 4
    assert node.outputs.lattice["converged"] is True


def test_ionic_and_walltime_give_up(stand_in):
    """One run allowed: the relaxation at NSW ends 386; walltime at the cap ends 384."""
    eng = engine(stand_in, restart={"max_iterations": 1})
    _, node = run_get_node(
        RelaxWorkChain,
        engine=eng,
        structure=cu(3.75),
        parameters=orm.Dict({"fmax": 1e-3, "max_steps": 4}),
    )
    assert node.exit_status == status("ERROR_VASP_IONIC_NOT_CONVERGED") == 386
    assert "max_steps" in node.exit_message and "restart.max_iterations" in node.exit_message

    eng = engine(
        stand_in,
        walltime=50,
        env={"STAND_IN_VASP_SECONDS_PER_STEP": "100"},
        restart={"max_walltime": 50},
    )
    node, calcs = run_base(eng, "static", cu())
    assert node.exit_status == status("ERROR_VASP_OUT_OF_WALLTIME") == 384
    assert "restart.max_walltime = 50 s" in node.exit_message
    assert [c.exit_status for c in calcs] == [700]


def test_bad_restart_settings(stand_in):
    with pytest.raises(ValueError, match="max_iteration"):
        engine_job(engine(stand_in, restart={"max_iteration": 3}), "static", cu())
    with pytest.raises(ValueError, match="walltime_factor"):
        engine_job(engine(stand_in, restart={"walltime_factor": 1.0}), "static", cu())

"""The ASE engine run through aiida-pythonjob ``PythonJob``s (engine.code set) on localhost.

The PythonJob code is this test's own interpreter (``sys.executable``) on the ``localhost``
computer (core.local transport, core.direct scheduler), as ``--daemon`` sets it up
(``ensure_localhost_python_code``): the jobs really
go through upload, a scheduler submission, retrieval and the PythonJob parser, and import
aiida-wigner on the "remote" side, so this is the remote path minus SSH.  No daemon: the
workchains run with ``run_get_node`` and their PythonJobs in the same event loop.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

# Not imported here: aiida-pythonjob reads the AiiDA configuration when imported, which does
# not exist yet at collection time on a fresh machine (the profile fixture creates it).
if importlib.util.find_spec("aiida_pythonjob") is None:
    pytest.skip(
        "aiida-pythonjob is not installed (pip install 'aiida-wigner[pythonjob]')",
        allow_module_level=True,
    )

from aiida import orm  # noqa: E402
from aiida.engine import run_get_node  # noqa: E402

from aiida_wigner.workflows.engine import EngineForcesWorkChain, EngineMdWorkChain, RelaxWorkChain  # noqa: E402


@pytest.fixture(scope="module")
def python_code(aiida_profile, tmp_path_factory):
    """The code ``--daemon`` gives the ASE engine: this interpreter on ``localhost``
    (``aiida-wigner-python@localhost``, ``pythonjob.pythonjob``)."""
    from aiida_wigner.calculations.jobs import ensure_localhost_python_code

    return ensure_localhost_python_code(workdir=str(tmp_path_factory.mktemp("scratch")))


def remote(code, **calc):
    return {"calculator": orm.Dict({"name": "emt", **calc}), "code": code}


def in_process(**calc):
    return {"calculator": orm.Dict({"name": "emt", **calc})}


@pytest.fixture
def cu_prim():
    from ase.build import bulk

    return orm.StructureData(ase=bulk("Cu", "fcc", a=3.65))


def displaced_supercells(n=3, seed=0):
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 1, 1))
        atoms.positions += rng.normal(scale=0.03, size=atoms.positions.shape)
        out[f"s{i}"] = orm.StructureData(ase=atoms)
    return out


def pythonjobs(node):
    from aiida_pythonjob import PythonJob

    return [c for c in node.called if c.process_class is PythonJob]


@pytest.fixture(scope="module")
def forces_in_process(aiida_profile):
    """The in-process calcfunction's energies, forces and stresses of displaced_supercells()."""
    ref, node = run_get_node(
        EngineForcesWorkChain,
        engine=in_process(),
        structures=displaced_supercells(),
        settings=orm.Dict({"stress": True}),
    )
    assert node.is_finished_ok, node.exit_message
    return ref["forces"]


@pytest.mark.parametrize(
    "per_job, batches",
    [(None, [["s0", "s1", "s2"]]), (2, [["s0", "s1"], ["s2"]])],
    ids=["default-all-in-one", "two-per-job"],
)
def test_forces_match_in_process(python_code, forces_in_process, per_job, batches):
    """EMT forces as PythonJobs on localhost equal the in-process calcfunction's, whatever
    the batches: by default (core.direct, no queue) one job computes all the structures,
    with engine.structures_per_job=2 two jobs compute 2 and 1."""
    structures = displaced_supercells()
    engine = remote(python_code)
    if per_job is not None:
        engine["structures_per_job"] = orm.Int(per_job)
    res, node = run_get_node(
        EngineForcesWorkChain,
        engine=engine,
        structures=structures,
        settings=orm.Dict({"stress": True}),
    )
    assert node.is_finished_ok, node.exit_message
    # Not bit for bit: the PythonJob's result is a Dict, whose floats AiiDA keeps to 14
    # significant digits, and a new batch has a new EMT calculator (the in-process one reuses
    # its neighbour list over all the structures: another summation order).  Measured: forces
    # differ by 4.8e-15 eV/Å (one batch) and 3.2e-14 eV/Å (two) at most, largest force 0.62.
    a, b = res["forces"], forces_in_process
    for name in ("forces", "energies", "stresses"):
        want = b.get_array(name)
        np.testing.assert_allclose(
            a.get_array(name), want, rtol=0, atol=1e-12 * np.abs(want).max(), err_msg=name
        )
    assert a.base.attributes.get("labels") == ["s0", "s1", "s2"]
    # provenance: one finished PythonJob CalcJob per batch, run on the code's computer, whose
    # inputs are the workchain's StructureData themselves
    jobs = sorted(pythonjobs(node), key=lambda j: j.inputs.function_inputs.first_index.value)
    assert [sorted(j.inputs.function_inputs.structures) for j in jobs] == batches
    assert [j.inputs.function_inputs.first_index.value for j in jobs] == [0, 2][: len(batches)]
    for job in jobs:
        assert isinstance(job, orm.CalcJobNode) and job.is_finished_ok
        assert job.process_label == "PythonJob<ase_static>"
        assert job.inputs.code.uuid == python_code.uuid
        for lab, structure in job.inputs.function_inputs.structures.items():
            assert structure.uuid == structures[lab].uuid
        assert job.inputs.function_inputs.spec.get_dict() == {"name": "emt"}
    # the gathered array is linked to every job's result
    gather = res["forces"].creator
    linked = {n.uuid for n in gather.base.links.get_incoming().all_nodes()}
    assert linked >= {j.outputs.result.uuid for j in jobs}


def test_structures_per_job_default(python_code, aiida_localhost):
    """All of a step's structures in one job on a computer without a queue (core.direct),
    one per job on a batch scheduler; a given engine.structures_per_job wins; 0 is refused."""
    from aiida_wigner.workflows.engine import structures_per_job

    cluster = orm.Computer(
        label="cluster-spj",
        hostname="cluster",
        transport_type="core.ssh",
        scheduler_type="core.slurm",
        workdir="/tmp",
    ).store()
    on_cluster = orm.InstalledCode(
        computer=cluster,
        filepath_executable="/usr/bin/python3",
        label="python-spj",
        default_calc_job_plugin="pythonjob.pythonjob",
    ).store()
    assert structures_per_job(remote(python_code), 100) == 100
    assert structures_per_job(remote(on_cluster), 100) == 1
    assert structures_per_job({**remote(on_cluster), "structures_per_job": orm.Int(10)}, 100) == 10
    engine = {**remote(python_code), "structures_per_job": orm.Int(0)}
    with pytest.raises(ValueError, match="structures_per_job must be at least 1"):
        run_get_node(EngineForcesWorkChain, engine=engine, structures=displaced_supercells(1))


def test_md_trajectory(python_code):
    """NVT (Langevin, seeded) through a PythonJob: same frames as in-process, Cartesian Å."""
    from ase.build import bulk

    cu_cubic = orm.StructureData(ase=bulk("Cu", "fcc", a=3.61, cubic=True))
    params = orm.Dict(
        {
            "temperature": 300,
            "timestep": 2.0,
            "n_steps": 20,
            "interval": 5,
            "thermostat": "langevin",
            "seed": 3,
        }
    )
    res, node = run_get_node(
        EngineMdWorkChain, engine=remote(python_code), structure=cu_cubic, parameters=params
    )
    assert node.is_finished_ok, node.exit_message
    traj = res["trajectory"]
    assert traj.numsteps == 4
    assert list(traj.get_stepids()) == [5, 10, 15, 20]
    np.testing.assert_allclose(traj.get_times(), [10.0, 20.0, 30.0, 40.0])
    assert traj.get_positions().shape == (4, 4, 3)
    assert traj.get_cells().shape == (4, 3, 3)
    assert traj.get_array("forces").shape == (4, 4, 3)
    assert traj.get_array("energies").shape == (4,)
    temperatures = traj.get_array("temperatures")
    assert temperatures.shape == (4,) and np.all((temperatures > 0) & (temperatures < 3000))
    assert np.all(np.isfinite(traj.get_positions()))
    assert traj.base.attributes.get("units")["positions"] == "Å (Cartesian)"
    (job,) = pythonjobs(node)
    assert job.process_label == "PythonJob<ase_md>" and job.is_finished_ok
    ref, _ = run_get_node(
        EngineMdWorkChain, engine=in_process(), structure=cu_cubic, parameters=params
    )
    np.testing.assert_allclose(
        traj.get_positions(), ref["trajectory"].get_positions(), rtol=0, atol=1e-10
    )


def test_relax(python_code):
    """Strained fcc Cu relaxes to the EMT lattice constant through a PythonJob."""
    from ase.build import bulk

    strained = orm.StructureData(ase=bulk("Cu", "fcc", a=3.70))
    engine = remote(python_code, options={"max_wallclock_seconds": 900})
    res, node = run_get_node(
        RelaxWorkChain,
        engine=engine,
        structure=strained,
        parameters=orm.Dict({"fmax": 1e-4, "max_steps": 100}),
    )
    assert node.is_finished_ok, node.exit_message
    lat = res["lattice"].get_dict()
    assert lat["spacegroup_initial"] == lat["spacegroup_final"] == "Fm-3m (225)"
    assert abs(lat["a"] - 3.59 / np.sqrt(2)) < 0.02
    assert lat["max_force"] < 1e-4 and lat["converged"]
    (job,) = pythonjobs(node)
    assert job.process_label == "PythonJob<ase_relax>"
    # engine.calculator.options are the CalcJob's options, not calculator keys
    assert job.get_option("max_wallclock_seconds") == 900
    assert job.inputs.function_inputs.spec.get_dict() == {"name": "emt"}
    ref, _ = run_get_node(
        RelaxWorkChain,
        engine=in_process(),
        structure=strained,
        parameters=orm.Dict({"fmax": 1e-4, "max_steps": 100}),
    )
    np.testing.assert_allclose(
        res["relaxed_structure"].cell, ref["relaxed_structure"].cell, rtol=0, atol=1e-8
    )


def test_bad_calculator_exit_code(python_code, cu_prim):
    """An unknown calculator name, found on the remote side: ERROR_BAD_CALCULATOR (311)."""
    engine = {"calculator": orm.Dict({"name": "nonsense"}), "code": python_code}
    _, node = run_get_node(EngineForcesWorkChain, engine=engine, structures={"s0": cu_prim})
    assert node.exit_status == EngineForcesWorkChain.exit_codes.ERROR_BAD_CALCULATOR.status
    assert "choose one of" in node.exit_message
    (job,) = pythonjobs(node)
    assert job.exit_status == 311


def test_engine_failure_exit_codes(python_code, cu_prim):
    """EMT on Cs fails on the remote side: ERROR_JOB_FAILED (forces; the message names the
    failing structure by its index among all, as in-process), ERROR_ENGINE_FAILED (MD)."""
    from ase.build import bulk

    bad = orm.StructureData(ase=bulk("Cs", "bcc", a=6.1, cubic=True))  # 2 atoms: MD can start
    structures = {"s0": cu_prim, "s1": cu_prim, "s2": bad}
    _, ref = run_get_node(EngineForcesWorkChain, engine=in_process(), structures=structures)
    assert "failed on structure 2:" in ref.exit_message
    engine = {**remote(python_code), "structures_per_job": orm.Int(2)}  # s2 second batch's 1st
    _, node = run_get_node(EngineForcesWorkChain, engine=engine, structures=structures)
    assert node.exit_status == EngineForcesWorkChain.exit_codes.ERROR_JOB_FAILED.status
    assert "ERROR_ENGINE_FAILED" in node.exit_message and "emt" in node.exit_message.lower()
    assert "1 engine job(s) failed" in node.exit_message
    assert "failed on structure 2:" in node.exit_message
    _, node = run_get_node(
        EngineMdWorkChain,
        engine=remote(python_code),
        structure=bad,
        parameters=orm.Dict({"n_steps": 2, "interval": 1}),
    )
    assert node.exit_status == EngineMdWorkChain.exit_codes.ERROR_ENGINE_FAILED.status
    assert "emt" in node.exit_message.lower()


def test_crash_is_reported(python_code, cu_prim):
    """A non-engine exception in the remote function (bad MD parameter) ends the workchain
    with ERROR_ENGINE_FAILED carrying PythonJob's 'Function execution failed' message."""
    _, node = run_get_node(
        EngineMdWorkChain,
        engine=remote(python_code),
        structure=cu_prim,
        parameters=orm.Dict({"n_steps": 2, "no_such_option": 1}),
    )
    assert node.exit_status == EngineMdWorkChain.exit_codes.ERROR_ENGINE_FAILED.status
    assert "no_such_option" in node.exit_message
    (job,) = pythonjobs(node)
    assert job.exit_status == job.process_class.exit_codes.ERROR_FUNCTION_EXECUTION_FAILED.status


def test_fcp_potential_rejected(python_code, cu_prim, tmp_path):
    """The fcp calculator needs a local file: refused before any job, ERROR_BAD_CALCULATOR."""
    path = tmp_path / "x.fcp"
    path.write_bytes(b"dummy")
    engine = {
        "calculator": orm.Dict({"name": "fcp"}),
        "code": python_code,
        "potential": orm.SinglefileData(str(path)),
    }
    _, node = run_get_node(
        EngineMdWorkChain,
        engine=engine,
        structure=cu_prim,
        parameters=orm.Dict({"n_steps": 2, "interval": 1}),
    )
    assert node.exit_status == EngineMdWorkChain.exit_codes.ERROR_BAD_CALCULATOR.status
    assert "PythonJob" in node.exit_message


@pytest.mark.slow
def test_fit_cli_emt_pythonjob(python_code, tmp_path):
    """``aiida-wigner fit --engine emt --code LABEL``: every engine task is a PythonJob."""
    import yaml
    from ase.build import bulk
    from click.testing import CliRunner

    from aiida_wigner.cli import cmd_root

    path = tmp_path / "Cu.cif"
    bulk("Cu", "fcc", a=3.62).write(str(path))
    overrides = {
        "relax": {"parameters": {"max_steps": 100}},
        "sampling": {
            "md": {"n_steps": 40, "interval": 2},
            "parameters": {"n_snapshots": 4, "discard_steps": 10},
        },
        "fit": {"parameters": {"cutoffs": {"2": 3.0, "3": 3.0}, "validation": {"n_splits": 3}}},
    }
    ov = tmp_path / "over.yaml"
    ov.write_text(yaml.safe_dump(overrides))
    result = CliRunner().invoke(
        cmd_root,
        [
            "fit",
            str(path),
            "--engine",
            "emt",
            "--code",
            python_code.full_label,
            "--protocol",
            "fast",
            "--supercell",
            "3",
            "3",
            "3",
            "--overrides",
            str(ov),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Fm-3m (225)" in result.output and "force_constants: <" in result.output
    from aiida_pythonjob import PythonJob

    jobs = (
        orm.QueryBuilder()
        .append(
            PythonJob,
            filters={"ctime": {">": python_code.ctime}},
            project=["attributes.process_label"],
        )
        .all(flat=True)
    )
    assert {"PythonJob<ase_relax>", "PythonJob<ase_md>", "PythonJob<ase_static>"} <= set(jobs)


def test_fit_cli_rejects_wrong_code(aiida_localhost, tmp_path):
    """--engine emt with a code of another plugin: a click error naming pythonjob.pythonjob."""
    from ase.build import bulk
    from click.testing import CliRunner

    from aiida_wigner.cli import cmd_root

    code = orm.InstalledCode(
        computer=aiida_localhost,
        filepath_executable="/bin/true",
        label="not-python",
        default_calc_job_plugin="core.arithmetic.add",
    )
    code.store()
    path = tmp_path / "Cu.cif"
    bulk("Cu", "fcc", a=3.62).write(str(path))
    result = CliRunner().invoke(
        cmd_root, ["fit", str(path), "--engine", "emt", "--code", code.full_label]
    )
    assert result.exit_code != 0
    assert "pythonjob.pythonjob" in result.output


def test_localhost_python_code(python_code):
    from aiida_wigner.calculations.jobs import ensure_localhost_python_code

    assert ensure_localhost_python_code().pk == python_code.pk  # idempotent
    assert python_code.full_label == "aiida-wigner-python@localhost"
    assert str(python_code.filepath_executable) == sys.executable
    assert python_code.default_calc_job_plugin == "pythonjob.pythonjob"
    assert python_code.computer.scheduler_type == "core.direct"


@pytest.fixture
def submitted(monkeypatch):
    """``--daemon`` without a daemon: the builders the CLI would submit, in a list."""
    import aiida.engine

    import aiida_wigner.cli.run
    import aiida_wigner.cli.utils

    builders = []

    class Node:
        pk = 0

    def submit(builder):
        builders.append(builder)
        return Node()

    monkeypatch.setattr(aiida.engine, "submit", submit)
    for module in (aiida_wigner.cli.run, aiida_wigner.cli.utils):
        monkeypatch.setattr(module, "check_daemon_running", lambda: None)
    return builders


@pytest.mark.parametrize("command", ["run", "fit"])
def test_daemon_sends_the_engine_to_localhost_python(
    command, python_code, submitted, aiida_localhost, tmp_path
):
    """``run --daemon`` / ``fit --daemon`` with an ASE engine and no --code: the engine runs as
    PythonJobs on aiida-wigner-python@localhost (no force call inside a daemon worker); a
    --code of the user's is kept, with --structures-per-job as engine.structures_per_job."""
    from ase.build import bulk
    from click.testing import CliRunner

    from aiida_wigner.cli import cmd_root

    path = tmp_path / "Cu.cif"
    bulk("Cu", "fcc", a=3.62).write(str(path))

    def engine_of(builder):
        return builder.fitting.engine if command == "run" else builder.engine

    result = CliRunner().invoke(cmd_root, [command, str(path), "--engine", "emt", "--daemon"])
    assert result.exit_code == 0, result.output
    assert engine_of(submitted[-1]).code.pk == python_code.pk
    own = orm.InstalledCode(
        computer=aiida_localhost,
        filepath_executable=sys.executable,
        label=f"own-python-{command}",
        default_calc_job_plugin="pythonjob.pythonjob",
    ).store()
    args = [command, str(path), "--engine", "emt", "--daemon", "--code", own.full_label]
    result = CliRunner().invoke(cmd_root, [*args, "--structures-per-job", "5"])
    assert result.exit_code == 0, result.output
    assert engine_of(submitted[-1]).code.pk == own.pk
    assert engine_of(submitted[-1]).structures_per_job.value == 5


def test_daemon_run_from_force_constants_has_no_engine(submitted, cu3au_fc):
    """``run --force-constants PK --daemon`` fits nothing: no engine to route, no error (the
    builder's empty ``fitting`` namespace once made this an AttributeError)."""
    from click.testing import CliRunner

    from aiida_wigner.cli import cmd_root
    from aiida_wigner.data.force_constants import ForceConstantsData

    fc = ForceConstantsData.from_force_constants(cu3au_fc).store()
    result = CliRunner().invoke(cmd_root, ["run", "--force-constants", str(fc.pk), "--daemon"])
    assert result.exit_code == 0, result.output
    assert submitted[-1].force_constants.pk == fc.pk
    assert "code" not in submitted[-1].fitting.engine  # nothing routed: no fit runs

"""The VASP engine through aiida-vasp's real ``vasp.vasp`` CalcJob and parser.

VASP itself is replaced by the stand-in executable ``tests/stand_in_vasp/stand_in_vasp.py``
(ASE EMT; it writes vasprun.xml, OUTCAR, CONTCAR, OSZICAR, XDATCAR), installed as an
``InstalledCode`` on the ``aiida_localhost`` computer, with a fake POTCAR family.
CalcJobs run in the foreground (``aiida.engine.run``), no daemon and no broker.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

pytest.importorskip(
    "aiida_vasp", reason="the VASP engine needs aiida-vasp (pip install 'aiida-wigner[vasp]')"
)

from aiida import orm  # noqa: E402
from aiida.engine import run_get_node  # noqa: E402
from ase.build import bulk  # noqa: E402
from vasp_inputs import FAMILY, vasp_engine_inputs  # noqa: E402

from aiida_wigner.engines import compute_static  # noqa: E402
from aiida_wigner.engines import vasp as vasp_engine  # noqa: E402
from aiida_wigner.exit_codes import status  # noqa: E402
from aiida_wigner.workflows.engine import EngineForcesWorkChain, EngineMdWorkChain, RelaxWorkChain  # noqa: E402


def rattled_cu(seed, repeat=(1, 1, 1), a=3.61):
    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(repeat)
    atoms.rattle(0.03, seed=seed)
    return atoms


def remote_record(calcjob) -> dict:
    """The stand-in's own record of its ionic steps (in the job's working directory)."""
    path = pathlib.Path(calcjob.outputs.remote_folder.get_remote_path()) / "stand_in_record.json"
    return json.loads(path.read_text())


# -- (a) the inputs ----------------------------------------------------------------------------


def test_inputs_static_md_relax(stand_in):
    structure = orm.StructureData(ase=bulk("Cu", "fcc", a=3.61))
    engine = vasp_engine_inputs(
        stand_in,
        potential_mapping={"Cu": "Cu"},
        kpoints_mesh_relax=[8, 8, 8],
        incar={"ENCUT": 400, "nsw": 99},
    )

    cls, inputs = vasp_engine.static_builder(engine, structure)
    assert cls.__name__ == "VaspCalculation"
    incar = inputs["parameters"].get_dict()
    assert incar["ENCUT"] == 400 and incar["NSW"] == 0 and incar["IBRION"] == -1
    assert inputs["kpoints"].get_kpoints_mesh() == ([2, 2, 2], [0.0, 0.0, 0.0])
    assert {k: p.full_name for k, p in inputs["potential"].items()} == {"Cu": "Cu"}
    assert inputs["metadata"]["options"]["max_wallclock_seconds"] == 600

    _, inputs = vasp_engine.md_builder(
        engine, structure, {"temperature": 500.0, "timestep": 1.5, "n_steps": 40, "interval": 5}
    )
    incar = inputs["parameters"].get_dict()
    assert incar["IBRION"] == 0 and incar["MDALGO"] == 2 and incar["SMASS"] == 0
    assert incar["TEBEG"] == incar["TEEND"] == 500.0 and incar["POTIM"] == 1.5
    assert incar["NSW"] == 41  # VASP's first ionic step is the initial configuration
    assert incar["ISYM"] == 0
    settings = inputs["settings"].get_dict()
    assert settings["parser_settings"] == {
        "include_node": ["trajectory"],
        "check_ionic_convergence": False,
    }
    assert settings["ADDITIONAL_RETRIEVE_LIST"] == ["OSZICAR"]

    _, inputs = vasp_engine.md_builder(
        engine, structure, {"thermostat": "langevin", "friction": 0.02, "n_steps": 10}
    )
    incar = inputs["parameters"].get_dict()
    assert incar["MDALGO"] == 3 and incar["LANGEVIN_GAMMA"] == [20.0]

    _, inputs = vasp_engine.relax_builder(engine, structure, {"fmax": 0.002, "max_steps": 80})
    incar = inputs["parameters"].get_dict()
    assert (incar["IBRION"], incar["ISIF"], incar["NSW"], incar["EDIFFG"]) == (2, 3, 80, -0.002)
    assert "ISYM" not in incar  # VASP's default keeps the space group
    assert inputs["kpoints"].get_kpoints_mesh()[0] == [8, 8, 8]
    assert inputs["settings"].get_dict()["parser_settings"] == {"check_ionic_convergence": False}


def test_inputs_written_by_calcjob(stand_in, tmp_path, monkeypatch):
    """The files the CalcJob writes (dry run): INCAR tags, Γ-centred KPOINTS, POTCAR order."""
    monkeypatch.chdir(tmp_path)
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    atoms[0].symbol = "Au"
    structure = orm.StructureData(ase=atoms)
    engine = vasp_engine_inputs(stand_in, potential_mapping={"Au": "Au", "Cu": "Cu"})
    cls, inputs = vasp_engine.md_builder(engine, structure, {"n_steps": 4, "interval": 1})
    inputs["metadata"].update(dry_run=True, store_provenance=False)
    run_get_node(cls, **inputs)
    folder = next(tmp_path.glob("submit_test/*"))
    incar = (folder / "INCAR").read_text().upper()
    for tag in ("IBRION = 0", "MDALGO = 2", "NSW = 5", "TEBEG = 300.0", "ISYM = 0"):
        assert tag in incar.replace("  ", " ")
    assert "GAMMA" in (folder / "KPOINTS").read_text().upper()
    titles = [
        line.split()[3] for line in (folder / "POTCAR").read_text().splitlines() if "TITEL" in line
    ]
    assert titles == ["Au", "Cu"]  # POSCAR species order
    assert (folder / "POSCAR").read_text().split("\n")[5].split() == ["Au", "Cu"]


def test_setup_errors(stand_in):
    structure = orm.StructureData(ase=bulk("Cu", "fcc", a=3.61))
    with pytest.raises(vasp_engine.VaspSetupError, match="engine.code"):
        vasp_engine.static_builder({"calculator": orm.Dict({"name": "vasp"})}, structure)
    with pytest.raises(vasp_engine.VaspSetupError, match="unknown key"):
        vasp_engine.static_builder(vasp_engine_inputs(stand_in, kpoint_mesh=[1, 1, 1]), structure)
    with pytest.raises(vasp_engine.VaspSetupError, match="uploadfamily"):
        vasp_engine.static_builder(vasp_engine_inputs(stand_in, potential_family="NOPE"), structure)
    # in a workchain: the bad-calculator exit code
    engine = vasp_engine_inputs(stand_in, potential_mapping={"Cu": "Cu_missing"})
    _, node = run_get_node(EngineForcesWorkChain, engine=engine, structures={"s0": structure})
    assert node.exit_status == EngineForcesWorkChain.exit_codes.ERROR_BAD_CALCULATOR.status
    assert "Cu_missing" in node.exit_message


def test_paper_protocol_vasp_section(tmp_path):
    """The paper protocol's engines.vasp section is a valid spec and its INCAR passes aiida-vasp's
    check."""
    from aiida_vasp.parsers.content_parsers.incar import IncarParser

    from aiida_wigner.workflows.force_constants import ForceConstantsWorkChain

    section = ForceConstantsWorkChain.get_protocol_inputs("paper")["engines"]["vasp"]
    spec = vasp_engine.vasp_spec({"name": "vasp", **section})
    assert spec["kpoints_mesh"] == [4, 4, 3] and spec["potential_mapping"]["Cs"] == "Cs_sv"
    incar = {k.upper(): v for k, v in spec["incar"].items()}
    IncarParser(data=orm.Dict(incar), validate_tags=True).write(str(tmp_path / "INCAR"))
    assert "LUSE_VDW" in (tmp_path / "INCAR").read_text().upper()
    with pytest.raises(SystemExit):  # the check is real: an unknown tag stops the writer
        IncarParser(data=orm.Dict({"NOT_A_TAG": 1}), validate_tags=True).write(str(tmp_path / "X"))


def test_output_conversions():
    """Plain conversions: fractional -> Cartesian frames, kB -> eV/Å³, relaxation status."""
    from ase.units import GPa

    rng = np.random.default_rng(0)
    cells = np.array([np.diag([4.0, 4.0, 4.0]) * (1 + 0.01 * k) for k in range(7)])
    frac = rng.random((7, 2, 3))
    arrays = {
        "cells": cells,
        "positions": frac,
        "forces": rng.normal(size=(7, 2, 3)),
        "energy_extrapolated": np.arange(7.0),
    }
    frames = vasp_engine.md_frames(arrays, {"interval": 2, "timestep": 1.5}, np.arange(7) * 10.0)
    assert list(frames["steps"]) == [2, 4, 6] and list(frames["times"]) == [3.0, 6.0, 9.0]
    assert np.allclose(frames["positions"][1], frac[4] @ cells[4])
    assert list(frames["temperatures"]) == [20.0, 40.0, 60.0]
    assert np.allclose(vasp_engine.stress_to_ev_a3(np.eye(3) * 10.0), -np.eye(3) * GPa)
    text = "     1 T=   301.  E= -.1E+02 F= -.2E+02\n     2 T=   299.5 E= -.1E+02\n"
    assert list(vasp_engine.oszicar_temperatures(text)) == [301.0, 299.5]
    misc = {
        "total_energies": {"energy_extrapolated": -3.5},
        "forces": [[0.0, 0.0, 0.002]],
        "stress": [[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]],
        "run_status": {"ionic_converged": False, "last_iteration_index": [40, 1]},
    }
    info = vasp_engine.relax_info(misc)
    assert info["converged"] is False and info["n_steps"] == 40
    assert info["energy"] == -3.5 and info["max_force"] == 0.002
    misc["run_status"]["ionic_converged"] = None  # VASP cannot tell (NSW <= 1)
    assert vasp_engine.relax_info(misc)["converged"] is True


# -- (b) end to end with the stand-in ----------------------------------------------------------


def test_static_forces_match_emt(stand_in):
    structures = [rattled_cu(seed) for seed in (1, 2)]
    ref = compute_static({"name": "emt"}, structures, stress=True)
    results, node = run_get_node(
        EngineForcesWorkChain,
        engine=vasp_engine_inputs(stand_in),
        structures={f"s{i}": orm.StructureData(ase=a) for i, a in enumerate(structures)},
        settings=orm.Dict({"stress": True}),
    )
    assert node.is_finished_ok, node.exit_message
    out = results["forces"]
    assert np.abs(out.get_array("forces") - ref["forces"]).max() < 1e-6
    assert np.abs(out.get_array("energies") - ref["energies"]).max() < 1e-6
    assert np.abs(out.get_array("stresses") - ref["stresses"]).max() < 1e-8
    jobs = [c for c in node.called_descendants if c.process_type.endswith("vasp.vasp")]
    assert len(jobs) == 2 and all(j.is_finished_ok for j in jobs)


def test_relax_returns_relaxed_structure(stand_in):
    strained = orm.StructureData(ase=bulk("Cu", "fcc", a=3.75))
    results, node = run_get_node(
        RelaxWorkChain,
        engine=vasp_engine_inputs(stand_in),
        structure=strained,
        parameters=orm.Dict({"fmax": 1e-3, "max_steps": 60}),
    )
    assert node.is_finished_ok, node.exit_message
    lat = results["lattice"].get_dict()
    assert lat["spacegroup_initial"] == lat["spacegroup_final"] == "Fm-3m (225)"
    assert abs(lat["a"] - 3.59 / np.sqrt(2)) < 0.02  # EMT's Cu, as the ASE engine finds
    assert lat["converged"] is True and lat["max_force"] < 1e-3
    job = next(c for c in node.called_descendants if c.process_type.endswith("vasp.vasp"))
    record = remote_record(job)
    assert np.allclose(results["relaxed_structure"].cell, record["cell"][-1], atol=1e-8)


def test_md_trajectory_cartesian(stand_in):
    ideal = bulk("Cu", "fcc", a=3.61).repeat((2, 2, 2))
    params = orm.Dict({"temperature": 600.0, "timestep": 2.0, "n_steps": 12, "interval": 3})
    results, node = run_get_node(
        EngineMdWorkChain,
        engine=vasp_engine_inputs(stand_in),
        structure=orm.StructureData(ase=ideal),
        parameters=params,
    )
    assert node.is_finished_ok, node.exit_message
    traj = results["trajectory"]
    assert list(traj.get_stepids()) == [3, 6, 9, 12]  # as the ASE engine: step 0 excluded
    assert np.allclose(traj.get_times(), [6.0, 12.0, 18.0, 24.0])
    job = next(c for c in node.called_descendants if c.process_type.endswith("vasp.vasp"))
    assert "trajectory" in job.outputs  # aiida-vasp's own, fractional
    record = remote_record(job)
    assert len(record["positions"]) == 13
    expected = np.array(record["positions"])[[3, 6, 9, 12]]
    assert np.abs(traj.get_positions() - expected).max() < 1e-8  # Cartesian Å
    assert np.abs(traj.get_array("forces") - np.array(record["forces"])[[3, 6, 9, 12]]).max() < 1e-8
    assert np.allclose(
        traj.get_array("temperatures"), np.array(record["temperature"])[[3, 6, 9, 12]], atol=0.01
    )
    assert np.allclose(traj.get_array("energies"), np.array(record["energy"])[[3, 6, 9, 12]])


# -- (c) failure -------------------------------------------------------------------------------


def test_crash_gives_engine_failure(stand_in):
    crash = {
        "resources": {"num_machines": 1, "num_mpiprocs_per_machine": 1},
        "environment_variables": {"STAND_IN_VASP_CRASH": "1"},
    }
    structure = orm.StructureData(ase=bulk("Cu", "fcc", a=3.61))
    engine = vasp_engine_inputs(stand_in, options=crash)
    _, node = run_get_node(
        EngineMdWorkChain,
        engine=engine,
        structure=structure,
        parameters=orm.Dict({"n_steps": 4, "interval": 2}),
    )
    assert node.exit_status == EngineMdWorkChain.exit_codes.ERROR_ENGINE_FAILED.status
    assert "VASP calculation" in node.exit_message and "max_wallclock_seconds" in node.exit_message
    job = next(c for c in node.called_descendants if c.process_type.endswith("vasp.vasp"))
    assert job.exit_status == 352  # aiida-vasp: vasprun.xml / OUTCAR missing
    # no restart handler acts on a crash: wigner.vasp_base stops after one run with 383
    (base,) = node.called
    assert base.exit_status == status("ERROR_UNHANDLED_FAILURE") and "[352]" in base.exit_message


# -- (d) the whole pipeline --------------------------------------------------------------------


def test_fit_cli_vasp_end_to_end(stand_in, tmp_path):
    """``aiida-wigner fit --engine vasp --code ...``: harmonic, MD, snapshots, fit on fcc Cu.

    (The relaxation through VASP is covered by ``test_relax_returns_relaxed_structure``.)
    """
    import yaml
    from click.testing import CliRunner

    from aiida_wigner.cli import cmd_root

    path = tmp_path / "Cu.cif"
    bulk("Cu", "fcc", a=3.62).write(str(path))
    overrides = {
        "engines": {
            "vasp": {
                "potential_family": FAMILY,
                "kpoints_mesh": [1, 1, 1],
                "options": {"resources": {"num_machines": 1, "num_mpiprocs_per_machine": 1}},
            }
        },
        # one VASP job instead of two
        "harmonic": {"parameters": {"subtract_residual_forces": False}},
        "sampling": {
            "md": {"n_steps": 12, "interval": 2},
            "parameters": {"n_snapshots": 2, "discard_steps": 4},
        },
        "fit": {
            "parameters": {
                "cutoffs": {"2": 3.0, "3": 3.0},
                "validation": {"n_splits": 2},
                "max_relative_rmse": 1.0,
            }
        },
    }
    ov = tmp_path / "over.yaml"
    ov.write_text(yaml.safe_dump(overrides))
    code = f"{stand_in.label}@{stand_in.computer.label}"
    result = CliRunner().invoke(
        cmd_root,
        [
            "fit",
            str(path),
            "--engine",
            "vasp",
            "--code",
            code,
            "--protocol",
            "fast",
            "--supercell",
            "3",
            "3",
            "3",
            "--no-relax",
            "--overrides",
            str(ov),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "harmonic frequencies (THz" in result.output and "force_constants: <" in result.output


def test_fit_cli_vasp_bad_inputs(stand_in, tmp_path):
    from click.testing import CliRunner

    from aiida_wigner.cli import cmd_root

    path = tmp_path / "Cu.cif"
    bulk("Cu", "fcc", a=3.62).write(str(path))
    result = CliRunner().invoke(
        cmd_root, ["fit", str(path), "--engine", "vasp", "--code", "no-such-code@localhost"]
    )
    assert result.exit_code == 2
    assert "--code" in result.output and "verdi code list" in result.output
    # a POTCAR family without the element: a clear error before anything runs
    code = f"{stand_in.label}@{stand_in.computer.label}"
    result = CliRunner().invoke(cmd_root, ["fit", str(path), "--engine", "vasp", "--code", code])
    assert result.exit_code == 1
    assert "PBE.54" in result.output and "uploadfamily" in result.output

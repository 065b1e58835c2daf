"""WorkChains end to end with the EMT engine (seconds), and their failure exit codes."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_wigner.workflows.engine import EngineForcesWorkChain, EngineMdWorkChain, RelaxWorkChain
from aiida_wigner.workflows.force_constants import (
    FitWorkChain,
    ForceConstantsWorkChain,
)

EMT_OVERRIDES = {
    "supercell_matrix": [3, 3, 3],
    "relax": {"parameters": {"fmax": 1e-3, "max_steps": 100}},
    "sampling": {
        "md": {"n_steps": 60, "interval": 2, "timestep": 2.0},
        "parameters": {"n_snapshots": 6, "discard_steps": 20},
    },
    "fit": {
        "parameters": {
            "cutoffs": {"2": 3.0, "3": 3.0},
            "validation": {"method": "k-fold", "n_splits": 3},
        }
    },
}


@pytest.fixture
def cu_prim():
    from ase.build import bulk

    return orm.StructureData(ase=bulk("Cu", "fcc", a=3.65))


def emt():
    return {"calculator": orm.Dict({"name": "emt"})}


def test_emt_end_to_end(cu_prim):
    """relax -> harmonic -> sampling -> fit with EMT on fcc Cu: all outputs, sensible numbers."""
    builder = ForceConstantsWorkChain.get_builder_from_protocol(
        cu_prim, engine="emt", protocol="fast", overrides=EMT_OVERRIDES
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    lat = results["lattice"].get_dict()
    # EMT lattice constant of Cu is 3.59 Å: primitive a = 3.59/sqrt(2) = 2.54 Å
    assert lat["spacegroup_final"] == lat["spacegroup_initial"] == "Fm-3m (225)"
    assert abs(lat["a"] - 3.59 / np.sqrt(2)) < 0.02
    freqs = results["frequencies"].get_dict()["points"]
    assert abs(max(freqs["G"]["frequencies"])) < 1e-2  # acoustic sum rule at Gamma
    assert 5.0 < max(freqs["X"]["frequencies"]) < 10.0  # Cu-like zone-boundary frequencies
    scores = results["scores"].get_dict()
    assert scores["r2_validation"] > 0.9
    fc = results["force_constants"].get_force_constants()
    assert fc.orders == [2, 3]
    fc2_h = results["harmonic_force_constants"].get_force_constants().fc2
    # harmonic 'fixed': the output's FC2 is the finite-displacement one, without cutoff
    assert scores["harmonic_fc2"].startswith("full")
    np.testing.assert_array_equal(fc.fc2, fc2_h)
    assert results["fcp"].filename.endswith(".fcp")


def test_engine_failure_exit_code(cu_prim):
    """An element EMT does not know ends the forces workchain with ERROR_ENGINE_FAILED."""
    from ase.build import bulk

    bad = orm.StructureData(ase=bulk("Cs", "bcc", a=6.1))
    _, node = run_get_node(EngineForcesWorkChain, engine=emt(), structures={"s0": bad})
    assert node.exit_status == EngineForcesWorkChain.exit_codes.ERROR_ENGINE_FAILED.status
    assert "emt" in node.exit_message.lower()


def test_bad_calculator_exit_code(cu_prim):
    _, node = run_get_node(
        EngineForcesWorkChain,
        engine={"calculator": orm.Dict({"name": "nonsense"})},
        structures={"s0": cu_prim},
    )
    assert node.exit_status == EngineForcesWorkChain.exit_codes.ERROR_BAD_CALCULATOR.status
    assert "choose one of" in node.exit_message


def test_md_trajectory(cu_prim):
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
    cell8 = orm.StructureData(ase=cu_prim.get_ase().repeat(2))
    results, node = run_get_node(
        EngineMdWorkChain, engine=emt(), structure=cell8, parameters=params
    )
    assert node.is_finished_ok
    traj = results["trajectory"]
    assert traj.numsteps == 4
    assert list(traj.get_stepids()) == [5, 10, 15, 20]
    assert traj.get_array("forces").shape == (4, 8, 3)
    assert np.all(np.isfinite(traj.get_positions()))
    assert np.all(np.isfinite(traj.get_array("temperatures")))
    # one atom per cell: a clear engine error, not NaN positions
    _, node = run_get_node(EngineMdWorkChain, engine=emt(), structure=cu_prim, parameters=params)
    assert node.exit_status == EngineMdWorkChain.exit_codes.ERROR_ENGINE_FAILED.status
    assert "at least 2 atoms" in node.exit_message


def test_relax_not_converged_exit_code(cu_prim):
    from ase.build import bulk

    strained = orm.StructureData(ase=bulk("Cu", "fcc", a=3.9))
    _, node = run_get_node(
        RelaxWorkChain,
        engine=emt(),
        structure=strained,
        parameters=orm.Dict({"fmax": 1e-6, "max_steps": 1}),
    )
    assert node.exit_status == RelaxWorkChain.exit_codes.ERROR_RELAX_NOT_CONVERGED.status
    assert "max_steps" in node.exit_message
    assert "relaxed_structure" in node.outputs


def test_fit_validation_exit_code(cu_prim):
    """A harmonic-only fit to large-amplitude EMT data misses the anharmonic forces -> 340."""
    from aiida_wigner.engines import compute_static
    from aiida_wigner.fitting import rattle_fixed_amplitude
    from aiida_wigner.fitting.harmonic import build_setup

    setup = build_setup(cu_prim.get_ase(), [3, 3, 3])
    ideal = setup.supercell.to_ase()
    rng = np.random.default_rng(0)
    u = np.array([rattle_fixed_amplitude(len(ideal), 0.25, rng) for _ in range(4)])
    structs = []
    for d in u:
        a = ideal.copy()
        a.positions += d
        structs.append(a)
    f = compute_static({"name": "emt"}, structs)["forces"]
    disp, forces = orm.ArrayData(), orm.ArrayData()
    disp.set_array("displacements", u)
    forces.set_array("forces", f)
    params = {"cutoffs": {"2": 3.0}, "method": "least-squares", "max_relative_rmse": 0.01}
    results, node = run_get_node(
        FitWorkChain,
        structure=cu_prim,
        supercell_matrix=orm.List([3, 3, 3]),
        displacements=disp,
        forces=forces,
        parameters=orm.Dict(params),
    )
    assert node.exit_status == FitWorkChain.exit_codes.ERROR_FIT_VALIDATION.status
    assert "n_snapshots" in node.exit_message
    assert "scores" in results and "fcp" in results  # kept for inspection

    params["cutoffs"] = {"2": 30.0}
    _, node = run_get_node(
        FitWorkChain,
        structure=cu_prim,
        supercell_matrix=orm.List([3, 3, 3]),
        displacements=disp,
        forces=forces,
        parameters=orm.Dict(params),
    )
    assert node.exit_status == FitWorkChain.exit_codes.ERROR_FIT_SETUP.status
    assert "larger supercell" in node.exit_message

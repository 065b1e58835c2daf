"""hiphive fits: recovery of known force constants from a polynomial potential.

The "truth" is a hiphive ForceConstantPotential (orders 2-4) used as the force engine
(``{"name": "fcp"}``); fitting data generated with it must give back its parameters,
through the plain functions and through the AiiDA workflows (sampling + fit).
"""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_wigner.engines import compute_static
from aiida_wigner.engines.calculators import atoms_to_dict
from aiida_wigner.fitting import (
    FitError,
    build_cluster_space,
    fcp_to_force_constants,
    fit_force_constants,
    rattle_fixed_amplitude,
    select_snapshots,
)
from aiida_wigner.fitting.harmonic import build_setup

CUTOFFS = {"2": 3.0, "3": 3.0, "4": 3.0}


@pytest.fixture(scope="module")
def truth(tmp_path_factory):
    """A realistic polynomial potential: an EMT fit of fcc Cu, orders 2-4, 3x3x3 supercell."""
    from ase.build import bulk

    prim = bulk("Cu", "fcc", a=3.59)
    setup = build_setup(prim, [3, 3, 3])
    ideal = setup.supercell.to_ase()
    cs = build_cluster_space(setup.primitive.to_ase(), CUTOFFS)
    rng = np.random.default_rng(7)
    u = np.array([rattle_fixed_amplitude(len(ideal), 0.05, rng) for _ in range(8)])
    f = compute_static({"name": "emt"}, [_displaced(ideal, d) for d in u])["forces"]
    res = fit_force_constants(setup.primitive.to_ase(), ideal, u, f, CUTOFFS, cluster_space=cs)
    path = tmp_path_factory.mktemp("fcp") / "truth.fcp"
    res.fcp.write(str(path))
    spec = {"name": "fcp", "fcp": str(path), "reference": atoms_to_dict(ideal)}
    return {
        "prim": prim,
        "setup": setup,
        "ideal": ideal,
        "cs": cs,
        "params": res.parameters,
        "fcp": res.fcp,
        "path": path,
        "spec": spec,
    }


def _displaced(ideal, d):
    a = ideal.copy()
    a.positions = a.positions + d
    return a


@pytest.mark.parametrize("method", ["least-squares"])
def test_recover_parameters(truth, method):
    rng = np.random.default_rng(11)
    ideal = truth["ideal"]
    u = np.array([rattle_fixed_amplitude(len(ideal), 0.1, rng) for _ in range(5)])
    f = compute_static(truth["spec"], [_displaced(ideal, d) for d in u])["forces"]
    res = fit_force_constants(
        truth["setup"].primitive.to_ase(),
        ideal,
        u,
        f,
        CUTOFFS,
        method=method,
        cluster_space=truth["cs"],
    )
    scale = np.abs(truth["params"]).max()
    assert np.abs(res.parameters - truth["params"]).max() < 1e-6 * scale
    assert res.scores["rmse_validation"] < 1e-8
    assert res.scores["r2_validation"] > 1 - 1e-10
    assert (
        res.scores["n_parameters"] == {"2": 5, "3": 10, "4": 27}
        or sum(res.scores["n_parameters"].values()) == truth["cs"].n_dofs
    )


def test_fixed_harmonic_from_displacements(truth):
    """FC2 fixed from 0.01 Å displacements, anharmonic part fitted: same parameters."""
    from aiida_wigner.fitting.harmonic import generate_displacements

    ideal, setup = truth["ideal"], truth["setup"]
    hd = generate_displacements(setup, 0.01)["displacements"]
    hf = compute_static(truth["spec"], [_displaced(ideal, d) for d in hd])["forces"]
    rng = np.random.default_rng(3)
    u = np.array([rattle_fixed_amplitude(len(ideal), 0.1, rng) for _ in range(5)])
    f = compute_static(truth["spec"], [_displaced(ideal, d) for d in u])["forces"]
    res = fit_force_constants(
        setup.primitive.to_ase(),
        ideal,
        u,
        f,
        CUTOFFS,
        harmonic="fixed",
        harmonic_displacements=hd,
        harmonic_forces=hf,
        cluster_space=truth["cs"],
    )
    idx2 = truth["cs"].get_parameter_indices(2)
    # 0.01 Å displacements carry anharmonic forces of relative size ~1e-3
    p2_err = np.abs(res.parameters[idx2] - truth["params"][idx2]).max()
    assert p2_err < 1e-2 * np.abs(truth["params"][idx2]).max()
    assert res.scores["harmonic"] == "fixed"


def test_fixed_full_fc2_beyond_the_order2_cutoff(truth, tmp_path):
    """A truth whose FC2 reaches 2nd neighbours, fitted with a 1st-neighbour order-2 cutoff:
    with the full FC2 fixed, orders 3-4 come back exactly; with the truncated one they don't."""
    ideal, setup = truth["ideal"], truth["setup"]
    long2 = {"2": 3.75, "3": 3.0, "4": 3.0}  # 2nd shell (3.59 Å); the 3x3x3 limit is 3.79 Å
    rng = np.random.default_rng(5)
    u0 = np.array([rattle_fixed_amplitude(len(ideal), 0.05, rng) for _ in range(8)])
    f0 = compute_static({"name": "emt"}, [_displaced(ideal, d) for d in u0])["forces"]
    prim = setup.primitive.to_ase()
    fcp = fit_force_constants(prim, ideal, u0, f0, long2).fcp
    fcp.write(str(tmp_path / "long.fcp"))
    fcs = fcp.get_force_constants(ideal)
    fc2 = fcs.get_fc_array(2)
    u = np.array([rattle_fixed_amplitude(len(ideal), 0.1, rng) for _ in range(5)])
    spec = {"name": "fcp", "fcp": str(tmp_path / "long.fcp"), "reference": atoms_to_dict(ideal)}
    f = compute_static(spec, [_displaced(ideal, d) for d in u])["forces"]
    hd = 0.01 * np.eye(len(ideal) * 3)[:3].reshape(3, len(ideal), 3)
    hf = -np.einsum("ijab,mjb->mia", fc2, hd)  # an exactly harmonic displacement dataset
    kwargs = dict(
        harmonic="fixed", harmonic_displacements=hd, harmonic_forces=hf, cluster_space=truth["cs"]
    )
    full = fit_force_constants(prim, ideal, u, f, CUTOFFS, harmonic_fc2=fc2, **kwargs)
    cut = fit_force_constants(prim, ideal, u, f, CUTOFFS, **kwargs)
    assert full.scores["harmonic_fc2"].startswith("full")
    assert full.scores["rmse_validation"] < 1e-6 * full.scores["force_rms"]
    assert cut.scores["rmse_validation"] > 1e-3 * cut.scores["force_rms"]
    full_fcs = full.fcp.get_force_constants(ideal)
    for order in (3, 4):
        expected = fcs.get_fc_array(order)
        err = np.abs(full_fcs.get_fc_array(order) - expected).max()
        assert err < 1e-6 * np.abs(expected).max()
    with pytest.raises(FitError, match="harmonic_fc2"):
        fit_force_constants(prim, ideal, u, f, CUTOFFS, harmonic_fc2=fc2[:3], **kwargs)


def test_force_constant_arrays_match_hiphive(truth):
    setup = truth["setup"]
    fc = fcp_to_force_constants(truth["fcp"], setup)
    full = truth["fcp"].get_force_constants(truth["ideal"])
    assert np.allclose(fc.fc2, full.get_fc_array(2)[setup.p2s])
    assert np.allclose(fc.dense_fc3(), full.get_fc_array(3)[setup.p2s])
    dense4 = fc.fc4.to_dense_compact(setup.p2s, setup.n_super)
    assert np.allclose(dense4, full.get_fc_array(4)[setup.p2s])
    assert fc.orders == [2, 3, 4]


def test_fit_errors(truth):
    ideal = truth["ideal"]
    u = np.zeros((3, len(ideal), 3))
    with pytest.raises(FitError, match="unknown fit method"):
        fit_force_constants(truth["prim"], ideal, u, u, CUTOFFS, method="magic")
    with pytest.raises(FitError, match="larger supercell"):
        fit_force_constants(truth["prim"], ideal, u, u, {"2": 20.0})
    with pytest.raises(FitError, match="harmonic_displacements"):
        fit_force_constants(
            truth["prim"], ideal, u, u, CUTOFFS, harmonic="fixed", cluster_space=truth["cs"]
        )
    with pytest.raises(FitError, match="consecutive orders"):
        fit_force_constants(truth["prim"], ideal, u, u, {"2": 3.0, "4": 3.0})
    with pytest.raises(FitError, match="run longer MD"):
        select_snapshots(10, 20, 5)
    assert list(select_snapshots(11, 3, 2)) == [2, 6, 10]


def test_sampling_and_fit_workflows_recover_fcp(truth):
    """SamplingWorkChain (MD + rattle) with the fcp engine, then FitWorkChain: exact recovery."""
    from aiida_wigner.workflows.force_constants import FitWorkChain, SamplingWorkChain

    structure = orm.StructureData(ase=truth["prim"])
    spec = dict(truth["spec"])
    spec.pop("fcp")
    engine = {"calculator": orm.Dict(spec), "potential": orm.SinglefileData(str(truth["path"]))}
    md = orm.Dict(
        {
            "temperature": 300.0,
            "timestep": 2.0,
            "n_steps": 40,
            "interval": 4,
            "thermostat": "nose-hoover",
            "seed": 5,
        }
    )
    sampling = orm.Dict({"n_snapshots": 5, "discard_steps": 10, "amplitude": 0.1, "seed": 9})
    res, node = run_get_node(
        SamplingWorkChain,
        engine=engine,
        structure=structure,
        supercell_matrix=orm.List([3, 3, 3]),
        md=md,
        parameters=sampling,
    )
    assert node.is_finished_ok, node.exit_message
    u = res["displacements"].get_array("displacements")
    assert u.shape == (5, 27, 3)
    assert list(res["displacements"].get_array("steps")) == [12, 20, 28, 32, 40]
    params = orm.Dict(
        {
            "cutoffs": CUTOFFS,
            "method": "least-squares",
            "validation": {"method": "split", "train_fraction": 0.8},
            "max_relative_rmse": 1e-6,
        }
    )
    fit, node = run_get_node(
        FitWorkChain,
        structure=structure,
        supercell_matrix=orm.List([3, 3, 3]),
        displacements=res["displacements"],
        forces=res["forces"],
        parameters=params,
    )
    assert node.is_finished_ok, node.exit_message
    from hiphive import ForceConstantPotential

    with fit["fcp"].as_path() as path:
        fcp = ForceConstantPotential.read(str(path))
    got = fcp.get_force_constants(truth["ideal"])
    want = truth["fcp"].get_force_constants(truth["ideal"])
    for order in (2, 3):
        a, b = got.get_fc_array(order), want.get_fc_array(order)
        assert np.abs(a - b).max() < 1e-6 * np.abs(b).max()
    assert fit["scores"]["validation"]["method"] == "split"
    fc = fit["force_constants"].get_force_constants()
    assert fc.orders == [2, 3, 4]
    ref = fcp_to_force_constants(truth["fcp"], truth["setup"])
    assert np.allclose(fc.dense_fc3(), ref.dense_fc3(), atol=1e-6 * np.abs(ref.dense_fc3()).max())

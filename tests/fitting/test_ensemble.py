"""Bootstrap ensembles of hiphive fits (``aiida_wigner.fitting.ensemble``).

Reference: ordinary least squares with independent Gaussian force noise of standard deviation
s has the parameter covariance s² (AᵀA)⁻¹ (Gauss–Markov), A being hiphive's own fit matrix
(``StructureContainer.get_fit_data``).  The spread of the bootstrap members over whole
structures must estimate those standard errors; without noise every member must be the
full-data fit.
"""

from __future__ import annotations

import numpy as np
import pytest

from aiida_wigner.engines import compute_static
from aiida_wigner.fitting import build_cluster_space, fit_force_constants, rattle_fixed_amplitude
from aiida_wigner.fitting.ensemble import (
    bootstrap_structure_sets,
    ensemble_spread,
    out_of_bag,
)
from aiida_wigner.fitting.harmonic import build_setup
from aiida_wigner.fitting.hiphive_fit import FitError, fit_step

CUTOFFS = {"2": 3.0, "3": 3.0}
N_STRUCTURES = 40
NOISE = 0.02  # eV/Å, force noise added to the EMT forces


@pytest.fixture(scope="module")
def data():
    """fcc Cu (EMT), 3x3x3 primitive supercell (27 atoms), 40 structures rattled by 0.03 Å."""
    from ase.build import bulk

    prim = bulk("Cu", "fcc", a=3.61)
    setup = build_setup(prim, [3, 3, 3])
    ideal = setup.supercell.to_ase()
    cs = build_cluster_space(setup.primitive.to_ase(), CUTOFFS)
    rng = np.random.default_rng(5)
    u = np.array([rattle_fixed_amplitude(len(ideal), 0.03, rng) for _ in range(N_STRUCTURES)])
    f = _emt_forces(ideal, u)
    return {"setup": setup, "ideal": ideal, "cs": cs, "u": u, "f": f, "rng": rng}


def _emt_forces(ideal, displacements):
    """EMT forces (m, N, 3) eV/Å of ``ideal`` displaced by each of ``displacements`` (Å)."""
    displaced = []
    for d in displacements:
        atoms = ideal.copy()
        atoms.positions = atoms.positions + d
        displaced.append(atoms)
    return np.asarray(compute_static({"name": "emt"}, displaced)["forces"])


def _fit(data, forces, **kwargs):
    return fit_force_constants(
        data["setup"].primitive.to_ase(),
        data["ideal"],
        data["u"],
        forces,
        CUTOFFS,
        cluster_space=data["cs"],
        validation={"method": "k-fold", "n_splits": 2},
        **kwargs,
    )


def test_bootstrap_sets_are_reproducible_draws_with_replacement():
    sets = bootstrap_structure_sets(10, 5, seed=3)
    assert sets.shape == (5, 10) and sets.min() >= 0 and sets.max() < 10
    assert np.array_equal(sets, bootstrap_structure_sets(10, 5, seed=3))
    assert not np.array_equal(sets, bootstrap_structure_sets(10, 5, seed=4))
    assert all(np.unique(row).size >= 2 for row in bootstrap_structure_sets(2, 50, seed=0))
    assert np.array_equal(out_of_bag(np.array([0, 0, 2]), 4), [1, 3])
    for bad in ((1, 5), (10, 1)):
        with pytest.raises(ValueError, match="at least 2"):
            bootstrap_structure_sets(*bad)
    with pytest.raises(ValueError, match="at least 2 members"):
        ensemble_spread(np.ones((1, 3)))


def _fit_matrix(data, forces):
    """hiphive's own fit matrix A (m·N·3, n_dofs) of the training structures."""
    from hiphive import StructureContainer

    sc = StructureContainer(data["cs"])
    for d, f in zip(data["u"], forces, strict=True):
        atoms = data["ideal"].copy()  # hiphive: ideal positions plus a 'displacements' array
        atoms.new_array("displacements", d)
        atoms.new_array("forces", f)
        sc.add_structure(atoms)
    return sc.get_fit_data()[0]


def test_without_noise_every_member_is_the_full_fit(data):
    """Forces of a potential the cluster space holds exactly (the fit's own prediction):
    every resample gives the same parameters, to the round-off of least squares."""
    res = _fit(data, data["f"])
    exact = (_fit_matrix(data, data["f"]) @ res.parameters).reshape(data["f"].shape)
    again = _fit(data, exact, ensemble_size=4, ensemble_seed=1)
    members = np.array(again.ensemble)
    assert members.shape == (4, data["cs"].n_dofs)
    scale = np.abs(again.parameters).max()
    assert np.abs(members - again.parameters).max() < 1e-9 * scale  # measured ~1e-13
    assert again.scores["ensemble"]["size"] == 4
    assert max(again.scores["ensemble"]["rmse_out_of_bag"]) < 1e-9


def test_member_spread_estimates_the_least_squares_standard_errors(data):
    """Gaussian force noise NOISE, three noise realizations of 80 members each: the members'
    variance of each parameter against NOISE²·diag((AᵀA)⁻¹).  One realization alone
    scatters by ±25 % in the median ratio of standard deviations (24-60 structures, seen in
    six trials), so the variance ratio is pooled over parameters and realizations: expected
    (m − 1)/m = 0.96 (the bootstrap's bias), measured 0.99-1.11 in three trials of four
    realizations of 100 members on 40 structures; asserted within 0.8-1.25 (about ±11 % in
    the standard deviation), and every parameter's mean ratio within 0.55-1.8."""
    A = _fit_matrix(data, data["f"])
    analytic = NOISE**2 * np.diag(np.linalg.inv(A.T @ A))
    ratios = []
    for realization in range(3):
        noisy = data["f"] + np.random.default_rng(100 + realization).normal(
            0.0, NOISE, data["f"].shape
        )
        res = _fit(data, noisy, ensemble_size=80, ensemble_seed=realization)
        ratios.append(ensemble_spread(res.ensemble)[1] ** 2 / analytic)
    ratios = np.array(ratios)
    assert 0.8 < ratios.mean() < 1.25, ratios.mean(axis=0)
    assert 0.55 < ratios.mean(axis=0).min() and ratios.mean(axis=0).max() < 1.8, ratios.mean(0)


def test_fit_step_members_share_the_fixed_harmonic_part(data):
    """With harmonic='fixed' and the finite-displacement FC2, the members differ from the
    full fit in FC3 only; the parameter errors are one-line FitErrors."""
    from aiida_wigner.fitting.harmonic import generate_displacements
    from aiida_wigner.physics.forceconstants import ForceConstants

    setup, ideal = data["setup"], data["ideal"]
    hd = generate_displacements(setup, 0.01)["displacements"]
    hf = _emt_forces(ideal, hd)
    res0 = _fit(data, data["f"])
    fc2 = ForceConstants(setup, res0.fcp.get_force_constants(ideal).get_fc_array(2)[setup.p2s])
    params = {
        "cutoffs": CUTOFFS,
        "harmonic": "fixed",
        "validation": {"method": "k-fold", "n_splits": 2},
        "fc_orders": [2, 3],
        "ensemble": {"size": 3, "seed": 7},
    }
    res, fc, members = fit_step(setup, params, data["u"], data["f"], hd, hf, fc2)
    assert len(members) == 3 and len(res.ensemble) == 3
    for b, member in enumerate(members):
        assert np.array_equal(member.fc2, fc.fc2)
        assert member.source["ensemble_member"] == b
        assert not np.allclose(member.dense_fc3(), fc.dense_fc3())
    for bad, message in (
        ({"size": 1}, "at least 2 members"),
        ({"size": 3, "draws": 2}, "not draws"),
    ):
        with pytest.raises(FitError, match=message):
            fit_step(setup, {**params, "ensemble": bad}, data["u"], data["f"], hd, hf, fc2)
    no_ensemble = {**params, "harmonic": "joint", "ensemble": {"size": 0}}
    assert fit_step(setup, no_ensemble, data["u"], data["f"])[2] == []

"""Four-phonon interaction and linewidths (issue 4, item 5)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from four_phonon_models import lj_model, naive_linewidths, naive_phi4

from aiida_wigner.physics.fc4_reciprocal import FC4Error, QuarticInteraction, fc4_to_reciprocal
from aiida_wigner.physics.forceconstants import ForceConstants, SparseForceConstants
from aiida_wigner.physics.harmonic import average_degenerate, degenerate_block_ids, solve
from aiida_wigner.physics.mesh import QMesh
from aiida_wigner.physics.scattering.four_phonon import (
    FourPhononError,
    four_phonon_linewidths,
    quadruplet_pairs,
)
from aiida_wigner.physics.scattering.three_phonon import Smearing


@pytest.fixture(scope="module")
def bct():
    """2-atom LJ crystal (Ar/Kr), 2×2×2 supercell; FC4 sparse and dense."""
    return lj_model("bct2")


@pytest.fixture(scope="module")
def bct_mesh(bct):
    fc, _ = bct
    qm = QMesh.build(fc.primitive, [3, 3, 2])
    return qm, solve(fc, qm.qpoints)


def _random_quads(rng, n):
    q = rng.random((n, 3, 3)) - 0.5
    g = rng.integers(-1, 2, size=(n, 3))
    return np.concatenate([(g - q.sum(axis=1))[:, None], q], axis=1)


def _random_fc4(fc, rng, n_clusters=60):
    s = fc.setup
    atoms = np.concatenate(
        [
            s.p2s[rng.integers(0, s.n_prim, (n_clusters, 1))],
            rng.integers(0, s.n_super, (n_clusters, 3)),
        ],
        axis=1,
    )
    return SparseForceConstants(4, atoms, rng.normal(size=(n_clusters,) + (3,) * 4))


def test_phi4_matches_naive_dense_transform(bct):
    fc, dense = bct
    rng = np.random.default_rng(7)
    inter = QuarticInteraction(fc)
    for quad in _random_quads(rng, 3):  # incommensurate q, umklapp G ≠ 0
        fast = inter.atomic(quad)[0]
        ref = naive_phi4(fc, dense, quad)
        assert np.abs(fast - ref).max() <= 1e-12 * np.abs(ref).max()
    # an unsymmetric random FC4 (the transform is linear; no symmetry is assumed)
    fc4 = _random_fc4(fc, rng)
    dense_r = fc4.to_dense_compact(fc.setup.p2s, fc.setup.n_super)
    quad = _random_quads(rng, 1)[0]
    fast = fc4_to_reciprocal(fc, quad, fc4=fc4)[0]
    assert np.allclose(fast, naive_phi4(fc, dense_r, quad), rtol=0, atol=1e-12 * np.abs(fast).max())


def test_normal_mode_transform(bct):
    fc, dense = bct
    rng = np.random.default_rng(3)
    quads = _random_quads(rng, 2)
    vecs = np.stack([solve(fc, q).eigenvectors for q in quads])  # (t, 4, B, B)
    v = fc4_to_reciprocal(fc, quads, vecs)
    for t in range(2):
        ref = np.einsum(
            "ijkl,ia,jb,kc,ld->abcd", naive_phi4(fc, dense, quads[t]), *vecs[t], optimize=True
        )
        assert np.allclose(v[t], ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    with pytest.raises(FC4Error, match="reciprocal lattice vector"):
        fc4_to_reciprocal(fc, np.full((4, 3), 0.1), vecs[0])
    with pytest.raises(FC4Error, match="fourth-order"):
        QuarticInteraction(ForceConstants(fc.setup, fc.fc2))


def test_phi4_permutation_symmetry(bct):
    """V4 of a physical FC4 is symmetric under permutations of its four legs.

    All 24 permutations for q-points of the mesh commensurate with the supercell;
    permutations of legs 1–3 for any q (leg 0 is the origin of the image vectors).
    """
    fc, _ = bct
    inter = QuarticInteraction(fc)
    rng = np.random.default_rng(11)
    comm = rng.integers(0, 2, size=(3, 3)) / 2.0
    quad_c = np.concatenate([[-comm.sum(axis=0)], comm])
    quad_i = _random_quads(rng, 1)[0]
    for quad, perms in (
        (quad_c, list(itertools.permutations(range(4)))),
        (quad_i, [(0,) + p for p in itertools.permutations((1, 2, 3))]),
    ):
        phi = inter.atomic(quad)[0]
        for p in perms:
            permuted = inter.atomic(quad[list(p)])[0]
            assert np.allclose(permuted, phi.transpose(p), rtol=0, atol=1e-12 * np.abs(phi).max())


def test_fc4_index_permutation_invariance(bct, bct_mesh):
    """Storing the clusters with their last three indices permuted changes nothing."""
    fc, _ = bct
    qm, ph = bct_mesh
    fc4 = fc.fc4
    perm = (0, 2, 3, 1)
    axes = (0,) + tuple(1 + p for p in perm)
    swapped = SparseForceConstants(4, fc4.atoms[:, perm], fc4.values.transpose(axes))
    fc_s = ForceConstants(fc.setup, fc.fc2, fc4=swapped)
    gp = qm.ir_grid[1:3]
    g1, _ = four_phonon_linewidths(fc, qm, ph, gp, [50.0], 0.1)
    g2, _ = four_phonon_linewidths(fc_s, qm, ph, gp, [50.0], 0.1)
    assert np.allclose(g1, g2, rtol=1e-10, atol=0)


def test_exhaustive_matches_naive_reference(bct):
    """Same numbers as a process-by-process golden-rule sum (1/3!, 1/2! counting)."""
    fc, dense = bct
    qm = QMesh.build(fc.primitive, [2, 2, 2])
    ph = solve(fc, qm.qpoints)
    gps = qm.ir_grid[[3, 4]]  # a degenerate and a non-degenerate q0
    temps = [30.0, 120.0]
    gamma, err = four_phonon_linewidths(fc, qm, ph, gps, temps, 0.1)
    assert err is None
    ref = average_degenerate(
        naive_linewidths(fc, dense, qm, ph, gps, temps, 0.1), ph.frequencies[gps]
    )
    assert gamma.shape == (2, 2, 6)
    assert ref.max() > 0.01
    assert np.abs(gamma - ref).max() <= 1e-8 * np.abs(ref).max()


def test_symmetry_reduction_of_pairs(bct, bct_mesh):
    fc, _ = bct
    qm, ph = bct_mesh
    for gp in qm.ir_grid:
        q1, q2, w = quadruplet_pairs(qm, gp)
        assert w.sum() == qm.n_q**2 and len(q1) < qm.n_q**2
    gps = qm.ir_grid
    full, _ = four_phonon_linewidths(fc, qm, ph, gps, [40.0, 200.0], 0.08, symmetry=False)
    red, _ = four_phonon_linewidths(fc, qm, ph, gps, [40.0, 200.0], 0.08)
    assert np.allclose(red, full, rtol=1e-9, atol=1e-14)


def test_non_negative_monotonic_and_degenerate(bct, bct_mesh):
    fc, _ = bct
    qm, ph = bct_mesh
    gps = qm.ir_grid
    temps = [0.0, 10.0, 50.0, 150.0]
    gamma, _ = four_phonon_linewidths(fc, qm, ph, gps, temps, 0.1)
    freqs = ph.frequencies[gps]
    acoustic = freqs <= 1e-3
    assert np.all(gamma[:, acoustic] == 0.0)
    assert np.all(gamma >= 0.0)
    assert np.all(gamma[1:, ~acoustic] > 0.0)
    # every on-shell thermal factor grows with T (detailed balance: F = n1n2n3/n0, ...);
    # at T = 0 only spontaneous splitting ω0 → ω1 + ω2 + ω3 is left
    assert np.all(np.diff(gamma[:, ~acoustic], axis=0) >= 0.0)
    assert np.all(np.diff(gamma[1:, ~acoustic], axis=0) > 0.0)
    adaptive = Smearing(scale=1.0, reciprocal_lattice=qm.cell.reciprocal_lattice, mesh=qm.mesh)
    ga, _ = four_phonon_linewidths(fc, qm, ph, gps, [80.0], adaptive)
    for g in (gamma, ga):
        block = degenerate_block_ids(freqs)
        for iq in range(len(gps)):
            for b in np.unique(block[iq]):
                sel = block[iq] == b
                assert np.allclose(g[:, iq, sel], g[:, iq, sel][..., :1], rtol=1e-12, atol=0)
    assert np.all(ga[:, ~acoustic] > 0.0)


def test_classical_limit_T_squared(bct, bct_mesh):
    fc, _ = bct
    qm, ph = bct_mesh
    gps = qm.ir_grid[1:3]
    temps = np.array([2e4, 4e4, 8e4])
    gamma, _ = four_phonon_linewidths(fc, qm, ph, gps, temps, 0.1)
    g = gamma[:, ph.frequencies[gps] > 1e-3]
    ratio = g[1:] / g[:-1]
    assert np.allclose(ratio, 4.0, rtol=0.01)
    # convergence towards T²: the higher pair is closer to 4
    assert np.all(np.abs(ratio[1] - 4) <= np.abs(ratio[0] - 4) + 1e-12)


def _sampled_z_scores(fc, qm, ph, gps, temps, exact, **kwargs):
    """(sampled − exact)/stderr over 3 seeds, and the last estimate; degenerate modes equal."""
    z = []
    for seed in range(3):
        est, err = four_phonon_linewidths(
            fc, qm, ph, gps, temps, 0.1, mode="sampled", samples=qm.n_q**2 // 4, seed=seed, **kwargs
        )
        ok = (exact > 0) & (err > 0)
        z.append(((est - exact)[ok] / err[ok]).ravel())
        block = degenerate_block_ids(ph.frequencies[gps])
        for iq in range(len(gps)):  # degenerate modes: identical estimates
            for b in np.unique(block[iq]):
                sel = block[iq] == b
                assert np.allclose(est[:, iq, sel], est[:, iq, sel][..., :1], rtol=1e-12)
    return np.concatenate(z), est


def test_sampled_agrees_with_exhaustive_within_error(bct, bct_mesh):
    fc, _ = bct
    qm, ph = bct_mesh
    gps = qm.ir_grid
    temps = [60.0]
    exact, _ = four_phonon_linewidths(fc, qm, ph, gps, temps, 0.1)
    n_pairs = qm.n_q**2
    _, err = four_phonon_linewidths(
        fc, qm, ph, gps, temps, 0.1, mode="sampled", samples=n_pairs // 4, seed=0
    )
    assert np.all(err[exact > 0] > 0)
    z, est = _sampled_z_scores(fc, qm, ph, gps, temps, exact)
    assert np.all(np.abs(z) < 5.0)
    assert 0.3 < np.sqrt(np.mean(z**2)) < 2.0  # the stated error is the actual scatter
    # reproducible with a seed; exact (zero error) when every pair is drawn
    again, _ = four_phonon_linewidths(
        fc, qm, ph, gps, temps, 0.1, mode="sampled", samples=n_pairs // 4, seed=2
    )
    assert np.array_equal(again, est)
    full, err_full = four_phonon_linewidths(
        fc, qm, ph, gps[:2], temps, 0.1, mode="sampled", samples=n_pairs
    )
    assert np.allclose(full, exact[:, :2], rtol=1e-10) and np.all(err_full == 0)


def test_sampled_target_relative_error(bct, bct_mesh):
    fc, _ = bct
    qm, ph = bct_mesh
    gps = qm.ir_grid[1:3]
    est, err = four_phonon_linewidths(
        fc, qm, ph, gps, [60.0], 0.1, mode="sampled", samples=16, seed=1, target_rel_error=0.05
    )
    ok = est > 0
    assert np.all(err[ok] <= 0.05 * est[ok])
    with pytest.raises(FourPhononError, match="mode"):
        four_phonon_linewidths(fc, qm, ph, gps, [60.0], 0.1, mode="montecarlo")


def test_kappa_allocation_neyman():
    """n_i ∝ S_i = CV_i·|mean x_i| (shrunk CV), within [floor, cap], Σ n_i ≈ budget."""
    from aiida_wigner.physics.scattering.four_phonon import kappa_allocation

    rng = np.random.default_rng(5)
    # three q0, one T, two bands; q0 #0 carries most of κ, q0 #2 has a noisy γ
    kmodes = np.array([[[8.0, 2.0], [1.0, 1.0], [1.0, 1.0]]])
    gamma = np.ones((1, 3, 2))
    pilot = [1.0 + s * rng.standard_normal((40, 1, 2)) for s in (0.2, 0.2, 0.8)]
    n = kappa_allocation(pilot, kmodes, gamma, budget=300, floor=4, cap=1000)
    assert n.sum() == pytest.approx(300, abs=3) and n.min() >= 4
    assert n[0] > n[1] and n[2] > n[1]
    frac = kmodes / kmodes.sum()
    s = [
        np.sqrt(np.var(np.einsum("ptj,tj->pt", g, frac[:, i]), ddof=1)) for i, g in enumerate(pilot)
    ]
    assert np.allclose(n / n.sum(), np.array(s) / np.sum(s), atol=0.05)
    assert np.all(kappa_allocation(pilot, kmodes, gamma, 30, 12, 1000) >= 12)


def test_sampled_kappa_allocation(bct, bct_mesh):
    fc, _ = bct
    qm, ph = bct_mesh
    gps = qm.ir_grid
    temps = [60.0]
    exact, _ = four_phonon_linewidths(fc, qm, ph, gps, temps, 0.1)
    n_pairs = qm.n_q**2
    z, est = _sampled_z_scores(
        fc, qm, ph, gps, temps, exact, allocation="kappa", gamma_other=0.5 * exact
    )
    assert np.all(np.abs(z) < 5.0) and 0.3 < np.sqrt(np.mean(z**2)) < 2.0
    again, _ = four_phonon_linewidths(
        fc,
        qm,
        ph,
        gps,
        temps,
        0.1,
        mode="sampled",
        samples=n_pairs // 4,
        seed=2,
        allocation="kappa",
        gamma_other=0.5 * exact,
    )
    assert np.array_equal(again, est)
    with pytest.raises(FourPhononError, match="allocation"):
        four_phonon_linewidths(fc, qm, ph, gps, temps, 0.1, mode="sampled", allocation="neyman")
    with pytest.raises(FourPhononError, match="target_rel_error"):
        four_phonon_linewidths(
            fc, qm, ph, gps, temps, 0.1, mode="sampled", allocation="kappa", target_rel_error=0.1
        )


def test_lj_model_fc3_matches_finite_differences():
    """The analytic FC3 of the LJ test model (used by the benchmark's γ_3ph) equals
    −∂²F/∂u∂u of ASE's LennardJones forces."""
    from ase import Atoms
    from ase.calculators.lj import LennardJones
    from four_phonon_models import EPS_AR, SIGMA_AR

    fc, _ = lj_model("fcc1", (3, 3, 3), dense=False, fc3=True)
    sc = fc.setup.supercell
    atoms = Atoms(
        ["Ar"] * len(sc.cartesian_positions),
        positions=sc.cartesian_positions,
        cell=sc.lattice,
        pbc=True,
    )
    atoms.calc = LennardJones(epsilon=EPS_AR, sigma=SIGMA_AR, rc=4.5)
    a, h = fc.setup.p2s[0], 1e-3
    u0 = atoms.positions.copy()
    for al, j, be in ((0, 1, 2), (2, 5, 2), (1, a, 0)):
        acc = 0.0
        for sa, sb in itertools.product((1, -1), repeat=2):
            atoms.positions = u0
            pos = u0.copy()
            pos[a, al] += sa * h
            pos[j, be] += sb * h
            atoms.positions = pos
            acc = acc + sa * sb * atoms.get_forces()
        num = -acc / (4 * h * h)
        assert np.allclose(num, fc.dense_fc3()[0, j, :, al, be, :], rtol=0, atol=1e-5)

"""Analytic limits and internal consistency of the physics core (no peer code needed)."""

import numpy as np
import pytest
from reference_models import cu3au_force_constants

from aiida_wigner.physics import harmonic
from aiida_wigner.physics.cell import Cell, SupercellSetup
from aiida_wigner.physics.forceconstants import ForceConstants, ForceConstantsError
from aiida_wigner.physics.kappa import KappaSettings, compute_kappa
from aiida_wigner.physics.mesh import MeshError, QMesh
from aiida_wigner.physics.transport import wigner_terms
from aiida_wigner.physics.units import KB_EV


@pytest.fixture(scope="module")
def fc():
    return cu3au_force_constants()


@pytest.fixture(scope="module")
def fc_tetragonal(fc):
    """Cu₃Au strained to c/a = 1.06 (same FC arrays): tetragonal, anisotropic κ."""
    unit = fc.setup.unitcell
    strained = Cell(unit.lattice @ np.diag([1.0, 1.0, 1.06]), unit.positions, unit.numbers)
    setup = SupercellSetup.build(strained, fc.setup.supercell_matrix)
    return ForceConstants(setup, fc.fc2, fc.fc3)


def test_acoustic_sum_rule_and_gamma_frequencies(fc):
    assert np.abs(fc.fc2.sum(axis=1)).max() < 1e-8  # Σ_j Φ_ij = 0
    ph = harmonic.solve(fc, [[0, 0, 0]])
    assert np.abs(ph.frequencies[0, :3]).max() < 1e-5
    assert ph.frequencies[0, 3] > 1.0


def test_velocity_operator_hermitian_and_diagonal_is_finite_difference(fc):
    q = np.array([[0.13, 0.21, 0.34], [0.4, 0.1, 0.05]])
    vel = harmonic.velocity_operator(fc, q)
    v = vel.velocity
    assert np.allclose(v, v.conj().transpose(0, 1, 3, 2), atol=1e-12)
    # dν/dq_cart by central differences (q_cart in 1/Å without 2π)
    recip = fc.primitive.reciprocal_lattice  # columns b_i
    h = 1e-5
    for a in range(3):
        dq = np.linalg.solve(recip, np.eye(3)[a] * h)  # reduced step for a Cartesian step
        fp = harmonic.solve(fc, q + dq).frequencies
        fm = harmonic.solve(fc, q - dq).frequencies
        fd = (fp - fm) / (2 * h)
        assert np.allclose(vel.group_velocities[:, :, a], fd, rtol=1e-5, atol=1e-4)


def test_degenerate_subspace_rotation_diagonalizes_direction(fc):
    q = np.array([[1 / 6, 1 / 6, 1 / 6]])  # C3v: twofold degenerate branches
    n = np.array([1.0, 2.0, 3.0]) / np.sqrt(14.0)
    vel = harmonic.velocity_operator(fc, q)
    vn = np.einsum("a,ajk->jk", n, vel.velocity[0])
    block = harmonic.degenerate_block_ids(vel.phonons.frequencies[0])
    same = block[:, None] == block[None, :]
    off = vn * same * (1 - np.eye(len(block)))
    assert np.abs(off).max() < 1e-8
    assert (np.bincount(block) > 1).any()


def test_mesh_reduction_weights_and_errors(fc, fc_tetragonal):
    qm = QMesh.build(fc.primitive, (8, 8, 8))
    assert qm.weights.sum() == 512 and len(qm.ir_grid) == 35
    with pytest.raises(MeshError, match="not compatible with the crystal symmetry"):
        QMesh.build(fc_tetragonal.primitive, (8, 6, 4))


def test_heat_capacity_classical_and_quantum_limits():
    assert np.isclose(harmonic.heat_capacity(1.0, 1e5), KB_EV, rtol=1e-6)
    assert harmonic.heat_capacity(10.0, 1.0) < 1e-100
    assert harmonic.heat_capacity(-1.0, 300.0) == 0.0


def test_symmetry_reduction_equals_full_mesh_sum(fc_tetragonal):
    """κ from irreducible points + point-group symmetrization = κ from every mesh point."""
    settings = dict(mesh=(4, 4, 4), temperatures=(300.0,), sigma=0.2, isotope=True)
    red = compute_kappa(fc_tetragonal, KappaSettings(**settings))
    full = compute_kappa(fc_tetragonal, KappaSettings(**settings, use_symmetry=False))
    for name in ("kappa_P", "kappa_C"):
        assert np.allclose(getattr(red, name), getattr(full, name), rtol=1e-8), name
    k = red.kappa[0]
    assert np.allclose(k, k.T, atol=1e-12)  # symmetric tensor
    assert np.allclose([k[0, 1], k[0, 2], k[1, 2]], 0, atol=1e-12)  # tetragonal
    assert np.isclose(k[0, 0], k[1, 1], rtol=1e-10) and not np.isclose(k[0, 0], k[2, 2], rtol=1e-3)
    assert np.allclose(red.kappa_P_modes.sum(axis=(1, 2)), red.kappa_P)
    spectra = red.spectra
    assert np.allclose(
        spectra["kappa_P_cumulative"][:, -1], np.diagonal(red.kappa_P, axis1=1, axis2=2)
    )
    assert np.allclose(
        spectra["kappa_C_map"].sum(axis=(1, 2)), np.diagonal(red.kappa_C, axis1=1, axis2=2)
    )


def test_coherences_vanish_as_linewidths_vanish(fc):
    qm = QMesh.build(fc.primitive, (4, 4, 4))
    vel = harmonic.velocity_operator(fc, qm.ir_qpoints)
    f = vel.phonons.frequencies
    cv = harmonic.heat_capacity(f[None], np.array([300.0])[:, None, None])
    kc = []
    for eps in (1e-5, 1e-6, 1e-7):
        gamma = np.full((1,) + f.shape, eps)
        terms = wigner_terms(
            f,
            vel.velocity,
            gamma,
            cv,
            qm.weights,
            qm.n_q,
            fc.primitive.volume,
            qm.symmetrize_tensor,
        )
        kc.append(np.trace(terms.kappa_C[0]))
    assert kc[0] > 0 and kc[1] / kc[0] == pytest.approx(0.1, rel=0.05)
    assert kc[2] / kc[1] == pytest.approx(0.1, rel=0.05)


def test_conventions_agree_on_total_for_non_degenerate_weights(fc):
    s = dict(mesh=(4, 4, 4), temperatures=(300.0,), sigma=0.2)
    a = compute_kappa(fc, KappaSettings(**s, convention="aiida-wigner"))
    b = compute_kappa(fc, KappaSettings(**s, convention="phono3py"))
    # Diagonal terms are identical; the conventions differ only off the diagonal.
    assert np.allclose(a.gamma, b.gamma)
    assert np.trace(a.kappa[0]) == pytest.approx(np.trace(b.kappa[0]), rel=0.05)


def test_bad_inputs(fc):
    with pytest.raises(ValueError, match="mesh"):
        KappaSettings(mesh=(4, 4), temperatures=(300,))
    with pytest.raises(ValueError, match="sigma"):
        KappaSettings(mesh=(4, 4, 4), temperatures=(300,), sigma=0)
    with pytest.raises(ValueError, match="convention"):
        KappaSettings(mesh=(4, 4, 4), temperatures=(300,), convention="x")
    no_fc3 = ForceConstants(fc.setup, fc.fc2)
    with pytest.raises(ValueError, match="third-order"):
        compute_kappa(no_fc3, KappaSettings((2, 2, 2), (300,)))
    unstable = ForceConstants(fc.setup, -fc.fc2, fc.fc3)
    with pytest.raises(harmonic.UnstablePhononsError, match="renormalize"):
        compute_kappa(unstable, KappaSettings((2, 2, 2), (300,)))
    with pytest.raises(ForceConstantsError, match="expected compact"):
        ForceConstants(fc.setup, fc.fc2[:, :10])


@pytest.fixture(scope="module")
def sw_silicon():
    """Stillinger–Weber diamond silicon fitted with hiphive (tests/data/sw_si_diamond.fcp)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import fourphonon_io

    return fourphonon_io.load_model(
        "diamond", Path(__file__).parents[1] / "data" / "sw_si_diamond.fcp"
    )


def test_adaptive_isotope_widths_track_fixed_sigma(sw_silicon):
    """Isotope + adaptive smearing: each term's width comes from the final mode's own
    velocity plus the band's curvature floor, so the self term and the flat/extremal
    parts of the bands keep a finite width.  (The old width from v_qj − v_q'j' fell to
    1e-4 THz for the self term; issue 14 measured κ of such a crystal 2.2 instead of ~244
    W/(m K).)

    On 8³ the adaptive rates follow the fixed σ = 0.1 THz ones: median ratio 0.93, all
    within [0.34, 3.3] (observed, the spread of any two widths on a coarse mesh); the
    bounds leave ~15–25 % room.  The floors fall from 4³ to 8³ by 0.24–0.29 (1/m²: 0.25).
    """
    from aiida_wigner.physics.scattering.isotope import isotope_linewidths, natural_mass_variances
    from aiida_wigner.physics.scattering.smearing import (
        ADAPTIVE_SIGMA_FLOOR,
        Smearing,
        curvature_floor,
        mode_velocities,
    )

    fc = sw_silicon
    qm = QMesh.build(fc.primitive, (8, 8, 8))
    ph, gv = mode_velocities(fc, qm.qpoints, cutoff_frequency=1e-3)
    g2 = natural_mass_variances(fc.primitive.symbols)
    rec = fc.primitive.reciprocal_lattice
    adaptive = Smearing(scale=1.0, reciprocal_lattice=rec, mesh=qm.mesh)
    ga = isotope_linewidths(ph, qm.ir_grid, g2, adaptive, group_velocities=gv, qmesh=qm)
    gf = isotope_linewidths(ph, qm.ir_grid, g2, Smearing(sigma=0.1))
    ok = ph.frequencies[qm.ir_grid] > 0.5
    ratio = ga[ok] / gf[ok]
    assert 0.8 < np.median(ratio) < 1.15
    assert ratio.min() > 0.28 and ratio.max() < 4.0
    # the curvature floor: well above the last-resort floor, and falling like 1/m²
    f8 = curvature_floor(gv, rec, qm.mesh, 1.0)
    q4 = QMesh.build(fc.primitive, (4, 4, 4)).qpoints
    f4 = curvature_floor(mode_velocities(fc, q4, cutoff_frequency=1e-3)[1], rec, (4, 4, 4), 1.0)
    assert f8.min() > 100 * ADAPTIVE_SIGMA_FLOOR
    assert np.allclose(f8 / f4, 0.25, rtol=0.3)

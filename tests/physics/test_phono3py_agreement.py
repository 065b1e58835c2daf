"""Harmonic, three-phonon, isotope and Wigner quantities against phono3py on identical inputs.

Model: L1₂ Cu₃Au with ASE's EMT, FC2/FC3 from finite displacements (tests/reference_models.py).
phono3py runs with ``make_r0_average=False`` (the first atom of a triplet is the origin
of the periodic images, as in aiida-wigner), σ = 0.1 THz, the SMM19 Wigner variant.

Tolerances: frequencies and group velocities 1e-6 relative (both codes Fourier-transform
the same FC2 with the same shortest vectors; the residual is eigensolver round-off);
γ 1e-3 relative per mode (achieved: ~1e-6), ignoring γ < 1e-4 THz whose relative
error is dominated by the Gaussian tails; κ_P and κ_C 0.5 % (κ_C achieved ~1e-6; κ_P
differs by ~0.3 % on 10³ because phono3py 4.10's velocity matrix splits the diagonal
of degenerate subspaces at high-symmetry q differently, see docs/conventions.md).
"""

import numpy as np
import pytest
from reference_models import (
    cu3au_force_constants,
    cu3au_phono3py,
    cu3au_phono3py_conductivity,
    cu3au_unitcell,
)

from aiida_wigner.physics import harmonic
from aiida_wigner.physics.kappa import KappaSettings, compute_kappa
from aiida_wigner.physics.mesh import QMesh
from aiida_wigner.physics.scattering.isotope import isotope_linewidths, natural_mass_variances
from aiida_wigner.physics.scattering.smearing import ModeVelocities
from aiida_wigner.physics.scattering.three_phonon import Smearing, three_phonon_linewidths

phono3py = pytest.importorskip("phono3py")

MESH = (10, 10, 10)
TEMPS = (100.0, 300.0, 700.0)
SIGMA = 0.1


@pytest.fixture(scope="module")
def fc():
    return cu3au_force_constants()


@pytest.fixture(scope="module")
def reference():
    """phono3py's RTA + SMM19 Wigner result for the same model."""
    return cu3au_phono3py_conductivity(MESH, TEMPS, SIGMA)


@pytest.fixture(scope="module")
def ours(fc):
    return compute_kappa(
        fc, KappaSettings(MESH, TEMPS, sigma=SIGMA, isotope=True, convention="phono3py")
    )


def test_frequencies_and_group_velocities_match_phonopy(fc):
    from phonopy import Phonopy

    ph = Phonopy(cu3au_unitcell().to_phonopy(), np.diag([2, 2, 2]), primitive_matrix=np.eye(3))
    ph.force_constants = cu3au_phono3py().fc2
    q = np.random.default_rng(1).random((30, 3))
    ph.run_qpoints(q, with_group_velocities=True)
    ref = ph.qpoints
    vel = harmonic.velocity_operator(fc, q)
    f_max = np.abs(ref.frequencies).max()
    assert np.abs(vel.phonons.frequencies - ref.frequencies).max() < 1e-6 * f_max
    v_max = np.abs(ref.group_velocities).max()
    assert np.abs(vel.group_velocities - ref.group_velocities).max() < 1e-6 * v_max


def test_irreducible_points_and_weights_match(reference, ours):
    q_ref = reference.qpoints
    q_ours = np.where(ours.qpoints > 0.5 + 1e-9, ours.qpoints - 1, ours.qpoints)
    d = q_ref - q_ours
    assert np.allclose(d - np.rint(d), 0, atol=1e-12)
    assert np.array_equal(reference.grid_weights, ours.weights)


def _assert_gamma_close(ref, ours, floor=1e-4, rtol=1e-3):
    mask = ref > floor
    assert mask.sum() > 100
    rel = np.abs(ours - ref)[mask] / ref[mask]
    assert rel.max() < rtol, rel.max()
    assert np.abs(ours - ref)[~mask].max() < floor * rtol * 10


def test_three_phonon_gamma_per_mode(reference, ours):
    _assert_gamma_close(reference.gamma[0], ours.gamma_3ph)


def test_isotope_gamma_per_mode(reference, ours):
    _assert_gamma_close(reference.gamma_isotope[0], ours.gamma_isotope[0], floor=1e-6)


def test_mass_variances_natural_abundance():
    from phono3py.other.isotope import get_mass_variances

    assert np.allclose(
        natural_mass_variances(["Au", "Cu", "Cu", "Cu"]),
        get_mass_variances(symbols=["Au", "Cu", "Cu", "Cu"]),
        rtol=1e-12,
    )


def test_heat_capacities(reference, ours):
    valid = ours.frequencies > 1e-3
    ref = reference.mode_heat_capacities
    assert np.allclose(ours.heat_capacities[:, valid], ref[:, valid], rtol=1e-5)


def test_kappa_P_and_C(reference, ours):
    k_tot = reference.kappa[0][:, :3]
    k_c = reference.kappa_inter[0][:, :3]
    k_p = reference.kappa_intra[0][:, :3]
    diag = lambda k: np.diagonal(k, axis1=1, axis2=2)  # noqa: E731
    assert np.allclose(diag(ours.kappa_C), k_c, rtol=5e-3)
    assert np.allclose(diag(ours.kappa_P), k_p, rtol=5e-3)
    assert np.allclose(diag(ours.kappa), k_tot, rtol=5e-3)


def test_adaptive_code_path_with_constant_widths_equals_fixed_sigma(fc):
    """The per-pair width path, fed constant widths, reproduces the fixed-σ result."""

    class ConstantWidths(Smearing):
        def __init__(self):
            super().__init__(scale=1.0)

        def widths(self, v1, v2):
            return np.full(np.broadcast_shapes(np.shape(v1), np.shape(v2))[:-1], SIGMA)

    qmesh = QMesh.build(fc.primitive, (4, 4, 4))
    ph = harmonic.solve(fc, qmesh.qpoints)
    gv = ModeVelocities.per_band(np.zeros(ph.frequencies.shape + (3,)))  # no block spread
    fixed = three_phonon_linewidths(fc, qmesh, ph, qmesh.ir_grid, [300.0], Smearing(sigma=SIGMA))
    per_pair = three_phonon_linewidths(
        fc, qmesh, ph, qmesh.ir_grid, [300.0], ConstantWidths(), group_velocities=gv
    )
    assert np.allclose(fixed, per_pair, rtol=1e-12, atol=1e-14)
    iso_fixed = isotope_linewidths(ph, qmesh.ir_grid, [0.01] * 4, Smearing(sigma=SIGMA))
    iso_pair = isotope_linewidths(
        ph, qmesh.ir_grid, [0.01] * 4, ConstantWidths(), group_velocities=gv, qmesh=qmesh
    )
    assert np.allclose(iso_fixed, iso_pair, rtol=1e-12, atol=1e-14)

"""Self-consistent phonons (quartic loop): models with known answers (issue 3, item 6).

Model "axial simple cubic": one atom (mass M) per simple-cubic cell; every nearest-
neighbour bond along axis d carries U = k/2 (Δu_d)² + g/24 (Δu_d)⁴ on the relative
displacement *along* the bond plus a harmonic transverse spring k_t/2 (Δu_⊥)².  The
loop renormalizes only the longitudinal spring, k_eff = k + (g/2)⟨(Δu_d)²⟩, and
⟨(Δu_x)²⟩ = 1/N' Σ_q' a(Ω_x(q')) (2 − 2cos 2πq'_x)/M with
M Ω_x² = k_eff (2 − 2cos 2πq_x) + k_t (4 − 2cos 2πq_y − 2cos 2πq_z):
Eq. 1 collapses to one scalar equation for k_eff, solved here with scipy.

Tolerances: SCP tolerance 1e-10 THz; frequencies compared to 1e-6 (relative).
"""

from __future__ import annotations

import numpy as np
import pytest
from reference_models import morse_derivatives, pair_fc4
from scipy import constants as sc
from scipy.optimize import brentq

from aiida_wigner.physics.cell import Cell, SupercellSetup
from aiida_wigner.physics.forceconstants import ForceConstants, SparseForceConstants
from aiida_wigner.physics.harmonic import solve
from aiida_wigner.physics.mesh import grid_addresses
from aiida_wigner.physics.renormalization import SCPSettings, run_scp

A_SC = 3.0
MASS = 40.0


def axial_cubic(k=5.0, k_t=1.0, g=200.0, supercell=3):
    """ForceConstants of the axial simple-cubic model (eV/Å², eV/Å⁴)."""
    unit = Cell(np.eye(3) * A_SC, [[0, 0, 0]], [18], masses=[MASS])
    setup = SupercellSetup.build(unit, np.diag([supercell] * 3))
    pos = setup.supercell.positions * supercell  # in units of a
    fc2 = np.zeros((1, setup.n_super, 3, 3))
    atoms, values = [], []
    for d in range(3):
        for sign in (1, -1):
            shift = np.zeros(3)
            shift[d] = sign
            diff = pos - shift
            diff -= np.rint(diff / supercell) * supercell
            j = int(np.argmin(np.linalg.norm(diff, axis=1)))
            spring = np.full(3, k_t)
            spring[d] = k
            fc2[0, j] -= np.diag(spring)
            fc2[0, 0] += np.diag(spring)
            for a in (0, j):
                for b in (0, j):
                    for c in (0, j):
                        t = np.zeros((3, 3, 3, 3))
                        t[d, d, d, d] = g * np.prod([1 if x == 0 else -1 for x in (a, b, c)])
                        atoms.append((0, a, b, c))
                        values.append(t)
    fc4 = SparseForceConstants(4, np.array(atoms), np.array(values))
    return ForceConstants(setup, fc2, fc4=fc4)


def _weight(omega, temperature, classical):
    """⟨Q²⟩ in amu·Å² for angular frequency omega (rad/s), written out independently."""
    if classical:
        val = sc.k * temperature / omega**2
    elif temperature == 0:
        val = sc.hbar / (2 * omega)
    else:
        val = sc.hbar / (2 * omega) / np.tanh(sc.hbar * omega / (2 * sc.k * temperature))
    return val / (sc.atomic_mass * 1e-20)


def scalar_keff(k, k_t, g, inner, temperature, classical=False):
    """Solve k_eff = k + (g/2) <(Δu_x)²> on the inner mesh with brentq (eV/Å²)."""
    q = grid_addresses(inner) / np.asarray(inner)
    cx = 2 - 2 * np.cos(2 * np.pi * q[:, 0])
    ct = 4 - 2 * np.cos(2 * np.pi * q[:, 1]) - 2 * np.cos(2 * np.pi * q[:, 2])
    to_si = sc.electron_volt / (1e-20 * sc.atomic_mass)  # eV/(Å² amu) → s⁻²

    def resid(keff):
        w2 = (keff * cx + k_t * ct) / MASS * to_si
        keep = cx > 1e-12
        sig = np.sum(_weight(np.sqrt(w2[keep]), temperature, classical) * cx[keep]) / MASS / len(q)
        return keff - k - 0.5 * g * sig

    return brentq(resid, 1e-3, 1e3, xtol=1e-14)


def model_frequencies(keff, k_t, qpoints):
    from aiida_wigner.physics.units import EIGENVALUE_TO_THZ

    c = 2 - 2 * np.cos(2 * np.pi * np.asarray(qpoints))
    w2 = np.stack([keff * c[:, d] + k_t * (c.sum(axis=1) - c[:, d]) for d in range(3)], axis=1)
    w2 = np.sort(w2 / MASS, axis=1) * EIGENVALUE_TO_THZ**2
    return np.sign(w2) * np.sqrt(np.abs(w2))


@pytest.mark.parametrize("temperature,classical", [(300.0, False), (0.0, False), (300.0, True)])
def test_scalar_model(temperature, classical):
    k, k_t, g = 5.0, 1.0, 200.0
    fc = axial_cubic(k, k_t, g)
    inner = (6, 6, 6)
    s = SCPSettings(
        mesh=(3, 3, 3),
        inner_mesh=inner,
        temperatures=(temperature,),
        classical=classical,
        tolerance=1e-10,
    )
    res = run_scp(fc, s)
    assert res.converged[0]
    keff = scalar_keff(k, k_t, g, inner, temperature, classical)
    expected = model_frequencies(keff, k_t, res.qpoints)
    np.testing.assert_allclose(res.frequencies[0], expected, rtol=1e-6, atol=1e-6)


# --- a multi-atom model: Cu3Au EMT FC2 + quartic Morse pair terms ---------------------


@pytest.fixture(scope="module")
def cu3au_scp_model():
    from reference_models import cu3au_force_constants

    fc = cu3au_force_constants()
    return ForceConstants(fc.setup, fc.fc2, fc.fc3, pair_fc4(fc.setup), source={"test": 1})


def test_zero_fc4_gives_harmonic(cu3au_scp_model):
    fc = cu3au_scp_model
    zero = SparseForceConstants(4, fc.fc4.atoms, np.zeros_like(fc.fc4.values))
    fc0 = ForceConstants(fc.setup, fc.fc2, fc4=zero)
    res = run_scp(fc0, SCPSettings(mesh=(2, 2, 2), inner_mesh=(4, 4, 4), temperatures=(0.0, 500.0)))
    assert res.converged.all() and (res.iterations == 1).all()
    harm = solve(fc0, res.qpoints).frequencies
    np.testing.assert_array_equal(res.frequencies_harmonic, harm)
    np.testing.assert_array_equal(res.frequencies[1], harm)
    np.testing.assert_array_equal(res.delta_dynmat, 0.0)


def test_stored_kernel_equals_factorized(cu3au_scp_model):
    """ALAMODE-like stored Φ4(q,−q,q',−q') rotated by C_q' == the FFT-factorized loop."""
    fc = cu3au_scp_model
    common = dict(mesh=(2, 2, 2), inner_mesh=(2, 2, 2), temperatures=(600.0,), tolerance=1e-9)
    a = run_scp(fc, SCPSettings(**common))
    b = run_scp(fc, SCPSettings(kernel="stored", **common))
    assert a.converged[0] and b.converged[0]
    assert a.iterations[0] > 2
    np.testing.assert_allclose(a.delta_dynmat, b.delta_dynmat, atol=1e-8)
    np.testing.assert_allclose(a.frequencies, b.frequencies, atol=1e-6)  # Γ: sqrt(round-off)
    shift = a.frequencies[0] - a.frequencies_harmonic
    assert shift[:, 3:].max() > 0.05  # quartic Morse terms harden the optical modes


def test_double_well_stabilized_at_finite_temperature():
    """k < 0: harmonically unstable; the quartic loop stabilizes it (scalar root, 1e-6)."""
    k, k_t, g = -0.5, 2.0, 200.0
    fc = axial_cubic(k, k_t, g)
    inner = (6, 6, 6)
    harm = solve(fc, grid_addresses((3, 3, 3)) / 3).frequencies
    assert harm.min() < -1.0
    res = run_scp(
        fc,
        SCPSettings(mesh=(3, 3, 3), inner_mesh=inner, temperatures=(300.0, 100.0), tolerance=1e-10),
    )
    assert res.converged.all()
    for it, t in enumerate(res.temperatures):
        keff = scalar_keff(k, k_t, g, inner, t)
        assert keff > 0
        np.testing.assert_allclose(
            res.frequencies[it], model_frequencies(keff, k_t, res.qpoints), rtol=1e-6, atol=1e-6
        )
        assert res.frequencies[it].min() > -1e-6


def test_classical_limits():
    """Classical at T = 0 is harmonic; quantum → classical at high T (relative 1e-3)."""
    k, k_t, g = 5.0, 1.0, 20.0
    fc = axial_cubic(k, k_t, g)
    base = dict(mesh=(3, 3, 3), inner_mesh=(3, 3, 3), tolerance=1e-10)
    cl0 = run_scp(fc, SCPSettings(temperatures=(0.0,), classical=True, **base))
    np.testing.assert_allclose(cl0.frequencies[0], cl0.frequencies_harmonic, atol=1e-12)
    hot = (6000.0,)
    qu = run_scp(fc, SCPSettings(temperatures=hot, **base))
    cl = run_scp(fc, SCPSettings(temperatures=hot, classical=True, **base))
    w2h = cl.frequencies_harmonic[1:] ** 2
    dq = qu.frequencies[0, 1:] ** 2 - w2h
    dc = cl.frequencies[0, 1:] ** 2 - w2h
    assert dc.max() > 0.05 * w2h.max()  # a non-trivial shift
    np.testing.assert_allclose(dq, dc, rtol=1e-3)


def fcc_morse(supercell=3):
    """One-atom fcc (a = 3.6 Å) with NN Morse bonds: FC2 and FC4 from the same potential."""
    a = 3.6
    prim = Cell(np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]) * a, [[0, 0, 0]], [29])
    setup = SupercellSetup.build(prim, np.diag([supercell] * 3))
    r0 = a / np.sqrt(2)
    i, j, vectors, w = setup.pair_images()
    cart = vectors @ setup.primitive.lattice
    fc2 = np.zeros((1, setup.n_super, 3, 3))
    for jj, rv in zip(j, cart, strict=True):
        d = np.linalg.norm(rv)
        if d < 1e-8 or d > r0 * 1.1:
            continue
        d1, d2, _, _ = morse_derivatives(d, r0=r0 * 1.01)
        t2 = d1 / d * np.eye(3) + (d2 / d**2 - d1 / d**3) * np.outer(rv, rv)
        fc2[0, jj] -= t2
        fc2[0, 0] += t2
    fc4 = pair_fc4(setup, cutoff=r0 * 1.1, r0=r0 * 1.01)
    return ForceConstants(setup, fc2, fc4=fc4)


def test_diagonal_equals_full_when_mixing_forbidden():
    """fcc, outer mesh 2×2×2 = {Γ, L, X}: symmetry forbids polarization mixing there."""
    fc = fcc_morse()
    common = dict(inner_mesh=(4, 4, 4), temperatures=(800.0,), tolerance=1e-10)
    full = run_scp(fc, SCPSettings(mesh=(2, 2, 2), **common))
    diag = run_scp(fc, SCPSettings(mesh=(2, 2, 2), off_diagonal=False, **common))
    assert full.converged.all() and diag.converged.all()
    assert np.abs(full.frequencies - full.frequencies_harmonic).max() > 0.05
    np.testing.assert_allclose(full.frequencies, diag.frequencies, atol=1e-8)
    np.testing.assert_allclose(full.delta_dynmat, diag.delta_dynmat, atol=1e-8)


def test_effective_fc2_roundtrip(cu3au_scp_model, tmp_path):
    """Interpolated model is exact on the outer mesh; FORCE_CONSTANTS reproduces it."""
    fc = cu3au_scp_model
    res = run_scp(
        fc, SCPSettings(mesh=(2, 2, 2), inner_mesh=(4, 4, 4), temperatures=(300.0,), tolerance=1e-9)
    )
    assert res.converged[0]
    model = res.model(0)
    np.testing.assert_allclose(
        model.phonons(res.qpoints).frequencies, res.frequencies[0], atol=1e-6
    )
    # outer mesh 2×2×2 = the bare model's supercell: the effective FC2 lives on it
    eff = model.force_constants()
    assert eff.setup is fc.setup
    np.testing.assert_allclose(solve(eff, res.qpoints).frequencies, res.frequencies[0], atol=1e-6)
    # phonopy FORCE_CONSTANTS on the outer-mesh supercell, read back by phonopy
    import phonopy
    from phonopy.file_IO import parse_FORCE_CONSTANTS

    path = tmp_path / "FORCE_CONSTANTS"
    out = model.write_force_constants(path)
    ph = phonopy.Phonopy(fc.setup.primitive.to_phonopy(), supercell_matrix=np.diag([2, 2, 2]))
    ph.force_constants = parse_FORCE_CONSTANTS(str(path))
    ph.run_qpoints(res.qpoints)
    np.testing.assert_allclose(ph.get_qpoints_dict()["frequencies"], res.frequencies[0], atol=1e-5)
    assert out.setup.n_super == 32
    # off the mesh the model differs from the harmonic one only by the smooth correction
    q = np.array([[0.13, 0.27, 0.41]])
    assert np.all(model.phonons(q).frequencies > solve(fc, q).frequencies - 1e-3)


def test_warm_start_and_order(cu3au_scp_model):
    fc = cu3au_scp_model
    s = SCPSettings(
        mesh=(2, 2, 2), inner_mesh=(2, 2, 2), temperatures=(900.0, 300.0, 600.0), tolerance=1e-8
    )
    res = run_scp(fc, s)
    assert res.converged.all()
    cold = run_scp(
        fc,
        SCPSettings(
            mesh=(2, 2, 2),
            inner_mesh=(2, 2, 2),
            temperatures=(600.0,),
            tolerance=1e-8,
            warm_start=False,
        ),
    )
    np.testing.assert_allclose(res.frequencies[2], cold.frequencies[0], atol=1e-6)
    # hotter → harder optical modes for this positive quartic model
    assert np.all(res.frequencies[0, 1:, -1] > res.frequencies[2, 1:, -1])
    d = res.to_dict()
    assert d["units"] == "THz" and len(d["frequencies"]) == 3
    assert len(d["qpoints"]) == len(d["frequencies"][0]) == len(res.ir_grid)


def test_msd_matches_phonopy_harmonic(cu3au_scp_model):
    import phonopy

    from aiida_wigner.physics.renormalization import (
        EffectiveHarmonicModel,
        mean_square_displacements,
    )

    fc = cu3au_scp_model
    model = EffectiveHarmonicModel.harmonic(fc)
    ours = mean_square_displacements(model, (4, 4, 4), [300.0])
    ph = phonopy.Phonopy(
        fc.setup.unitcell.to_phonopy(),
        supercell_matrix=np.diag([2, 2, 2]),
        primitive_matrix=np.eye(3),
    )
    ph.force_constants = fc.full_fc2()
    ph.run_mesh([4, 4, 4], with_eigenvectors=True, is_mesh_symmetry=False, is_gamma_center=True)
    ph.run_thermal_displacements(temperatures=[300.0], freq_min=1e-3)
    ref = ph.get_thermal_displacements_dict()["thermal_displacements"][0].reshape(-1, 3).sum(axis=1)
    np.testing.assert_allclose(ours[0], ref, rtol=1e-6)

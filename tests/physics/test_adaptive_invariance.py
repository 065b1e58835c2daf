"""``adaptive`` widths do not depend on the eigenvectors chosen inside degenerate blocks.

A degenerate mode has no velocity of its own; the widths use the mean and spread of the
velocity operator over its block (scattering/smearing.py, docs/conventions.md).  Here
random unitary rotations inside every degenerate block (eigenvectors e → e U, velocity
operator V → U† V U) leave the 3ph, 4ph and isotope rates unchanged (observed: worst
relative change 3.4e-15 on diamond 4×4×4, 2e-15 on Cu₃Au 4×4×4; per-band velocities moved
them by up to 12 % / 24 %, issue 14), and on a crystal without degenerate modes the widths
are the per-band formula they replace (observed: equal to 2e-16).
``adaptive-shengbte`` is basis dependent by construction (FourPhonon's definition) and is
not tested here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from aiida_wigner.physics.harmonic import (
    Phonons,
    VelocityOperator,
    degenerate_block_ids,
    velocity_operator,
)
from aiida_wigner.physics.mesh import QMesh, grid_index
from aiida_wigner.physics.scattering import three_phonon
from aiida_wigner.physics.scattering.four_phonon import four_phonon_linewidths
from aiida_wigner.physics.scattering.isotope import (
    isotope_linewidths,
    isotope_widths,
    natural_mass_variances,
)
from aiida_wigner.physics.scattering.smearing import (
    ADAPTIVE_SIGMA_FLOOR,
    ModeVelocities,
    Smearing,
)

DATA = Path(__file__).parents[1] / "data"
#: rounding of sums over a few thousand terms in another order (observed ≤ 3.4e-15)
RTOL = 1e-12


def _rotated(op: VelocityOperator, rng) -> VelocityOperator:
    """The same phonons and velocity operator in a random basis of every degenerate block."""
    ph = op.phonons
    block = degenerate_block_ids(ph.frequencies)
    n_q, nb = ph.frequencies.shape
    u = np.zeros((n_q, nb, nb), dtype=complex)
    for q in range(n_q):
        for b in np.unique(block[q]):
            idx = np.flatnonzero(block[q] == b)
            z = rng.normal(size=(len(idx),) * 2) + 1j * rng.normal(size=(len(idx),) * 2)
            u[q][np.ix_(idx, idx)] = np.linalg.qr(z)[0]
    v = np.einsum("qki,qakl,qlj->qaij", u.conj(), op.velocity, u)
    return VelocityOperator(Phonons(ph.qpoints, ph.frequencies, ph.eigenvectors @ u), v)


def _rates(fc, qm, op, g2, four_points, symmetry=True):
    sm = Smearing(scale=1.0, reciprocal_lattice=fc.primitive.reciprocal_lattice, mesh=qm.mesh)
    mv = ModeVelocities.from_operator(op)
    ph = op.phonons
    out = {
        "3ph": three_phonon.three_phonon_linewidths(
            fc, qm, ph, qm.ir_grid, [300.0], sm, group_velocities=mv
        ),
        "isotope": isotope_linewidths(ph, qm.ir_grid, g2, sm, group_velocities=mv, qmesh=qm),
    }
    if fc.fc4 is not None:
        out["4ph"] = four_phonon_linewidths(
            fc, qm, ph, four_points, [300.0], sm, group_velocities=mv, symmetry=symmetry
        )[0]
    return out


def _check_invariant(fc, qm, g2, four_points, symmetry=True):
    op = velocity_operator(fc, qm.qpoints, cutoff_frequency=1e-3)
    sizes = np.unique(degenerate_block_ids(op.phonons.frequencies), return_counts=True)
    assert np.max(sizes[1]) > 1  # the crystal has degenerate modes
    ref = _rates(fc, qm, op, g2, four_points, symmetry)
    rng = np.random.default_rng(3)
    for _ in range(2):
        got = _rates(fc, qm, _rotated(op, rng), g2, four_points, symmetry)
        for key, r in ref.items():
            assert r.max() > 0
            np.testing.assert_allclose(got[key], r, rtol=RTOL, atol=RTOL * r.max(), err_msg=key)


def test_diamond_rates_do_not_depend_on_the_degenerate_basis():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import fourphonon_io

    fc = fourphonon_io.load_model("diamond", DATA / "sw_si_diamond.fcp")
    qm = QMesh.build(fc.primitive, (4, 4, 4))
    # 4ph at Γ's neighbour, L and X (degenerate at L and X)
    _check_invariant(fc, qm, natural_mass_variances(fc.primitive.symbols), qm.ir_grid[1:4])


def test_cu3au_rates_do_not_depend_on_the_degenerate_basis(cu3au_fc4):
    qm = QMesh.build(cu3au_fc4.primitive, (4, 4, 4))
    # the synthetic FC4 has no crystal symmetry: sum all pairs
    _check_invariant(cu3au_fc4, qm, [1e-3] * 4, qm.ir_grid[1:3], symmetry=False)


def test_without_degeneracy_the_widths_are_the_per_band_formula(lowsym6):
    """P1 cell, 18 bands, no degenerate modes: the block statistics are the band's own
    velocity, and the widths those of the per-band formula, written out here."""
    fc = lowsym6
    qm = QMesh.build(fc.primitive, (3, 3, 2))
    op = velocity_operator(fc, qm.qpoints, cutoff_frequency=1e-3)
    freqs = op.phonons.frequencies
    mv = ModeVelocities.from_operator(op)
    gv = op.group_velocities
    assert np.array_equal(mv.block_mean, gv) and not mv.block_spread.any()
    rec, m, scale = fc.primitive.reciprocal_lattice, np.asarray(qm.mesh, float), 1.3
    sm = Smearing(scale=scale, reciprocal_lattice=rec, mesh=qm.mesh)
    # the per-band definition: σ² = scale² Σ_i (b_i·Δv/m_i)²/6 + Σ f², f² = scale²⟨Σ_i
    # (b_i·v/m_i²)²⟩_q/6; isotope Δv = v of the final mode
    f2 = scale**2 * ((gv @ rec / m**2) ** 2).sum(-1).mean(0) / 6.0

    def per_band(dv, floor2):
        s2 = scale**2 * ((dv @ rec / m) ** 2).sum(-1) / 6.0 + floor2
        return np.maximum(np.sqrt(s2), ADAPTIVE_SIGMA_FLOOR)

    valid = freqs > 1e-3
    iso = isotope_widths(sm, mv, freqs, qm)
    np.testing.assert_allclose(iso[valid], per_band(gv, f2[None])[valid], rtol=1e-14)
    a, b = np.divmod(np.arange(qm.n_q**2), qm.n_q)
    minus = grid_index(-qm.addresses, qm.mesh)
    w, e2 = sm.adaptive_terms(qm, mv, freqs, 1e-3)
    got = three_phonon._triplet_widths(sm.bind(qm), w, e2, a, b, minus, (len(a), 18, 18))
    v1, v2 = gv[a][:, :, None], gv[b][:, None]
    floor = f2[:, None] + f2[None, :]
    # the acoustic modes at Γ (a block of three, left out of every rate) share their floor
    keep = valid[a][:, :, None] & valid[b][:, None, :]
    np.testing.assert_allclose(got[0][keep], per_band(v1 - v2, floor)[keep], rtol=1e-14)
    for absorption in got[1:]:  # the two absorption terms
        np.testing.assert_allclose(absorption[keep], per_band(v1 + v2, floor)[keep], rtol=1e-14)
    # four-phonon: the kernel takes the same velocities and floors (e2 = f², w = v)
    assert np.array_equal(w, gv)
    np.testing.assert_allclose(e2[valid], np.broadcast_to(f2, e2.shape)[valid], rtol=1e-14)

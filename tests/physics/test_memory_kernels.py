"""Isotope scattering at the seed's scale: the numba kernel against a dense numpy evaluation
of seed Eq. 8, and its memory bounded by the mesh, not the mesh squared.

Issue 15 measured 9.7 GB for the isotope step on CsCu4Se3 at 12×12×8 with widths of
(q j, q' j') pairs, an (n_gp, B, n_q, B, 3) array.  Since the width depends on the final
mode only (commit d01db06), the kernel gets σ (n_q, B) and streams over the final
q-points: benchmarks/bench_memory.py measures 0.05 GB on top of the phonons at 16×16×12
(docs/performance.md).  The tests here keep both: the numbers (1e-12 against the dense
formula, all three smearing kinds, a cubic and a P1 cell) and the memory (numpy's
allocations during the call, via tracemalloc, far below one (n_gp, B, n_q, B) array).
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from aiida_wigner.physics import harmonic
from aiida_wigner.physics.harmonic import average_degenerate
from aiida_wigner.physics.mesh import QMesh
from aiida_wigner.physics.scattering.isotope import isotope_linewidths, natural_mass_variances
from aiida_wigner.physics.scattering.smearing import (
    ADAPTIVE_SIGMA_FLOOR,
    CUTOFF_SIGMAS,
    SHENGBTE_CUTOFF_ISOTOPE,
    Smearing,
    little_group_average,
    mode_velocities,
    shengbte_isotope_floor,
)

KINDS = ("fixed", "adaptive", "adaptive-shengbte")


def _smearing(kind, fc, qm):
    if kind == "fixed":
        return Smearing(sigma=0.15)
    return Smearing(
        scale=0.7, reciprocal_lattice=fc.primitive.reciprocal_lattice, mesh=qm.mesh, kind=kind
    )


def _dense_widths(kind, mv, qm, rec, freqs):
    """σ (n_q, B) in THz written out from the definitions (scattering/smearing.py)."""
    m = np.asarray(qm.mesh, dtype=float)
    if kind == "adaptive":
        # mean over the split bands of the block: P(mean)² + the block spread along b_i
        spread = np.einsum("ai,qjab,bi->qj", rec / m, mv.block_spread, rec / m)
        first = 0.7**2 * (((mv.block_mean @ rec / m) ** 2).sum(-1) + spread) / 6.0
        second = ((mv.block_mean @ rec / m**2) ** 2).sum(-1)
        second += np.einsum("ai,qjab,bi->qj", rec / m**2, mv.block_spread, rec / m**2)
        floor = 0.7**2 * second.mean(0) / 6.0
        floor = harmonic.degenerate_average_matrix(freqs) @ floor  # the same in a block
        return np.maximum(np.sqrt(first + floor), ADAPTIVE_SIGMA_FLOOR)
    sigma = 0.5 * np.abs(little_group_average(qm, mv.group_velocities) @ rec / m).max(-1)
    return np.maximum(sigma, shengbte_isotope_floor(sigma))  # ShengBTE: no scale


def _dense_isotope(ph, gps, g2, kind, gv, qm, rec, cutoff=1e-3):
    """γ_iso (n_gp, B) from (n_gp, B, n_q, B) arrays: π/(4N) ν² Σ g(ν − ν'; σ') Σ_κ g2 |e'*·e|²."""
    f = ph.frequencies
    n_q, nb = f.shape
    e = ph.eigenvectors.reshape(n_q, len(g2), 3, nb)
    overlap = np.einsum("qaxk,gaxj->gjqka", e.conj(), e[gps])  # (n_gp, B, n_q, B, atoms)
    weight = (np.abs(overlap) ** 2) @ g2  # (n_gp, B, n_q, B)
    sigma = np.full((n_q, nb), 0.15) if kind == "fixed" else _dense_widths(kind, gv, qm, rec, f)
    ncut = SHENGBTE_CUTOFF_ISOTOPE if kind == "adaptive-shengbte" else CUTOFF_SIGMAS
    d = f[gps][:, :, None, None] - f[None, None]
    s = sigma[None, None]
    keep = (np.abs(d) < ncut * s) & (f > cutoff)[None, None] & (s > 0)
    g = np.where(keep, np.exp(-0.5 * (d / s) ** 2) / (s * np.sqrt(2 * np.pi)), 0.0)
    gamma = np.pi / (4 * n_q) * f[gps] ** 2 * (weight * g).sum(axis=(2, 3))
    gamma[f[gps] <= cutoff] = 0.0
    return average_degenerate(gamma, f[gps])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", ["cu3au-444", "lowsym6-332"])
def test_isotope_kernel_equals_dense_formula(kind, case, cu3au_fc, lowsym6):
    """Same numbers to 1e-12 (observed ~1e-15: only the order of the sums differs)."""
    fc, mesh = (cu3au_fc, (4, 4, 4)) if case.startswith("cu3au") else (lowsym6, (3, 3, 2))
    qm = QMesh.build(fc.primitive, mesh)
    ph, gv = mode_velocities(fc, qm.qpoints, cutoff_frequency=1e-3)
    g2 = natural_mass_variances(fc.primitive.symbols) + 1e-3  # Au is mono-isotopic
    gps = qm.ir_grid
    ours = isotope_linewidths(ph, gps, g2, _smearing(kind, fc, qm), group_velocities=gv, qmesh=qm)
    dense = _dense_isotope(ph, gps, g2, kind, gv, qm, fc.primitive.reciprocal_lattice)
    assert dense.max() > 0
    np.testing.assert_allclose(ours, dense, rtol=1e-12, atol=1e-14 * dense.max())


@pytest.mark.parametrize("kind", KINDS)
def test_isotope_memory_grows_with_the_mesh_not_its_square(kind, cu3au_fc):
    """Cu₃Au on 10×10×10 (35 irreducible points, 12 branches): one (n_gp, B, n_q, B) float64
    array is 40 MB (and the old velocity differences 121 MB); the call allocates less than
    a sixth of one through numpy (observed 0.33 MB fixed, 0.96 MB adaptive: σ (n_q, B) and
    its intermediates; 4.7 MB adaptive-shengbte: its little-group average holds
    (2 × 48 operations, n_q, 3) addresses — all linear in n_q)."""
    qm = QMesh.build(cu3au_fc.primitive, (10, 10, 10))
    ph, gv = mode_velocities(cu3au_fc, qm.qpoints, cutoff_frequency=1e-3)
    g2 = [1e-3] * 4
    sm = _smearing(kind, cu3au_fc, qm)
    isotope_linewidths(ph, qm.ir_grid[:1], g2, sm, group_velocities=gv, qmesh=qm)  # compile
    pair_array = 8 * len(qm.ir_grid) * 12 * qm.n_q * 12
    tracemalloc.start()
    isotope_linewidths(ph, qm.ir_grid, g2, sm, group_velocities=gv, qmesh=qm)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert pair_array > 40e6
    assert peak < pair_array / 6

"""The Wigner pair terms (seed Eq. 5) held as weight (T, Q, B, B) × velocity products
(Q, B, B, 3, 3): the same numbers as the full (T, Q, B, B, 3, 3) array written out, and a
memory that does not grow as nine such arrays per temperature.

Issue 15 measured +80 MiB going from 1 to 7 temperatures at 12×12×9 on the seed model
(339 against 259 MiB peak) while the full pair array was built and then point-group
averaged; with the factors the 7-T run peaks at 261 MiB
(``python benchmarks/bench_seed_kappa.py --meshes 12,12,9 --temperatures 1 7``).
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from aiida_wigner.physics.harmonic import heat_capacity, velocity_operator
from aiida_wigner.physics.mesh import QMesh
from aiida_wigner.physics.transport import (
    KAPPA_UNIT,
    heat_capacity_matrix,
    spectral_kappa,
    wigner_terms,
)

TEMPERATURES = np.array([100.0, 300.0, 500.0, 700.0])


def _inputs(fc, mesh, temperatures=TEMPERATURES):
    """Phonons on the mesh with made-up positive half widths (T, Q, B) in THz: the pair
    algebra does not care where γ comes from."""
    qm = QMesh.build(fc.primitive, mesh)
    vel = velocity_operator(fc, qm.ir_qpoints, cutoff_frequency=1e-3)
    f = vel.phonons.frequencies
    rng = np.random.default_rng(3)
    gamma = 0.02 + 0.1 * rng.random((len(temperatures),) + f.shape)
    cv = heat_capacity(f[None], np.asarray(temperatures)[:, None, None])
    return qm, vel, f, gamma, cv


def _dense_pairs(qm, vel, f, gamma, cv, volume, convention):
    """(T, Q, B, B, 3, 3) W/(m·K) of Eq. 5, every factor in one array, then averaged."""
    valid = f > 1e-3
    g = gamma[..., :, None] + gamma[..., None, :]
    lorentz = g / ((f[:, :, None] - f[:, None, :])[None] ** 2 + g**2)
    lorentz *= (valid[:, :, None] & valid[:, None, :])[None]
    c = heat_capacity_matrix(f, cv, convention)
    v = vel.velocity  # (Q, 3, B, B)
    vv = 0.5 * (
        np.einsum("qajk,qbjk->qjkab", v, v.conj()).real
        + np.einsum("qbjk,qajk->qjkab", v, v.conj()).real
    )
    scale = KAPPA_UNIT / (2 * np.pi * qm.n_q * volume)
    pairs = np.einsum("tqjk,qjkab,q->tqjkab", c * lorentz, vv, qm.weights * scale)
    return qm.symmetrize_tensor(pairs)


@pytest.mark.parametrize("convention", ["aiida-wigner", "phono3py"])
@pytest.mark.parametrize("case", ["cu3au-333", "lowsym6-332"])
def test_factored_pairs_equal_the_full_array(case, convention, cu3au_fc, lowsym6):
    """κ_P, κ_C, κ, κ_P per mode, the pair diagonals and the spectra against the full array
    (rtol 1e-12: observed ≤ 3e-15, the order of the sums only); a cubic and a P1 cell."""
    fc, mesh = (cu3au_fc, (3, 3, 3)) if case.startswith("cu3au") else (lowsym6, (3, 3, 2))
    qm, vel, f, gamma, cv = _inputs(fc, mesh)
    args = (f, vel.velocity, gamma, cv, qm.weights, qm.n_q, fc.primitive.volume)
    terms = wigner_terms(*args, qm.symmetrize_tensor, convention=convention)
    pairs = _dense_pairs(qm, vel, f, gamma, cv, fc.primitive.volume, convention)
    pop = terms.populations[None, ..., None, None]
    scale = np.abs(pairs.sum(axis=(1, 2, 3))).max()
    assert scale > 0 and (~terms.populations).any()

    def same(ours, ref):
        np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-14 * scale)

    same(terms.kappa_P, (pairs * pop).sum(axis=(1, 2, 3)))
    same(terms.kappa_C, (pairs * ~pop).sum(axis=(1, 2, 3)))
    same(terms.kappa, pairs.sum(axis=(1, 2, 3)))
    same(terms.kappa_P_modes, (pairs * pop).sum(axis=3))
    diag = np.einsum("tqjkaa->tqjka", pairs)
    for t in range(len(TEMPERATURES)):
        same(terms.diagonal(t), diag[t])
    spec = spectral_kappa(terms, f, 20)
    same(spec["kappa_C_map"].sum(axis=(1, 2)), np.einsum("tqjkaa->ta", pairs * ~pop))
    same(spec["kappa_P_cumulative"][:, -1], np.einsum("tqjkaa->ta", pairs * pop))


def _peak(fc, n_temperatures):
    """numpy's peak allocation (bytes) of the terms, κ_P, κ_C, κ_P per mode and spectra."""
    qm, vel, f, gamma, cv = _inputs(fc, (8, 8, 8), np.linspace(100.0, 700.0, n_temperatures))
    tracemalloc.start()
    terms = wigner_terms(
        f, vel.velocity, gamma, cv, qm.weights, qm.n_q, fc.primitive.volume, qm.symmetrize_tensor
    )
    terms.kappa_P, terms.kappa_C, terms.kappa_P_modes, spectral_kappa(terms, f, 50)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, 8 * f.size * f.shape[1] * 9  # and one temperature of the full pair array


def test_pair_memory_per_temperature_is_below_one_full_pair_array(cu3au_fc):
    """Cu₃Au 8×8×8 (35 irreducible points, 12 branches), 1 and 8 temperatures: each
    temperature adds 0.50 of one temperature's full (Q, B, B, 3, 3) pair array (0.36 MB)
    to the peak (the (T, Q, B, B) weights and the temporaries of C_{jj'} and L_{jj'});
    the full form added 2.3 (measured: the array and its point-group average).  Bound 0.6."""
    one, per_t = _peak(cu3au_fc, 1)
    eight, _ = _peak(cu3au_fc, 8)
    assert (eight - one) / 7 < 0.6 * per_t

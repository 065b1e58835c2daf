"""Three-phonon linewidths (seed Eq. 6) as half widths γ in THz.

    γ_{q0 j0} = (π ħ / 16 N) Σ_{q1 j1 j2} |V3|² / (ω0 ω1 ω2)
                × [(n1 + n2 + 1) δ(ω0 − ω1 − ω2) + (n1 − n2) (δ(ω0 + ω1 − ω2) − δ(ω0 − ω1 + ω2))]

with V3 of :mod:`..interactions` (q2 = −q0 − q1 + G), N the number of mesh points,
and all frequencies converted to THz (ordinary).  This is the imaginary part of the
bubble self-energy on shell (Maradudin & Fein; Togo et al., PRB 91, 094306 (2015));
the derivation of the prefactor is in docs/theory.md.  Triplets are reduced by the
little group of q0 and the exchange q1 ↔ q2; γ is averaged over degenerate modes.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

from ..harmonic import Phonons, average_degenerate, occupation
from ..interactions import (
    BATCH,
    CubicInteraction,
    cluster_transform,
    contract_legs,
    single_threaded_blas,
)
from ..mesh import QMesh, grid_index, triplets_at_q
from ..units import AMU, ANGSTROM, EV, HBAR
from .smearing import Smearing, combine

__all__ = ["Smearing", "three_phonon_linewidths"]

#: π ħ |V3|² / (16 (2π·10¹²)⁵ ν0 ν1 ν2) × δ[1/THz] → γ in THz, for V3 in eV/(Å³ amu^{3/2}).
THREE_PHONON_FACTOR = (
    np.pi * HBAR * (EV / (ANGSTROM**3 * AMU**1.5)) ** 2 / (16.0 * (2.0 * np.pi * 1e12) ** 5)
)


def three_phonon_linewidths(
    fc,
    qmesh: QMesh,
    phonons: Phonons,
    grid_points,
    temperatures,
    smearing: Smearing,
    group_velocities=None,
    cutoff_frequency: float = 1e-3,
    chunk: int = 512,
) -> NDArray:
    """γ_3ph (T, n_gp, B) in THz at ``grid_points`` of ``qmesh``.

    ``phonons`` must hold all mesh points in the order of ``qmesh.addresses``;
    ``group_velocities`` are needed for adaptive smearing: ``ModeVelocities`` of the
    mesh (``smearing.mode_velocities``, with the phonons they belong to), or per-band
    velocities (n_q, B, 3) THz·Å for ``adaptive-shengbte`` and crystals without
    degenerate modes.  The
    irreducible triplets of all grid points form one work list, evaluated ``chunk`` at a
    time by one numba kernel parallel over batches of triplets (:func:`_gamma_kernel`);
    nothing larger than (chunk, B, B) is held besides the phonons and the pair phases.
    """
    temps = np.atleast_1d(np.asarray(temperatures, dtype=float))
    interaction = CubicInteraction(fc)
    freqs = np.ascontiguousarray(phonons.frequencies, dtype=float)
    n_b = freqs.shape[1]
    valid = freqs > cutoff_frequency
    inv_f = np.where(valid, 1.0 / np.where(valid, freqs, 1.0), 0.0)
    occ = occupation(np.where(valid, freqs, 0.0)[None], temps[:, None, None])  # (T, n_q, B)
    table = interaction.pair_table(phonons.qpoints)  # (n_q, n_pairs), computed once
    vecs = np.ascontiguousarray(phonons.eigenvectors)
    grid_points = np.atleast_1d(np.asarray(grid_points, dtype=np.int64))
    smearing = smearing.bind(qmesh)
    ncut = smearing.cutoff("3ph")
    floor2 = None
    if smearing.adaptive:
        group_velocities, floor2 = smearing.adaptive_terms(
            qmesh, group_velocities, freqs, cutoff_frequency
        )
    minus = grid_index(-qmesh.addresses, qmesh.mesh)  # grid index of −q
    # ShengBTE's widths are not invariant under the little group of q0: no reduction
    trips = [triplets_at_q(qmesh, gp, symmetry=not smearing.shengbte) for gp in grid_points]
    owner = np.repeat(np.arange(len(grid_points)), [len(t.q1) for t in trips])
    q1 = np.concatenate([t.q1 for t in trips]).astype(np.int64)
    q2 = np.concatenate([t.q2 for t in trips]).astype(np.int64)
    weights = np.concatenate([t.weights for t in trips]).astype(float)
    pre = interaction.phases.prephases(phonons.qpoints[grid_points])  # (n_gp, n)
    e0t = np.ascontiguousarray(vecs[grid_points].transpose(0, 2, 1))
    gamma = np.zeros((len(grid_points), len(temps), n_b))
    with single_threaded_blas():
        for s in range(0, len(q1), chunk):
            sl = slice(s, s + chunk)
            sigmas = _triplet_widths(
                smearing, group_velocities, floor2, q1[sl], q2[sl], minus, (len(q1[sl]), n_b, n_b)
            )
            part = _gamma_kernel(
                table,
                pre,
                e0t,
                vecs,
                grid_points,
                owner[sl],
                q1[sl],
                q2[sl],
                weights[sl],
                freqs,
                inv_f,
                occ,
                *sigmas,
                ncut,
                interaction.kap,
                interaction.pidx,
                interaction.values,
                interaction.block_ptr,
            )
            np.add.at(gamma, owner[sl], part)
    gamma = gamma.transpose(1, 0, 2) * (THREE_PHONON_FACTOR / qmesh.n_q)
    gamma[:, ~valid[grid_points]] = 0.0
    return average_degenerate(gamma, freqs[grid_points])


def _triplet_widths(smearing: Smearing, gv, floor2, a, b, minus, shape):
    """Return the widths σ (n_t, B, B) in THz of the decay and absorption terms of triplets.

    The decay term is δ(ν0 − ν1 − ν2), the absorption terms δ(ν0 + ν1 − ν2) and
    δ(ν0 − ν1 + ν2), for triplets (q0, q1 = ``a``, q2 = ``b``), q0 + q1 + q2 = G;
    ``minus`` maps a grid point to that of −q; ``gv`` (n_q, B, 3) and ``floor2`` (n_q, B)
    come from ``Smearing.adaptive_terms``.

    The legs carry e(q1), e(q2): the decay creates the phonons −q1, −q2, the first
    absorption takes q1 to −q2, the second q2 to −q1.  As q1 moves (q2 = −q0 − q1 with
    it) the decay mismatch changes at v2 − v1 and the absorption ones at ±(v1 + v2)
    (the velocity of the state e(q)* at −q being −v(q)).  ShengBTE takes v' − v'' of
    the two phonons from its velocity table at their own grid points instead.
    """
    if not smearing.adaptive:
        sig = np.full(shape, float(smearing.sigma))
        return sig, sig, sig
    v1, v2 = gv[a][:, :, None, :], gv[b][:, None, :, :]
    if smearing.shengbte:
        m1, m2 = gv[minus[a]][:, :, None, :], gv[minus[b]][:, None, :, :]
        sigmas = (smearing.widths(m1, m2), smearing.widths(v1, m2), smearing.widths(v2, m1))
    else:
        f2 = floor2[a][:, :, None] + floor2[b][:, None, :]
        sig_diff = combine(smearing.widths(v1, -v2), f2)
        sigmas = (combine(smearing.widths(v1, v2), f2), sig_diff, sig_diff)
    return tuple(np.ascontiguousarray(np.broadcast_to(x, shape)) for x in sigmas)


@numba.njit(parallel=True, cache=True)
def _gamma_kernel(
    table,
    pre,
    e0t,
    vecs,
    grid_points,
    owner,
    q1,
    q2,
    w,
    freqs,
    inv_f,
    occ,
    sig_sum,
    sig_p,
    sig_m,
    ncut,
    kap,
    pidx,
    values,
    block_ptr,
):  # pragma: no cover - numba
    """Sum the three-phonon terms of each triplet t into out[t, T, j0] (without the prefactor).

    The sum is w_t Σ_{j1 j2} |V3|²/(ν0ν1ν2) [(n1+n2+1) g(ν0−ν1−ν2) + (n1−n2)(g(ν0+ν1−ν2)
    − g(ν0−ν1+ν2))].

    table (n_q, n_pairs) FC3 pair phases of the mesh; pre (n_gp, n), e0t (n_gp, B, 3n)
    prephases and transposed eigenvectors of the grid points; vecs (n_q, 3n, B); triplet
    t belongs to grid point ``grid_points[owner[t]]`` and has legs q1[t], q2[t].  g has the
    width ``sig_sum`` (decay), ``sig_p`` and ``sig_m`` (the two absorption terms), cut at
    ``ncut`` σ; a zero width (ShengBTE's, of equal velocities) contributes nothing.
    Parallel over batches of ``BATCH`` triplets (one pass over the FC3 clusters each).
    """
    n_t = q1.shape[0]
    n_temp = occ.shape[0]
    m, nb = vecs.shape[1], vecs.shape[2]
    n_pairs = table.shape[1]
    norm = 1.0 / np.sqrt(2.0 * np.pi)
    out = np.zeros((n_t, n_temp, nb))
    n_batch = (n_t + BATCH - 1) // BATCH
    for ib in numba.prange(n_batch):
        lo, hi = ib * BATCH, min((ib + 1) * BATCH, n_t)
        t1 = np.empty((hi - lo, n_pairs), dtype=np.complex128)
        t2 = np.empty((hi - lo, n_pairs), dtype=np.complex128)
        pre_b = np.empty((hi - lo, pre.shape[1]), dtype=np.complex128)
        for t in range(lo, hi):
            t1[t - lo] = table[q1[t]]
            t2[t - lo] = table[q2[t]]
            pre_b[t - lo] = pre[owner[t]]
        phi = np.empty((hi - lo, m, m, m), dtype=np.complex128)
        cluster_transform(t1, t2, pre_b, kap, pidx, values, block_ptr, phi)
        for t in range(lo, hi):
            g0 = grid_points[owner[t]]
            a, b = q1[t], q2[t]
            z = contract_legs(phi[t - lo], e0t[owner[t]], vecs[a], vecs[b])
            for j1 in range(nb):
                for j2 in range(nb):
                    s = sig_sum[t, j1, j2]
                    r = sig_p[t, j1, j2]
                    r2 = sig_m[t, j1, j2]
                    base = w[t] * inv_f[a, j1] * inv_f[b, j2]
                    if base == 0.0:
                        continue
                    for j0 in range(nb):
                        d_sum = freqs[g0, j0] - freqs[a, j1] - freqs[b, j2]
                        d_p = freqs[g0, j0] + freqs[a, j1] - freqs[b, j2]
                        d_m = freqs[g0, j0] - freqs[a, j1] + freqs[b, j2]
                        g_sum = 0.0
                        if s > 0.0 and abs(d_sum) <= ncut * s:
                            g_sum = norm / s * np.exp(-0.5 * (d_sum / s) ** 2)
                        g_pm = 0.0
                        if r > 0.0 and abs(d_p) <= ncut * r:
                            g_pm += norm / r * np.exp(-0.5 * (d_p / r) ** 2)
                        if r2 > 0.0 and abs(d_m) <= ncut * r2:
                            g_pm -= norm / r2 * np.exp(-0.5 * (d_m / r2) ** 2)
                        if g_sum == 0.0 and g_pm == 0.0:
                            continue
                        v = z[j1, j0 * nb + j2]
                        pref = (v.real * v.real + v.imag * v.imag) * base * inv_f[g0, j0]
                        for T in range(n_temp):
                            n1 = occ[T, a, j1]
                            n2 = occ[T, b, j2]
                            out[t, T, j0] += pref * ((n1 + n2 + 1.0) * g_sum + (n1 - n2) * g_pm)
    return out

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
from ..interactions import CubicInteraction
from ..mesh import QMesh, grid_index, triplets_at_q
from ..units import AMU, ANGSTROM, EV, HBAR
from .smearing import Smearing, combine

__all__ = ["Smearing", "three_phonon_linewidths"]

#: π ħ |V3|² / (16 (2π·10¹²)⁵ ν0 ν1 ν2) × δ[1/THz] → γ in THz, for V3 in eV/(Å³ amu^{3/2}).
THREE_PHONON_FACTOR = (np.pi * HBAR * (EV / (ANGSTROM**3 * AMU**1.5)) ** 2
                       / (16.0 * (2.0 * np.pi * 1e12) ** 5))


def three_phonon_linewidths(fc, qmesh: QMesh, phonons: Phonons, grid_points, temperatures,
                            smearing: Smearing, group_velocities=None,
                            cutoff_frequency: float = 1e-3, chunk: int = 512) -> NDArray:
    """γ_3ph (T, n_gp, B) in THz at ``grid_points`` of ``qmesh``.

    ``phonons`` must hold all mesh points in the order of ``qmesh.addresses``;
    ``group_velocities`` (n_q, B, 3) THz·Å are needed for adaptive smearing.
    """
    temps = np.atleast_1d(np.asarray(temperatures, dtype=float))
    interaction = CubicInteraction(fc)
    freqs = phonons.frequencies
    valid = freqs > cutoff_frequency
    inv_f = np.where(valid, 1.0 / np.where(valid, freqs, 1.0), 0.0)
    occ = occupation(np.where(valid, freqs, 0.0)[None], temps[:, None, None])  # (T, n_q, B)
    phases = interaction.phases(phonons.qpoints)  # (n_q, n, N), computed once
    grid_points = np.atleast_1d(grid_points)
    gamma = np.zeros((len(temps), len(grid_points), freqs.shape[1]))
    smearing = smearing.bind(qmesh)
    ncut = smearing.cutoff("3ph")
    floor2 = None
    if smearing.adaptive:
        group_velocities = smearing.process_velocities(qmesh, group_velocities)
        floor2 = smearing.floors(group_velocities) ** 2 if smearing.kind == "adaptive" else None
    minus = grid_index(-qmesh.addresses, qmesh.mesh)  # grid index of −q
    for ig, gp in enumerate(grid_points):
        # ShengBTE's widths are not invariant under the little group of q0: no reduction
        trip = triplets_at_q(qmesh, gp, symmetry=not smearing.shengbte)
        for s in range(0, len(trip.q1), chunk):
            a, b = trip.q1[s:s + chunk], trip.q2[s:s + chunk]
            v2 = interaction.strength(phonons.qpoints[gp], phonons.eigenvectors[gp],
                                      phases[a], phonons.eigenvectors[a],
                                      phases[b], phonons.eigenvectors[b])
            sigmas = _triplet_widths(smearing, group_velocities, floor2, a, b, minus,
                                     (len(a),) + freqs.shape[1:] * 2)
            gamma[:, ig] += _accumulate_gamma(
                v2, trip.weights[s:s + chunk].astype(float), freqs[gp], freqs[a], freqs[b],
                inv_f[gp], inv_f[a], inv_f[b], occ[:, a], occ[:, b], *sigmas, ncut)
    gamma *= THREE_PHONON_FACTOR / qmesh.n_q
    gamma[:, ~valid[grid_points]] = 0.0
    return average_degenerate(gamma, freqs[grid_points])


def _triplet_widths(smearing: Smearing, gv, floor2, a, b, minus, shape):
    """σ (n_t, B, B) in THz of the decay term δ(ν0 − ν1 − ν2) and of the absorption
    terms δ(ν0 + ν1 − ν2), δ(ν0 − ν1 + ν2) for triplets (q0, q1 = ``a``, q2 = ``b``),
    q0 + q1 + q2 = G; ``minus`` maps a grid point to that of −q.

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
        f2 = floor2[:, None] + floor2[None, :]
        sig_diff = combine(smearing.widths(v1, -v2), f2)
        sigmas = (combine(smearing.widths(v1, v2), f2), sig_diff, sig_diff)
    return tuple(np.ascontiguousarray(np.broadcast_to(x, shape)) for x in sigmas)


@numba.njit(parallel=True, cache=True)
def _accumulate_gamma(v2, w, f0, f1, f2, if0, if1, if2, n1, n2, sig_sum, sig_p, sig_m, ncut):
    """Σ_t w_t Σ_{j1 j2} |V|²/(ν0ν1ν2) [(n1+n2+1) g(ν0−ν1−ν2) + (n1−n2)(g(ν0+ν1−ν2) − g(ν0−ν1+ν2))].

    g of width ``sig_sum`` (decay), ``sig_p`` and ``sig_m`` (the two absorption terms),
    cut at ``ncut`` σ; a zero width (ShengBTE's, of equal velocities) contributes nothing.
    """
    n_temp, n_t = n1.shape[0], n1.shape[1]
    nb = f0.shape[0]
    out = np.zeros((n_temp, nb))
    norm = 1.0 / np.sqrt(2.0 * np.pi)
    for j0 in numba.prange(nb):
        acc = np.zeros(n_temp)
        for t in range(n_t):
            for j1 in range(nb):
                for j2 in range(nb):
                    s = sig_sum[t, j1, j2]
                    r = sig_p[t, j1, j2]
                    r2 = sig_m[t, j1, j2]
                    d_sum = f0[j0] - f1[t, j1] - f2[t, j2]
                    d_p = f0[j0] + f1[t, j1] - f2[t, j2]
                    d_m = f0[j0] - f1[t, j1] + f2[t, j2]
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
                    pref = v2[t, j0, j1, j2] * w[t] * if0[j0] * if1[t, j1] * if2[t, j2]
                    for T in range(n_temp):
                        a = n1[T, t, j1]
                        b = n2[T, t, j2]
                        acc[T] += pref * ((a + b + 1.0) * g_sum + (a - b) * g_pm)
        for T in range(n_temp):
            out[T, j0] = acc[T]
    return out

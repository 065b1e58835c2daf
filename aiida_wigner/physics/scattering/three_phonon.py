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

from ..harmonic import DEGENERACY_TOLERANCE, Phonons, degenerate_block_ids, occupation
from ..interactions import CubicInteraction
from ..mesh import QMesh, triplets_at_q
from ..units import AMU, ANGSTROM, EV, HBAR
from .smearing import CUTOFF_SIGMAS, adaptive_sigma

#: π ħ |V3|² / (16 (2π·10¹²)⁵ ν0 ν1 ν2) × δ[1/THz] → γ in THz, for V3 in eV/(Å³ amu^{3/2}).
THREE_PHONON_FACTOR = (np.pi * HBAR * (EV / (ANGSTROM**3 * AMU**1.5)) ** 2
                       / (16.0 * (2.0 * np.pi * 1e12) ** 5))


class Smearing:
    """Fixed Gaussian width ``sigma`` (THz) or adaptive widths with ``scale``."""

    def __init__(self, sigma: float | None = None, scale: float | None = None,
                 reciprocal_lattice=None, mesh=None):
        if (sigma is None) == (scale is None):
            raise ValueError("give either a fixed sigma (THz) or an adaptive scale")
        self.sigma, self.scale = sigma, scale
        self.reciprocal_lattice, self.mesh = reciprocal_lattice, mesh

    @property
    def adaptive(self) -> bool:
        return self.scale is not None

    def widths(self, v1, v2) -> NDArray | float:
        """σ for pairs of final modes, from their group velocities (..., 3)."""
        if not self.adaptive:
            return self.sigma
        return adaptive_sigma(v1 - v2, self.reciprocal_lattice, self.mesh, self.scale)


def average_degenerate(values: NDArray, frequencies: NDArray,
                       tol: float = DEGENERACY_TOLERANCE) -> NDArray:
    """Average ``values`` (..., n_q, B) over degenerate bands of ``frequencies`` (n_q, B)."""
    block = degenerate_block_ids(frequencies, tol)  # (n_q, B)
    same = (block[:, :, None] == block[:, None, :]).astype(float)
    same /= same.sum(axis=2, keepdims=True)
    return np.einsum("qij,...qj->...qi", same, values)


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
    for ig, gp in enumerate(grid_points):
        trip = triplets_at_q(qmesh, gp)
        for s in range(0, len(trip.q1), chunk):
            a, b = trip.q1[s:s + chunk], trip.q2[s:s + chunk]
            v2 = interaction.strength(phonons.qpoints[gp], phonons.eigenvectors[gp],
                                      phases[a], phonons.eigenvectors[a],
                                      phases[b], phonons.eigenvectors[b])
            if smearing.adaptive:
                sig = smearing.widths(group_velocities[a][:, :, None, :],
                                      group_velocities[b][:, None, :, :])
            else:
                sig = np.full((len(a), 1, 1), smearing.sigma)
            gamma[:, ig] += _accumulate_gamma(
                v2, trip.weights[s:s + chunk].astype(float), freqs[gp], freqs[a], freqs[b],
                inv_f[gp], inv_f[a], inv_f[b], occ[:, a], occ[:, b],
                np.ascontiguousarray(np.broadcast_to(sig, (len(a),) + freqs.shape[1:] * 2)))
    gamma *= THREE_PHONON_FACTOR / qmesh.n_q
    gamma[:, ~valid[grid_points]] = 0.0
    return average_degenerate(gamma, freqs[grid_points])


@numba.njit(parallel=True, cache=True)
def _accumulate_gamma(v2, w, f0, f1, f2, if0, if1, if2, n1, n2, sigma):
    """Σ_t w_t Σ_{j1 j2} |V|²/(ν0ν1ν2) [(n1+n2+1) g(ν0−ν1−ν2) + (n1−n2)(g(ν0+ν1−ν2) − g(ν0−ν1+ν2))]."""
    n_temp, n_t = n1.shape[0], n1.shape[1]
    nb = f0.shape[0]
    out = np.zeros((n_temp, nb))
    norm = 1.0 / np.sqrt(2.0 * np.pi)
    for j0 in numba.prange(nb):
        acc = np.zeros(n_temp)
        for t in range(n_t):
            for j1 in range(nb):
                for j2 in range(nb):
                    s = sigma[t, j1, j2]
                    reach = CUTOFF_SIGMAS * s
                    d_sum = f0[j0] - f1[t, j1] - f2[t, j2]
                    d_p = f0[j0] + f1[t, j1] - f2[t, j2]
                    d_m = f0[j0] - f1[t, j1] + f2[t, j2]
                    if abs(d_sum) > reach and abs(d_p) > reach and abs(d_m) > reach:
                        continue
                    pref = v2[t, j0, j1, j2] * w[t] * if0[j0] * if1[t, j1] * if2[t, j2] * norm / s
                    g_sum = np.exp(-0.5 * (d_sum / s) ** 2) if abs(d_sum) < reach else 0.0
                    g_p = np.exp(-0.5 * (d_p / s) ** 2) if abs(d_p) < reach else 0.0
                    g_m = np.exp(-0.5 * (d_m / s) ** 2) if abs(d_m) < reach else 0.0
                    for T in range(n_temp):
                        a = n1[T, t, j1]
                        b = n2[T, t, j2]
                        acc[T] += pref * ((a + b + 1.0) * g_sum + (a - b) * (g_p - g_m))
        for T in range(n_temp):
            out[T, j0] = acc[T]
    return out

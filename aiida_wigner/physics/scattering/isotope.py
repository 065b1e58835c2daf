"""Isotope (mass-disorder) scattering, seed Eq. 8 (Tamura, PRB 27, 858 (1983)).

    γ_iso(q j) = (π / 4N) ν_qj² Σ_{q' j'} δ(ν_qj − ν_q'j') Σ_κ g2(κ) |e*(κ; q'j') · e(κ; q j)|²

in ordinary frequencies (THz), giving the half width γ in THz; g2(κ) = Σ_i f_i (1 − m_i/M_κ)²
with M_κ = Σ_i f_i m_i over the natural isotopes of the element of atom κ.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

from ..harmonic import Phonons
from .smearing import CUTOFF_SIGMAS
from .three_phonon import Smearing, average_degenerate


def natural_mass_variances(symbols) -> NDArray[np.float64]:
    """g2 for each symbol from phonopy's table of natural isotope abundances."""
    from phonopy.structure.atomic_data import get_atomic_data

    table = get_atomic_data().isotope_data
    out = []
    for s in symbols:
        if s not in table or not table[s]:
            raise ValueError(f"no natural isotope abundances known for {s!r}: give mass "
                             f"variances explicitly")
        _, masses, fractions = np.array(table[s], dtype=float).T
        mean = fractions @ masses
        out.append(fractions @ (1.0 - masses / mean) ** 2)
    return np.array(out)


def isotope_linewidths(phonons: Phonons, grid_points, mass_variances, smearing: Smearing,
                       group_velocities=None, cutoff_frequency: float = 1e-3) -> NDArray[np.float64]:
    """γ_iso (n_gp, B) in THz at ``grid_points``; ``phonons`` covers the whole mesh.

    With adaptive smearing the width of each (q j, q' j') pair uses the velocity
    difference v_qj − v_q'j' (``group_velocities`` (n_q, B, 3)).
    """
    g2 = np.asarray(mass_variances, dtype=float)
    freqs = phonons.frequencies
    n_q, n_b = freqs.shape
    grid_points = np.atleast_1d(grid_points)
    vec = np.ascontiguousarray(phonons.eigenvectors.reshape(n_q, len(g2), 3, n_b))
    if smearing.adaptive:
        dv = group_velocities[grid_points][:, :, None, None, :] - group_velocities[None, None]
        sigma = smearing.widths(dv, 0.0)  # (n_gp, B, n_q, B)
    else:
        sigma = np.full((1, 1, 1, 1), float(smearing.sigma))
    valid = freqs > cutoff_frequency
    gamma = _isotope_kernel(vec, freqs, valid, np.ascontiguousarray(grid_points), g2,
                            np.ascontiguousarray(sigma), smearing.adaptive)
    gamma *= np.pi / (4.0 * n_q) * freqs[grid_points] ** 2
    gamma[~valid[grid_points]] = 0.0
    return average_degenerate(gamma, freqs[grid_points])


@numba.njit(parallel=True, cache=True)
def _isotope_kernel(vec, freqs, valid, grid_points, g2, sigma, adaptive):
    """Σ_{q'j'} g(ν_qj − ν_q'j') Σ_κ g2_κ |e*(κ;q'j')·e(κ;qj)|² for each (q j)."""
    n_q, n_atoms, _, nb = vec.shape
    out = np.zeros((len(grid_points), nb))
    norm = 1.0 / np.sqrt(2.0 * np.pi)
    for ig in numba.prange(len(grid_points)):
        gp = grid_points[ig]
        for j in range(nb):
            acc = 0.0
            for q in range(n_q):
                for k in range(nb):
                    if not valid[q, k]:
                        continue
                    s = sigma[ig, j, q, k] if adaptive else sigma[0, 0, 0, 0]
                    d = freqs[gp, j] - freqs[q, k]
                    if abs(d) > CUTOFF_SIGMAS * s:
                        continue
                    overlap = 0.0
                    for a in range(n_atoms):
                        z = 0j
                        for x in range(3):
                            z += np.conj(vec[q, a, x, k]) * vec[gp, a, x, j]
                        overlap += g2[a] * (z.real ** 2 + z.imag ** 2)
                    acc += overlap * norm / s * np.exp(-0.5 * (d / s) ** 2)
            out[ig, j] = acc
    return out

"""Gaussian representations of the energy-conserving δ-function.

All widths and arguments are ordinary frequencies in THz; the Gaussian is normalized
in THz, so it returns 1/THz.

Adaptive width (ShengBTE/FourPhonon's ``scalebroad`` scheme): for a pair of final
modes with group velocities v' and v'' (THz·Å),

    σ = scale · sqrt( Σ_i ((b_i · (v' − v'')) / m_i)² / 6 )

with b_i the reciprocal lattice vectors (1/Å, without 2π) and m_i the mesh numbers:
the spread of the energy mismatch across one mesh cell.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: Lower bound (THz) on an adaptive width, so that exactly parallel velocities
#: (e.g. degenerate branches) do not give a zero-width δ.
ADAPTIVE_SIGMA_FLOOR = 1e-4

#: Gaussians are cut at this many widths (the weight beyond 6σ is below 1e-8).
CUTOFF_SIGMAS = 6.0

_NORM = 1.0 / np.sqrt(2.0 * np.pi)


def gaussian(x, sigma) -> NDArray[np.float64]:
    """Normalized Gaussian δ(x) of width ``sigma`` (THz), in 1/THz; 0 beyond 6σ."""
    u = np.asarray(x) / sigma
    return np.where(np.abs(u) < CUTOFF_SIGMAS, _NORM / sigma * np.exp(-0.5 * u * u), 0.0)


def adaptive_sigma(dv, reciprocal_lattice, mesh, scale: float) -> NDArray[np.float64]:
    """Adaptive width (THz) from velocity differences ``dv`` (..., 3) in THz·Å.

    ``reciprocal_lattice`` has the reciprocal vectors b_i as columns (1/Å, no 2π).
    """
    proj = np.asarray(dv) @ np.asarray(reciprocal_lattice) / np.asarray(mesh, dtype=float)
    sigma = scale * np.sqrt((proj**2).sum(axis=-1) / 6.0)
    return np.maximum(sigma, ADAPTIVE_SIGMA_FLOOR)

"""Lifetimes, mean free paths and the particle-like / wave-like limits (seed Fig. 4c).

The limits that separate particle-like from wave-like phonons follow the seed's Fig. 4c and
its inset (Simoncelli, Marzari & Mauri, PRX 12, 041011 (2022)).

* lifetime τ = 1/(4π γ): γ half width at half maximum in THz (ordinary frequency), τ in ps
  (the full width in angular frequency is 2·2πγ rad/ps and τ its inverse).
* mean free path λ = |v| τ: v group velocity in THz·Å = Å/ps, λ in Å.
* Wigner limit in time τ_W = 3 N_at / ω_max (seed text below Fig. 4): the inverse of the
  average interband spacing ω_max/(3 N_at), ω_max = 2π ν_max in rad/ps, τ_W in ps.
  Modes with τ > τ_W mostly carry κ_P, modes with τ < τ_W mostly κ_C.
* Ioffe–Regel limit in time τ = 1/ω = 1/(2π ν) ps (a mode that lives shorter than one
  oscillation period / 2π is not a quasiparticle), and in space λ = a, the typical
  interatomic spacing, taken here as a = (V/N_at)^{1/3} Å (V the primitive-cell volume).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def lifetimes(gamma: ArrayLike) -> NDArray[np.float64]:
    """Return the lifetimes τ = 1/(4πγ) of half widths γ.

    Parameters
    ----------
    gamma : array_like of float, any shape
        Half widths at half maximum, THz.

    Returns
    -------
    ndarray of float64, shape of ``gamma``
        τ in ps; NaN where γ ≤ 0 (τ undefined).
    """
    g = np.asarray(gamma, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(g > 0, 1.0 / (4 * np.pi * np.where(g > 0, g, 1.0)), np.nan)


def mean_free_paths(group_velocities: ArrayLike, tau: ArrayLike) -> NDArray[np.float64]:
    """Return the mean free paths λ = |v| τ.

    Parameters
    ----------
    group_velocities : array_like of float, shape (..., 3)
        THz·Å (= Å/ps).
    tau : array_like of float, shape (...)
        Lifetimes, ps.

    Returns
    -------
    ndarray of float64, shape (...)
        λ in Å.
    """
    return np.linalg.norm(np.asarray(group_velocities, dtype=float), axis=-1) * np.asarray(tau)


def wigner_time_limit(n_atoms: int, max_frequency: float) -> float:
    """Return the Wigner limit in time τ_W = 3 N_at / ω_max.

    Parameters
    ----------
    n_atoms : int
        Atoms in the primitive cell, N_at.
    max_frequency : float
        The largest frequency ν_max, THz (ω_max = 2π ν_max).

    Returns
    -------
    float
        τ_W in ps.

    Raises
    ------
    ValueError
        If ``max_frequency`` is not positive.
    """
    if not max_frequency > 0:
        raise ValueError(f"the maximum frequency must be positive (THz), got {max_frequency!r}")
    return 3.0 * n_atoms / (2 * np.pi * max_frequency)


def ioffe_regel_time(frequencies: ArrayLike) -> NDArray[np.float64]:
    """Return the Ioffe–Regel limit in time τ = 1/ω = 1/(2πν).

    Parameters
    ----------
    frequencies : array_like of float, any shape
        Frequencies ν, THz.

    Returns
    -------
    ndarray of float64, shape of ``frequencies``
        τ in ps; NaN for ν ≤ 0.
    """
    f = np.asarray(frequencies, dtype=float)
    return np.where(f > 0, 1.0 / (2 * np.pi * np.where(f > 0, f, 1.0)), np.nan)


def ioffe_regel_length(volume: float, n_atoms: int) -> float:
    """Return the typical interatomic spacing a = (V / N_at)^{1/3}, the Ioffe–Regel length.

    Parameters
    ----------
    volume : float
        Primitive-cell volume V, Å³.
    n_atoms : int
        Atoms in the primitive cell.

    Returns
    -------
    float
        a in Å.
    """
    return float((volume / n_atoms) ** (1.0 / 3.0))

"""Participation ratio and atomic participation ratio of phonon modes (seed Eqs. 10–11).

With w_κ = |e(κ; qj)|² / M_κ (e the eigenvector of the dynamical matrix, Σ_κ |e(κ)|² = 1,
|e(κ)|² = Σ_α |e_α(κ)|², M_κ in amu) and N the number of atoms of the primitive cell:

    PR_qj   = (Σ_κ w_κ)² / (N Σ_κ w_κ²)                                   (Eq. 10)
    APR_qj,κ = w_κ / (N Σ_κ w_κ²)^{1/2}                                    (Eq. 11)

so that (Σ_κ APR_κ)² = PR and Σ_κ APR_κ² = 1/N.  PR = 1 when every atom moves with the
same amplitude (|e(κ)|² ∝ M_κ), PR = 1/N for a mode on one atom; APR_κ = 1/N for such a
uniform mode and 1/√N on the one atom of a localized one.

Per species s (for the colour-coding of Fig. 3b–d): APR_s = Σ_{κ∈s} APR_κ, so the species
values of a mode add up to √PR; the *dominant species* of a mode is the one with the largest
APR_s (the largest share of the mode's mean-square displacement).

Degenerate modes: PR and APR of one mode depend on the basis chosen inside a degenerate
subspace.  With ``frequencies`` given, |e(κ)|² is averaged over each degenerate subspace
(|ν_j − ν_j'| < 1e-4 THz, :data:`..harmonic.DEGENERACY_TOLERANCE`) first, which makes
both basis-independent; every mode of the subspace gets the same values.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..harmonic import average_degenerate


def atomic_weights(eigenvectors, n_atoms: int, frequencies=None) -> NDArray[np.float64]:
    """Return |e(κ; qj)|², shape (Q, B, N), from eigenvectors (Q, 3N, B) (column j is mode j).

    Averaged over degenerate subspaces of ``frequencies`` (Q, B) THz when given.
    """
    e = np.asarray(eigenvectors)
    q, m, b = e.shape
    w = (np.abs(e.reshape(q, n_atoms, 3, b)) ** 2).sum(axis=2).transpose(0, 2, 1)
    if frequencies is None:
        return w
    averaged = average_degenerate(w.transpose(2, 0, 1), np.asarray(frequencies, dtype=float))
    return averaged.transpose(1, 2, 0)


def participation_ratios(
    eigenvectors, masses, frequencies=None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the participation ratio PR and atomic participation ratio APR (Eqs. 10–11).

    Parameters
    ----------
    eigenvectors : array_like of complex, shape (Q, 3N, B)
        Column j is mode j (phonopy's layout, as :class:`..harmonic.Phonons`).
    masses : array_like of float, shape (N,)
        Atomic masses, amu.
    frequencies : array_like of float, shape (Q, B), optional
        THz, to average over degenerate subspaces (module docstring); None for the modes
        as given.

    Returns
    -------
    pr : ndarray of float64, shape (Q, B)
        PR, between 1/N and 1.
    apr : ndarray of float64, shape (Q, B, N)
        APR per atom.
    """
    masses = np.asarray(masses, dtype=float)
    w = atomic_weights(eigenvectors, len(masses), frequencies) / masses
    n = len(masses)
    norm = np.sqrt(n * (w**2).sum(axis=-1))
    apr = w / norm[..., None]
    pr = apr.sum(axis=-1) ** 2
    return pr, apr


def species_sums(apr, symbols) -> tuple[tuple[str, ...], NDArray[np.float64]]:
    """Sum the APR per species.

    Parameters
    ----------
    apr : array_like of float, shape (..., N)
        APR per atom.
    symbols : sequence of str, length N
        Chemical symbol of each atom.

    Returns
    -------
    names : tuple of str, length S
        The species, in order of first appearance.
    apr_species : ndarray of float64, shape (..., S)
        Σ_{κ∈s} APR_κ.
    """
    symbols = list(symbols)
    names = tuple(dict.fromkeys(symbols))
    onehot = np.array([[s == name for name in names] for s in symbols], dtype=float)  # (N, S)
    return names, np.asarray(apr) @ onehot


def dominant_species(apr_species) -> NDArray[np.int64]:
    """Return the index of the species with the largest APR_s of each mode.

    Parameters
    ----------
    apr_species : array_like of float, shape (..., S)
        APR per species (:func:`species_sums`).

    Returns
    -------
    ndarray of int64, shape (...)
        Index into the species names.
    """
    return np.argmax(np.asarray(apr_species), axis=-1)

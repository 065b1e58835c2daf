"""Phonons along a path with what the seed colours them by (Figs. 1c, 3, 4e).

At each q-point of a path (:func:`aiida_wigner.physics.bandpath.band_path`): frequencies
(THz), group-velocity components v_x, v_y, v_z (THz·Å = Å/ps; the diagonal of the velocity
operator, degenerate subspaces rotated as in the κ step) and PR/APR of :mod:`.participation`
(degenerate subspaces averaged), for harmonic or renormalized phonons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..harmonic import velocity_operator
from .participation import participation_ratios, species_sums


@dataclass(frozen=True)
class PathPhonons:
    """Phonons at the n points of a path.

    Attributes
    ----------
    frequencies : ndarray of float64, shape (n, B)
        THz.
    group_velocities : ndarray of float64, shape (n, B, 3)
        THz·Å.
    pr : ndarray of float64, shape (n, B)
        Participation ratios.
    apr : ndarray of float64, shape (n, B, N)
        Atomic participation ratios per atom.
    species : tuple of str, length S
        The species of ``apr_species``.
    apr_species : ndarray of float64, shape (n, B, S)
        Atomic participation ratios per species.
    """

    frequencies: NDArray[np.float64]
    group_velocities: NDArray[np.float64]
    pr: NDArray[np.float64]
    apr: NDArray[np.float64]
    species: tuple[str, ...]
    apr_species: NDArray[np.float64]


def path_phonons(fc, qpoints, builder=None, cutoff_frequency: float = 1e-3) -> PathPhonons:
    """Return the phonons of ``builder`` (None: harmonic ``fc.fc2``) at ``qpoints`` (n, 3).

    ``qpoints`` are reduced coordinates; ``cutoff_frequency`` (THz) is that of
    :func:`~aiida_wigner.physics.harmonic.velocity_operator`.
    """
    vel = velocity_operator(fc, qpoints, cutoff_frequency=cutoff_frequency, builder=builder)
    ph = vel.phonons
    prim = fc.primitive
    pr, apr = participation_ratios(ph.eigenvectors, prim.masses, ph.frequencies)
    names, per_species = species_sums(apr, prim.symbols)
    return PathPhonons(ph.frequencies, vel.group_velocities, pr, apr, names, per_species)

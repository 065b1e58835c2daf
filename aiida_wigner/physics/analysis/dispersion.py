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
    """frequencies (n, B) THz; group_velocities (n, B, 3) THz·Å; pr (n, B);
    apr (n, B, N) per atom; apr_species (n, B, S) per species ``species``."""

    frequencies: NDArray[np.float64]
    group_velocities: NDArray[np.float64]
    pr: NDArray[np.float64]
    apr: NDArray[np.float64]
    species: tuple[str, ...]
    apr_species: NDArray[np.float64]


def path_phonons(fc, qpoints, builder=None, cutoff_frequency: float = 1e-3) -> PathPhonons:
    """Phonons of ``builder`` (None: harmonic ``fc.fc2``) at ``qpoints`` (n, 3) reduced."""
    vel = velocity_operator(fc, qpoints, cutoff_frequency=cutoff_frequency, builder=builder)
    ph = vel.phonons
    prim = fc.primitive
    pr, apr = participation_ratios(ph.eigenvectors, prim.masses, ph.frequencies)
    names, per_species = species_sums(apr, prim.symbols)
    return PathPhonons(ph.frequencies, vel.group_velocities, pr, apr, names, per_species)

"""High-symmetry paths through the Brillouin zone, for phonon dispersions.

The path is ASE's band path of the primitive lattice (``ase.cell.Cell.bandpath``, Setyawan &
Curtarolo special points): ASE finds the Bravais lattice of any cell and returns the points in
reduced coordinates of *this* cell's reciprocal lattice, so they go straight into
:func:`aiida_wigner.physics.harmonic.solve` or ``EffectiveHarmonicModel.phonons``.  The path
follows the lattice symmetry; a crystal whose atoms have a lower symmetry than its lattice gets
the lattice's path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .cell import Cell


@dataclass(frozen=True)
class BandPath:
    """Points along a high-symmetry path of the Brillouin zone.

    Attributes
    ----------
    qpoints : ndarray of float, shape (n, 3)
        Reduced coordinates (primitive reciprocal lattice).
    distances : ndarray of float, shape (n,)
        Distance along the path, 1/Å in ASE's convention (2π included).
    ticks : ndarray of float, shape (k,)
        Distances of the labelled points.
    labels : tuple of str, length k
        Their names ("Γ", "X", "X|M" where the path jumps from X to M).
    """

    qpoints: NDArray[np.float64]
    distances: NDArray[np.float64]
    ticks: NDArray[np.float64]
    labels: tuple[str, ...]


def band_path(primitive: Cell, npoints: int = 200) -> BandPath:
    """Return the high-symmetry path of ``primitive``'s lattice (ASE's choice).

    Parameters
    ----------
    primitive : Cell
        The primitive cell.
    npoints : int
        Approximate number of points along the whole path.

    Returns
    -------
    BandPath
        Points, distances (1/Å, 2π included), ticks and labels, with coinciding
        segment ends merged into one tick ("X|M").
    """
    from ase.cell import Cell as AseCell

    path = AseCell(np.asarray(primitive.lattice, dtype=float)).bandpath(npoints=npoints)
    distances, ticks, labels = path.get_linear_kpoint_axis()
    names = ["Γ" if label == "G" else label for label in labels]
    merged_ticks, merged_labels = [], []
    for tick, name in zip(ticks, names, strict=True):
        if merged_ticks and np.isclose(tick, merged_ticks[-1], rtol=0, atol=1e-12):
            merged_labels[-1] += f"|{name}"
        else:
            merged_ticks.append(float(tick))
            merged_labels.append(name)
    return BandPath(
        np.asarray(path.kpts, dtype=float),
        np.asarray(distances, dtype=float),
        np.array(merged_ticks),
        tuple(merged_labels),
    )

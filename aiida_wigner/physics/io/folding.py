"""Geometry shared by the importers: locating atoms, folding clusters into the supercell.

Formats such as ShengBTE's name an atom by (atom of a reference cell, lattice vector of
that cell); our arrays name it by its index in the supercell of a
:class:`~aiida_wigner.physics.cell.SupercellSetup` (phonopy's order).  This module maps
between the two.  Lengths are in Å.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..cell import Cell, SupercellSetup

#: Atoms closer than this (Å) are taken to be the same site.
POSITION_TOLERANCE = 1e-3

_CHUNK = 4096


def locate_atoms(
    cart: NDArray, lattice: NDArray, frac_positions: NDArray
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Find, for each Cartesian point, the atom of a periodic cell sitting there.

    Parameters
    ----------
    cart : ndarray of float, shape (M, 3)
        The points, Å.
    lattice : ndarray of float, shape (3, 3)
        Lattice vectors as rows, Å.
    frac_positions : ndarray of float, shape (n, 3)
        Fractional positions of the cell's atoms.

    Returns
    -------
    atom : ndarray of int64, shape (M,)
        Index of the nearest atom (modulo lattice vectors).
    translation : ndarray of int64, shape (M, 3)
        Integer lattice vector with ``cart ≈ (frac_positions[atom] + translation) @ lattice``.
    deviation : ndarray of float64, shape (M,)
        Distance in Å between the point and that atom's image.
    """
    cart = np.asarray(cart, dtype=float).reshape(-1, 3)
    lattice = np.asarray(lattice, dtype=float)
    frac_positions = np.asarray(frac_positions, dtype=float).reshape(-1, 3)
    frac = cart @ np.linalg.inv(lattice)
    m = len(frac)
    atom = np.empty(m, dtype=np.int64)
    trans = np.empty((m, 3), dtype=np.int64)
    dev = np.empty(m)
    for start in range(0, m, _CHUNK):
        f = frac[start : start + _CHUNK]
        d = f[:, None, :] - frac_positions[None, :, :]
        n = np.rint(d)
        dist = np.linalg.norm((d - n) @ lattice, axis=-1)
        best = np.argmin(dist, axis=1)
        rows = np.arange(len(f))
        atom[start : start + _CHUNK] = best
        trans[start : start + _CHUNK] = n[rows, best].astype(np.int64)
        dev[start : start + _CHUNK] = dist[rows, best]
    return atom, trans, dev


def lattice_vector_deviation(
    vectors: NDArray, lattice: NDArray
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Return the integer coordinates of Cartesian vectors (Å) in a lattice.

    Also returns their distance (Å) from the nearest lattice vector.
    """
    vectors = np.asarray(vectors, dtype=float)
    frac = vectors @ np.linalg.inv(lattice)
    n = np.rint(frac)
    dev = np.linalg.norm((frac - n) @ lattice, axis=-1)
    return n.astype(np.int64), dev


@dataclass(frozen=True)
class ReferenceCell:
    """The cell whose atoms a ShengBTE-like file numbers (``'unit'`` or ``'primitive'``).

    ``to_super[a]`` is the supercell atom at the site of reference atom ``a`` and
    ``to_prim[a]`` its primitive-cell atom.
    """

    kind: str
    cell: Cell
    to_super: NDArray[np.int64]
    to_prim: NDArray[np.int64]

    def __len__(self) -> int:
        """Return the number of atoms of the reference cell."""
        return len(self.cell)


def reference_cell(setup: SupercellSetup, kind: str = "unit") -> ReferenceCell:
    """Return the unit cell or the primitive cell of ``setup`` with its atoms' supercell sites."""
    if kind == "primitive":
        return ReferenceCell(
            "primitive",
            setup.primitive,
            np.asarray(setup.p2s),
            np.arange(setup.n_prim, dtype=np.int64),
        )
    if kind != "unit":
        raise ValueError(f"reference cell must be 'unit' or 'primitive', got {kind!r}")
    sc = setup.supercell
    atom, _, dev = locate_atoms(setup.unitcell.cartesian_positions, sc.lattice, sc.positions)
    if np.any(dev > POSITION_TOLERANCE):  # cannot happen for a setup built by phonopy
        raise ValueError("unit-cell atoms are not sites of the supercell")
    return ReferenceCell("unit", setup.unitcell, atom, np.asarray(setup.s2pp)[atom])


def supercell_shift_to_p2s(
    setup: SupercellSetup, ref: ReferenceCell, atoms: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Return the lattice translations that carry reference atoms onto ``p2s`` atoms.

    For each m, the Cartesian vector (Å, modulo the supercell) carrying reference atom
    ``atoms[m]`` onto the representative ``p2s`` atom of its primitive atom.
    """
    sc = setup.supercell
    target = np.asarray(setup.p2s)[ref.to_prim[atoms]]
    return (sc.positions[target] - sc.positions[ref.to_super[atoms]]) @ sc.lattice


def translation_permutation(setup: SupercellSetup, shift_cart: NDArray) -> NDArray[np.int64] | None:
    """``perm[j]``: the supercell atom at the site of atom j moved by ``shift_cart`` (Å).

    None when the shift is not a translation of the crystal (an atom lands on no atom of
    the same species).
    """
    sc = setup.supercell
    atom, _, dev = locate_atoms(
        sc.cartesian_positions + np.asarray(shift_cart), sc.lattice, sc.positions
    )
    if np.any(dev > POSITION_TOLERANCE) or not np.array_equal(sc.numbers[atom], sc.numbers):
        return None
    if len(np.unique(atom)) != len(atom):
        return None
    return atom


def fold_to_supercell(
    setup: SupercellSetup,
    ref: ReferenceCell,
    first: NDArray,
    others: NDArray,
    lattice_vectors: NDArray,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Fold clusters given as (reference atom, lattice vector) into supercell indices.

    Each cluster is translated so that its first atom becomes the ``p2s`` atom of its
    primitive atom; the other members are then reduced modulo the supercell.

    Parameters
    ----------
    setup : SupercellSetup
        The supercell to fold onto.
    ref : ReferenceCell
        The cell the file numbers its atoms in (:func:`reference_cell`).
    first : ndarray of int, shape (M,)
        Reference-cell atom of the first member, at the origin cell.
    others : ndarray of int, shape (M, n-1)
        Reference-cell atoms of the other members.
    lattice_vectors : ndarray of float, shape (M, n-1, 3)
        Cartesian lattice vectors (Å) of the cells of the other members; must already be
        lattice vectors of ``ref``.

    Returns
    -------
    prim : ndarray of int64, shape (M,)
        Primitive index of the first atom.
    atoms : ndarray of int64, shape (M, n-1)
        Supercell indices of the other members.
    weight : ndarray of float64, shape (M,)
        1 / (number of translation-equivalent reference atoms that occur as first atoms
        for that primitive atom), so that rows repeated for equivalent atoms of a
        non-primitive reference cell are averaged rather than added.
    deviation : ndarray of float64, shape (M, n-1)
        Distance (Å) between each folded member and its supercell site.
    """
    first = np.asarray(first, dtype=np.int64)
    others = np.asarray(others, dtype=np.int64)
    m, k = others.shape
    lattice = ref.cell.lattice
    n_int, _ = lattice_vector_deviation(lattice_vectors, lattice)
    # unique (first atom, other atom, cell) triples: far fewer than clusters
    keys = np.concatenate(
        [np.repeat(first, k)[:, None], others.reshape(-1, 1), n_int.reshape(-1, 3)], axis=1
    )
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    shift = supercell_shift_to_p2s(setup, ref, uniq[:, 0])
    points = (ref.cell.positions[uniq[:, 1]] + uniq[:, 2:]) @ lattice + shift
    sc = setup.supercell
    atom, _, dev = locate_atoms(points, sc.lattice, sc.positions)
    prim = ref.to_prim[first]
    present = np.unique(first)
    per_prim = np.bincount(ref.to_prim[present], minlength=setup.n_prim)
    weight = 1.0 / per_prim[prim]
    return prim, atom[inverse].reshape(m, k), weight, dev[inverse].reshape(m, k)


def image_combinations(
    setup: SupercellSetup, prim: NDArray, others: NDArray
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """All combinations of shortest periodic images of a cluster's members.

    For cluster m (primitive atom ``prim[m]`` at ``p2s``, supercell atoms ``others[m]``)
    every member j has ``multi`` equidistant shortest images as seen from the first
    atom (phonopy's shortest vectors).  Returns ``(cluster, vectors, weight)`` with one
    row per combination: the cluster index, the Cartesian vectors (Å) from the first atom
    to each member's image, shape (K, n-1, 3), and the weight 1/(number of combinations).
    """
    prim = np.asarray(prim, dtype=np.int64)
    others = np.asarray(others, dtype=np.int64)
    counts = setup.multi[others, prim[:, None], 0]
    offsets = setup.multi[others, prim[:, None], 1]
    total = np.prod(counts, axis=1)
    cluster = np.repeat(np.arange(len(prim)), total)
    rest = np.arange(total.sum()) - np.repeat(np.cumsum(total) - total, total)
    k = others.shape[1]
    digits = np.empty((len(cluster), k), dtype=np.int64)
    for col in range(k - 1, -1, -1):
        c = counts[cluster, col]
        digits[:, col] = rest % c
        rest = rest // c
    frac = setup.svecs[offsets[cluster] + digits]
    vectors = frac @ setup.primitive.lattice
    return cluster, vectors, 1.0 / total[cluster]


def unfold_from_supercell(
    setup: SupercellSetup, ref: ReferenceCell, prim: NDArray, others: NDArray
) -> tuple[
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.float64],
    NDArray[np.float64],
]:
    """Write supercell clusters as (reference atom, lattice vector) clusters.

    The inverse of :func:`fold_to_supercell`: each cluster (``p2s[prim]``, ``others``)
    is spread equally over the combinations of shortest images of its members and
    repeated for every reference atom equivalent to its first atom.

    Returns ``(cluster, first, other_atoms, lattice_vectors, weight)``: the source
    cluster index, reference atom of the first member, (K, n-1) reference atoms of the
    others, (K, n-1, 3) Cartesian lattice vectors in Å, and the share of the cluster's
    value carried by this row.
    """
    cluster, vectors, weight = image_combinations(setup, prim, others)
    members = [np.flatnonzero(ref.to_prim == p) for p in range(setup.n_prim)]
    n_eq = np.array([len(mm) for mm in members])
    p = np.asarray(prim, dtype=np.int64)[cluster]
    reps = n_eq[p]
    row = np.repeat(np.arange(len(cluster)), reps)
    which = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
    starts = np.concatenate([[0], np.cumsum(n_eq)[:-1]])
    flat_members = np.concatenate(members)
    first = flat_members[starts[p[row]] + which]
    origin = ref.cell.cartesian_positions[first]
    points = origin[:, None, :] + vectors[row]
    k = points.shape[1]
    atom, trans, dev = locate_atoms(points.reshape(-1, 3), ref.cell.lattice, ref.cell.positions)
    if np.any(dev > POSITION_TOLERANCE):  # cannot happen for a consistent setup
        raise ValueError("cluster members do not fall on sites of the reference cell")
    lattice_vectors = (trans @ ref.cell.lattice).reshape(-1, k, 3)
    return (cluster[row], first, atom.reshape(-1, k), lattice_vectors, weight[row])

"""ShengBTE ``FORCE_CONSTANTS_3RD`` and FourPhonon ``FORCE_CONSTANTS_4TH`` files.

Layout (thirdorder.py / Fourthorder.py): the number of blocks, then per block

* the block number (1, 2, ...),
* n-1 lines with the Cartesian lattice vectors R_2, ..., R_n (Å) of the cells holding
  atoms 2..n (atom 1 sits in the cell at the origin),
* a line with the n atom numbers (1-based, in the reference cell: the unit cell given to
  thirdorder / ShengBTE),
* 3^n lines ``α β ... value`` (Cartesian indices 1..3, value in eV/Å^n).

Folding (reading).  Each block names its atoms as (reference atom, lattice vector).  A
block is moved by the lattice translation that takes its first atom to the ``p2s`` atom
of its primitive atom, and every other atom is reduced modulo the supercell of the
:class:`~aiida_wigner.physics.cell.SupercellSetup`.  Blocks landing on the same supercell
cluster are **summed**.  thirdorder writes one block per periodic image combination of
a supercell cluster, dividing the value equally when several images are equally near;
summing undoes that division, and for a file made with a larger supercell it gives the
standard folding of real-space force constants onto the smaller supercell.  When the
reference cell holds several translation-equivalent atoms (a conventional cell), the
rows of equivalent first atoms are averaged.

The reference cell is the setup's unit cell (``reference='unit'``, atom order and
positions as in the structure file) or its primitive cell (``'primitive'``).  R vectors
must be lattice vectors of that cell within 1e-4 Å and atom numbers within the cell.

Writing spreads each supercell cluster equally over the combinations of shortest
periodic images (phonopy's shortest vectors) of its members, so reading the file back
with the same setup returns the same compact arrays.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import NDArray

from ..cell import SupercellSetup
from ..forceconstants import SparseForceConstants
from .errors import ForceConstantsFileError, describe_cell, describe_setup, file_label
from .folding import (
    POSITION_TOLERANCE,
    fold_to_supercell,
    lattice_vector_deviation,
    reference_cell,
    unfold_from_supercell,
)
from .textparse import parse_numbers

#: R vectors must be lattice vectors of the reference cell within this distance (Å).
LATTICE_TOLERANCE = 1e-4

FORMAT_NAMES = {3: "ShengBTE FORCE_CONSTANTS_3RD", 4: "FourPhonon FORCE_CONSTANTS_4TH"}


def _tokens_per_block(order: int) -> int:
    return 1 + 3 * (order - 1) + order + 3**order * (order + 1)


def parse_shengbte_blocks(
    path, order: int
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Read the blocks of a ShengBTE (order 3) or FourPhonon (order 4) file as they are.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    order : {3, 4}
        The force-constant order n.

    Returns
    -------
    atoms : ndarray of int64, shape (M, n)
        0-based reference-cell atoms.
    lattice_vectors : ndarray of float64, shape (M, n - 1, 3)
        Cartesian lattice vectors of atoms 2..n, Å.
    values : ndarray of float64, shape (M, 3, ..., 3)
        eV/Å^n.
    """
    label = file_label(path)
    name = FORMAT_NAMES[order]
    try:
        with open(path) as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ForceConstantsFileError(f"{label}: cannot read as text ({exc})") from exc
    numbers = parse_numbers(text, path)
    if len(numbers) == 0:
        raise ForceConstantsFileError(f"{label}: empty file, expected a {name} file")
    n_blocks = int(numbers[0]) if numbers[0] == np.rint(numbers[0]) else -1
    if n_blocks < 0:
        raise ForceConstantsFileError(
            f"{label}: not a {name} file: the first entry should "
            f"be the number of blocks, found {numbers[0]:g}"
        )
    per = _tokens_per_block(order)
    expected = 1 + n_blocks * per
    if len(numbers) != expected:
        what = "truncated" if len(numbers) < expected else "longer than its header says"
        raise ForceConstantsFileError(
            f"{label}: {name} file is {what}: {n_blocks} blocks of {per} numbers "
            f"({expected} in all) announced, found {len(numbers)} "
            f"(~{(len(numbers) - 1) / per:.2f} blocks of order {order})"
        )
    data = numbers[1:].reshape(n_blocks, per)
    index = data[:, 0]
    if not np.array_equal(index, np.arange(1, n_blocks + 1)):
        bad = int(np.flatnonzero(index != np.arange(1, n_blocks + 1))[0])
        raise ForceConstantsFileError(
            f"{label}: block {bad + 1} is numbered {index[bad]:g}; blocks must be numbered "
            f"1..{n_blocks} and hold {per} numbers each (order {order})"
        )
    col = 1
    lattice_vectors = data[:, col : col + 3 * (order - 1)].reshape(n_blocks, order - 1, 3)
    col += 3 * (order - 1)
    atoms = data[:, col : col + order]
    col += order
    lines = data[:, col:].reshape(n_blocks, 3**order, order + 1)
    if np.any(atoms != np.rint(atoms)):
        raise ForceConstantsFileError(f"{label}: atom numbers must be integers")
    cart = lines[:, :, :order]
    if np.any(cart != np.rint(cart)) or cart.min(initial=1) < 1 or cart.max(initial=3) > 3:
        raise ForceConstantsFileError(
            f"{label}: Cartesian indices must be 1, 2 or 3 (each "
            f"block holds {3**order} lines of {order} indices and a "
            f"value)"
        )
    code = ((cart.astype(np.int64) - 1) * (3 ** np.arange(order - 1, -1, -1))).sum(axis=-1)
    if not np.array_equal(np.sort(code, axis=1), np.broadcast_to(np.arange(3**order), code.shape)):
        raise ForceConstantsFileError(
            f"{label}: each block must list every combination of Cartesian indices exactly once"
        )
    values = np.empty((n_blocks, 3**order))
    values[np.arange(n_blocks)[:, None], code] = lines[:, :, order]
    if not np.all(np.isfinite(values)) or not np.all(np.isfinite(lattice_vectors)):
        raise ForceConstantsFileError(f"{label}: NaN or infinite values")
    return (atoms.astype(np.int64) - 1, lattice_vectors, values.reshape((n_blocks,) + (3,) * order))


def _fold(path, order: int, setup: SupercellSetup, reference: str, origin):
    label = file_label(path)
    atoms, lattice_vectors, values = parse_shengbte_blocks(path, order)
    ref = reference_cell(setup, reference)
    n_ref = len(ref)
    where = describe_cell(ref.kind, n_ref, origin)
    if len(atoms) and (atoms.min() < 0 or atoms.max() >= n_ref):
        bad = int(np.flatnonzero((atoms < 0).any(axis=1) | (atoms >= n_ref).any(axis=1))[0])
        raise ForceConstantsFileError(
            f"{label}: block {bad + 1} names atoms {(atoms[bad] + 1).tolist()}, outside {where}"
        )
    _, dev = lattice_vector_deviation(lattice_vectors, ref.cell.lattice)
    if np.any(dev > LATTICE_TOLERANCE):
        bad = int(np.flatnonzero((dev > LATTICE_TOLERANCE).any(axis=1))[0])
        k = int(np.argmax(dev[bad]))
        raise ForceConstantsFileError(
            f"{label}: block {bad + 1}: R{k + 2} = {lattice_vectors[bad, k].tolist()} Å is not "
            f"a lattice vector of {where} (off by {dev[bad, k]:.2e} Å, tolerance "
            f"{LATTICE_TOLERANCE:g} Å)"
        )
    prim, others, weight, dev = fold_to_supercell(
        setup, ref, atoms[:, 0], atoms[:, 1:], lattice_vectors
    )
    if np.any(dev > POSITION_TOLERANCE):  # only for inconsistent setups
        bad = int(np.flatnonzero((dev > POSITION_TOLERANCE).any(axis=1))[0])
        raise ForceConstantsFileError(
            f"{label}: block {bad + 1} does not fall on atoms of {describe_setup(setup, origin)}"
        )
    return prim, others, weight, values


def read_shengbte_fc3(
    path, setup: SupercellSetup, *, reference: str = "unit", origin=None
) -> NDArray[np.float64]:
    """Read a ShengBTE ``FORCE_CONSTANTS_3RD`` file as compact FC3 on ``setup``.

    The triplets are folded onto the supercell of ``setup`` (see module docstring).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    setup : SupercellSetup
        The supercell the force constants are mapped onto (atoms matched by position).
    reference : {"unit", "primitive"}
        The cell whose atoms the file numbers (thirdorder's POSCAR: the unit cell).
    origin : str, optional
        The file the supercell came from, named in messages.

    Returns
    -------
    ndarray of float64, shape (n_prim, N, N, 3, 3, 3)
        FC3 in eV/Å³.

    Raises
    ------
    ForceConstantsFileError
        For a malformed file or one that does not fit ``setup`` (the message names it).
    """
    prim, others, weight, values = _fold(path, 3, setup, reference, origin)
    n = setup.n_super
    fc3 = np.zeros((setup.n_prim, n, n, 27))
    np.add.at(fc3, (prim, others[:, 0], others[:, 1]), values.reshape(-1, 27) * weight[:, None])
    return fc3.reshape(setup.n_prim, n, n, 3, 3, 3)


def read_fourphonon_fc4(
    path, setup: SupercellSetup, *, reference: str = "unit", origin=None
) -> SparseForceConstants:
    """Read a FourPhonon ``FORCE_CONSTANTS_4TH`` file as sparse FC4 on ``setup``.

    The clusters are of supercell atoms whose first atom is in ``setup.p2s`` (see module
    docstring for the folding).  Clusters whose summed values are all zero are dropped.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    setup : SupercellSetup
        The supercell the force constants are mapped onto (atoms matched by position).
    reference : {"unit", "primitive"}
        The cell whose atoms the file numbers (thirdorder's POSCAR: the unit cell).
    origin : str, optional
        The file the supercell came from, named in messages.

    Returns
    -------
    SparseForceConstants
        Order-4 clusters, eV/Å⁴.

    Raises
    ------
    ForceConstantsFileError
        For a malformed file or one that does not fit ``setup`` (the message names it).
    """
    prim, others, weight, values = _fold(path, 4, setup, reference, origin)
    keys = np.concatenate([np.asarray(setup.p2s)[prim][:, None], others], axis=1)
    if len(keys) == 0:
        return SparseForceConstants(4, np.zeros((0, 4), dtype=np.int64), np.zeros((0, 3, 3, 3, 3)))
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    summed = np.zeros((len(uniq), 81))
    np.add.at(summed, inverse.reshape(-1), values.reshape(-1, 81) * weight[:, None])
    keep = np.any(summed != 0.0, axis=1)
    return SparseForceConstants(4, uniq[keep], summed[keep].reshape(-1, 3, 3, 3, 3))


# ---------------------------------------------------------------------------- writers


def _write_blocks(path, first, others, lattice_vectors, values, order: int) -> None:
    m = len(first)
    value_lines = "".join(
        " ".join(str(c + 1) for c in combo) + " %23.15e\n"
        for combo in itertools.product(range(3), repeat=order)
    )
    block_fmt = (
        "\n%d\n"
        + "%.10f %.10f %.10f\n" * (order - 1)
        + " ".join(["%d"] * order)
        + "\n"
        + value_lines
    )
    table = np.concatenate(
        [
            np.arange(1, m + 1)[:, None].astype(float),
            lattice_vectors.reshape(m, -1),
            np.concatenate([first[:, None], others], axis=1) + 1.0,
            values.reshape(m, -1),
        ],
        axis=1,
    )
    with open(path, "w") as fh:
        fh.write(f"{m:d}\n")
        chunk = 2048
        for start in range(0, m, chunk):
            part = table[start : start + chunk]
            fh.write((block_fmt * len(part)) % tuple(part.ravel().tolist()))


def _clusters_for_writing(setup: SupercellSetup, prim, others, values, reference: str, tol: float):
    flat = values.reshape(len(values), -1)
    keep = np.abs(flat).max(axis=1, initial=0.0) > tol
    prim, others, flat = prim[keep], others[keep], flat[keep]
    ref = reference_cell(setup, reference)
    cluster, first, other_atoms, lattice_vectors, weight = unfold_from_supercell(
        setup, ref, prim, others
    )
    return first, other_atoms, lattice_vectors, flat[cluster] * weight[:, None]


def write_shengbte_fc3(
    path, fc3, setup: SupercellSetup, *, reference: str = "unit", tol: float = 0.0
) -> None:
    """Write FC3 (eV/Å³) as a ShengBTE ``FORCE_CONSTANTS_3RD`` file.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    fc3 : array_like of float, shape (n_prim, N, N, 3, 3, 3) or (N, N, N, 3, 3, 3)
        Compact or full FC3, eV/Å³.
    setup : SupercellSetup
        The supercell of ``fc3``.
    reference : {"unit", "primitive"}
        Number the atoms in the unit cell or in the primitive cell.
    tol : float
        Threshold in eV/Å³: triplets whose largest element is at most this are left out.
    """
    fc3 = np.asarray(fc3, dtype=float)
    n = setup.n_super
    if fc3.shape == (n, n, n, 3, 3, 3):
        fc3 = fc3[setup.p2s]
    if fc3.shape != (setup.n_prim, n, n, 3, 3, 3):
        raise ValueError(
            f"fc3 must have shape {(setup.n_prim, n, n, 3, 3, 3)} (compact) or "
            f"{(n, n, n, 3, 3, 3)} (full), got {fc3.shape}"
        )
    p, j, k = np.nonzero(np.abs(fc3).reshape(setup.n_prim, n, n, 27).max(axis=-1) > tol)
    first, others, lattice_vectors, values = _clusters_for_writing(
        setup, p, np.stack([j, k], axis=1), fc3[p, j, k], reference, tol
    )
    _write_blocks(path, first, others, lattice_vectors, values, 3)


def write_fourphonon_fc4(
    path,
    fc4: SparseForceConstants,
    setup: SupercellSetup,
    *,
    reference: str = "unit",
    tol: float = 0.0,
) -> None:
    """Write sparse FC4 (eV/Å⁴) as a FourPhonon ``FORCE_CONSTANTS_4TH`` file.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    fc4 : SparseForceConstants
        Order-4 clusters, eV/Å⁴.
    setup : SupercellSetup
        The supercell of ``fc4``.
    reference : {"unit", "primitive"}
        Number the atoms in the unit cell or in the primitive cell.
    tol : float
        Threshold in eV/Å⁴: quadruplets whose largest element is at most this are left out.
    """
    if not isinstance(fc4, SparseForceConstants) or fc4.order != 4:
        raise ValueError("fc4 must be a SparseForceConstants of order 4")
    p2s = np.asarray(setup.p2s)
    if len(fc4) and (
        fc4.atoms.min() < 0
        or fc4.atoms.max() >= setup.n_super
        or not np.all(np.isin(fc4.atoms[:, 0], p2s))
    ):
        raise ValueError(
            f"fc4 clusters must hold supercell atoms 0..{setup.n_super - 1} and "
            f"start with a primitive atom {p2s.tolist()}"
        )
    prim = np.searchsorted(np.sort(p2s), fc4.atoms[:, 0])
    prim = np.argsort(p2s)[prim]
    first, others, lattice_vectors, values = _clusters_for_writing(
        setup, prim, fc4.atoms[:, 1:], fc4.values, reference, tol
    )
    _write_blocks(path, first, others, lattice_vectors, values, 4)


def sniff_shengbte_order(path) -> int | None:
    """3 or 4 if the file starts like a ShengBTE / FourPhonon force-constant file."""
    try:
        with open(path) as fh:
            lines = [ln.split() for ln in itertools.islice(fh, 60)]
    except (OSError, UnicodeDecodeError):
        return None
    lines = [ln for ln in lines if ln]
    if len(lines) < 8 or len(lines[0]) != 1 or lines[1] != ["1"]:
        return None
    rest = lines[2:]
    n3 = 0
    while n3 < len(rest) and len(rest[n3]) == 3:
        n3 += 1
    # 3RD: R2, R3, "i j k" (three 3-token lines), then "a b c value" lines (4 tokens)
    # 4TH: R2, R3, R4 (three 3-token lines), "i j k l", then "a b c d value" lines
    if n3 != 3 or len(rest) < 5:
        return None
    if len(rest[3]) == 4 and len(rest[4]) == 4:
        return 3
    if len(rest[3]) == 4 and len(rest[4]) == 5:
        return 4
    return None

"""phonopy / phono3py force-constant files: FORCE_CONSTANTS, fc2.hdf5, fc3.hdf5.

Layouts (as written by phonopy and phono3py):

* ``FORCE_CONSTANTS`` (text): a header ``n_rows N`` (old files: ``N`` alone), then for
  every (row atom i, supercell atom j) a line ``i j`` (1-based supercell indices) and
  three lines of the 3x3 block.  ``n_rows == N`` is the full form, ``n_rows < N`` the
  compact form whose row atoms are the primitive atoms (``p2s``).
* ``fc2.hdf5`` / ``force_constants.hdf5``: dataset ``force_constants`` (or ``fc2``) of
  shape (n_rows, N, 3, 3), optional ``p2s_map`` (row atoms of the compact form) and
  ``physical_unit``.
* ``fc3.hdf5``: dataset ``fc3`` of shape (n_rows, N, N, 3, 3, 3), optional ``p2s_map``
  and ``fc3_nonzero_indices`` (a byte mask over atom triplets produced by symfc with a
  cutoff: phono3py skips the triplets where it is 0, so we set them to zero).

Values are in eV/Å^n unless the file or the calculator says otherwise (``unit_factor``).
All readers return the compact form (n_prim, N, ...) in the row order of
``setup.p2s``.  A compact file whose row atoms are other, translation-equivalent atoms
(another choice of primitive cell in the same supercell) is translated onto ``p2s``.
"""

from __future__ import annotations

import os

import numpy as np
from numpy.typing import NDArray

from ..cell import SupercellSetup
from ..forceconstants import SparseForceConstants
from .errors import ForceConstantsFileError, describe_setup, file_label
from .folding import translation_permutation
from .textparse import parse_numbers

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


#: Force-constant units phonopy writes in ``physical_unit``, as factors to eV/Å².
def _fc2_unit_factors() -> dict[str, float]:
    from phonopy.physical_units import get_physical_units

    u = get_physical_units()
    return {
        "eV/angstrom^2": 1.0,
        "eV/angstrom.au": 1.0 / u.Bohr,
        "Ry/au^2": u.Rydberg / u.Bohr**2,
        "mRy/au^2": u.Rydberg / u.Bohr**2 / 1000.0,
        "hartree/au^2": u.Hartree / u.Bohr**2,
        "hartree/angstrom.au": u.Hartree / u.Bohr,
    }


# --------------------------------------------------------------------------- helpers


def _check_finite(path, name: str, array: NDArray) -> None:
    if not np.all(np.isfinite(array)):
        raise ForceConstantsFileError(f"{file_label(path)}: {name} contains NaN or infinite values")


def _check_supercell_size(path, n_file: int, setup: SupercellSetup, origin) -> None:
    if n_file != setup.n_super:
        raise ForceConstantsFileError(
            f"{file_label(path)}: force constants for {n_file} supercell atoms, but "
            f"{describe_setup(setup, origin)} has {setup.n_super}"
        )


def row_plan(
    path, row_atoms: NDArray, setup: SupercellSetup, origin=None
) -> list[tuple[int, NDArray[np.int64] | None]]:
    """Which file row gives each primitive atom's row, and how to relabel its columns.

    ``row_atoms``: supercell atom (0-based) of each row of the file.  Returns, for each
    primitive atom p, ``(row, perm)``: the compact row of p is the file row ``row`` with
    every supercell column j read at ``perm[j]`` (``perm`` None: unchanged).
    """
    label = file_label(path)
    row_atoms = np.asarray(row_atoms, dtype=np.int64)
    n = setup.n_super
    if len(row_atoms) and (row_atoms.min() < 0 or row_atoms.max() >= n):
        raise ForceConstantsFileError(
            f"{label}: row atom indices must be between 1 and {n} (the supercell atoms), "
            f"found {row_atoms.min() + 1}..{row_atoms.max() + 1}"
        )
    if len(np.unique(row_atoms)) != len(row_atoms):
        raise ForceConstantsFileError(
            f"{label}: the same supercell atom labels more than one row of force constants"
        )
    where = {int(a): r for r, a in enumerate(row_atoms)}
    plan = []
    sc = setup.supercell
    for p, s in enumerate(setup.p2s):
        if int(s) in where:
            plan.append((where[int(s)], None))
            continue
        candidates = np.flatnonzero(setup.s2pp[row_atoms] == p)
        perm = None
        for r in candidates:
            shift = (sc.positions[row_atoms[r]] - sc.positions[s]) @ sc.lattice
            perm = translation_permutation(setup, shift)
            if perm is not None:
                plan.append((int(r), perm))
                break
        if perm is None:
            raise ForceConstantsFileError(
                f"{label}: the rows of force constants are for supercell atoms "
                f"{(row_atoms + 1).tolist()}, none of which is equivalent to atom {s + 1} "
                f"(primitive atom {p + 1}) of {describe_setup(setup, origin)}, whose "
                f"primitive atoms are {(np.asarray(setup.p2s) + 1).tolist()}; is the "
                f"primitive matrix the one used to write the file?"
            )
    return plan


def _apply_perm(row: NDArray, perm: NDArray | None, n_axes: int) -> NDArray:
    if perm is None:
        return row
    idx = np.ix_(*([perm] * n_axes))
    return row[idx]


def _hdf5_unit_factor(path, f, default: float) -> float:
    if "physical_unit" not in f:
        return default
    raw = np.asarray(f["physical_unit"][()]).reshape(-1)
    unit = raw[0].decode() if isinstance(raw[0], bytes) else str(raw[0])
    unit = unit.replace("Angstrom", "angstrom")
    factors = _fc2_unit_factors()
    if unit not in factors:
        raise ForceConstantsFileError(
            f"{file_label(path)}: unknown physical_unit {unit!r}; known units are {sorted(factors)}"
        )
    return factors[unit]


def _open_hdf5(path):
    import h5py

    label = file_label(path)
    if not os.path.isfile(path):
        raise ForceConstantsFileError(f"{label}: no such file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise ForceConstantsFileError(f"{label}: not a readable HDF5 file ({exc})") from exc


# --------------------------------------------------------------------- FORCE_CONSTANTS


def parse_force_constants_text(path) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Read a phonopy ``FORCE_CONSTANTS`` file as it is.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    fc : ndarray of float64, shape (n_rows, N, 3, 3)
        In the file's unit (eV/Å² for phonopy with VASP-like calculators).
    row_atoms : ndarray of int64, shape (n_rows,)
        The 0-based supercell atom of each row.
    """
    label = file_label(path)
    try:
        with open(path) as fh:
            header = fh.readline()
            body = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ForceConstantsFileError(f"{label}: cannot read as text ({exc})") from exc
    try:
        dims = [int(x) for x in header.split()]
    except ValueError:
        dims = []
    if len(dims) == 1:
        dims = dims * 2
    if len(dims) != 2 or min(dims) < 1:
        raise ForceConstantsFileError(
            f"{label}: not a phonopy FORCE_CONSTANTS file: the first line should hold the "
            f"array size 'n_rows N', found {header.strip()[:60]!r}"
        )
    n_rows, n = dims
    numbers = parse_numbers(body, path)
    expected = n_rows * n * 11
    if len(numbers) != expected:
        what = "truncated" if len(numbers) < expected else "longer than its header says"
        raise ForceConstantsFileError(
            f"{label}: file is {what}: the header announces {n_rows}x{n} blocks of 3x3 "
            f"force constants ({expected} numbers), found {len(numbers)} numbers "
            f"(~{len(numbers) / 11:.1f} blocks)"
        )
    data = numbers.reshape(n_rows * n, 11)
    ij = data[:, :2]
    if np.any(ij != np.rint(ij)):
        raise ForceConstantsFileError(f"{label}: atom index lines 'i j' must hold integers")
    ij = ij.astype(np.int64) - 1
    if ij[:, 1].min() < 0 or ij[:, 1].max() >= n or ij[:, 0].min() < 0:
        raise ForceConstantsFileError(
            f"{label}: atom indices out of range: expected 1..{n}, found "
            f"{ij.min() + 1}..{ij.max() + 1}"
        )
    i_grid = ij[:, 0].reshape(n_rows, n)
    if np.any(i_grid != i_grid[:, :1]):
        raise ForceConstantsFileError(
            f"{label}: the first atom index changes inside a row of {n} blocks"
        )
    row_atoms = i_grid[:, 0]
    j_grid = ij[:, 1].reshape(n_rows, n)
    fc = np.zeros((n_rows, n, 3, 3))
    values = data[:, 2:].reshape(n_rows, n, 3, 3)
    if np.array_equal(j_grid, np.broadcast_to(np.arange(n), (n_rows, n))):
        fc = values
    else:
        sorted_j = np.sort(j_grid, axis=1)
        if not np.array_equal(sorted_j, np.broadcast_to(np.arange(n), (n_rows, n))):
            raise ForceConstantsFileError(
                f"{label}: each row must list every supercell atom j = 1..{n} once"
            )
        fc[np.arange(n_rows)[:, None], j_grid] = values
    _check_finite(path, "force constants", fc)
    return np.ascontiguousarray(fc), row_atoms


def read_force_constants_text(
    path, setup: SupercellSetup, *, unit_factor: float = 1.0, origin=None
) -> NDArray[np.float64]:
    """Read a phonopy ``FORCE_CONSTANTS`` file as compact FC2 on ``setup``.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    setup : SupercellSetup
        The supercell the force constants are mapped onto (atoms matched by position).
    unit_factor : float
        Converts the file's unit to eV/Å^n (phonopy writes the calculator's unit, e.g.
        Ry/au² for Quantum ESPRESSO).
    origin : str, optional
        The file the supercell came from, named in messages.

    Returns
    -------
    ndarray of float64, shape (n_prim, N, 3, 3)
        FC2 in eV/Å².

    Raises
    ------
    ForceConstantsFileError
        For a malformed file or one that does not fit ``setup`` (the message names it).
    """
    fc, row_atoms = parse_force_constants_text(path)
    _check_supercell_size(path, fc.shape[1], setup, origin)
    if fc.shape[0] == fc.shape[1] and np.array_equal(row_atoms, np.arange(fc.shape[0])):
        out = fc[setup.p2s]
    else:
        plan = row_plan(path, row_atoms, setup, origin)
        out = np.stack([_apply_perm(fc[r], perm, 1) for r, perm in plan])
    return np.ascontiguousarray(out * unit_factor)


def write_force_constants(path, fc2, p2s=None) -> None:
    """Write FC2 (eV/Å²) as a phonopy ``FORCE_CONSTANTS`` text file.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    fc2 : array_like of float, shape (N, N, 3, 3) or (n_prim, N, 3, 3)
        Full or compact FC2, eV/Å².
    p2s : array_like of int, shape (n_prim,), optional
        The supercell atom (0-based) of each row; needed by the compact form.
    """
    fc2 = np.asarray(fc2, dtype=float)
    if fc2.ndim != 4 or fc2.shape[2:] != (3, 3) or fc2.shape[0] > fc2.shape[1]:
        raise ValueError(f"fc2 must have shape (N, N, 3, 3) or (n_prim, N, 3, 3), got {fc2.shape}")
    n_rows, n = fc2.shape[:2]
    if n_rows == n and p2s is None:
        rows = np.arange(n)
    else:
        if p2s is None:
            raise ValueError("compact fc2 needs p2s (the supercell atom of each row)")
        rows = np.asarray(p2s, dtype=np.int64)
        if rows.shape != (n_rows,):
            raise ValueError(f"p2s must have {n_rows} entries, got {rows.shape}")
    block = "%d %d\n" + ("%22.15f%22.15f%22.15f\n" * 3)
    j1 = np.arange(1, n + 1)
    with open(path, "w") as fh:
        fh.write(f"{n_rows:4d} {n:4d}\n")
        for r in range(n_rows):
            table = np.concatenate(
                [np.full((n, 1), rows[r] + 1.0), j1[:, None], fc2[r].reshape(n, 9)], axis=1
            )
            fh.write((block * n) % tuple(table.ravel().tolist()))


# ---------------------------------------------------------------------------- fc2.hdf5


def read_fc2_hdf5(
    path, setup: SupercellSetup, *, unit_factor: float = 1.0, origin=None
) -> NDArray[np.float64]:
    """Read a compact FC2 (n_prim, N, 3, 3) in eV/Å² from ``force_constants.hdf5``/``fc2.hdf5``.

    The files of phonopy and phono3py are read alike.  A ``physical_unit`` stored in the
    file takes precedence over ``unit_factor``.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    setup : SupercellSetup
        The supercell the force constants are mapped onto (atoms matched by position).
    unit_factor : float
        Converts the file's unit to eV/Å^n (phonopy writes the calculator's unit, e.g.
        Ry/au² for Quantum ESPRESSO).
    origin : str, optional
        The file the supercell came from, named in messages.

    Returns
    -------
    ndarray of float64, shape (n_prim, N, 3, 3)
        FC2 in eV/Å².

    Raises
    ------
    ForceConstantsFileError
        For a malformed file or one that does not fit ``setup`` (the message names it).
    """
    label = file_label(path)
    with _open_hdf5(path) as f:
        key = "fc2" if "fc2" in f else "force_constants" if "force_constants" in f else None
        if key is None:
            raise ForceConstantsFileError(
                f"{label}: no 'force_constants' or 'fc2' dataset; found datasets {sorted(f.keys())}"
            )
        ds = f[key]
        shape = ds.shape
        if len(shape) != 4 or shape[2:] != (3, 3) or shape[0] > shape[1] or shape[0] < 1:
            raise ForceConstantsFileError(
                f"{label}: dataset '{key}' has shape {shape}; expected (N, N, 3, 3) or "
                f"(n_prim, N, 3, 3)"
            )
        _check_supercell_size(path, shape[1], setup, origin)
        factor = _hdf5_unit_factor(path, f, unit_factor)
        if shape[0] == shape[1]:
            out = np.stack([ds[int(s)] for s in setup.p2s])
        else:
            row_atoms = _p2s_in_file(path, f, shape[0], setup)
            fc = ds[()]
            plan = row_plan(path, row_atoms, setup, origin)
            out = np.stack([_apply_perm(fc[r], perm, 1) for r, perm in plan])
    out = np.asarray(out, dtype=float)
    _check_finite(path, key, out)
    return np.ascontiguousarray(out * factor)


def _p2s_in_file(path, f, n_rows: int, setup: SupercellSetup) -> NDArray[np.int64]:
    if "p2s_map" not in f:
        if n_rows != setup.n_prim:
            raise ForceConstantsFileError(
                f"{file_label(path)}: compact force constants with {n_rows} rows, but the "
                f"primitive cell has {setup.n_prim} atoms"
            )
        return np.asarray(setup.p2s)  # nothing to check against
    p2s = np.asarray(f["p2s_map"][()], dtype=np.int64).reshape(-1)
    if len(p2s) != n_rows:
        raise ForceConstantsFileError(
            f"{file_label(path)}: p2s_map has {len(p2s)} entries for {n_rows} rows of force "
            f"constants"
        )
    return p2s


def write_fc2_hdf5(
    path,
    fc2,
    p2s=None,
    *,
    physical_unit: str | None = "eV/angstrom^2",
    compression: str | None = "gzip",
) -> None:
    """Write FC2 (eV/Å²) as ``fc2.hdf5``, readable by phonopy and phono3py.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    fc2 : array_like of float, shape (N, N, 3, 3) or (n_prim, N, 3, 3)
        Full or compact FC2, eV/Å² (dataset ``force_constants``).
    p2s : array_like of int, shape (n_prim,), optional
        The supercell atom (0-based) of each row of the compact form (``p2s_map``).
    physical_unit : str or None
        Written as the dataset's ``physical_unit`` attribute.
    compression : str or None
        The h5py compression of the dataset.
    """
    import h5py

    fc2 = np.ascontiguousarray(fc2, dtype=float)
    if fc2.ndim != 4 or fc2.shape[2:] != (3, 3) or fc2.shape[0] > fc2.shape[1]:
        raise ValueError(f"fc2 must have shape (N, N, 3, 3) or (n_prim, N, 3, 3), got {fc2.shape}")
    compact = fc2.shape[0] != fc2.shape[1]
    if compact and p2s is None:
        raise ValueError("compact fc2 needs p2s (the supercell atom of each row)")
    with h5py.File(path, "w") as w:
        w.create_dataset("force_constants", data=fc2, compression=compression)
        if p2s is not None:
            w.create_dataset("p2s_map", data=np.asarray(p2s, dtype=np.int64))
        if physical_unit is not None:
            dset = w.create_dataset("physical_unit", (1,), dtype=f"S{len(physical_unit)}")
            dset[0] = np.bytes_(physical_unit)


# ---------------------------------------------------------------------------- fc3.hdf5


def read_fc3_hdf5(
    path, setup: SupercellSetup, *, unit_factor: float = 1.0, origin=None, clusters: bool = False
):
    """Read phono3py's ``fc3.hdf5`` as compact FC3 on ``setup``.

    Only the rows of the primitive atoms are read from a full file.  Atom triplets
    masked out by ``fc3_nonzero_indices`` are set to zero, as phono3py ignores them.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    setup : SupercellSetup
        The supercell the force constants are mapped onto (atoms matched by position).
    unit_factor : float
        Converts the file's unit to eV/Å^n (phonopy writes the calculator's unit, e.g.
        Ry/au² for Quantum ESPRESSO).
    origin : str, optional
        The file the supercell came from, named in messages.
    clusters : bool
        Return a :class:`SparseForceConstants`, built one row at a time (the dense array
        is never in memory at once).

    Returns
    -------
    ndarray of float64, shape (n_prim, N, N, 3, 3, 3), or SparseForceConstants
        FC3 in eV/Å³.

    Raises
    ------
    ForceConstantsFileError
        For a malformed file or one that does not fit ``setup`` (the message names it).
    """
    label = file_label(path)
    with _open_hdf5(path) as f:
        if "fc3" not in f:
            raise ForceConstantsFileError(
                f"{label}: no 'fc3' dataset; found datasets {sorted(f.keys())}"
            )
        ds = f["fc3"]
        shape = ds.shape
        if (
            len(shape) != 6
            or shape[3:] != (3, 3, 3)
            or shape[1] != shape[2]
            or shape[0] > shape[1]
            or shape[0] < 1
        ):
            raise ForceConstantsFileError(
                f"{label}: dataset 'fc3' has shape {shape}; expected (N, N, N, 3, 3, 3) or "
                f"(n_prim, N, N, 3, 3, 3)"
            )
        _check_supercell_size(path, shape[1], setup, origin)
        mask = f["fc3_nonzero_indices"] if "fc3_nonzero_indices" in f else None
        if mask is not None and mask.shape != shape[:3]:
            raise ForceConstantsFileError(
                f"{label}: fc3_nonzero_indices has shape {mask.shape}, expected {shape[:3]}"
            )
        if shape[0] == shape[1]:
            plan = [(int(s), None) for s in setup.p2s]
        else:
            plan = row_plan(path, _p2s_in_file(path, f, shape[0], setup), setup, origin)

        def rows():
            for r, perm in plan:
                row = np.asarray(ds[r], dtype=float)
                if mask is not None:
                    row = row * (np.asarray(mask[r]) != 0)[:, :, None, None, None]
                yield _apply_perm(row, perm, 2)

        if clusters:
            out = SparseForceConstants.from_dense_compact(rows(), setup.p2s)
            values = out.values
        else:
            out = np.empty((len(plan),) + tuple(shape[1:]))  # filled row by row
            for i, row in enumerate(rows()):
                out[i] = row
            values = out
    _check_finite(path, "fc3", values)
    if unit_factor != 1.0:
        values *= unit_factor
    return out


def write_fc3_hdf5(path, fc3, p2s=None, *, compression: str | None = "gzip") -> None:
    """Write FC3 (eV/Å³) as phono3py's ``fc3.hdf5``.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    fc3 : array_like of float, shape (N, N, N, 3, 3, 3) or (n_prim, N, N, 3, 3, 3)
        Full or compact FC3, eV/Å³ (dataset ``fc3``).
    p2s : array_like of int, shape (n_prim,), optional
        The supercell atom (0-based) of each row of the compact form (``p2s_map``).
    compression : str or None
        The h5py compression of the dataset.
    """
    import h5py

    fc3 = np.ascontiguousarray(fc3, dtype=float)
    if (
        fc3.ndim != 6
        or fc3.shape[3:] != (3, 3, 3)
        or fc3.shape[1] != fc3.shape[2]
        or fc3.shape[0] > fc3.shape[1]
    ):
        raise ValueError(
            f"fc3 must have shape (N, N, N, 3, 3, 3) or (n_prim, N, N, 3, 3, 3), got {fc3.shape}"
        )
    compact = fc3.shape[0] != fc3.shape[1]
    if compact and p2s is None:
        raise ValueError("compact fc3 needs p2s (the supercell atom of each row)")
    with h5py.File(path, "w") as w:
        w.create_dataset("fc3", data=fc3, compression=compression)
        if p2s is not None:
            w.create_dataset("p2s_map", data=np.asarray(p2s, dtype=np.int64))


def hdf5_force_constant_order(path) -> tuple[int, int] | None:
    """(order, N) of a phonopy/phono3py HDF5 force-constant file, None if it has none."""
    with _open_hdf5(path) as f:
        if "fc3" in f:
            return 3, int(f["fc3"].shape[1]) if f["fc3"].ndim > 1 else 0
        for key in ("fc2", "force_constants"):
            if key in f:
                return 2, int(f[key].shape[1]) if f[key].ndim > 1 else 0
    return None

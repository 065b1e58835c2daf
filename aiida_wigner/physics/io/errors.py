"""The error raised by every reader and writer of :mod:`aiida_wigner.physics.io`."""

from __future__ import annotations

import os

import numpy as np


class ForceConstantsFileError(ValueError):
    """A structure or force-constant file is malformed, of unknown format or mismatched.

    Mismatched: it does not fit the cells it is used with.  The message always starts with
    the name of the offending file and says what was expected and what was found.
    """


def file_label(path) -> str:
    """Return the file name used in messages (the path as the caller gave it)."""
    if path is None:
        return "<input>"
    try:
        return os.fspath(path)
    except TypeError:
        return type(path).__name__


def describe_setup(setup, origin=None) -> str:
    """Describe a supercell setup in words for mismatch messages.

    E.g. ``'the supercell of POSCAR (supercell 2x2x2 of 4 atoms)'``.
    """
    smat = np.asarray(setup.supercell_matrix)
    if np.count_nonzero(smat - np.diag(np.diagonal(smat))) == 0:
        dims = "x".join(str(int(d)) for d in np.diagonal(smat))
    else:
        dims = str(smat.tolist())
    n_unit = len(setup.unitcell)
    text = f"supercell {dims} of {n_unit} atom{'s' if n_unit != 1 else ''}"
    if setup.n_prim != n_unit:
        text += f", primitive cell of {setup.n_prim} atom{'s' if setup.n_prim != 1 else ''}"
    where = f"the supercell of {file_label(origin)}" if origin is not None else "the supercell"
    return f"{where} ({text})"


def describe_cell(kind: str, n_atoms: int, origin=None) -> str:
    """Words for the unit or primitive cell, e.g. ``'the unit cell of POSCAR (4 atoms)'``."""
    where = f" of {file_label(origin)}" if origin is not None else ""
    return f"the {kind} cell{where} ({n_atoms} atom{'s' if n_atoms != 1 else ''})"

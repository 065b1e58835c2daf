"""hiphive force constants: a ForceConstantPotential (``.fcp``) or ForceConstants (``.fcs``).

A force-constant potential is evaluated on the supercell of the setup
(``fcp.get_force_constants(atoms)``); the resulting per-cluster tensors (eV/Å^n, Cartesian
indices in the order of the cluster's atoms) are expanded to every ordering of the
cluster's atoms whose first atom is a primitive atom (``setup.p2s``), which is the
compact form of the dense array hiphive's ``get_fc_array`` would build.  FC2 and FC3
become dense compact arrays, FC4 a :class:`SparseForceConstants` (no N^4 array is built).

hiphive files are Python pickles inside a tar archive: read only files you trust.
"""

from __future__ import annotations

import itertools
import os
import tarfile

import numpy as np
from numpy.typing import NDArray

from ..cell import SupercellSetup
from ..forceconstants import SparseForceConstants
from .errors import ForceConstantsFileError, describe_setup, file_label
from .folding import POSITION_TOLERANCE, locate_atoms


def hiphive_file_kind(path) -> str | None:
    """'fcp' for a ForceConstantPotential file, 'fcs' for a ForceConstants file, else None."""
    try:
        if not tarfile.is_tarfile(path):
            return None
        with tarfile.open(path) as tar:
            names = set(tar.getnames())
    except (OSError, tarfile.TarError):
        return None
    if "_prim" in names or "orbits" in names or any(n.startswith("orbits") for n in names):
        return "fcp"
    if "fc_dict" in names or "supercell" in names:
        return "fcs"
    return None


def load_hiphive(source):
    """Load a hiphive ForceConstantPotential or ForceConstants from a path (or the object)."""
    if not isinstance(source, (str, os.PathLike)):
        return source
    label = file_label(source)
    if not os.path.isfile(source):
        raise ForceConstantsFileError(f"{label}: no such file")
    kind = hiphive_file_kind(source)
    if kind is None:
        raise ForceConstantsFileError(
            f"{label}: not a hiphive ForceConstantPotential (.fcp) "
            f"or ForceConstants (.fcs) file (a tar archive written "
            f"by hiphive)"
        )
    try:
        if kind == "fcp":
            from hiphive import ForceConstantPotential

            return ForceConstantPotential.read(os.fspath(source))
        from hiphive import ForceConstants

        return ForceConstants.read(os.fspath(source))
    except ImportError as exc:  # pragma: no cover
        raise ForceConstantsFileError(
            f"{label}: reading hiphive files needs hiphive (pip install hiphive)"
        ) from exc
    except Exception as exc:
        raise ForceConstantsFileError(
            f"{label}: cannot read the hiphive {kind} file: {type(exc).__name__}: {exc}"
        ) from exc


def hiphive_orders(obj) -> list[int]:
    """Orders present in a ForceConstantPotential or ForceConstants."""
    if hasattr(obj, "orbits"):
        return sorted({int(orb.order) for orb in obj.orbits})
    return sorted(int(n) for n in obj.orders)


def _check_primitive(fcp, setup: SupercellSetup, label: str, origin) -> None:
    """Check that the potential's primitive structure has our composition and density."""
    prim = fcp.primitive_structure
    ours = setup.primitive
    vol_per_atom = abs(np.linalg.det(prim.cell.array)) / len(prim)
    ours_per_atom = ours.volume / len(ours)
    comp = np.bincount(prim.numbers, minlength=119) / len(prim)
    ours_comp = np.bincount(ours.numbers, minlength=119) / len(ours)
    if not np.allclose(comp, ours_comp) or abs(vol_per_atom / ours_per_atom - 1) > 1e-3:
        formula = prim.get_chemical_formula()
        raise ForceConstantsFileError(
            f"{label}: the potential was built for {formula} with {vol_per_atom:.4f} Å^3/atom"
            f", but {describe_setup(setup, origin)} holds {ours.to_ase().get_chemical_formula()}"
            f" with {ours_per_atom:.4f} Å^3/atom"
        )


def read_hiphive(source, setup: SupercellSetup, *, orders=None, origin=None) -> dict:
    """Evaluate a hiphive potential (or read ForceConstants) on the setup's supercell.

    Parameters
    ----------
    source : str, os.PathLike or hiphive object
        Path of a ``.fcp`` / ``.fcs`` file, or a hiphive ForceConstantPotential or
        ForceConstants object (a ForceConstants must belong to the same supercell, in any
        atom order).
    setup : SupercellSetup
        The supercell to evaluate on.
    orders : sequence of int, optional
        Orders to return (default: those present, up to 4).
    origin : str, optional
        The file the supercell came from, named in messages.

    Returns
    -------
    dict
        ``{2: (n_prim, N, 3, 3), 3: (n_prim, N, N, 3, 3, 3), 4: SparseForceConstants}``
        with the orders present, eV/Å^n, supercell atoms in phonopy's order.

    Raises
    ------
    ForceConstantsFileError
        For a missing order or a potential that does not fit ``setup``.
    """
    label = (
        file_label(source)
        if isinstance(source, (str, os.PathLike))
        else f"<hiphive {type(source).__name__}>"
    )
    obj = load_hiphive(source)
    present = hiphive_orders(obj)
    wanted = [n for n in present if n <= 4] if orders is None else list(orders)
    missing = [n for n in wanted if n not in present]
    if missing:
        raise ForceConstantsFileError(
            f"{label}: no force constants of order {missing}; the file has orders {present}"
        )
    sc = setup.supercell
    if hasattr(obj, "get_force_constants"):
        _check_primitive(obj, setup, label, origin)
        try:
            fcs = obj.get_force_constants(sc.to_ase())
        except Exception as exc:
            raise ForceConstantsFileError(
                f"{label}: the potential cannot be evaluated on {describe_setup(setup, origin)}"
                f": {type(exc).__name__}: {exc}"
            ) from exc
    else:
        fcs = obj
    order_map = _atom_order(fcs.supercell, setup, label, origin)
    sorted_clusters = type(fcs).__name__ == "SortedForceConstants"
    out = {}
    for n in wanted:
        clusters, tensors = _clusters_of_order(fcs, n)
        clusters = order_map[clusters] if len(clusters) else clusters
        atoms, values = _expand_to_compact(clusters, tensors, setup, sorted_clusters)
        if n == 4:
            out[4] = SparseForceConstants(4, atoms, values)
        else:
            dense = np.zeros((setup.n_prim,) + (setup.n_super,) * (n - 1) + (3,) * n)
            first = np.searchsorted(np.sort(setup.p2s), atoms[:, 0])
            first = np.argsort(setup.p2s)[first]
            dense[(first,) + tuple(atoms[:, k] for k in range(1, n))] = values
            out[n] = dense
    return out


def _atom_order(atoms, setup: SupercellSetup, label: str, origin) -> NDArray[np.int64]:
    """Index in our supercell of each atom of hiphive's supercell, matched by position."""
    sc = setup.supercell
    if len(atoms) != setup.n_super:
        raise ForceConstantsFileError(
            f"{label}: force constants for {len(atoms)} supercell atoms, but "
            f"{describe_setup(setup, origin)} has {setup.n_super}"
        )
    if not np.allclose(atoms.cell.array, sc.lattice, atol=1e-4):
        raise ForceConstantsFileError(
            f"{label}: supercell lattice {np.round(atoms.cell.array, 5).tolist()} Å differs "
            f"from that of {describe_setup(setup, origin)}, {np.round(sc.lattice, 5).tolist()}"
        )
    idx, _, dev = locate_atoms(atoms.positions, sc.lattice, sc.positions)
    if (
        np.any(dev > POSITION_TOLERANCE)
        or len(np.unique(idx)) != len(idx)
        or not np.array_equal(sc.numbers[idx], atoms.numbers)
    ):
        raise ForceConstantsFileError(
            f"{label}: the atoms of the force constants' supercell do not coincide with those "
            f"of {describe_setup(setup, origin)}"
        )
    return idx


def _clusters_of_order(fcs, n: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    fc_dict = fcs.get_fc_dict(n) if n in fcs.orders else {}
    if not fc_dict:
        return np.zeros((0, n), dtype=np.int64), np.zeros((0,) + (3,) * n)
    clusters = np.array(list(fc_dict.keys()), dtype=np.int64).reshape(-1, n)
    tensors = np.array(list(fc_dict.values()), dtype=float).reshape((-1,) + (3,) * n)
    return clusters, tensors


def _expand_to_compact(clusters, tensors, setup: SupercellSetup, sorted_clusters: bool):
    """Every ordering of each cluster whose first atom is in p2s, with its tensor.

    For a sorted cluster c with tensor T, the ordering d = c[perm] carries
    T.transpose(perm).  Duplicate orderings (clusters with repeated atoms) are kept once.
    """
    n = clusters.shape[1]
    p2s = np.asarray(setup.p2s)
    is_p = np.isin(clusters, p2s)
    keep = is_p.any(axis=1)
    clusters, tensors, is_p = clusters[keep], tensors[keep], is_p[keep]
    perms = list(itertools.permutations(range(n))) if sorted_clusters else [tuple(range(n))]
    atoms, values = [], []
    for perm in perms:
        sel = is_p[:, perm[0]]
        if not np.any(sel):
            continue
        atoms.append(clusters[sel][:, perm])
        values.append(tensors[sel].transpose((0,) + tuple(1 + np.array(perm))))
    if not atoms:
        return np.zeros((0, n), dtype=np.int64), np.zeros((0,) + (3,) * n)
    atoms = np.concatenate(atoms)
    values = np.concatenate(values)
    _, first = np.unique(atoms, axis=0, return_index=True)
    first.sort()
    return atoms[first], values[first]

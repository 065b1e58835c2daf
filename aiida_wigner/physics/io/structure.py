"""Crystal structures from files: VASP POSCAR/CONTCAR, CIF, phonopy / phono3py yaml.

Every reader returns a :class:`~aiida_wigner.physics.cell.Cell` in Å with masses in amu
(phonopy's natural-abundance table unless the file gives masses, as phonopy yaml files
do).  Atom order is the file's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..cell import Cell, CellError
from .errors import ForceConstantsFileError, file_label

YAML_SUFFIXES = (".yaml", ".yml", ".yaml.gz", ".yaml.xz", ".yaml.bz2", ".yaml.lzma")


@dataclass(frozen=True)
class PhonopyYamlInfo:
    """What a phonopy / phono3py yaml file says about the cells.

    ``supercell_matrix`` may be None (a yaml with a unit cell only);
    ``phonon_supercell_matrix`` is phono3py's separate FC2 supercell (None if absent).
    ``distance_to_angstrom`` and ``force_to_ev_per_angstrom`` are the calculator's units
    (phonopy writes force constants in them): the factor to eV/Å^n for order n is
    ``force_to_ev_per_angstrom / distance_to_angstrom**(n - 1)``.
    """

    path: str
    command: str
    unitcell: Cell
    supercell_matrix: NDArray[np.int64] | None
    primitive_matrix: NDArray[np.float64]
    phonon_supercell_matrix: NDArray[np.int64] | None
    calculator: str | None
    distance_to_angstrom: float
    force_to_ev_per_angstrom: float

    def fc_unit_factor(self, order: int) -> float:
        """Factor from the calculator's force-constant unit of ``order`` to eV/Å^order."""
        return self.force_to_ev_per_angstrom / self.distance_to_angstrom ** (order - 1)


def is_yaml_name(path) -> bool:
    """Tell whether ``path`` has a yaml suffix (phonopy/phono3py files)."""
    return os.fspath(path).lower().endswith(YAML_SUFFIXES)


def read_structure(path) -> Cell:
    """Read the crystal structure in ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        POSCAR/CONTCAR (``*.vasp``, ``*POSCAR*``, ``*CONTCAR*``), CIF (``*.cif``, needs
        ase), phonopy/phono3py yaml (its unit cell), or any other format ase can read
        (checked by :func:`read_atoms`: ordered sites only).

    Returns
    -------
    Cell
        Lattice in Å, fractional positions, atomic numbers and masses (amu).

    Raises
    ------
    ForceConstantsFileError
        For an unreadable or unphysical file (the message names it).
    """
    label = file_label(path)
    if not os.path.isfile(path):
        raise ForceConstantsFileError(f"{label}: no such file")
    name = os.path.basename(os.fspath(path)).lower()
    if is_yaml_name(path):
        return read_phonopy_yaml_info(path).unitcell
    if "poscar" in name or "contcar" in name or name.endswith((".vasp", ".poscar")):
        return _read_vasp(path)
    return _read_with_ase(path, "cif" if name.endswith(".cif") else None)


def _as_cell(path, lattice, positions, numbers, masses=None) -> Cell:
    try:
        return Cell(lattice, positions, numbers, masses)
    except CellError as exc:
        raise ForceConstantsFileError(f"{file_label(path)}: {exc}") from exc


def _read_vasp(path) -> Cell:
    from phonopy.interface.vasp import read_vasp

    label = file_label(path)
    try:
        atoms = read_vasp(os.fspath(path))
    except Exception as exc:  # phonopy raises assorted errors on malformed files
        raise ForceConstantsFileError(
            f"{label}: cannot read as a VASP POSCAR (lattice, element symbols, counts, "
            f"positions expected): {type(exc).__name__}: {exc}"
        ) from exc
    if len(atoms) == 0:
        raise ForceConstantsFileError(f"{label}: POSCAR without atoms")
    with open(path) as fh:
        lines = [fh.readline().split() for _ in range(6)]
    named = set(lines[0]) | set(lines[5])
    if not set(atoms.symbols) <= named:
        # phonopy numbers the species H, He, ... when it finds no valid element symbols
        raise ForceConstantsFileError(
            f"{label}: no valid element symbols for the {len(set(atoms.symbols))} species (line "
            f"6 reads {' '.join(lines[5])!r}): write them, e.g. 'Cu Au', on the line before the "
            f"atom counts"
        )
    _check_distances(path, atoms.cell, atoms.scaled_positions, atoms.symbols)
    return _as_cell(path, atoms.cell, atoms.scaled_positions, atoms.numbers)


def _read_with_ase(path, fmt: str | None) -> Cell:
    atoms = read_atoms(path, fmt)
    return _as_cell(path, atoms.cell.array, atoms.get_scaled_positions(wrap=False), atoms.numbers)


#: a site counts as fully occupied by one species when its occupancy is within this of 1
OCCUPANCY_TOLERANCE = 0.01
#: atoms closer than this (Å, periodic images included) mean a broken structure file
MIN_DISTANCE = 0.5


def read_atoms(path, fmt: str | None = None):
    """Read the crystal in ``path`` as ``ase.Atoms`` and check it is an ordered periodic crystal.

    ase reads it, with the format from the name unless ``fmt`` is given.

    Refused with a :class:`ForceConstantsFileError` naming the file: unreadable files,
    unknown elements, no atoms or no 3D periodic cell, a CIF site that is partially occupied
    or shared by several species (the message names the site; force constants need one
    species per site, so the disorder must be resolved into an ordered cell first), and
    atoms closer than :data:`MIN_DISTANCE` Å.
    """
    label = file_label(path)
    if not os.path.isfile(path):
        raise ForceConstantsFileError(f"{label}: no such file")
    try:
        import ase.io
    except ImportError as exc:  # pragma: no cover - ase is a test / hiphive dependency
        raise ForceConstantsFileError(
            f"{label}: reading this format needs ase (pip install ase)"
        ) from exc
    try:
        atoms = ase.io.read(os.fspath(path), format=fmt, index=0)
    except Exception as exc:  # ase raises many error types for unknown/malformed files
        what = "CIF" if fmt == "cif" else "structure (format guessed by ase from the name)"
        reason = (
            f"unknown element symbol {exc}"
            if isinstance(exc, KeyError)
            else f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        )
        raise ForceConstantsFileError(f"{label}: cannot read as a {what}: {reason}") from exc
    if len(atoms) == 0 or not all(atoms.pbc) or atoms.cell.rank != 3:
        raise ForceConstantsFileError(
            f"{label}: not a periodic crystal structure with atoms "
            f"(found {len(atoms)} atoms, pbc={atoms.pbc.tolist()})"
        )
    if np.any(atoms.numbers <= 0):
        raise ForceConstantsFileError(
            f"{label}: atoms without an element (symbol 'X'): give every atom its element"
        )
    _check_occupancies(path, atoms.info.get("occupancy"))
    _check_distances(
        path, atoms.cell.array, atoms.get_scaled_positions(), atoms.get_chemical_symbols()
    )
    return atoms


def _check_occupancies(path, occupancy) -> None:
    """Refuse partially occupied and mixed sites.

    ``occupancy`` is ase's ``info['occupancy']``: CIF site index -> {symbol: occupancy},
    sites at one position merged.
    """
    for site, species in (occupancy or {}).items():
        shares = {sym: float(occ) for sym, occ in species.items()}
        if len(shares) == 1 and abs(sum(shares.values()) - 1) <= OCCUPANCY_TOLERANCE:
            continue
        what = " + ".join(f"{sym} {occ:g}" for sym, occ in shares.items())
        kind = "shared by several species" if len(shares) > 1 else "partially occupied"
        raise ForceConstantsFileError(
            f"{file_label(path)}: site {_site_name(path, site)} is {kind} ({what}); force "
            f"constants need one species per site with occupancy 1: give an ordered cell "
            f"(e.g. an ordered supercell of the alloy or the vacancy arrangement)"
        )


def _site_name(path, site) -> str:
    """``'Cu1' (0, 0.5, 0.5)`` for the ``site``-th atom-site row of the CIF, else ``#site``."""
    try:
        from ase.io.cif import parse_cif

        for block in parse_cif(os.fspath(path)):
            labels = block.get("_atom_site_label")
            if labels is None or int(site) >= len(labels):
                continue
            i = int(site)
            xyz = [block.get(f"_atom_site_fract_{c}") for c in "xyz"]
            where = "" if None in xyz else " at (" + ", ".join(f"{v[i]:g}" for v in xyz) + ")"
            return f"{labels[i]!r}{where}"
    except Exception:  # the label is a courtesy: never mask the real error
        pass
    return f"#{site}"


def _check_distances(path, lattice, positions, symbols) -> None:
    """Refuse two atoms (or an atom and an image of another) closer than :data:`MIN_DISTANCE`.

    ``positions`` fractional, ``lattice`` rows in Å.
    """
    frac = np.asarray(positions, dtype=float)
    if len(frac) < 2:
        return
    diff = frac[:, None, :] - frac[None, :, :]
    diff -= np.rint(diff)
    shifts = np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1])).reshape(3, -1).T
    dist = np.linalg.norm((diff[:, :, None, :] + shifts) @ np.asarray(lattice), axis=-1).min(-1)
    np.fill_diagonal(dist, np.inf)
    i, j = np.unravel_index(np.argmin(dist), dist.shape)
    if dist[i, j] < MIN_DISTANCE:
        raise ForceConstantsFileError(
            f"{file_label(path)}: atoms {i} ({symbols[i]}) and {j} ({symbols[j]}) are "
            f"{dist[i, j]:.3f} Å apart (below {MIN_DISTANCE} Å): duplicated or misplaced atoms; "
            f"fix the structure file"
        )


def read_phonopy_yaml(path) -> tuple[Cell, NDArray[np.int64] | None, NDArray[np.float64]]:
    """Read ``(unitcell, supercell_matrix, primitive_matrix)`` from a phonopy/phono3py yaml.

    phonopy_disp.yaml, phonopy.yaml, phono3py_disp.yaml or phono3py_params.yaml.

    Lengths in Å (converted from the calculator's unit), masses as written in the file.
    A missing primitive matrix means the identity (the unit cell is primitive).

    Parameters
    ----------
    path : str or os.PathLike
        The yaml file.

    Returns
    -------
    unitcell : Cell
        The unit cell.
    supercell_matrix : ndarray of int64, shape (3, 3), or None
        None for a yaml with a unit cell only.
    primitive_matrix : ndarray of float64, shape (3, 3)
        Phonopy's convention.
    """
    info = read_phonopy_yaml_info(path)
    return info.unitcell, info.supercell_matrix, info.primitive_matrix


def read_phonopy_yaml_info(path) -> PhonopyYamlInfo:
    """Read the cells, transformation matrices and calculator units of a phonopy/phono3py yaml.

    Parameters
    ----------
    path : str or os.PathLike
        The yaml file.

    Returns
    -------
    PhonopyYamlInfo
        What the file says about the cells and units.

    Raises
    ------
    ForceConstantsFileError
        For a missing or unreadable file, or one without a unit cell.
    """
    from phonopy.interface.phonopy_yaml import load_yaml
    from phonopy.structure.atoms import parse_cell_dict

    label = file_label(path)
    if not os.path.isfile(path):
        raise ForceConstantsFileError(f"{label}: no such file")
    try:
        data = load_yaml(os.fspath(path))
    except Exception as exc:  # yaml.YAMLError, decompression errors, ...
        raise ForceConstantsFileError(
            f"{label}: not a readable yaml file: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(data, dict):
        raise ForceConstantsFileError(
            f"{label}: not a phonopy/phono3py yaml file (no mapping at the top level)"
        )
    command = "phono3py" if "phono3py" in data else "phonopy"
    header = data.get(command) if isinstance(data.get(command), dict) else {}
    calculator = header.get("calculator")

    cell_dict = data.get("unit_cell")
    if cell_dict is None and "lattice" in data and "points" in data:
        cell_dict = data
    if not isinstance(cell_dict, dict):
        raise ForceConstantsFileError(
            f"{label}: no 'unit_cell' in the yaml (keys found: {sorted(map(str, data))[:12]})"
        )
    if any(
        "mixture" in p or "weight" in p for p in cell_dict.get("points", []) if isinstance(p, dict)
    ):
        raise ForceConstantsFileError(
            f"{label}: site mixtures (virtual-crystal cells) are not supported"
        )
    try:
        atoms = parse_cell_dict(cell_dict)
    except Exception as exc:
        raise ForceConstantsFileError(
            f"{label}: malformed 'unit_cell': {type(exc).__name__}: {exc}"
        ) from exc
    if atoms is None:
        raise ForceConstantsFileError(
            f"{label}: 'unit_cell' needs 'lattice' and 'points' with symbols and coordinates"
        )

    distance, force = _calculator_units(path, calculator, data.get("physical_unit"))
    unitcell = _as_cell(
        path, np.asarray(atoms.cell) * distance, atoms.scaled_positions, atoms.numbers, atoms.masses
    )

    smat = _int_matrix(path, data.get("supercell_matrix"), "supercell_matrix")
    phonon_smat = _int_matrix(path, data.get("phonon_supercell_matrix"), "phonon_supercell_matrix")
    pmat = resolve_primitive_matrix(data.get("primitive_matrix"), unitcell, path)
    return PhonopyYamlInfo(
        path=label,
        command=command,
        unitcell=unitcell,
        supercell_matrix=smat,
        primitive_matrix=pmat,
        phonon_supercell_matrix=phonon_smat,
        calculator=calculator,
        distance_to_angstrom=distance,
        force_to_ev_per_angstrom=force,
    )


def _calculator_units(path, calculator, physical_unit) -> tuple[float, float]:
    from phonopy.physical_units import get_calculator_physical_units, get_physical_units

    try:
        units = get_calculator_physical_units(calculator)
    except Exception as exc:
        raise ForceConstantsFileError(
            f"{file_label(path)}: unknown calculator {calculator!r}"
        ) from exc
    distance, force = units.distance_to_A, units.force_to_eVperA
    if calculator is None and isinstance(physical_unit, dict):
        # no calculator named but a length unit written: honour it
        length = str(physical_unit.get("length", "angstrom")).lower()
        if length in ("au", "bohr"):
            distance = get_physical_units().Bohr
        elif length not in ("angstrom", "a"):
            raise ForceConstantsFileError(
                f"{file_label(path)}: unknown length unit {length!r} in physical_unit"
            )
    return float(distance), float(force)


def _int_matrix(path, value, name) -> NDArray[np.int64] | None:
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.size == 3:
        arr = np.diag(arr.reshape(3))
    elif arr.size == 9:
        arr = arr.reshape(3, 3)
    else:
        raise ForceConstantsFileError(
            f"{file_label(path)}: {name} must be 3 integers or a 3x3 matrix, found {value!r}"
        )
    if not np.allclose(arr, np.rint(arr)) or round(abs(np.linalg.det(arr))) < 1:
        raise ForceConstantsFileError(
            f"{file_label(path)}: {name} must be an integer matrix "
            f"with non-zero determinant, found {arr.tolist()}"
        )
    return np.rint(arr).astype(np.int64)


def resolve_primitive_matrix(value, unitcell: Cell, path=None) -> NDArray[np.float64]:
    """Return the 3x3 primitive matrix that ``value`` stands for.

    Parameters
    ----------
    value : None, str or array_like of float
        None (identity), ``'auto'`` (found by symmetry), a centring letter ('P', 'F', 'I',
        'A', 'C', 'R'), 9 numbers or a 3x3 matrix.
    unitcell : Cell
        The unit cell the matrix applies to.
    path : str or os.PathLike, optional
        The file ``value`` came from, named in messages.

    Returns
    -------
    ndarray of float64, shape (3, 3)
        The primitive matrix P (primitive lattice = Pᵀ @ unit lattice).
    """
    from phonopy.structure.cells import get_primitive_matrix_with_auto

    if value is None:
        return np.eye(3)
    try:
        if isinstance(value, str):
            key = value.strip()
            key = "auto" if key.lower() == "auto" else key.upper()
            pmat = get_primitive_matrix_with_auto(unitcell.to_phonopy(), key)
        else:
            pmat = np.asarray(value, dtype=float)
            if pmat.size != 9:
                raise ValueError(f"need 9 numbers, found {pmat.size}")
            pmat = pmat.reshape(3, 3)
    except Exception as exc:
        raise ForceConstantsFileError(
            f"{file_label(path)}: invalid primitive matrix {value!r}: expected None, 'auto', "
            f"a centring letter or a 3x3 matrix ({exc})"
        ) from exc
    det = np.linalg.det(pmat)
    if det <= 1e-8 or det > 1 + 1e-8:
        raise ForceConstantsFileError(
            f"{file_label(path)}: primitive matrix {np.asarray(pmat).tolist()} has determinant "
            f"{det:.4g}; it must lie in (0, 1]"
        )
    return np.asarray(pmat, dtype=float)

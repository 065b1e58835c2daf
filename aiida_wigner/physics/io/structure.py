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
    return os.fspath(path).lower().endswith(YAML_SUFFIXES)


def read_structure(path) -> Cell:
    """The crystal structure in ``path``: POSCAR/CONTCAR (``*.vasp``, ``*POSCAR*``,
    ``*CONTCAR*``), CIF (``*.cif``, needs ase), phonopy/phono3py yaml (its unit cell), or
    any other format ase can read."""
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
            f"positions expected): {type(exc).__name__}: {exc}") from exc
    if len(atoms) == 0:
        raise ForceConstantsFileError(f"{label}: POSCAR without atoms")
    return _as_cell(path, atoms.cell, atoms.scaled_positions, atoms.numbers)


def _read_with_ase(path, fmt: str | None) -> Cell:
    label = file_label(path)
    try:
        import ase.io
    except ImportError as exc:  # pragma: no cover - ase is a test / hiphive dependency
        raise ForceConstantsFileError(
            f"{label}: reading this format needs ase (pip install ase)") from exc
    try:
        atoms = ase.io.read(os.fspath(path), format=fmt, index=0)
    except Exception as exc:  # ase raises many error types for unknown/malformed files
        what = "CIF" if fmt == "cif" else "structure (format guessed by ase from the name)"
        raise ForceConstantsFileError(f"{label}: cannot read as a {what}: "
                                      f"{type(exc).__name__}: {exc}") from exc
    if len(atoms) == 0 or not all(atoms.pbc) or atoms.cell.rank != 3:
        raise ForceConstantsFileError(f"{label}: not a periodic crystal structure with atoms "
                                      f"(found {len(atoms)} atoms, pbc={atoms.pbc.tolist()})")
    return _as_cell(path, atoms.cell.array, atoms.get_scaled_positions(wrap=False),
                    atoms.numbers)


def read_phonopy_yaml(path) -> tuple[Cell, NDArray[np.int64] | None, NDArray[np.float64]]:
    """``(unitcell, supercell_matrix, primitive_matrix)`` from phonopy_disp.yaml,
    phonopy.yaml, phono3py_disp.yaml or phono3py_params.yaml.

    Lengths in Å (converted from the calculator's unit), masses as written in the file.
    A missing primitive matrix means the identity (the unit cell is primitive).
    """
    info = read_phonopy_yaml_info(path)
    return info.unitcell, info.supercell_matrix, info.primitive_matrix


def read_phonopy_yaml_info(path) -> PhonopyYamlInfo:
    """Cells, transformation matrices and calculator units of a phonopy/phono3py yaml."""
    from phonopy.interface.phonopy_yaml import load_yaml
    from phonopy.structure.atoms import parse_cell_dict

    label = file_label(path)
    if not os.path.isfile(path):
        raise ForceConstantsFileError(f"{label}: no such file")
    try:
        data = load_yaml(os.fspath(path))
    except Exception as exc:  # yaml.YAMLError, decompression errors, ...
        raise ForceConstantsFileError(f"{label}: not a readable yaml file: "
                                      f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(data, dict):
        raise ForceConstantsFileError(f"{label}: not a phonopy/phono3py yaml file (no "
                                      f"mapping at the top level)")
    command = "phono3py" if "phono3py" in data else "phonopy"
    header = data.get(command) if isinstance(data.get(command), dict) else {}
    calculator = header.get("calculator")

    cell_dict = data.get("unit_cell")
    if cell_dict is None and "lattice" in data and "points" in data:
        cell_dict = data
    if not isinstance(cell_dict, dict):
        raise ForceConstantsFileError(f"{label}: no 'unit_cell' in the yaml (keys found: "
                                      f"{sorted(map(str, data))[:12]})")
    if any("mixture" in p or "weight" in p for p in cell_dict.get("points", [])
           if isinstance(p, dict)):
        raise ForceConstantsFileError(f"{label}: site mixtures (virtual-crystal cells) are "
                                      f"not supported")
    try:
        atoms = parse_cell_dict(cell_dict)
    except Exception as exc:
        raise ForceConstantsFileError(f"{label}: malformed 'unit_cell': "
                                      f"{type(exc).__name__}: {exc}") from exc
    if atoms is None:
        raise ForceConstantsFileError(f"{label}: 'unit_cell' needs 'lattice' and 'points' "
                                      f"with symbols and coordinates")

    distance, force = _calculator_units(path, calculator, data.get("physical_unit"))
    unitcell = _as_cell(path, np.asarray(atoms.cell) * distance, atoms.scaled_positions,
                        atoms.numbers, atoms.masses)

    smat = _int_matrix(path, data.get("supercell_matrix"), "supercell_matrix")
    phonon_smat = _int_matrix(path, data.get("phonon_supercell_matrix"),
                              "phonon_supercell_matrix")
    pmat = resolve_primitive_matrix(data.get("primitive_matrix"), unitcell, path)
    return PhonopyYamlInfo(path=label, command=command, unitcell=unitcell,
                           supercell_matrix=smat, primitive_matrix=pmat,
                           phonon_supercell_matrix=phonon_smat, calculator=calculator,
                           distance_to_angstrom=distance, force_to_ev_per_angstrom=force)


def _calculator_units(path, calculator, physical_unit) -> tuple[float, float]:
    from phonopy.physical_units import get_calculator_physical_units, get_physical_units

    try:
        units = get_calculator_physical_units(calculator)
    except Exception as exc:
        raise ForceConstantsFileError(f"{file_label(path)}: unknown calculator "
                                      f"{calculator!r}") from exc
    distance, force = units.distance_to_A, units.force_to_eVperA
    if calculator is None and isinstance(physical_unit, dict):
        # no calculator named but a length unit written: honour it
        length = str(physical_unit.get("length", "angstrom")).lower()
        if length in ("au", "bohr"):
            distance = get_physical_units().Bohr
        elif length not in ("angstrom", "a"):
            raise ForceConstantsFileError(f"{file_label(path)}: unknown length unit "
                                          f"{length!r} in physical_unit")
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
        raise ForceConstantsFileError(f"{file_label(path)}: {name} must be 3 integers or a 3x3 "
                                      f"matrix, found {value!r}")
    if not np.allclose(arr, np.rint(arr)) or round(abs(np.linalg.det(arr))) < 1:
        raise ForceConstantsFileError(f"{file_label(path)}: {name} must be an integer matrix "
                                      f"with non-zero determinant, found {arr.tolist()}")
    return np.rint(arr).astype(np.int64)


def resolve_primitive_matrix(value, unitcell: Cell, path=None) -> NDArray[np.float64]:
    """A 3x3 primitive matrix from None (identity), ``'auto'`` (found by symmetry), a
    centring letter ('P', 'F', 'I', 'A', 'C', 'R'), 9 numbers or a 3x3 matrix."""
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
            f"a centring letter or a 3x3 matrix ({exc})") from exc
    det = np.linalg.det(pmat)
    if det <= 1e-8 or det > 1 + 1e-8:
        raise ForceConstantsFileError(
            f"{file_label(path)}: primitive matrix {np.asarray(pmat).tolist()} has determinant "
            f"{det:.4g}; it must lie in (0, 1]")
    return np.asarray(pmat, dtype=float)

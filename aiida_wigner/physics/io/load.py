"""One entry point for users' force constants: cells + files -> :class:`ForceConstants`.

Formats are recognised by content (the file name is only used in messages):

=================  =====  ===============================================
format             order  recognised by
=================  =====  ===============================================
``phonopy-text``   2      first line ``n_rows N`` (phonopy FORCE_CONSTANTS)
``phonopy-hdf5``   2      HDF5 with ``force_constants`` or ``fc2``
``phono3py-hdf5``  3      HDF5 with ``fc3``
``shengbte``       3      FORCE_CONSTANTS_3RD block layout
``fourphonon``     4      FORCE_CONSTANTS_4TH block layout
``hiphive-fcp``    2-4+   tar archive of a hiphive ForceConstantPotential
``hiphive-fcs``    2-4+   tar archive of hiphive ForceConstants
``alamode-*``      2-4    ALAMODE FCSXML (``<?xml`` + ``<Data>``) or alm ``.fcs``,
                          given as ``fcp`` (:mod:`.alamode`)
=================  =====  ===============================================
"""

from __future__ import annotations

import os

import numpy as np

from ..cell import Cell, CellError, SupercellSetup
from ..forceconstants import ForceConstants, ForceConstantsError
from .alamode import alamode_file_kind, load_alamode
from .errors import ForceConstantsFileError, describe_setup, file_label
from .hiphive_format import hiphive_file_kind, hiphive_orders, load_hiphive, read_hiphive
from .phonopy_format import (
    HDF5_SIGNATURE,
    hdf5_force_constant_order,
    read_fc2_hdf5,
    read_fc3_hdf5,
    read_force_constants_text,
)
from .shengbte import read_fourphonon_fc4, read_shengbte_fc3, sniff_shengbte_order
from .structure import (
    PhonopyYamlInfo,
    read_phonopy_yaml_info,
    read_structure,
    resolve_primitive_matrix,
)

FORMAT_ORDERS = {
    "phonopy-text": (2,),
    "phonopy-hdf5": (2,),
    "phono3py-hdf5": (3,),
    "shengbte": (3,),
    "fourphonon": (4,),
    "hiphive-fcp": (2, 3, 4),
    "hiphive-fcs": (2, 3, 4),
}

_DESCRIPTIONS = {
    "phonopy-text": "a phonopy FORCE_CONSTANTS file (second order)",
    "phonopy-hdf5": "a phonopy/phono3py fc2.hdf5 file (second order)",
    "phono3py-hdf5": "a phono3py fc3.hdf5 file (third order)",
    "shengbte": "a ShengBTE FORCE_CONSTANTS_3RD file (third order)",
    "fourphonon": "a FourPhonon FORCE_CONSTANTS_4TH file (fourth order)",
    "hiphive-fcp": "a hiphive force-constant potential",
    "hiphive-fcs": "a hiphive ForceConstants file",
}


def detect_format(path) -> str:
    """Detect the format of a force-constant file from its content.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    str
        One of the format names of the module table.

    Raises
    ------
    ForceConstantsFileError
        For a missing or empty file, or one of no known format.
    """
    label = file_label(path)
    if not os.path.isfile(path):
        raise ForceConstantsFileError(f"{label}: no such file")
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if not head.strip():
        raise ForceConstantsFileError(f"{label}: empty file")
    if head.startswith(HDF5_SIGNATURE):
        found = hdf5_force_constant_order(path)
        if found is None:
            raise ForceConstantsFileError(
                f"{label}: HDF5 file without force constants (expected a 'force_constants', "
                f"'fc2' or 'fc3' dataset)"
            )
        return "phono3py-hdf5" if found[0] == 3 else "phonopy-hdf5"
    kind = hiphive_file_kind(path)
    if kind is not None:
        return f"hiphive-{kind}"
    try:
        text = head.decode()
    except UnicodeDecodeError:
        text = None
    if text is not None:
        order = sniff_shengbte_order(path)
        if order is not None:
            return "shengbte" if order == 3 else "fourphonon"
        lines = [ln.split() for ln in text.splitlines() if ln.strip()]
        if (
            len(lines) >= 2
            and 1 <= len(lines[0]) <= 2
            and all(x.isdigit() for x in lines[0])
            and len(lines[1]) == 2
            and all(x.isdigit() for x in lines[1])
        ):
            return "phonopy-text"
    raise ForceConstantsFileError(
        f"{label}: unknown force-constant format; expected phonopy FORCE_CONSTANTS, "
        f"fc2.hdf5/force_constants.hdf5, fc3.hdf5, ShengBTE FORCE_CONSTANTS_3RD, FourPhonon "
        f"FORCE_CONSTANTS_4TH or a hiphive .fcp/.fcs file"
    )


def _supercell_matrix(value, what: str):
    arr = np.asarray(value)
    if arr.size == 1:
        arr = np.full(3, arr.reshape(()))
    if arr.size == 3:
        arr = np.diag(arr.reshape(3))
    if arr.shape != (3, 3) and arr.size == 9:
        arr = arr.reshape(3, 3)
    if (
        arr.shape != (3, 3)
        or not np.allclose(arr, np.rint(arr))
        or round(abs(np.linalg.det(arr))) < 1
    ):
        raise ForceConstantsFileError(
            f"{what}: supercell must be 3 integers or a 3x3 integer "
            f"matrix with non-zero determinant, got {value!r}"
        )
    return np.rint(arr).astype(np.int64)


def _apply_masses(unitcell: Cell, masses, origin) -> Cell:
    if masses is None:
        return unitcell
    if isinstance(masses, dict):
        new = np.array(unitcell.masses, dtype=float)
        symbols = np.array(unitcell.symbols)
        for sym, m in masses.items():
            hit = symbols == sym
            if not hit.any():
                raise ForceConstantsFileError(
                    f"{file_label(origin)}: mass given for {sym}, but the structure holds only "
                    f"{sorted(set(symbols.tolist()))}"
                )
            new[hit] = float(m)
    else:
        new = np.asarray(masses, dtype=float).reshape(-1)
        if len(new) != len(unitcell):
            raise ForceConstantsFileError(
                f"{file_label(origin)}: {len(new)} masses given for a unit cell of "
                f"{len(unitcell)} atoms (masses are per unit-cell atom, amu)"
            )
    try:
        return unitcell.with_masses(new)
    except CellError as exc:
        raise ForceConstantsFileError(f"{file_label(origin)}: {exc}") from exc


def _peek_n_atoms(path, fmt: str) -> int | None:
    """Supercell size a second-order file is written for (None if not cheap to know)."""
    if fmt == "phonopy-hdf5":
        found = hdf5_force_constant_order(path)
        return None if found is None else found[1]
    if fmt == "phonopy-text":
        with open(path) as fh:
            dims = fh.readline().split()
        try:
            return int(dims[-1])
        except (ValueError, IndexError):
            return None
    return None


def load_force_constants(
    *,
    cell=None,
    structure=None,
    supercell=None,
    primitive_matrix=None,
    fc2=None,
    fc3=None,
    fc4=None,
    fcp=None,
    masses=None,
) -> ForceConstants:
    """Read force constants of any supported format onto one supercell setup.

    Parameters
    ----------
    cell : str or os.PathLike, optional
        A phonopy/phono3py yaml (phonopy_disp.yaml, phono3py_disp.yaml,
        phono3py_params.yaml, ...): unit cell, supercell matrix and primitive matrix.
    structure : str or os.PathLike, optional
        POSCAR / CIF / other structure file, used with ``supercell``; instead of ``cell``.
        Without either, the primitive structure of ``fcp`` is the unit cell.
    supercell : array_like of int, shape (3,) or (3, 3), optional
        The supercell matrix (with ``cell``: must agree with the yaml).
    primitive_matrix : str or array_like of float, shape (3, 3), optional
        None (the yaml's, else identity), 'auto', a centring letter or a 3x3 matrix
        (phonopy's convention).
    fc2, fc3, fc4 : str or os.PathLike, optional
        Force-constant files, format detected from their content (:func:`detect_format`).
    fcp : str or os.PathLike, optional
        A hiphive ``.fcp`` potential (or ``.fcs`` ForceConstants), which supplies every
        order not given as a file.  Or an ALAMODE FCSXML / alm ``.fcs`` file, which
        carries the supercell and every order and is read alone
        (:func:`.alamode.load_alamode`; for a ``.fcs`` ``structure`` may give alm's
        supercell).
    masses : sequence of float or dict of str to float, optional
        Per unit-cell atom (amu), or ``{symbol: amu}``; default: the yaml's masses or
        natural-abundance masses.

    Returns
    -------
    ForceConstants
        FC2 (and FC3, FC4 when given) in eV/Å^n on one supercell, with ``source`` naming
        the cell and every force-constant file with its format.

    Raises
    ------
    ForceConstantsFileError
        For a missing, malformed or mismatched file; the message names it.
    """
    if fcp is not None and alamode_file_kind(fcp) is not None:
        return load_alamode(
            fcp,
            structure,
            masses,
            cell=cell,
            fc2=fc2,
            fc3=fc3,
            fc4=fc4,
            primitive_matrix=primitive_matrix,
            supercell=None
            if supercell is None or np.array_equal(np.ravel(supercell), [1, 1, 1])
            else supercell,
        )
    if cell is not None and structure is not None:
        raise ForceConstantsFileError(
            f"{file_label(cell)}: give either a phonopy yaml (cell) "
            f"or a structure file ({file_label(structure)}), not both"
        )
    hiphive_obj = load_hiphive(fcp) if fcp is not None else None
    source: dict = {}
    info: PhonopyYamlInfo | None = None
    if cell is not None:
        info = read_phonopy_yaml_info(cell)
        origin = cell
        unitcell = info.unitcell
        smat = info.supercell_matrix
        pmat = info.primitive_matrix
        if supercell is not None:
            given = _supercell_matrix(supercell, file_label(cell))
            allowed = [m for m in (smat, info.phonon_supercell_matrix) if m is not None]
            if allowed and not any(np.array_equal(given, m) for m in allowed):
                raise ForceConstantsFileError(
                    f"{file_label(cell)}: supercell {given.tolist()} was given, but the yaml's "
                    f"supercell matrix is {smat.tolist()}"
                )
            smat = given
        if smat is None:
            raise ForceConstantsFileError(
                f"{file_label(cell)}: no supercell_matrix in the yaml"
                f"; give the supercell explicitly"
            )
        source["cell"] = {"format": f"{info.command}-yaml", "file": file_label(cell)}
    elif structure is not None:
        origin = structure
        unitcell = read_structure(structure)
        if supercell is None:
            raise ForceConstantsFileError(
                f"{file_label(structure)}: a structure file needs "
                f"the supercell (3 integers or a 3x3 matrix)"
            )
        smat = _supercell_matrix(supercell, file_label(structure))
        pmat = None
        source["cell"] = {"format": "structure", "file": file_label(structure)}
    elif hiphive_obj is not None and hasattr(hiphive_obj, "primitive_structure"):
        origin = fcp
        prim_atoms = hiphive_obj.primitive_structure
        unitcell = Cell(
            prim_atoms.cell.array, prim_atoms.get_scaled_positions(wrap=False), prim_atoms.numbers
        )
        if supercell is None:
            raise ForceConstantsFileError(
                f"{file_label(fcp)}: give the supercell to evaluate the potential on"
            )
        smat = _supercell_matrix(supercell, file_label(fcp))
        pmat = None
        source["cell"] = {"format": "hiphive-fcp-primitive", "file": file_label(fcp)}
    else:
        raise ForceConstantsFileError(
            "no cell given: pass a phonopy/phono3py yaml (cell) or a structure file and a supercell"
        )
    if primitive_matrix is not None or pmat is None:
        pmat = resolve_primitive_matrix(primitive_matrix, unitcell, origin)
    unitcell = _apply_masses(unitcell, masses, origin)

    formats = {}
    for order, path in ((2, fc2), (3, fc3), (4, fc4)):
        if path is None:
            continue
        fmt = detect_format(path)
        if order not in FORMAT_ORDERS[fmt]:
            raise ForceConstantsFileError(
                f"{file_label(path)}: given as fc{order}, but it is {_DESCRIPTIONS[fmt]}"
            )
        formats[order] = fmt

    # phono3py may use a different supercell for fc2 (phonon_supercell_matrix)
    if (
        info is not None
        and info.phonon_supercell_matrix is not None
        and not np.array_equal(info.phonon_supercell_matrix, smat)
        and supercell is None
    ):
        only_fc2 = fc3 is None and fc4 is None and fcp is None and fc2 is not None
        n_fc2 = _peek_n_atoms(fc2, formats[2]) if fc2 is not None else None
        n_phonon = len(unitcell) * round(abs(np.linalg.det(info.phonon_supercell_matrix)))
        if only_fc2 and n_fc2 == n_phonon:
            smat = info.phonon_supercell_matrix
        elif n_fc2 == n_phonon and n_phonon != len(unitcell) * round(abs(np.linalg.det(smat))):
            raise ForceConstantsFileError(
                f"{file_label(fc2)}: fc2 is given on phono3py's phonon supercell "
                f"{info.phonon_supercell_matrix.tolist()} ({n_phonon} atoms), but fc3/fc4 use "
                f"the supercell {smat.tolist()}; one supercell must serve all orders (recompute "
                f"fc2 on the fc3 supercell)"
            )

    try:
        setup = SupercellSetup.build(unitcell, smat, pmat)
    except CellError as exc:
        raise ForceConstantsFileError(f"{file_label(origin)}: {exc}") from exc

    arrays: dict = {}
    for order, fmt in formats.items():
        path = {2: fc2, 3: fc3, 4: fc4}[order]
        arrays[order], extra = _read(fmt, path, order, setup, info, origin)
        if order > 2 and not np.any(getattr(arrays[order], "values", arrays[order])):
            raise ForceConstantsFileError(
                f"{file_label(path)}: {_DESCRIPTIONS[fmt]} whose force constants are zero "
                f"everywhere (broken or not the file meant): give the real fc{order} or leave "
                f"the order out"
            )
        source[f"fc{order}"] = {"format": fmt, "file": file_label(path), **extra}
    if hiphive_obj is not None:
        present = hiphive_orders(hiphive_obj)
        wanted = [n for n in present if n <= 4 and n not in arrays]
        if wanted:
            got = read_hiphive(hiphive_obj, setup, orders=wanted, origin=origin)
            kind = "hiphive-fcp" if hasattr(hiphive_obj, "get_force_constants") else "hiphive-fcs"
            for n in wanted:
                arrays[n] = got[n]
                source[f"fc{n}"] = {"format": kind, "file": file_label(fcp)}
        ignored = [n for n in present if n > 4]
        if ignored:
            source["ignored_orders"] = ignored
    if 2 not in arrays:
        raise ForceConstantsFileError(
            f"{file_label(fcp) if fcp is not None else file_label(origin)}: no second-order "
            f"force constants: give fc2 (or an fcp containing order 2)"
        )
    source["supercell_matrix"] = np.asarray(setup.supercell_matrix).tolist()
    source["primitive_matrix"] = np.asarray(setup.primitive_matrix).tolist()
    try:
        return ForceConstants(setup, arrays[2], arrays.get(3), arrays.get(4), source)
    except ForceConstantsError as exc:  # readers validate; this is a safety net
        raise ForceConstantsFileError(
            f"{file_label(origin)}: {exc} ({describe_setup(setup, origin)})"
        ) from exc


def _read(fmt: str, path, order: int, setup: SupercellSetup, info, origin):
    """Read the array of one file, with extra provenance (unit factor, reference cell)."""
    factor = info.fc_unit_factor(order) if info is not None else 1.0
    extra = {} if factor == 1.0 else {"unit_factor": factor}
    if fmt == "phonopy-text":
        return read_force_constants_text(path, setup, unit_factor=factor, origin=origin), extra
    if fmt == "phonopy-hdf5":
        return read_fc2_hdf5(path, setup, unit_factor=factor, origin=origin), extra
    if fmt == "phono3py-hdf5":
        return read_fc3_hdf5(path, setup, unit_factor=factor, origin=origin, clusters=True), extra
    if fmt in ("shengbte", "fourphonon"):
        # numbered in the unit cell (thirdorder's POSCAR) or, failing that, the primitive
        reader = read_shengbte_fc3 if fmt == "shengbte" else read_fourphonon_fc4
        first_error = None
        kinds = ["unit"] if setup.n_prim == len(setup.unitcell) else ["unit", "primitive"]
        for kind in kinds:
            try:
                return reader(path, setup, reference=kind, origin=origin), {"reference_cell": kind}
            except ForceConstantsFileError as exc:
                first_error = first_error or exc
        raise first_error
    return read_hiphive(path, setup, orders=[order], origin=origin)[order], {}

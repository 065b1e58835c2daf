"""``ForceConstantsData``: a force-constant model as one HDF5 file in an AiiDA node.

The node wraps :class:`aiida_wigner.physics.forceconstants.ForceConstants` without
changing any number: the unit cell, the supercell and primitive matrices and the
force constants of orders 2, 3 and 4 are written to a single HDF5 file,
``force_constants.h5``, in the node's repository, so the arrays travel with
``verdi archive create`` / ``import`` and are never stored as (huge) attributes.

Layout of ``force_constants.h5`` (all float arrays float64):

=========================  ============================  =================
dataset                    shape                         units
=========================  ============================  =================
``unitcell/lattice``       (3, 3), vectors as rows       Å
``unitcell/positions``     (n_unit, 3)                   fractional
``unitcell/numbers``       (n_unit,)                     atomic number
``unitcell/masses``        (n_unit,)                     amu
``supercell_matrix``       (3, 3) int                    -
``primitive_matrix``       (3, 3)                        -
``fc2``                    (n_prim, N, 3, 3)             eV/Å²
``fc3`` (optional)         (n_prim, N, N, 3, 3, 3)       eV/Å³
``fc4/atoms`` (optional)   (M, 4) int, supercell atoms   -
``fc4/values`` (optional)  (M, 3, 3, 3, 3)               eV/Å⁴
=========================  ============================  =================

Force constants are in compact form (first index over primitive-cell atoms) and in
phonopy's atom order of the supercell, exactly as in ``ForceConstants``; FC4 is
sparse (a list of atom clusters).  The force-constant datasets are written with HDF5's
lossless shuffle + gzip filters (:data:`COMPRESSION`): the arrays read back are the
stored ones bit for bit, and the zeros of a compact FC3 beyond the fit's cut-offs take
almost no room (measured: docs/performance.md).  Any HDF5 reader, including version-1
readers of this layout, reads the compressed datasets unchanged.  The supercell and
primitive cell are rebuilt from the unit cell and the two matrices with
:meth:`aiida_wigner.physics.cell.SupercellSetup.build`, which is deterministic.

Queryable attributes: ``n_atoms_primitive``, ``n_atoms_supercell``,
``supercell_matrix``, ``primitive_matrix``, ``orders`` (e.g. ``[2, 3]``), ``source``
(formats and file names the numbers came from), ``units`` (``"eV/Angstrom^n"``),
``formula`` (Hill formula of the primitive cell, e.g. ``"AuCu3"``), ``content_hash``
(:func:`content_hash`: sha256 of the cells and force-constant arrays; identical force
constants have the same hash, whatever their ``source``).

Identical force constants are stored once: :meth:`ForceConstantsData.get_or_create`
returns the stored node with the same ``content_hash`` instead of storing a copy (the CLI
stores the force constants it reads from files this way).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
from aiida import orm

__all__ = ["ForceConstantsData", "content_hash"]

FILENAME = "force_constants.h5"
FORMAT_NAME = "aiida-wigner force constants"
FORMAT_VERSION = 1
UNITS = "eV/Angstrom^n"

#: HDF5 filters of the force-constant datasets: lossless (byte shuffle, then deflate).
COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


def _write_compressed(h5, name: str, data, by_first_index: bool = False) -> None:
    """Dataset ``name`` with :data:`COMPRESSION`; ``by_first_index``: one HDF5 chunk per
    primitive atom (compact FC2/FC3), half the size of h5py's automatic chunks for an FC3
    that is zero beyond a cut-off (measured on a 128-atom supercell)."""
    data = np.asarray(data)
    if data.size == 0:
        h5.create_dataset(name, data=data)
        return
    chunks = (1,) + data.shape[1:] if by_first_index else True
    h5.create_dataset(name, data=data, chunks=chunks, **COMPRESSION)


def _canonical_arrays(force_constants) -> list[tuple[str, np.ndarray]]:
    """The arrays that define ``force_constants`` (name, C-ordered little-endian array)."""
    fc = force_constants
    setup, unit = fc.setup, fc.setup.unitcell
    arrays = [
        ("unitcell/lattice", unit.lattice, "<f8"),
        ("unitcell/positions", unit.positions, "<f8"),
        ("unitcell/numbers", unit.numbers, "<i8"),
        ("unitcell/masses", unit.masses, "<f8"),
        ("supercell_matrix", setup.supercell_matrix, "<i8"),
        ("primitive_matrix", setup.primitive_matrix, "<f8"),
        ("fc2", fc.fc2, "<f8"),
    ]
    if fc.fc3 is not None:
        arrays.append(("fc3", fc.dense_fc3(), "<f8"))
    if fc.fc4 is not None:
        arrays += [("fc4/atoms", fc.fc4.atoms, "<i8"), ("fc4/values", fc.fc4.values, "<f8")]
    return [(name, np.ascontiguousarray(np.asarray(a, dtype=dtype))) for name, a, dtype in arrays]


def content_hash(force_constants) -> str:
    """sha256 (hex) of the unit cell, the two matrices and the force-constant arrays.

    Each array enters with its name, dtype and shape; ``source`` does not enter (the same
    numbers read from two files are the same force constants).  Two models have the same
    hash when their arrays are equal bit for bit.
    """
    digest = hashlib.sha256()
    for name, array in _canonical_arrays(force_constants):
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _json_safe(value):
    """Turn ``value`` (a ``source`` record) into something an AiiDA attribute can hold."""
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class ForceConstantsData(orm.Data):
    """Real-space force constants (orders 2, 3 and optionally 4) with their crystal cells.

    Create with ``ForceConstantsData(force_constants=fc)`` or
    :meth:`from_force_constants`; get the physics object back with
    :meth:`get_force_constants`.  Units: Å, amu, eV/Å^n.
    """

    def __init__(self, force_constants=None, **kwargs):
        super().__init__(**kwargs)
        if force_constants is not None:
            self.set_force_constants(force_constants)

    @classmethod
    def from_force_constants(cls, force_constants) -> ForceConstantsData:
        """Return a new (unstored) node holding ``force_constants``."""
        return cls(force_constants=force_constants)

    @classmethod
    def get_or_create(
        cls, force_constants, label: str | None = None, description: str | None = None
    ) -> tuple[ForceConstantsData, bool]:
        """``(node, created)``: the stored node with the ``content_hash`` of
        ``force_constants`` (the oldest, if several), else a new node stored with ``label``
        (default: the formula) and ``description``.

        A reused node keeps its own label, description and ``source``.
        """
        found = (
            orm.QueryBuilder()
            .append(
                cls, filters={"attributes.content_hash": content_hash(force_constants)}, project="*"
            )
            .order_by({cls: {"id": "asc"}})
            .first(flat=True)
        )
        if found is not None:
            return found, False
        node = cls.from_force_constants(force_constants)
        node.label = node.formula if label is None else label
        if description is not None:
            node.description = description
        return node.store(), True

    # -- writing -------------------------------------------------------------------------

    def set_force_constants(self, force_constants) -> None:
        """Write ``force_constants`` (a :class:`ForceConstants`) into this unstored node."""
        import h5py
        from aiida.orm.nodes.data.structure import get_formula

        from aiida_wigner.physics.forceconstants import ForceConstants

        if not isinstance(force_constants, ForceConstants):
            raise TypeError(
                f"expected a ForceConstants instance, got {type(force_constants).__name__}"
            )
        fc = force_constants
        setup = fc.setup
        unit = setup.unitcell

        # A temporary file rather than memory: compact FC3 of a large supercell is
        # hundreds of MB, and the repository copies the file anyway.
        fd, tmp = tempfile.mkstemp(suffix=".h5")
        os.close(fd)
        try:
            with h5py.File(tmp, "w") as h5:
                h5.attrs["format"] = FORMAT_NAME
                h5.attrs["version"] = FORMAT_VERSION
                h5.attrs["units"] = "length Angstrom, mass amu, fcN eV/Angstrom^N"
                h5.create_dataset("unitcell/lattice", data=np.asarray(unit.lattice, dtype=float))
                h5.create_dataset(
                    "unitcell/positions", data=np.asarray(unit.positions, dtype=float)
                )
                h5.create_dataset("unitcell/numbers", data=np.asarray(unit.numbers, dtype=np.int64))
                h5.create_dataset("unitcell/masses", data=np.asarray(unit.masses, dtype=float))
                h5.create_dataset(
                    "supercell_matrix", data=np.asarray(setup.supercell_matrix, dtype=np.int64)
                )
                h5.create_dataset(
                    "primitive_matrix", data=np.asarray(setup.primitive_matrix, dtype=float)
                )
                _write_compressed(h5, "fc2", np.asarray(fc.fc2, dtype=float), by_first_index=True)
                h5["fc2"].attrs["units"] = "eV/Angstrom^2"
                if fc.fc3 is not None:
                    _write_compressed(h5, "fc3", fc.dense_fc3(), by_first_index=True)
                    h5["fc3"].attrs["units"] = "eV/Angstrom^3"
                if fc.fc4 is not None:
                    _write_compressed(h5, "fc4/atoms", np.asarray(fc.fc4.atoms, dtype=np.int64))
                    _write_compressed(h5, "fc4/values", np.asarray(fc.fc4.values, dtype=float))
                    h5["fc4"].attrs["units"] = "eV/Angstrom^4"
            self.base.repository.put_object_from_file(tmp, FILENAME)
        finally:
            Path(tmp).unlink(missing_ok=True)

        attrs = self.base.attributes
        attrs.set("n_atoms_primitive", int(setup.n_prim))
        attrs.set("n_atoms_supercell", int(setup.n_super))
        attrs.set("supercell_matrix", np.asarray(setup.supercell_matrix).astype(int).tolist())
        attrs.set("primitive_matrix", np.asarray(setup.primitive_matrix, dtype=float).tolist())
        attrs.set("orders", [int(n) for n in fc.orders])
        attrs.set("source", _json_safe(dict(fc.source)))
        attrs.set("units", UNITS)
        attrs.set("formula", get_formula(setup.primitive.symbols, mode="hill_compact"))
        if fc.fc4 is not None:
            attrs.set("n_fc4_clusters", int(len(fc.fc4)))
        attrs.set("content_hash", content_hash(fc))

    # -- reading -------------------------------------------------------------------------

    def get_force_constants(self):
        """Return the stored model as a physics ``ForceConstants``.

        The class is :class:`~aiida_wigner.physics.forceconstants.ForceConstants`.
        The arrays are bit-for-bit those that were stored.
        """
        from aiida_wigner.physics.io.native import read_native_force_constants

        with self.base.repository.open(FILENAME, mode="rb") as handle:
            return read_native_force_constants(handle, self.base.attributes.get("source", {}))

    def get_structure(self, which: str = "unitcell") -> orm.StructureData:
        """An unstored ``StructureData`` of the ``unitcell``, ``primitive`` or ``supercell`` (Å)."""
        setup = self.get_force_constants().setup
        try:
            cell = {
                "unitcell": setup.unitcell,
                "primitive": setup.primitive,
                "supercell": setup.supercell,
            }[which]
        except KeyError as exc:
            raise ValueError(
                f"which must be 'unitcell', 'primitive' or 'supercell', got {which!r}"
            ) from exc
        return orm.StructureData(ase=cell.to_ase())

    # -- convenience attributes ----------------------------------------------------------

    @property
    def orders(self) -> list[int]:
        """Force-constant orders present, e.g. ``[2, 3]``."""
        return list(self.base.attributes.get("orders", []))

    @property
    def formula(self) -> str:
        """Hill formula of the primitive cell."""
        return self.base.attributes.get("formula", "")

    @property
    def source(self) -> dict:
        """Formats and file names the force constants were read from."""
        return dict(self.base.attributes.get("source", {}))

    def _validate(self) -> bool:
        super()._validate()
        if FILENAME not in self.base.repository.list_object_names():
            from aiida.common.exceptions import ValidationError

            raise ValidationError(
                f"no {FILENAME} in the node repository: set force constants before storing"
            )
        return True

"""aiida-wigner's own force-constant file, ``force_constants.h5`` (no AiiDA import).

The file a ``ForceConstantsData`` node keeps in its repository (layout in
:mod:`aiida_wigner.data.force_constants`: unit cell, supercell and primitive matrices, compact
FC2/FC3 and sparse FC4 in eV/Å^n).  The worker (``aiida-wigner-worker``) reads the node's file
with :func:`read_native_force_constants`, so a job on another computer gets the numbers bit
for bit.
"""

from __future__ import annotations

from ..cell import Cell, SupercellSetup
from ..forceconstants import ForceConstants, SparseForceConstants
from .errors import ForceConstantsFileError, file_label

__all__ = ["read_native_force_constants"]


def read_native_force_constants(source, source_record: dict | None = None) -> ForceConstants:
    """Read the :class:`ForceConstants` in ``source`` (a path or a binary file object).

    ``source_record`` becomes ``ForceConstants.source`` (the file holds no such record).
    Raises :class:`ForceConstantsFileError` for a file that is not HDF5 or lacks a dataset.
    """
    import h5py

    try:
        with h5py.File(source, "r") as h5:
            unit = Cell(
                h5["unitcell/lattice"][()],
                h5["unitcell/positions"][()],
                h5["unitcell/numbers"][()],
                h5["unitcell/masses"][()],
            )
            setup = SupercellSetup.build(
                unit, h5["supercell_matrix"][()], h5["primitive_matrix"][()]
            )
            fc2 = h5["fc2"][()]
            fc3 = None
            if "fc3" in h5:  # row by row: the dense FC3 is never in memory at once
                fc3 = SparseForceConstants.from_dense_compact(h5["fc3"], setup.p2s)
            fc4 = None
            if "fc4" in h5:
                fc4 = SparseForceConstants(4, h5["fc4/atoms"][()], h5["fc4/values"][()])
    except (OSError, KeyError) as exc:
        name = (
            file_label(source)
            if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__")
            else "force_constants.h5"
        )
        raise ForceConstantsFileError(
            f"{name}: not an aiida-wigner force_constants.h5 file ({exc})"
        ) from exc
    return ForceConstants(setup, fc2, fc3, fc4, dict(source_record or {}))

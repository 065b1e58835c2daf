"""aiida-phonopy's data types in and out of the harmonic step (thin wrappers).

The harmonic step keeps its finite-displacement data in aiida-phonopy's own node types, so
the nodes are usable by aiida-phonopy (``PhonopyCalculation``, ``get_phonopy_instance``) and,
the other way round, a user's existing aiida-phonopy nodes are a harmonic input here:

* ``PreProcessData`` (``phonopy.preprocess``): unit cell, supercell and primitive matrices,
  symprec and phonopy's displacement dataset (Å);
* ``PhonopyData`` (``phonopy.phonopy``): the same plus the forces (eV/Å) on each displaced
  supercell and, when computed, the residual forces of the ideal supercell;
* aiida-phonopy's ``ForceConstantsData`` (``phonopy.force_constants``): FC2 (eV/Å²) with its
  cells.

:func:`phonopy_force_constants` turns either of the last two into this package's
:class:`~aiida_wigner.data.force_constants.ForceConstantsData` (FC2 only, eV/Å², phonopy's
atom order of the supercell).  FC2 of a ``PhonopyData`` is phonopy's
``produce_force_constants`` + ``symmetrize_force_constants`` on the node's own phonopy
instance (its symmetry settings), after subtracting the residual forces when the node has
them -- exactly the harmonic step's FC2.  Non-analytical corrections (Born charges,
dielectric tensor) stored on a node are not used by this package; the output's ``source``
records that they were present.
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import calcfunction
from aiida_phonopy.data import ForceConstantsData as PhonopyForceConstantsData
from aiida_phonopy.data import PhonopyData, PreProcessData

from ..data.force_constants import ForceConstantsData
from ..exit_codes import exit_code
from ..fitting import harmonic as harm
from ..physics.cell import Cell
from ..physics.forceconstants import ForceConstants

#: aiida-phonopy node types accepted as a harmonic input
HARMONIC_NODE_TYPES = (PhonopyData, PhonopyForceConstantsData)

#: largest difference (Å) of lattice vectors and atomic positions between a node's unit cell
#: and the structure: far above the round-off of a StructureData -> PhonopyAtoms round trip
#: (~1e-15 Å) and far below the 0.01 Å displacements, so it tells "the same cell" from a
#: re-relaxed one.
CELL_ATOL = 1e-4


def new_preprocess_data(
    structure: orm.StructureData, setup, symprec: float, dataset: dict
) -> PreProcessData:
    """An unstored ``PreProcessData`` of ``structure`` holding phonopy's ``dataset``.

    ``setup``: the :class:`~aiida_wigner.physics.cell.SupercellSetup` whose supercell and
    primitive matrices the node records; ``symprec`` in Å.
    """
    pre = PreProcessData(
        structure=structure,
        supercell_matrix=np.asarray(setup.supercell_matrix).astype(int).tolist(),
        primitive_matrix=np.asarray(setup.primitive_matrix, dtype=float).tolist(),
        symprec=float(symprec),
    )
    pre.set_displacements_from_dataset(dataset)
    return pre


@calcfunction
def phonopy_data_from_forces(preprocess_data: PreProcessData, forces: orm.ArrayData):
    """``PhonopyData`` of ``preprocess_data`` with the engine's forces (eV/Å).

    ``forces``: array ``forces`` (m, N, 3) for the displaced supercells in the dataset's
    order, optionally followed by the ideal supercell (m + 1 rows), stored as the node's
    residual forces.
    """
    f = forces.get_array("forces")
    n = len(preprocess_data.displacements)
    data = PhonopyData(preprocess_data=preprocess_data)
    data.set_forces(sets_of_forces=f[:n])
    if len(f) == n + 1:
        data.set_residual_forces(f[n])
    return data


def _mismatch(node_cell: Cell, cell: Cell) -> str | None:
    """Why ``node_cell`` is not ``cell`` (same atoms in the same order, within CELL_ATOL)."""
    if node_cell.symbols != cell.symbols:
        same = sorted(node_cell.symbols) == sorted(cell.symbols)
        how = (
            "the same atoms in another order"
            if same
            else f"atoms {''.join(node_cell.symbols)} instead of {''.join(cell.symbols)}"
        )
        return f"its unit cell has {how}"
    dl = float(np.abs(node_cell.lattice - cell.lattice).max())
    if dl > CELL_ATOL:
        return f"its lattice vectors differ from the structure's by up to {dl:.2e} Å"
    d = node_cell.positions - cell.positions
    dp = float(np.linalg.norm((d - np.rint(d)) @ cell.lattice, axis=1).max())
    if dp > CELL_ATOL:
        return f"its atomic positions differ from the structure's by up to {dp:.2e} Å"
    return None


def _matrix_mismatch(node, parameters: dict) -> str | None:
    smat = np.array(parameters["supercell_matrix"])
    smat = np.diag(smat) if smat.shape == (3,) else smat
    pmat = np.array(parameters.get("primitive_matrix", np.eye(3)), dtype=float)
    if not np.array_equal(np.array(node.supercell_matrix), smat):
        return (
            f"its supercell matrix {np.array(node.supercell_matrix).tolist()} is not "
            f"supercell_matrix {smat.tolist()}: use the node's"
        )
    if not np.allclose(np.array(node.primitive_matrix, dtype=float), pmat, atol=1e-8):
        return (
            f"its primitive matrix {np.array(node.primitive_matrix).tolist()} is not "
            f"primitive_matrix {pmat.tolist()}: use the node's"
        )
    return None


def _fc2_and_dataset(node):
    """Full FC2 (N, N, 3, 3) eV/Å², displacements and forces (m, N, 3), source of a node."""
    from phonopy.harmonic.force_constants import compact_fc_to_full_fc

    if isinstance(node, PhonopyData):
        residual = node.residual_forces
        ph = node.get_phonopy_instance(subtract_residual_forces=residual is not None)
        fc2 = harm.fc2_from_dataset(ph)
        u, f = harm.dataset_displacements(ph), np.asarray(ph.forces, dtype=float)
        source = {
            "method": "finite displacements (phonopy)",
            "residual_forces_subtracted": residual is not None,
            "max_residual_force": 0.0 if residual is None else float(np.abs(residual).max()),
        }
    else:
        ph = node.get_phonopy_instance()
        fc2 = np.asarray(node.force_constants, dtype=float)
        if fc2.shape[0] != fc2.shape[1]:
            fc2 = compact_fc_to_full_fc(ph.primitive, fc2)
        ph.generate_displacements(distance=0.01)
        u = harm.dataset_displacements(ph)
        f = harm.fc2_forces(fc2, u)
        source = {
            "method": "aiida-phonopy ForceConstantsData",
            "harmonic_dataset": "forces -FC2.u of the given FC2 on phonopy's 0.01 Å displacements",
        }
    source.update(
        {
            "distance_angstrom": float(np.linalg.norm(u, axis=-1).max()),
            "n_displacements": int(len(u)),
            "nac_parameters_ignored": bool(node.has_nac_parameters()),
        }
    )
    return fc2, u, f, source


def _incomplete(node) -> str | None:
    """Why ``node`` cannot give FC2, or None."""
    if not isinstance(node, HARMONIC_NODE_TYPES):
        return (
            f"<{node.pk}> is a {type(node).__name__}: give an aiida-phonopy PhonopyData with "
            f"forces or an aiida-phonopy ForceConstantsData"
        )
    if isinstance(node, PhonopyData) and node.forces is None:
        return (
            f"the PhonopyData <{node.pk}> has no forces: give the PhonopyData made after "
            f"the force calculations (PhonopyData.set_forces or generate_phonopy_data)"
        )
    if isinstance(node, PhonopyForceConstantsData) and node.force_constants is None:
        return (
            f"the aiida-phonopy ForceConstantsData <{node.pk}> holds no force constants "
            f"(set_force_constants)"
        )
    return None


@calcfunction
def phonopy_force_constants(
    node: orm.Data, structure: orm.StructureData = None, parameters: orm.Dict = None
):
    """This package's FC2 from an aiida-phonopy ``PhonopyData`` (with forces) or
    ``ForceConstantsData``.

    Without ``structure`` the cells are the node's own (unit cell with its masses, supercell
    and primitive matrices).  With ``structure`` and ``parameters`` (supercell_matrix,
    primitive_matrix: identity when absent) the node must be of that structure -- same atoms
    in the same order, lattice and positions within :data:`CELL_ATOL` Å -- and of those
    matrices, else exit code ERROR_HARMONIC_MISMATCH; the cells (and masses) are then the
    structure's.

    Outputs ``force_constants`` (ForceConstantsData, FC2 eV/Å²), ``harmonic_dataset``
    (ArrayData: displacements (m, N, 3) Å, forces (m, N, 3) eV/Å, residual forces
    subtracted; for a ForceConstantsData the forces -FC2·u of phonopy's 0.01 Å displacements)
    and ``frequencies`` (Dict, THz at the high-symmetry points, negative = imaginary).
    """
    problem = _incomplete(node)
    if problem:
        return exit_code("ERROR_INVALID_INPUT", problem)
    unitcell = node.get_unitcell().get_ase()
    if structure is not None:
        problem = _matrix_mismatch(node, parameters.get_dict()) or _mismatch(
            Cell.from_ase(unitcell), Cell.from_ase(structure.get_ase())
        )
        if problem:
            return exit_code(
                "ERROR_HARMONIC_MISMATCH",
                (
                    f"the {type(node).__name__} <{node.pk}> does not belong to this calculation: "
                    f"{problem}. Give the node's own unit cell (node.get_unitcell()) as the "
                    "structure, "
                    "with run_relax False, and its supercell and primitive matrices"
                ),
            )
        unitcell = structure.get_ase()
    setup = harm.build_setup(unitcell, node.supercell_matrix, node.primitive_matrix, node.symprec)
    try:
        fc2, u, f, source = _fc2_and_dataset(node)
    except (RuntimeError, ValueError) as exc:
        return exit_code(
            "ERROR_INVALID_INPUT", f"phonopy could not make FC2 from <{node.pk}>: {exc}"
        )
    hd = orm.ArrayData()
    hd.set_array("displacements", u)
    hd.set_array("forces", f)
    freqs = harm.special_point_frequencies(setup, fc2)
    return {
        "force_constants": ForceConstantsData.from_force_constants(
            ForceConstants(setup, fc2, source=source)
        ),
        "harmonic_dataset": hd,
        "frequencies": orm.Dict(
            {
                "units": "THz (negative: imaginary)",
                "points": freqs,
                "max_residual_force": source.get("max_residual_force", 0.0),
            }
        ),
    }


def force_constants_from_node(node: orm.Data) -> ForceConstantsData:
    """This package's ``ForceConstantsData`` for a force-constant node of any supported kind.

    Ours is returned as it is; an aiida-phonopy ``PhonopyData`` (with forces) or
    ``ForceConstantsData`` is converted by :func:`phonopy_force_constants` (a calcfunction,
    so the result is linked to ``node``; FC2 only).  Raises ``ValueError`` with a one-line
    message for any other node or an incomplete one.
    """
    if isinstance(node, ForceConstantsData):
        return node
    problem = _incomplete(node)
    if problem:
        raise ValueError(problem)
    out, calc = phonopy_force_constants.run_get_node(node)
    if not calc.is_finished_ok:
        raise ValueError(calc.exit_message)
    return out["force_constants"]

"""Harmonic force constants from symmetry-reduced finite displacements (phonopy).

Plain functions.  Displacement amplitude in Å (the seed uses 0.01 Å), forces eV/Å,
FC2 eV/Å², frequencies THz.  Supercells are phonopy's (same atom order as
:class:`aiida_wigner.physics.cell.SupercellSetup`).
"""

from __future__ import annotations

import numpy as np

from ..physics.cell import Cell, SupercellSetup


def generate_displacements(
    setup: SupercellSetup, distance: float = 0.01, plusminus="auto", symprec: float = 1e-5
) -> dict:
    """Symmetry-reduced single-atom displacements of the supercell.

    Returns ``dataset`` (phonopy's type-1 displacement dataset, a dict) and
    ``displacements`` (m, N, 3) Å (zeros except the displaced atom).
    """
    from phonopy import Phonopy

    ph = Phonopy(
        setup.unitcell.to_phonopy(),
        supercell_matrix=setup.supercell_matrix,
        primitive_matrix=setup.primitive_matrix,
        symprec=symprec,
    )
    ph.generate_displacements(distance=float(distance), is_plusminus=plusminus)
    return {"dataset": ph.dataset, "displacements": dataset_displacements(ph)}


def dataset_displacements(ph) -> np.ndarray:
    """Displacements (m, N, 3) Å of every atom in each supercell of ``ph.dataset``.

    ``ph``: a :class:`phonopy.Phonopy` with a type-1 (``first_atoms``) or type-2
    (``displacements``) dataset, in phonopy's atom order of the supercell.
    """
    ds = ph.dataset
    if "first_atoms" not in ds:
        return np.asarray(ds["displacements"], dtype=float)
    first = ds["first_atoms"]
    disp = np.zeros((len(first), len(ph.supercell), 3))
    disp[np.arange(len(first)), [d["number"] for d in first]] = [d["displacement"] for d in first]
    return disp


def fc2_from_dataset(ph) -> np.ndarray:
    """Full FC2 (N, N, 3, 3) eV/Å² from the displacements and forces (eV/Å) set on ``ph``.

    phonopy's ``produce_force_constants`` then ``symmetrize_force_constants`` (translational
    and permutation symmetry); ``ph`` is left holding the result.
    """
    ph.produce_force_constants()
    ph.symmetrize_force_constants()
    return np.asarray(ph.force_constants)


def fc2_forces(fc2_full, displacements) -> np.ndarray:
    """Harmonic forces F = -Φ2·u (m, N, 3) eV/Å of FC2 (N, N, 3, 3) eV/Å² on u (m, N, 3) Å."""
    return -np.einsum("ijab,mjb->mia", np.asarray(fc2_full), np.asarray(displacements))


def special_point_frequencies(setup: SupercellSetup, fc2_full) -> dict:
    """Harmonic frequencies (THz, negative = imaginary) at the high-symmetry points.

    Points are ASE's special points of the primitive cell's Bravais lattice, in
    fractional coordinates of the primitive reciprocal lattice.
    """
    from phonopy import Phonopy

    ph = Phonopy(
        setup.unitcell.to_phonopy(),
        supercell_matrix=setup.supercell_matrix,
        primitive_matrix=setup.primitive_matrix,
    )
    ph.force_constants = np.asarray(fc2_full)
    points = setup.primitive.to_ase().cell.bandpath(npoints=0).special_points
    out = {}
    for label, q in sorted(points.items()):
        freqs = ph.get_frequencies(np.asarray(q, dtype=float))
        out[label] = {"q": [float(x) for x in q], "frequencies": [float(f) for f in freqs]}
    return out


def build_setup(atoms, supercell_matrix, primitive_matrix=None, symprec: float = 1e-5):
    """SupercellSetup from an ase.Atoms unit cell."""
    return SupercellSetup.build(
        Cell.from_ase(atoms), supercell_matrix, primitive_matrix, symprec=symprec
    )

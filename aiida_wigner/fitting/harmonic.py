"""Harmonic force constants from symmetry-reduced finite displacements (phonopy).

Plain functions.  Displacement amplitude in Å (the seed uses 0.01 Å), forces eV/Å,
FC2 eV/Å², frequencies THz.  Supercells are phonopy's (same atom order as
:class:`aiida_wigner.physics.cell.SupercellSetup`).
"""

from __future__ import annotations

import numpy as np

from ..physics.cell import Cell, SupercellSetup


def _phonopy(setup: SupercellSetup, symprec: float = 1e-5):
    from phonopy import Phonopy

    return Phonopy(setup.unitcell.to_phonopy(), supercell_matrix=setup.supercell_matrix,
                   primitive_matrix=setup.primitive_matrix, symprec=symprec)


def generate_displacements(setup: SupercellSetup, distance: float = 0.01,
                           plusminus="auto", symprec: float = 1e-5) -> dict:
    """Symmetry-reduced single-atom displacements of the supercell.

    Returns ``first_atoms`` (m,) supercell indices, ``vectors`` (m, 3) Å and
    ``displacements`` (m, N, 3) Å (zeros except the displaced atom).
    """
    ph = _phonopy(setup, symprec)
    ph.generate_displacements(distance=float(distance), is_plusminus=plusminus)
    first = ph.dataset["first_atoms"]
    numbers = np.array([d["number"] for d in first], dtype=np.int64)
    vectors = np.array([d["displacement"] for d in first], dtype=float)
    disp = np.zeros((len(first), setup.n_super, 3))
    disp[np.arange(len(first)), numbers] = vectors
    return {"first_atoms": numbers, "vectors": vectors, "displacements": disp}


def harmonic_fc2(setup: SupercellSetup, first_atoms, vectors, forces, symprec: float = 1e-5):
    """Full FC2 (N, N, 3, 3) eV/Å² from forces (m, N, 3) eV/Å on the displaced supercells."""
    ph = _phonopy(setup, symprec)
    ph.dataset = {"natom": setup.n_super,
                  "first_atoms": [{"number": int(n), "displacement": np.asarray(v, dtype=float)}
                                  for n, v in zip(first_atoms, vectors)]}
    ph.forces = np.asarray(forces, dtype=float)
    ph.produce_force_constants()
    ph.symmetrize_force_constants()
    return np.asarray(ph.force_constants)


def special_point_frequencies(setup: SupercellSetup, fc2_full) -> dict:
    """Harmonic frequencies (THz, negative = imaginary) at the high-symmetry points.

    Points are ASE's special points of the primitive cell's Bravais lattice, in
    fractional coordinates of the primitive reciprocal lattice.
    """
    from phonopy import Phonopy

    ph = Phonopy(setup.unitcell.to_phonopy(), supercell_matrix=setup.supercell_matrix,
                 primitive_matrix=setup.primitive_matrix)
    ph.force_constants = np.asarray(fc2_full)
    points = setup.primitive.to_ase().cell.bandpath(npoints=0).special_points
    out = {}
    for label, q in sorted(points.items()):
        freqs = ph.get_frequencies(np.asarray(q, dtype=float))
        out[label] = {"q": [float(x) for x in q], "frequencies": [float(f) for f in freqs]}
    return out


def build_setup(atoms, supercell_matrix, primitive_matrix=None, symprec: float = 1e-5):
    """SupercellSetup from an ase.Atoms unit cell."""
    return SupercellSetup.build(Cell.from_ase(atoms), supercell_matrix, primitive_matrix,
                                symprec=symprec)

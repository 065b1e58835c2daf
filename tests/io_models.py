"""Small models for the importer/exporter tests (tests/physics/test_io.py).

L1₂ Cu₃Au (a = 3.75 Å, 4 atoms, 2x2x2 supercell of 32 atoms): a physically meaningful
FC2 from ASE's EMT through phonopy's finite displacements, and random FC3/FC4 with the
permutation symmetry of force constants where the physics does not matter.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

A = 3.75
POSITIONS = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
NUMBERS = [79, 29, 29, 29]
SUPERCELL = (2, 2, 2)


def unitcell(masses=None):
    from aiida_wigner.physics.cell import Cell

    return Cell(np.eye(3) * A, POSITIONS, NUMBERS, masses)


@functools.cache
def setup():
    from aiida_wigner.physics.cell import SupercellSetup

    return SupercellSetup.build(unitcell(), np.diag(SUPERCELL))


@functools.cache
def fcc_setup():
    """Conventional fcc Cu (4 atoms) with the fcc primitive matrix: unit cell != primitive."""
    from aiida_wigner.physics.cell import Cell, SupercellSetup

    cell = Cell(np.eye(3) * 3.61, POSITIONS, [29] * 4)
    return SupercellSetup.build(
        cell, np.diag(SUPERCELL), [[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
    )


@functools.cache
def phonopy_emt(a=A, numbers=tuple(NUMBERS)):
    """phonopy object with EMT force constants (full, (32, 32, 3, 3), eV/Å²) of the L1₂
    positions with lattice constant ``a`` (Å) and ``numbers`` (default Cu₃Au; all 29 with
    a = 3.61: fcc Cu in its conventional cell)."""
    from ase import Atoms
    from ase.calculators.emt import EMT
    from phonopy import Phonopy

    from aiida_wigner.physics.cell import Cell

    ph = Phonopy(
        Cell(np.eye(3) * a, POSITIONS, list(numbers)).to_phonopy(),
        supercell_matrix=np.diag(SUPERCELL),
        primitive_matrix=np.eye(3),
    )
    ph.generate_displacements(distance=0.03)
    forces = []
    for sc in ph.supercells_with_displacements:
        atoms = Atoms(
            numbers=sc.numbers, cell=sc.cell, scaled_positions=sc.scaled_positions, pbc=True
        )
        atoms.calc = EMT()
        forces.append(atoms.get_forces())
    ph.forces = np.array(forces)
    ph.produce_force_constants()
    return ph


def emt_fc2_full():
    return np.array(phonopy_emt().force_constants)


def _symmetrize(fc, order):
    """Average over the n! simultaneous permutations of atom and Cartesian indices."""
    out = np.zeros_like(fc)
    perms = list(itertools.permutations(range(order)))
    for perm in perms:
        out += fc.transpose(perm + tuple(order + p for p in perm))
    return out / len(perms)


@functools.cache
def random_fc3_full(n=32, seed=3):
    rng = np.random.default_rng(seed)
    return _symmetrize(rng.normal(size=(n, n, n, 3, 3, 3)), 3)


def random_sparse_fc4(s, n_clusters=30, seed=5):
    """Random FC4 clusters (first atom in p2s, distinct clusters), eV/Å⁴."""
    from aiida_wigner.physics.forceconstants import SparseForceConstants

    rng = np.random.default_rng(seed)
    atoms = np.column_stack(
        [rng.choice(s.p2s, 4 * n_clusters), rng.integers(0, s.n_super, (4 * n_clusters, 3))]
    )
    atoms = np.unique(atoms, axis=0)[:n_clusters]
    values = rng.normal(size=(len(atoms), 3, 3, 3, 3))
    return SparseForceConstants(4, atoms, values)


@functools.cache
def hiphive_fcp(cutoffs=(3.7, 3.0, 2.7), seed=11):
    """A hiphive ForceConstantPotential of Cu₃Au with random parameters (orders 2, 3, 4)."""
    from hiphive import ClusterSpace, ForceConstantPotential

    prim = unitcell().to_ase()
    cs = ClusterSpace(prim, list(cutoffs))
    params = np.random.default_rng(seed).normal(size=cs.n_dofs)
    return ForceConstantPotential(cs, params)


def hiphive_dense_compact(fcs, s, order):
    """Dense compact (n_prim, N, ..., 3, ...) from hiphive's own per-cluster lookup."""
    n = s.n_super
    out = np.zeros((s.n_prim,) + (n,) * (order - 1) + (3,) * order)
    for p, i in enumerate(s.p2s):
        for rest in itertools.product(range(n), repeat=order - 1):
            out[(p,) + rest] = fcs[(int(i),) + rest]
    return out

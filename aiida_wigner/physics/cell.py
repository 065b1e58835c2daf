"""Crystal cells: the unit cell, its supercell and its primitive cell.

A :class:`Cell` is an immutable set of arrays (lattice vectors as rows in Å,
fractional positions, atomic numbers, masses in amu).  Supercells and primitive
cells are built with phonopy's cell utilities so that the atom order of the
supercell is exactly phonopy's (docs/conventions.md: force-constant arrays are in phonopy's
atom order of the supercell).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray


class CellError(ValueError):
    """A cell, supercell matrix or atom mapping is inconsistent."""


@dataclass(frozen=True)
class Cell:
    """A periodic crystal cell.

    Attributes
    ----------
    lattice : (3, 3) float
        Lattice vectors as rows, Å.
    positions : (n, 3) float
        Fractional (reduced) coordinates.
    numbers : (n,) int
        Atomic numbers.
    masses : (n,) float
        Atomic masses in amu; natural-abundance averages unless set.
    """

    lattice: NDArray[np.float64]
    positions: NDArray[np.float64]
    numbers: NDArray[np.int64]
    masses: NDArray[np.float64] = field(default=None)  # type: ignore[assignment]

    def __post_init__(self):
        """Validate the arrays, fill in standard masses and freeze them read-only.

        Raises
        ------
        CellError
            If the lattice is not 3x3 or has zero volume, or if positions, numbers and
            masses disagree in length, or a mass is not positive.
        """
        lattice = np.array(self.lattice, dtype=float)
        positions = np.array(self.positions, dtype=float).reshape(-1, 3)
        numbers = np.array(self.numbers, dtype=np.int64).reshape(-1)
        if lattice.shape != (3, 3):
            raise CellError(f"lattice must have shape (3, 3), got {lattice.shape}")
        if abs(np.linalg.det(lattice)) < 1e-8:
            raise CellError("lattice vectors are linearly dependent (zero volume)")
        if len(numbers) != len(positions):
            raise CellError(f"{len(positions)} positions but {len(numbers)} atomic numbers")
        if self.masses is None:
            masses = standard_masses(numbers)
        else:
            masses = np.array(self.masses, dtype=float).reshape(-1)
        if masses.shape != numbers.shape:
            raise CellError(f"{len(numbers)} atoms but {len(masses)} masses")
        if np.any(masses <= 0):
            raise CellError("masses must be positive (amu)")
        for name, value in (
            ("lattice", lattice),
            ("positions", positions),
            ("numbers", numbers),
            ("masses", masses),
        ):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        """Return the number of atoms in the cell."""
        return len(self.numbers)

    @property
    def volume(self) -> float:
        """Cell volume in Å^3."""
        return float(abs(np.linalg.det(self.lattice)))

    @property
    def cartesian_positions(self) -> NDArray[np.float64]:
        """Cartesian positions in Å."""
        return self.positions @ self.lattice

    @property
    def reciprocal_lattice(self) -> NDArray[np.float64]:
        """Reciprocal lattice vectors as columns, without 2π (q_cart = B @ q_frac), 1/Å."""
        return np.linalg.inv(self.lattice)

    @property
    def symbols(self) -> list[str]:
        """Chemical symbols of the atoms, in the order of ``numbers``."""
        return [_atom_data()[z][1] for z in self.numbers]

    @property
    def spglib_cell(self) -> tuple:
        """The cell as spglib's ``(lattice, positions, numbers)`` tuple (Å, fractional, Z)."""
        return (self.lattice, self.positions, self.numbers)

    def to_phonopy(self):
        """Return a :class:`phonopy.structure.atoms.PhonopyAtoms`."""
        from phonopy.structure.atoms import PhonopyAtoms

        return PhonopyAtoms(
            cell=self.lattice,
            scaled_positions=self.positions,
            numbers=self.numbers,
            masses=self.masses,
        )

    @classmethod
    def from_phonopy(cls, atoms) -> Cell:
        """Build a cell from phonopy atoms, keeping their masses.

        Parameters
        ----------
        atoms : phonopy.structure.atoms.PhonopyAtoms
            Lattice (Å, vectors as rows), fractional positions, atomic numbers and masses
            (amu).

        Returns
        -------
        Cell
            The same structure.
        """
        return cls(atoms.cell, atoms.scaled_positions, atoms.numbers, atoms.masses)

    @classmethod
    def from_ase(cls, atoms) -> Cell:
        """Build a cell from ASE atoms, keeping their masses and unwrapped positions.

        Parameters
        ----------
        atoms : ase.Atoms
            Lattice in Å, positions, atomic numbers and masses (amu).

        Returns
        -------
        Cell
            The same structure, positions fractional and not wrapped into the cell.
        """
        return cls(
            atoms.cell.array,
            atoms.get_scaled_positions(wrap=False),
            atoms.numbers,
            atoms.get_masses(),
        )

    def to_ase(self):
        """Return a periodic :class:`ase.Atoms` with the same lattice, atoms and masses."""
        from ase import Atoms

        return Atoms(
            numbers=self.numbers,
            cell=self.lattice,
            scaled_positions=self.positions,
            masses=self.masses,
            pbc=True,
        )

    def with_masses(self, masses) -> Cell:
        """Return the same cell with other atomic masses.

        Parameters
        ----------
        masses : array_like of float, shape (n_atoms,)
            Atomic masses in amu, one per atom.

        Returns
        -------
        Cell
            A new cell; ``self`` is unchanged.
        """
        return Cell(self.lattice, self.positions, self.numbers, masses)

    def same_as(self, other: Cell, atol: float = 1e-5) -> bool:
        """Tell whether lattice, numbers and positions (modulo lattice vectors) agree.

        Parameters
        ----------
        other : Cell
            The cell to compare with.
        atol : float
            Absolute tolerance in Å on the lattice vectors; Cartesian position differences
            may reach ``10 * atol``.

        Returns
        -------
        bool
            True if both cells describe the same structure in the same atom order.
        """
        if len(self) != len(other) or not np.array_equal(self.numbers, other.numbers):
            return False
        if not np.allclose(self.lattice, other.lattice, atol=atol):
            return False
        d = self.positions - other.positions
        d -= np.rint(d)
        return bool(np.all(np.abs(d @ self.lattice) < atol * 10))


def standard_masses(numbers) -> NDArray[np.float64]:
    """Natural-abundance atomic masses (amu) for atomic numbers, from phonopy's table."""
    return np.array([_atom_data()[int(z)][3] for z in numbers], dtype=float)


def _atom_data():
    """Return phonopy's table of (Z, symbol, name, mass in amu)."""
    from phonopy.structure.atomic_data import get_atomic_data

    return get_atomic_data().atom_data


@dataclass(frozen=True)
class SupercellSetup:
    """A unit cell with its supercell and primitive cell, as phonopy builds them.

    ``supercell_matrix`` S and ``primitive_matrix`` P are given with respect to the
    unit cell: supercell lattice = S @ unit lattice, primitive lattice = P^T @ unit
    lattice (phonopy's convention).  Phonons live on the primitive cell; force
    constants are indexed by supercell atoms (N of them, n_prim in the primitive cell).

    Attributes
    ----------
    unitcell, supercell, primitive : Cell
        The three cells.
    supercell_matrix : ndarray of int64, shape (3, 3)
        S.
    primitive_matrix : ndarray of float64, shape (3, 3)
        P.
    p2s : ndarray of int64, shape (n_prim,)
        Supercell index of each primitive atom.
    s2pp : ndarray of int64, shape (N,)
        Primitive index of each supercell atom.
    svecs : ndarray of float64, shape (n_vectors, 3)
        Shortest vectors of the (supercell atom, primitive atom) pairs, primitive
        fractional coordinates (phonopy's dense layout).
    multi : ndarray of int64, shape (N, n_prim, 2)
        Multiplicity of each pair's shortest vectors and their offset into ``svecs``.
    """

    unitcell: Cell
    supercell_matrix: NDArray[np.int64]
    primitive_matrix: NDArray[np.float64]
    supercell: Cell
    primitive: Cell
    p2s: NDArray[np.int64]  # supercell index of each primitive atom
    s2pp: NDArray[np.int64]  # primitive index of each supercell atom
    svecs: NDArray[np.float64]  # shortest vectors, primitive fractional coords (dense)
    multi: NDArray[np.int64]  # (N_super, n_prim, 2): multiplicity, offset into svecs

    @classmethod
    def build(
        cls, unitcell: Cell, supercell_matrix, primitive_matrix=None, symprec: float = 1e-5
    ) -> SupercellSetup:
        """Build the supercell and primitive cell of ``unitcell`` with phonopy.

        Parameters
        ----------
        unitcell : Cell
            The unit cell.
        supercell_matrix : array_like of int, shape (3,) or (3, 3)
            Supercell matrix S w.r.t. the unit cell (three integers mean a diagonal S).
        primitive_matrix : array_like of float, shape (3, 3), optional
            Primitive matrix P w.r.t. the unit cell (phonopy's convention); identity if
            None.
        symprec : float
            Symmetry tolerance in Å passed to phonopy.

        Returns
        -------
        SupercellSetup
            The three cells, the atom maps and the shortest-image vectors.

        Raises
        ------
        CellError
            If S is not an integer matrix of non-zero determinant or P does not fit the
            unit cell and supercell.
        """
        from phonopy.structure.cells import Primitive, get_supercell

        smat = np.array(supercell_matrix, dtype=np.int64)
        if smat.shape == (3,):
            smat = np.diag(smat)
        if smat.shape != (3, 3) or round(abs(np.linalg.det(smat))) < 1:
            raise CellError(
                f"supercell matrix must be 3 integers or a 3x3 integer matrix "
                f"with non-zero determinant, got {supercell_matrix!r}"
            )
        pmat = np.eye(3) if primitive_matrix is None else np.array(primitive_matrix, dtype=float)
        if pmat.shape != (3, 3):
            raise CellError(f"primitive matrix must be 3x3, got {pmat.shape}")
        scell = get_supercell(unitcell.to_phonopy(), smat, symprec=symprec)
        tmat = np.linalg.inv(smat) @ pmat
        try:
            prim = Primitive(scell, tmat, symprec=symprec)
        except (ValueError, RuntimeError) as exc:
            raise CellError(
                f"primitive matrix {pmat.tolist()} is inconsistent with the "
                f"unit cell and supercell matrix {smat.tolist()}: {exc}"
            ) from exc
        svecs, multi = prim.get_smallest_vectors()
        s2p = np.asarray(prim.s2p_map)
        p2p = prim.p2p_map
        s2pp = np.array([p2p[i] for i in s2p], dtype=np.int64)
        return cls(
            unitcell=unitcell,
            supercell_matrix=smat,
            primitive_matrix=pmat,
            supercell=Cell.from_phonopy(scell),
            primitive=Cell.from_phonopy(prim),
            p2s=np.asarray(prim.p2s_map, dtype=np.int64),
            s2pp=s2pp,
            svecs=np.asarray(svecs, dtype=float),
            multi=np.asarray(multi, dtype=np.int64),
        )

    @property
    def n_prim(self) -> int:
        """Number of atoms in the primitive cell."""
        return len(self.p2s)

    @property
    def n_super(self) -> int:
        """Number of atoms in the supercell."""
        return len(self.s2pp)

    def pair_images(
        self,
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
        """Flattened list of (primitive atom i, supercell atom j) shortest image vectors.

        Returns ``(i, j, vectors, weights)``: for each image of the pair (i, j) the
        vector from atom i to the image of j in primitive fractional coordinates and
        the weight 1/multiplicity (equal sharing between equidistant images).
        """
        counts = self.multi[:, :, 0].T  # (n_prim, N)
        offsets = self.multi[:, :, 1].T
        i_idx, j_idx = np.nonzero(counts >= 1)
        reps = counts[i_idx, j_idx]
        i_rep = np.repeat(i_idx, reps)
        j_rep = np.repeat(j_idx, reps)
        start = np.repeat(offsets[i_idx, j_idx], reps)
        within = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
        vectors = self.svecs[start + within]
        weights = 1.0 / np.repeat(reps, reps).astype(float)
        return i_rep, j_rep, vectors, weights

"""The force-constant model: cells plus real-space force constants of orders 2, 3, 4.

Storage (docs/conventions.md): arrays are indexed by supercell atoms in phonopy's order, with
the first index restricted to the atoms of the primitive cell ("compact" form):

* ``fc2``: (n_prim, N, 3, 3), eV/Å²
* ``fc3``: (n_prim, N, N, 3, 3, 3), eV/Å³
* ``fc4``: :class:`SparseForceConstants` of order 4, eV/Å⁴ (dense compact FC4 would
  need n_prim·N³·81 numbers, which is out of reach for the supercells of interest)

Full arrays (N, N, ...) given to the constructor are reduced to compact form.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .cell import Cell, SupercellSetup


class ForceConstantsError(ValueError):
    """Force constants do not match the cells they are used with."""


@dataclass(frozen=True)
class SparseForceConstants:
    """Force constants of order n as a list of atom clusters.

    ``atoms[m]`` holds n supercell indices whose first is an atom of the primitive
    cell (``setup.p2s``); ``values[m]`` the (3,)*n Cartesian tensor in eV/Å^n.  A
    cluster appears once per ordering that is stored; consumers treat the list as
    the full sum over all index orderings present, exactly like a dense array with
    zeros elsewhere.
    """

    order: int
    atoms: NDArray[np.int64]
    values: NDArray[np.float64]

    def __post_init__(self):
        """Check the shapes of ``atoms`` (M, n) and ``values`` (M, 3, ..., 3).

        Raises
        ------
        ForceConstantsError
            If the arrays do not fit the order or each other.
        """
        atoms = np.asarray(self.atoms, dtype=np.int64)
        values = np.asarray(self.values, dtype=float)
        n = self.order
        if atoms.ndim != 2 or atoms.shape[1] != n:
            raise ForceConstantsError(
                f"order-{n} clusters need atoms of shape (M, {n}), got {atoms.shape}"
            )
        if values.shape != (len(atoms),) + (3,) * n:
            raise ForceConstantsError(
                f"order-{n} values need shape (M,{' 3,' * n}) with "
                f"M={len(atoms)}, got {values.shape}"
            )
        object.__setattr__(self, "atoms", atoms)
        object.__setattr__(self, "values", values)

    def __len__(self) -> int:
        """Return the number of stored clusters M."""
        return len(self.atoms)

    def to_dense_compact(self, n_prim_index: NDArray[np.int64], n_super: int) -> NDArray:
        """Dense compact array (n_prim, N, ..., N, 3, ..., 3); small cells only."""
        shape = (len(n_prim_index),) + (n_super,) * (self.order - 1) + (3,) * self.order
        out = np.zeros(shape)
        first = np.searchsorted(n_prim_index, self.atoms[:, 0])
        idx = (first,) + tuple(self.atoms[:, k] for k in range(1, self.order))
        np.add.at(out, idx, self.values)
        return out

    @classmethod
    def from_dense_compact(
        cls, dense: NDArray, p2s: NDArray[np.int64], tol: float = 0.0
    ) -> SparseForceConstants:
        """Keep the clusters of a dense compact array whose tensor exceeds ``tol``.

        Parameters
        ----------
        dense : ndarray of float, shape (n_prim, N, ..., N, 3, ..., 3)
            Compact force constants of order n (n atom axes, n Cartesian axes), eV/Å^n.
        p2s : ndarray of int, shape (n_prim,)
            Supercell index of each primitive atom.
        tol : float
            Clusters whose largest absolute component is ``<= tol`` (eV/Å^n) are dropped.

        Returns
        -------
        SparseForceConstants
            The kept clusters, first atom as a supercell index.
        """
        order = (dense.ndim) // 2
        flat = dense.reshape(dense.shape[:order] + (-1,))
        keep = np.nonzero(np.abs(flat).max(axis=-1) > tol)
        atoms = np.stack((p2s[keep[0]],) + keep[1:], axis=1)
        return cls(order, atoms, dense[keep])


@dataclass(frozen=True)
class ForceConstants:
    """Harmonic and anharmonic real-space force constants of a crystal.

    Attributes
    ----------
    setup : SupercellSetup
        Unit cell, supercell (phonopy atom order) and primitive cell.
    fc2 : (n_prim, N, 3, 3) float, eV/Å²
    fc3 : (n_prim, N, N, 3, 3, 3) float or None, eV/Å³
    fc4 : SparseForceConstants or None, eV/Å⁴
    source : dict
        Provenance of the numbers (formats and file names), for the record.

    Raises :class:`ForceConstantsError` for arrays that do not fit the cells, for NaN or
    infinite values in any order, and for an FC3 that is zero everywhere (pass None
    instead: a zero FC3 means no three-phonon scattering and κ would silently be 0).
    An FC4 of zeros stays allowed here (it is the harmonic limit of SCP); files of zeros
    are refused by :func:`aiida_wigner.physics.io.load_force_constants`.
    """

    setup: SupercellSetup
    fc2: NDArray[np.float64]
    fc3: NDArray[np.float64] | None = None
    fc4: SparseForceConstants | None = None
    source: dict = field(default_factory=dict)

    def __post_init__(self):
        """Bring the arrays to compact shape and check them (see the class docstring)."""
        s = self.setup
        object.__setattr__(self, "fc2", _as_compact(self.fc2, 2, s, "fc2"))
        if self.fc3 is not None:
            object.__setattr__(self, "fc3", _as_compact(self.fc3, 3, s, "fc3"))
            if not np.any(self.fc3):
                raise ForceConstantsError(
                    "fc3 is zero everywhere: that is no three-phonon scattering at all (κ would "
                    "come out as 0, not infinite); give the real third-order force constants, "
                    "or none for harmonic-only quantities"
                )
        if self.fc4 is not None:
            fc4 = self.fc4
            if not isinstance(fc4, SparseForceConstants):
                fc4 = SparseForceConstants.from_dense_compact(_as_compact(fc4, 4, s, "fc4"), s.p2s)
            if fc4.order != 4:
                raise ForceConstantsError(f"fc4 must be of order 4, got order {fc4.order}")
            if len(fc4) and (fc4.atoms.max() >= s.n_super or fc4.atoms.min() < 0):
                raise ForceConstantsError(
                    f"fc4 atom indices out of range for a supercell of {s.n_super} atoms"
                )
            if len(fc4) and not np.all(np.isin(fc4.atoms[:, 0], s.p2s)):
                raise ForceConstantsError(
                    "fc4 clusters must start with an atom of the primitive cell (phonopy p2s map)"
                )
            object.__setattr__(self, "fc4", fc4)
        for name, values in (
            ("fc2", self.fc2),
            ("fc3", self.fc3),
            ("fc4", None if self.fc4 is None else self.fc4.values),
        ):
            bad = 0 if values is None else np.size(values) - np.count_nonzero(np.isfinite(values))
            if bad:
                raise ForceConstantsError(
                    f"{name} holds {bad} non-finite values (NaN or inf): "
                    f"the force constants are broken; recompute or "
                    f"re-export them"
                )

    @property
    def primitive(self) -> Cell:
        """The primitive cell, on which phonons live."""
        return self.setup.primitive

    @property
    def supercell(self) -> Cell:
        """The supercell, whose atoms index the force constants."""
        return self.setup.supercell

    @property
    def orders(self) -> list[int]:
        """Orders present, e.g. [2, 3]."""
        return [2] + [n for n, fc in ((3, self.fc3), (4, self.fc4)) if fc is not None]

    def with_masses(self, masses) -> ForceConstants:
        """Return the same force constants with other primitive-cell masses.

        Parameters
        ----------
        masses : array_like of float, shape (n_prim,)
            One mass per primitive atom, in amu; equivalent atoms of the unit cell and
            supercell get the mass of their primitive atom.

        Returns
        -------
        ForceConstants
            The same arrays (eV/Å^n) on cells with the new masses.

        Raises
        ------
        ForceConstantsError
            If ``masses`` does not have one entry per primitive atom.
        """
        s = self.setup
        masses = np.asarray(masses, dtype=float)
        if masses.shape != (s.n_prim,):
            raise ForceConstantsError(f"need {s.n_prim} masses, got {masses.shape}")
        unit_masses = masses[_unit_to_prim(s)]
        setup = SupercellSetup.build(
            s.unitcell.with_masses(unit_masses), s.supercell_matrix, s.primitive_matrix
        )
        return ForceConstants(setup, self.fc2, self.fc3, self.fc4, dict(self.source))

    def full_fc2(self) -> NDArray[np.float64]:
        """FC2 as a full (N, N, 3, 3) array, expanded by the supercell's lattice translations."""
        return compact_to_full_fc2(self.fc2, self.setup)


def _unit_to_prim(setup: SupercellSetup) -> NDArray[np.int64]:
    """Primitive index of each unit-cell atom, found by position in the supercell."""
    sc = setup.supercell
    frac = setup.unitcell.cartesian_positions @ np.linalg.inv(sc.lattice)
    d = frac[:, None, :] - sc.positions[None, :, :]
    d -= np.rint(d)
    match = np.argmin(np.linalg.norm(d @ sc.lattice, axis=-1), axis=1)
    return setup.s2pp[match]


def _as_compact(fc, order: int, setup: SupercellSetup, name: str) -> NDArray[np.float64]:
    fc = np.asarray(fc, dtype=float)
    n, N = setup.n_prim, setup.n_super
    tail = (N,) * (order - 1) + (3,) * order
    if fc.shape == (N,) + tail:
        fc = fc[setup.p2s]
    if fc.shape != (n,) + tail:
        raise ForceConstantsError(
            f"{name} has shape {fc.shape}; for a supercell of {N} atoms with {n} atoms in the "
            f"primitive cell expected compact {(n,) + tail} or full {(N,) + tail}"
        )
    return np.ascontiguousarray(fc)


def compact_to_full_fc2(fc2: NDArray, setup: SupercellSetup) -> NDArray[np.float64]:
    """Expand compact FC2 to (N, N, 3, 3) using the lattice translations of the supercell."""
    from phonopy.harmonic.force_constants import compact_fc_to_full_fc
    from phonopy.structure.cells import Primitive

    scell = setup.supercell.to_phonopy()
    tmat = np.linalg.inv(setup.supercell_matrix) @ setup.primitive_matrix
    prim = Primitive(scell, tmat)
    return compact_fc_to_full_fc(prim, np.array(fc2))

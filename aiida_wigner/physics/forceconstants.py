"""The force-constant model: cells plus real-space force constants of orders 2, 3, 4.

Storage (docs/conventions.md): arrays are indexed by supercell atoms in phonopy's order, with
the first index restricted to the atoms of the primitive cell ("compact" form):

* ``fc2``: (n_prim, N, 3, 3), eV/Å²
* ``fc3``: :class:`SparseForceConstants` of order 3, eV/Å³: the non-zero (a, j, k) atom
  triplets of the compact (n_prim, N, N, 3, 3, 3) array, in its row-major order (the cubic
  kernel reads only these; the dense array of a 4×4×2 supercell of 8 atoms is 113 MB, its
  clusters within the cut-off ~10 MB); :meth:`ForceConstants.dense_fc3` rebuilds the dense
  array for the few consumers that need it
* ``fc4``: :class:`SparseForceConstants` of order 4, eV/Å⁴ (dense compact FC4 would
  need n_prim·N³·81 numbers, which is out of reach for the supercells of interest)

Full arrays (N, N, ...) given to the constructor are reduced to compact form, dense FC3
and FC4 to their clusters.
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

    A cluster appears once per ordering that is stored; consumers treat the list as the
    full sum over all index orderings present, exactly like a dense array with zeros
    elsewhere.

    Attributes
    ----------
    order : int
        n.
    atoms : ndarray of int64, shape (M, n)
        Supercell indices of each cluster; the first is an atom of the primitive cell
        (``setup.p2s``).
    values : ndarray of float64, shape (M, 3, ..., 3)
        The (3,)*n Cartesian tensor of each cluster, eV/Å^n.
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
        flat = np.ravel_multi_index(idx, shape[: self.order])
        if len(np.unique(flat)) == len(flat):
            out[idx] = self.values  # bit for bit, -0.0 included
        else:
            np.add.at(out, idx, self.values)
        return out

    @classmethod
    def from_dense_compact(
        cls, dense, p2s: NDArray[np.int64], tol: float = 0.0
    ) -> SparseForceConstants:
        """Keep the clusters of a dense compact array whose tensor exceeds ``tol``.

        Parameters
        ----------
        dense : ndarray of float, shape (n_prim, N, ..., N, 3, ..., 3), or any sequence of
            its rows (an h5py dataset: read one row at a time)
            Compact force constants of order n (n atom axes, n Cartesian axes), eV/Å^n.
        p2s : ndarray of int, shape (n_prim,)
            Supercell index of each primitive atom.
        tol : float
            Clusters whose largest absolute component is ``<= tol`` (eV/Å^n) are dropped;
            clusters holding NaN or inf are kept (for the caller's finiteness check).

        Returns
        -------
        SparseForceConstants
            The kept clusters in row-major (a, j, k, ...) order, first atom as a supercell
            index.
        """
        atoms, values = [], []
        for a, row in enumerate(dense):  # one primitive row at a time: no temporary of FC size
            row = np.asarray(row, dtype=float)
            order = row.ndim // 2 + 1
            flat = row.reshape(row.shape[: order - 1] + (-1,))
            keep = np.nonzero(~(np.abs(flat).max(axis=-1) <= tol))
            atoms.append(np.stack((np.full(len(keep[0]), p2s[a]),) + keep, axis=1))
            values.append(row[keep])
        return cls(order, np.concatenate(atoms), np.concatenate(values))


@dataclass(frozen=True)
class ForceConstants:
    """Harmonic and anharmonic real-space force constants of a crystal.

    Attributes
    ----------
    setup : SupercellSetup
        Unit cell, supercell (phonopy atom order) and primitive cell.
    fc2 : (n_prim, N, 3, 3) float, eV/Å²
    fc3 : SparseForceConstants or None, eV/Å³ (a dense compact or full array given to
        the constructor is stored as its clusters; :meth:`dense_fc3` gives it back)
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
    fc3: SparseForceConstants | None = None
    fc4: SparseForceConstants | None = None
    source: dict = field(default_factory=dict)

    def __post_init__(self):
        """Bring the arrays to compact shape and check them (see the class docstring)."""
        s = self.setup
        object.__setattr__(self, "fc2", _as_compact(self.fc2, 2, s, "fc2"))
        _check_finite("fc2", self.fc2)
        for order in (3, 4):
            name = f"fc{order}"
            fc = getattr(self, name)
            if fc is None:
                continue
            if not isinstance(fc, SparseForceConstants):
                fc = SparseForceConstants.from_dense_compact(_as_compact(fc, order, s, name), s.p2s)
            if fc.order != order:
                raise ForceConstantsError(f"{name} must be of order {order}, got order {fc.order}")
            if len(fc) and (fc.atoms.max() >= s.n_super or fc.atoms.min() < 0):
                raise ForceConstantsError(
                    f"{name} atom indices out of range for a supercell of {s.n_super} atoms"
                )
            if len(fc) and not np.all(np.isin(fc.atoms[:, 0], s.p2s)):
                raise ForceConstantsError(
                    f"{name} clusters must start with an atom of the primitive cell "
                    f"(phonopy p2s map)"
                )
            _check_finite(name, fc.values)
            object.__setattr__(self, name, fc)
        if self.fc3 is not None and not np.any(self.fc3.values):
            raise ForceConstantsError(
                "fc3 is zero everywhere: that is no three-phonon scattering at all (κ would "
                "come out as 0, not infinite); give the real third-order force constants, "
                "or none for harmonic-only quantities"
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

    def dense_fc3(self) -> NDArray[np.float64] | None:
        """Return FC3 as the dense compact (n_prim, N, N, 3, 3, 3) array in eV/Å³.

        Built on each call (113 MB for 8 atoms in a 256-atom supercell): for storage and
        small cells; the kernels read the clusters ``fc3``.
        """
        if self.fc3 is None:
            return None
        return self.fc3.to_dense_compact(self.setup.p2s, self.setup.n_super)

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


def _check_finite(name: str, values: NDArray) -> None:
    bad = np.size(values) - np.count_nonzero(np.isfinite(values))
    if bad:
        raise ForceConstantsError(
            f"{name} holds {bad} non-finite values (NaN or inf): "
            f"the force constants are broken; recompute or re-export them"
        )


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

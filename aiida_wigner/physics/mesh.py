"""Γ-centred q-meshes, their symmetry reduction and tensor symmetrization.

A grid point is an integer address g with 0 ≤ g_i < m_i; its q-point in reduced
coordinates of the primitive reciprocal lattice is q = g / m.  Rotations are the
point-group operations R of the primitive cell in reduced direct coordinates
(x' = R x); they act on reduced q-points as q' = R^-T q.  Time reversal (q → −q)
is always a symmetry of the phonon spectrum and is used for the reduction.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import spglib
from numpy.typing import NDArray

from .cell import Cell


class MeshError(ValueError):
    """The q-mesh is inconsistent with the crystal symmetry or malformed."""


def grid_addresses(mesh) -> NDArray[np.int64]:
    """All addresses of a Γ-centred mesh, first index fastest (phono3py's order)."""
    mesh = np.asarray(mesh)
    g = np.indices(mesh[::-1]).reshape(3, -1).T[:, ::-1]
    return np.ascontiguousarray(g, dtype=np.int64)


def grid_index(addresses, mesh) -> NDArray[np.int64]:
    """Index of (any integer) addresses in :func:`grid_addresses` order, modulo the mesh."""
    mesh = np.asarray(mesh)
    g = np.mod(addresses, mesh)
    return g[..., 0] + mesh[0] * (g[..., 1] + mesh[1] * g[..., 2])


def point_group_rotations(cell: Cell, symprec: float = 1e-5) -> NDArray[np.int64]:
    """Return the unique rotations of the space group of ``cell``.

    Parameters
    ----------
    cell : Cell
        The crystal (primitive cell for phonons).
    symprec : float
        Symmetry tolerance in Å passed to spglib.

    Returns
    -------
    ndarray of int64, shape (n_rot, 3, 3)
        Rotation parts in reduced direct coordinates, each once.

    Raises
    ------
    MeshError
        If spglib cannot determine the symmetry.
    """
    sym = spglib.get_symmetry(cell.spglib_cell, symprec=symprec)
    if sym is None:
        raise MeshError("spglib could not determine the symmetry of the cell")
    return np.unique(np.asarray(sym["rotations"], dtype=np.int64), axis=0)


def reciprocal_rotations(rotations, mesh) -> NDArray[np.int64]:
    """Actions of the rotations on grid addresses, as integer matrices on g.

    Returns the matrices M with g' = M g (mod m) for rotations that map the mesh onto
    itself; raises :class:`MeshError` if any point-group operation does not (e.g. an
    8×8×4 mesh is fine for tetragonal symmetry, a 8×6×4 mesh is not).
    """
    mesh = np.asarray(mesh, dtype=float)
    out = []
    for r in rotations:
        rt_inv = np.linalg.inv(r).T  # q' = R^-T q
        m = np.diag(mesh) @ rt_inv @ np.diag(1.0 / mesh)
        if not np.allclose(m, np.rint(m), atol=1e-8):
            raise MeshError(
                f"mesh {mesh.astype(int).tolist()} is not compatible with the "
                f"crystal symmetry: choose mesh numbers equal along "
                f"symmetry-equivalent axes"
            )
        out.append(np.rint(m).astype(np.int64))
    return np.array(out)


@dataclass(frozen=True)
class QMesh:
    """A Γ-centred q-mesh on the primitive cell with its irreducible points.

    Attributes
    ----------
    mesh : (3,) int
    addresses : (n_q, 3) int, all grid points
    rotations : (n_rot, 3, 3) int, point group in reduced direct coordinates
    grid_rotations : (n_rot, 3, 3) int, their action on addresses (g' = M g)
    ir_grid : (n_ir,) int, index of each irreducible point
    weights : (n_ir,) int, number of grid points it represents (sum = n_q)
    to_ir : (n_q,) int, index into ``ir_grid`` of the irreducible point of each point
    """

    cell: Cell
    mesh: NDArray[np.int64]
    addresses: NDArray[np.int64]
    rotations: NDArray[np.int64]
    grid_rotations: NDArray[np.int64]
    ir_grid: NDArray[np.int64]
    weights: NDArray[np.int64]
    to_ir: NDArray[np.int64]

    @classmethod
    def build(cls, cell: Cell, mesh, symmetry: bool = True, symprec: float = 1e-5) -> QMesh:
        """Build the Γ-centred mesh on ``cell`` and reduce it by the point group.

        Parameters
        ----------
        cell : Cell
            The primitive cell.
        mesh : array_like of int, shape (3,)
            Number of points along each reciprocal lattice vector.
        symmetry : bool
            Reduce to irreducible points with the point group; False uses the identity
            only (time reversal, q ≡ -q, still applies).
        symprec : float
            Symmetry tolerance in Å passed to spglib.

        Returns
        -------
        QMesh
            The mesh with its irreducible points, weights and maps.

        Raises
        ------
        MeshError
            If the mesh is not three positive integers or breaks the crystal symmetry.
        """
        mesh = np.asarray(mesh, dtype=np.int64).reshape(-1)
        if mesh.shape != (3,) or mesh.min() < 1:
            raise MeshError(f"mesh must be three positive integers, got {mesh.tolist()}")
        addresses = grid_addresses(mesh)
        if symmetry:
            rotations = point_group_rotations(cell, symprec)
        else:
            rotations = np.eye(3, dtype=np.int64)[None]
        grot = reciprocal_rotations(rotations, mesh)
        orbit = orbit_indices(addresses, mesh, grot, time_reversal=True)
        rep = orbit.min(axis=0)
        ir_grid, to_ir, weights = np.unique(rep, return_inverse=True, return_counts=True)
        return cls(cell, mesh, addresses, rotations, grot, ir_grid, weights, to_ir)

    @property
    def n_q(self) -> int:
        """Number of points of the full mesh."""
        return len(self.addresses)

    @property
    def qpoints(self) -> NDArray[np.float64]:
        """All q-points, reduced coordinates in [0, 1)."""
        return self.addresses / self.mesh

    @property
    def ir_qpoints(self) -> NDArray[np.float64]:
        """Irreducible q-points (n_ir, 3), reduced coordinates in [0, 1)."""
        return self.qpoints[self.ir_grid]

    @cached_property
    def cartesian_rotations(self) -> NDArray[np.float64]:
        """Point-group rotations in Cartesian coordinates (for tensors)."""
        lat = self.cell.lattice.T  # columns are lattice vectors
        return np.einsum("ij,rjk,kl->ril", lat, self.rotations, np.linalg.inv(lat))

    def symmetrize_tensor(self, tensor: NDArray) -> NDArray:
        """Average rank-2 Cartesian tensors (..., 3, 3) over the point group."""
        r = self.cartesian_rotations
        return np.einsum("rai,...ij,rbj->...ab", r, tensor, r) / len(r)

    def little_group(self, grid_point: int) -> NDArray[np.int64]:
        """Grid rotations that leave the grid point invariant (mod the mesh)."""
        keep = stabilizer_mask(self.grid_rotations, self.addresses[[grid_point]], self.mesh)
        return self.grid_rotations[keep[:, 0]]


def stabilizer_mask(operations, addresses, mesh, exact: bool = False) -> NDArray[np.bool_]:
    """Tell which grid operations fix which addresses.

    Parameters
    ----------
    operations : ndarray of int, shape (n_ops, 3, 3)
        Grid operations M acting on addresses (g' = M g), e.g. ``QMesh.grid_rotations``.
    addresses : ndarray of int, shape (n_points, 3)
        Grid addresses g.
    mesh : array_like of int, shape (3,)
        The mesh.
    exact : bool
        False: M g ≡ g modulo the mesh (the little group); True: M g = g for the address in
        [0, m) (no reciprocal-lattice shift; ShengBTE's rule for its symmetrized velocities).

    Returns
    -------
    ndarray of bool, shape (n_ops, n_points)
        True where the operation fixes the address.
    """
    addresses = np.asarray(addresses)
    moved = np.einsum("rij,qj->rqi", np.asarray(operations), addresses) - addresses[None]
    return np.all((moved if exact else np.mod(moved, np.asarray(mesh))) == 0, axis=-1)


def orbit_indices(addresses, mesh, grid_rotations, time_reversal=True) -> NDArray[np.int64]:
    """Grid indices of the images of every address: (n_ops, n_points)."""
    images = np.einsum("rij,nj->rni", grid_rotations, addresses)
    idx = grid_index(images, mesh)
    if time_reversal:
        idx = np.concatenate([idx, grid_index(-images, mesh)])
    return idx


@dataclass(frozen=True)
class Triplets:
    """Irreducible pairs (q1, q2 = −q0 − q1 + G) for a fixed q0 on the mesh.

    The summand of the three-phonon sum is invariant under the little group of q0
    and under the exchange q1 ↔ q2, so each orbit is represented once with its size
    as ``weights`` (sum = n_q).
    """

    grid_point: int
    q1: NDArray[np.int64]
    q2: NDArray[np.int64]
    weights: NDArray[np.int64]


def triplets_at_q(qmesh: QMesh, grid_point: int, symmetry: bool = True) -> Triplets:
    """Irreducible triplets (q0, q1, q2) with q0 + q1 + q2 = G for grid point q0."""
    mesh = qmesh.mesh
    g0 = qmesh.addresses[grid_point]
    addresses = qmesh.addresses
    g2_all = np.mod(-g0[None, :] - addresses, mesh)
    if symmetry:
        little = qmesh.little_group(grid_point)
        rotated = np.einsum("rij,nj->rni", little, addresses)
        idx1 = grid_index(rotated, mesh)
        idx2 = grid_index(-g0[None, None, :] - rotated, mesh)
        rep = np.concatenate([idx1, idx2]).min(axis=0)
    else:
        rep = np.arange(len(addresses))
    q1, weights = np.unique(rep, return_counts=True)
    q2 = grid_index(g2_all[q1], mesh)
    return Triplets(grid_point, q1, q2, weights)

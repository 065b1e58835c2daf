"""Effective (temperature-dependent) harmonic models from renormalized D(q).

A renormalization gives dynamical matrices on a Γ-centred *outer* mesh.  They are
carried to any q by Fourier interpolation: the outer mesh m is commensurate with the
supercell S_m = diag(m) of the primitive cell, on which

    Φ(a, j) = sqrt(m_a m_b) / N_m Σ_q D_ab(q) exp(−2πi q·r_{a→j})     (b = atom of j)

reproduces D exactly at the mesh points; off the mesh the periodic images of j are
shared equally (phonopy's convention, :class:`DynamicalMatrixBuilder`).  As in ALAMODE,
only the anharmonic *correction* ΔD = D − D_harmonic is interpolated: the harmonic part
keeps its own range, ``D_eff(q) = D_harm(q) + ΔD_interp(q)``.

For export, both parts are moved without loss onto one supercell S' whose lattice lies
in the lattices of both the force-constant supercell and S_m (:func:`common_supercell_setup`):
an FC2 on a supercell S is re-indexed exactly onto any supercell S' ⊂ S by sending each
periodic image of each pair, with its weight, to the atom of S' it lands on
(:func:`transfer_fc2`).  The effective FC2 on S' then gives D_eff(q) at *every* q, the
same numbers the κ step uses; it is written as phonopy compact FORCE_CONSTANTS (eV/Å²)
on the input unit cell with the supercell matrix of S'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from ..cell import Cell, SupercellSetup
from ..forceconstants import ForceConstants, ForceConstantsError
from ..harmonic import DynamicalMatrixBuilder, Phonons, frequencies_from_eigenvalues
from ..mesh import grid_addresses
from ..units import EIGENVALUE_TO_THZ


class EffectiveModelError(ForceConstantsError):
    """An effective model does not fit the cells, meshes or force constants it is used with."""


def mesh_supercell_setup(primitive: Cell, mesh) -> SupercellSetup:
    """Build the supercell diag(mesh) of the primitive cell, with the primitive as unit cell.

    Parameters
    ----------
    primitive : Cell
        The primitive cell.
    mesh : array_like of int, shape (3,)
        The Γ-centred mesh whose points are the commensurate q-points of the supercell.

    Returns
    -------
    SupercellSetup
        Supercell matrix diag(mesh) on ``primitive``.
    """
    mesh = np.asarray(mesh, dtype=np.int64).reshape(3)
    return SupercellSetup.build(primitive, np.diag(mesh))


def primitive_supercell_matrix(setup: SupercellSetup) -> NDArray[np.int64]:
    """Return the supercell lattice vectors of ``setup`` as rows in primitive-cell coordinates.

    phonopy's matrices act on lattice *columns*: supercell rows = Sᵀ·unit rows, primitive
    rows = Pᵀ·unit rows, so this is Sᵀ(Pᵀ)⁻¹, an integer (3, 3) matrix.
    """
    smat = setup.supercell_matrix.T @ np.linalg.inv(setup.primitive_matrix.T)
    smat_int = np.rint(smat).astype(np.int64)
    if not np.allclose(smat, smat_int, atol=1e-6):
        raise EffectiveModelError("the supercell is not an integer multiple of the primitive cell")
    return smat_int


def common_supercell_setup(setup: SupercellSetup, mesh) -> SupercellSetup:
    """Find the smallest supercell diag(s) of the primitive cell in both ``setup`` and diag(mesh).

    s_i = lcm(c_i, mesh_i), with c_i the smallest integer for which c_i times the i-th
    primitive vector is a lattice vector of ``setup``'s supercell (c = the diagonal for a
    diagonal supercell of the primitive cell).

    Parameters
    ----------
    setup : SupercellSetup
        The supercell of the force constants.
    mesh : array_like of int, shape (3,)
        The outer mesh of a renormalization.

    Returns
    -------
    SupercellSetup
        On ``setup``'s unit cell and primitive matrix with supercell matrix P·diag(s)
        (integer because c_i a_i is a supercell vector); ``setup`` itself when it already
        is that supercell.
    """
    a = primitive_supercell_matrix(setup)
    det = int(round(np.linalg.det(a)))
    adjugate = np.rint(np.linalg.inv(a) * det).astype(np.int64)
    c = abs(det) // np.gcd.reduce(np.column_stack([np.full(3, abs(det)), adjugate]), axis=1)
    s = np.lcm(c, np.asarray(mesh, dtype=np.int64).reshape(3))
    smat = np.rint(setup.primitive_matrix @ np.diag(s)).astype(np.int64)
    if np.array_equal(smat, setup.supercell_matrix):
        return setup
    return SupercellSetup.build(setup.unitcell, smat, setup.primitive_matrix)


def _primitive_rows(source: SupercellSetup, target: SupercellSetup) -> NDArray[np.int64]:
    """Primitive atom of ``target`` that is each primitive atom of ``source``."""
    if not np.allclose(source.primitive.lattice, target.primitive.lattice, atol=1e-8):
        raise EffectiveModelError("the supercells are not built on the same primitive cell")
    diff = source.primitive.positions[:, None] - target.primitive.positions[None]
    match = np.abs(diff - np.rint(diff)).max(axis=-1) < 1e-5
    if not np.array_equal(match.sum(axis=1), np.ones(len(match))):
        raise EffectiveModelError("the supercells do not hold the same primitive atoms")
    return np.argmax(match, axis=1)


def _cell_keys(setup: SupercellSetup, cartesian: NDArray, atom: NDArray) -> NDArray[np.int64]:
    """One integer per (primitive atom, lattice translation modulo the supercell).

    ``cartesian`` (P, 3) Å are positions of primitive atoms ``atom`` (P,) translated by
    lattice vectors; equal keys = the same atom of ``setup``'s supercell.
    """
    a = primitive_supercell_matrix(setup)
    t = cartesian @ np.linalg.inv(setup.primitive.lattice) - setup.primitive.positions[atom]
    cells = np.rint(t)
    if not np.allclose(t, cells, atol=1e-5):
        raise EffectiveModelError("a position is not a lattice translation of a primitive atom")
    u = cells @ np.linalg.inv(a)  # supercell fractional coordinates
    bound = int(np.abs(a).sum())  # |components| of a canonical translation
    reduced = np.rint((u - np.floor(u + 1e-9)) @ a).astype(np.int64) + bound  # u in [0, 1)
    span = 2 * bound + 1
    return (atom * span + reduced[:, 0]) * span**2 + reduced[:, 1] * span + reduced[:, 2]


def transfer_fc2(
    fc2: NDArray, source: SupercellSetup, target: SupercellSetup
) -> NDArray[np.float64]:
    """Re-index a compact FC2 from ``source`` onto ``target`` with D(q) unchanged at every q.

    Exact when the supercell lattice of ``target`` is a sublattice of ``source``'s (both
    on the same primitive cell): every periodic image of a pair keeps its own vector and
    weight, and images that fall on one atom of ``target`` are exactly its equidistant
    images there, which the shared-image convention weighs equally again.

    Parameters
    ----------
    fc2 : ndarray of float, shape (n_prim, N_source, 3, 3)
        Compact FC2 on ``source``, eV/Å².
    source, target : SupercellSetup
        The supercells, built on the same primitive cell.

    Returns
    -------
    ndarray of float64, shape (n_prim, N_target, 3, 3)
        Compact FC2 on ``target`` in eV/Å², rows in ``target``'s primitive order.

    Raises
    ------
    EffectiveModelError
        If ``target``'s supercell is not a multiple of ``source``'s.
    """
    m = primitive_supercell_matrix(target) @ np.linalg.inv(primitive_supercell_matrix(source))
    if not np.allclose(m, np.rint(m), atol=1e-6):
        raise EffectiveModelError(
            f"supercell {target.supercell_matrix.tolist()} is not a "
            f"multiple of {source.supercell_matrix.tolist()}"
        )
    rows = _primitive_rows(source, target)
    i, j, vectors, weights = source.pair_images()
    a, b = rows[i], rows[source.s2pp[j]]
    ends = target.supercell.cartesian_positions[target.p2s[a]] + vectors @ source.primitive.lattice
    keys = _cell_keys(target, ends, b)
    atom_keys = _cell_keys(target, target.supercell.cartesian_positions, target.s2pp)
    order = np.argsort(atom_keys)
    cols = order[np.searchsorted(atom_keys[order], keys)]
    out = np.zeros((target.n_prim, target.n_super, 3, 3))
    np.add.at(out, (a, cols), fc2[i, j] * weights[:, None, None])
    return out


def fc2_from_dynamical_matrices(
    dynmats: NDArray, qpoints: NDArray, setup: SupercellSetup
) -> NDArray[np.float64]:
    """Build a compact FC2 from dynamical matrices at the commensurate q-points.

    Parameters
    ----------
    dynmats : ndarray of complex, shape (n_q, B, B)
        D(q) in THz² (B = 3 n_prim).
    qpoints : ndarray of float, shape (n_q, 3)
        Reduced q-points: exactly the points commensurate with ``setup``'s supercell
        (e.g. the Γ-centred mesh m for ``mesh_supercell_setup(primitive, m)``).
    setup : SupercellSetup
        The supercell of the result.

    Returns
    -------
    ndarray of float64, shape (n_prim, N, 3, 3)
        Compact FC2 in eV/Å² that reproduces ``dynmats`` at ``qpoints``.

    Raises
    ------
    EffectiveModelError
        If the number of q-points or the shape of ``dynmats`` does not fit ``setup``.
    """
    dm = np.asarray(dynmats)
    q = np.atleast_2d(np.asarray(qpoints, dtype=float))
    n, N = setup.n_prim, setup.n_super
    if len(q) != N // n:
        raise EffectiveModelError(
            f"{len(q)} q-points for a supercell of {N // n} primitive "
            f"cells: need exactly the commensurate points"
        )
    if dm.shape != (len(q), 3 * n, 3 * n):
        raise EffectiveModelError(
            f"dynamical matrices of shape {dm.shape}, expected {(len(q), 3 * n, 3 * n)}"
        )
    i, j, vectors, _ = setup.pair_images()
    # one image per (i, j): at commensurate q every image has the same phase
    _, first = np.unique(i * N + j, return_index=True)
    i, j, vectors = i[first], j[first], vectors[first]
    b = setup.s2pp[j]
    blocks = dm.reshape(len(q), n, 3, n, 3).transpose(0, 1, 3, 2, 4)[:, i, b]  # (q, P, 3, 3)
    phase = np.exp(-2j * np.pi * q @ vectors.T)  # (q, P)
    fc = np.einsum("qp,qpxy->pxy", phase, blocks) / len(q)
    scale = np.sqrt(setup.primitive.masses[i] * setup.primitive.masses[b]) / EIGENVALUE_TO_THZ**2
    out = np.zeros((n, N, 3, 3))
    out[i, j] = fc.real * scale[:, None, None]
    return out


@dataclass
class EffectiveHarmonicModel:
    """Harmonic FC2 plus a Fourier-interpolated correction: D_eff(q) = D_harm(q) + ΔD(q).

    Same interface as :class:`DynamicalMatrixBuilder` (``dynamical_matrices``,
    ``derivatives``), so it is the ``builder`` of ``solve``/``velocity_operator`` and of the
    κ step on renormalized phonons.

    Parameters
    ----------
    fc : ForceConstants
        The bare force constants (their FC2 gives D_harm).
    mesh : ndarray of int64, shape (3,)
        The outer mesh on which the correction is known.
    delta_dynmat : ndarray of complex128, shape (n_mesh, B, B)
        ΔD on the outer mesh in :func:`grid_addresses` order, THz².
    temperature : float or None
        K, for the record.
    label : str
        The kind of the renormalization (``"scp"``, ``"scpb-qp"``, ..., ``"harmonic"``),
        recorded in the ``source`` of :meth:`force_constants`.
    """

    fc: ForceConstants
    mesh: NDArray[np.int64]
    delta_dynmat: NDArray[np.complex128]
    temperature: float | None = None
    label: str = "scp"
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        """Normalize the mesh and check the shape of ΔD against it."""
        self.mesh = np.asarray(self.mesh, dtype=np.int64).reshape(3)
        b = 3 * self.fc.setup.n_prim
        n_q = int(np.prod(self.mesh))
        self.delta_dynmat = np.asarray(self.delta_dynmat, dtype=complex)
        if self.delta_dynmat.shape != (n_q, b, b):
            raise EffectiveModelError(
                f"ΔD has shape {self.delta_dynmat.shape}, expected "
                f"{(n_q, b, b)} for mesh {self.mesh.tolist()}"
            )

    @classmethod
    def harmonic(cls, fc: ForceConstants, mesh=(1, 1, 1)) -> EffectiveHarmonicModel:
        """Build the bare harmonic model (zero correction)."""
        b = 3 * fc.setup.n_prim
        n_q = int(np.prod(mesh))
        return cls(fc, np.asarray(mesh), np.zeros((n_q, b, b), dtype=complex), None, "harmonic")

    @property
    def mesh_qpoints(self) -> NDArray[np.float64]:
        """Reduced q-points of the outer mesh, (n_mesh, 3), :func:`grid_addresses` order."""
        return grid_addresses(self.mesh) / self.mesh

    @cached_property
    def outer_setup(self) -> SupercellSetup:
        """The supercell diag(mesh) on which the correction is an FC2."""
        return mesh_supercell_setup(self.fc.setup.primitive, self.mesh)

    @cached_property
    def harmonic_builder(self) -> DynamicalMatrixBuilder:
        """D_harm(q) from the bare FC2."""
        return DynamicalMatrixBuilder(self.fc)

    @cached_property
    def delta_fc2(self) -> NDArray[np.float64]:
        """The correction as compact FC2 on the outer-mesh supercell, eV/Å²."""
        return fc2_from_dynamical_matrices(self.delta_dynmat, self.mesh_qpoints, self.outer_setup)

    @cached_property
    def _delta_builder(self) -> DynamicalMatrixBuilder | None:
        if not np.any(self.delta_dynmat):
            return None
        return DynamicalMatrixBuilder(ForceConstants(self.outer_setup, self.delta_fc2))

    def dynamical_matrices(self, qpoints) -> NDArray[np.complex128]:
        """D_eff(q) in THz², (n_q, B, B)."""
        q = np.atleast_2d(np.asarray(qpoints, dtype=float))
        d = self.harmonic_builder.dynamical_matrices(q)
        if self._delta_builder is not None:
            d = d + self._delta_builder.dynamical_matrices(q)
        return d

    def derivatives(self, qpoints) -> NDArray[np.complex128]:
        """∂D_eff/∂q_α (Cartesian q in 1/Å, no 2π) in THz²·Å, (n_q, 3, B, B)."""
        q = np.atleast_2d(np.asarray(qpoints, dtype=float))
        d = self.harmonic_builder.derivatives(q)
        if self._delta_builder is not None:
            d = d + self._delta_builder.derivatives(q)
        return d

    def phonons(self, qpoints) -> Phonons:
        """Renormalized frequencies (THz; negative = imaginary) and eigenvectors."""
        q = np.atleast_2d(np.asarray(qpoints, dtype=float))
        w2, vecs = np.linalg.eigh(self.dynamical_matrices(q))
        return Phonons(q, frequencies_from_eigenvalues(w2), vecs)

    @cached_property
    def export_setup(self) -> SupercellSetup:
        """The supercell of the effective FC2 (:func:`common_supercell_setup`)."""
        return common_supercell_setup(self.fc.setup, self.mesh)

    def force_constants(self) -> ForceConstants:
        """Return the effective FC2 (eV/Å²) on :attr:`export_setup`: D_eff(q) at every q.

        The harmonic FC2 and the correction ΔΦ on diag(mesh) are both carried over by
        :func:`transfer_fc2`, so phonopy on this FC2 gives the phonons of
        :meth:`dynamical_matrices` everywhere, not only at the mesh points.  FC2 only.
        """
        target = self.export_setup
        fc2 = transfer_fc2(self.fc.fc2, self.fc.setup, target)
        if np.any(self.delta_dynmat):
            fc2 += transfer_fc2(self.delta_fc2, self.outer_setup, target)
        source = dict(
            self.fc.source,
            renormalized=self.label,
            temperature=self.temperature,
            outer_mesh=self.mesh.tolist(),
        )
        return ForceConstants(target, fc2, source=source)

    def write_force_constants(self, path) -> ForceConstants:
        """Write :meth:`force_constants` as phonopy compact FORCE_CONSTANTS; returns it."""
        from ..io.phonopy_format import write_force_constants

        fc = self.force_constants()
        write_force_constants(path, fc.fc2, fc.setup.p2s)
        return fc


class FC2Transform:
    """Precomputed Fourier map compact FC2 (on ``setup``) → D(q) at fixed q-points.

    Same convention as :class:`DynamicalMatrixBuilder` (images shared equally), but the
    phases are stored once so that repeated transforms of changing FC2 (an SCP loop)
    cost one contraction each.
    """

    def __init__(self, setup: SupercellSetup, qpoints):
        from ..interactions import PairPhases

        self.setup = setup
        self.qpoints = np.atleast_2d(np.asarray(qpoints, dtype=float))
        self.phases = PairPhases(setup).averaged(self.qpoints)  # (n_q, n, N)
        self._phases_a = np.ascontiguousarray(self.phases.transpose(1, 0, 2))  # (n, n_q, N)
        n = setup.n_prim
        self.onehot = np.eye(n)[setup.s2pp]  # (N, n)
        m = setup.primitive.masses
        self.scale = EIGENVALUE_TO_THZ**2 / np.sqrt(np.outer(m, m))

    def __call__(self, fc2: NDArray) -> NDArray[np.complex128]:
        """Map a compact FC2 (n_prim, N, 3, 3) in eV/Å² to Hermitian D(q) (n_q, B, B), THz²."""
        n, N = self.setup.n_prim, self.setup.n_super
        y = fc2.reshape(n, N, 1, 9) * self.onehot[None, :, :, None]  # (a, j, b, xy)
        d = np.matmul(self._phases_a, y.reshape(n, N, n * 9))  # (a, q, b·xy)
        d = d.reshape(n, -1, n, 3, 3).transpose(1, 0, 3, 2, 4)  # (q, a, x, b, y)
        d = d * self.scale[None, :, None, :, None]
        d = d.reshape(len(self.qpoints), 3 * n, 3 * n)
        return 0.5 * (d + d.conj().transpose(0, 2, 1))


class MeshInterpolator:
    """Linear map ΔD on a Γ-centred mesh → ΔD at other q (Fourier interpolation).

    Equivalent to :func:`fc2_from_dynamical_matrices` on ``mesh_supercell_setup`` followed
    by :class:`DynamicalMatrixBuilder`, with the kernel W_ab(q', q) precomputed:
    ΔD_ab(q') = Σ_q W_ab(q', q) ΔD_ab(q).
    """

    def __init__(self, primitive: Cell, mesh, qpoints, setup: SupercellSetup | None = None):
        from ..interactions import PairPhases

        self.mesh = np.asarray(mesh, dtype=np.int64).reshape(3)
        setup = setup or mesh_supercell_setup(primitive, self.mesh)
        n, N = setup.n_prim, setup.n_super
        q_mesh = grid_addresses(self.mesh) / self.mesh
        q = np.atleast_2d(np.asarray(qpoints, dtype=float))
        p_target = PairPhases(setup).averaged(q)  # (n_t, n, N)
        i, j, vectors, _ = setup.pair_images()
        _, first = np.unique(i * N + j, return_index=True)
        vec = np.zeros((n, N, 3))
        vec[i[first], j[first]] = vectors[first]
        back = np.exp(-2j * np.pi * np.einsum("qx,ajx->qaj", q_mesh, vec)) / len(q_mesh)
        onehot = np.eye(n)[setup.s2pp]
        kernel = np.einsum("taj,qaj,jb->tqab", p_target, back, onehot, optimize=True)
        self.n_target, self.n_prim = len(q), n
        self.kernel = np.ascontiguousarray(kernel.transpose(2, 3, 0, 1))  # (a, b, t, q)

    def __call__(self, delta_mesh: NDArray) -> NDArray[np.complex128]:
        """Interpolate ΔD (n_mesh, B, B) from the mesh to the target q-points, THz²."""
        n = self.n_prim
        dm = delta_mesh.reshape(-1, n, 3, n, 3).transpose(1, 3, 0, 2, 4).reshape(n, n, -1, 9)
        out = np.matmul(self.kernel, dm)  # (a, b, t, xy)
        out = out.reshape(n, n, -1, 3, 3).transpose(2, 0, 3, 1, 4)
        out = out.reshape(self.n_target, 3 * n, 3 * n)
        return 0.5 * (out + out.conj().transpose(0, 2, 1))

"""Effective (temperature-dependent) harmonic models from renormalized D(q).

A renormalization gives dynamical matrices on a Γ-centred *outer* mesh.  They are
carried to any q by Fourier interpolation: the outer mesh m is commensurate with the
supercell S_m = diag(m) of the primitive cell, on which

    Φ(a, j) = sqrt(m_a m_b) / N_m Σ_q D_ab(q) exp(−2πi q·r_{a→j})     (b = atom of j)

reproduces D exactly at the mesh points; off the mesh the periodic images of j are
shared equally (phonopy's convention, :class:`DynamicalMatrixBuilder`).  As in ALAMODE,
only the anharmonic *correction* ΔD = D − D_harmonic is interpolated: the harmonic part
keeps its own range, ``D_eff(q) = D_harm(q) + ΔD_interp(q)``.

For export, the full effective D on the outer mesh is transformed onto S_m and written
as phonopy compact FORCE_CONSTANTS (eV/Å²); the supercell is the *primitive* cell
repeated by the outer mesh (atom order: phonopy's ``get_supercell``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from ..cell import Cell, SupercellSetup
from ..forceconstants import ForceConstants
from ..harmonic import DynamicalMatrixBuilder, Phonons, frequencies_from_eigenvalues
from ..mesh import grid_addresses
from ..units import EIGENVALUE_TO_THZ


class EffectiveModelError(ValueError):
    """An effective model does not fit the cells or meshes it is used with."""


def mesh_supercell_setup(primitive: Cell, mesh) -> SupercellSetup:
    """The supercell diag(mesh) of the primitive cell, with the primitive as unit cell."""
    mesh = np.asarray(mesh, dtype=np.int64).reshape(3)
    return SupercellSetup.build(primitive, np.diag(mesh))


def commensurate_qpoints(setup: SupercellSetup) -> NDArray[np.float64]:
    """q-points (reduced, primitive reciprocal lattice) commensurate with the supercell."""
    from phonopy.harmonic.dynmat_to_fc import get_commensurate_points

    smat = setup.supercell_matrix @ np.linalg.inv(setup.primitive_matrix.T)
    smat_int = np.rint(smat).astype(np.int64)
    if not np.allclose(smat, smat_int, atol=1e-6):
        raise EffectiveModelError("the supercell is not an integer multiple of the primitive cell")
    return np.asarray(get_commensurate_points(smat_int), dtype=float)


def fc2_from_dynamical_matrices(dynmats: NDArray, qpoints: NDArray,
                                setup: SupercellSetup) -> NDArray[np.float64]:
    """Compact FC2 (n_prim, N, 3, 3) in eV/Å² from D(q) (THz²) at commensurate q-points.

    ``qpoints`` must be exactly the points commensurate with ``setup``'s supercell (e.g.
    the Γ-centred mesh m for ``mesh_supercell_setup(primitive, m)``).
    """
    dm = np.asarray(dynmats)
    q = np.atleast_2d(np.asarray(qpoints, dtype=float))
    n, N = setup.n_prim, setup.n_super
    if len(q) != N // n:
        raise EffectiveModelError(f"{len(q)} q-points for a supercell of {N // n} primitive "
                                  f"cells: need exactly the commensurate points")
    if dm.shape != (len(q), 3 * n, 3 * n):
        raise EffectiveModelError(f"dynamical matrices of shape {dm.shape}, expected "
                                  f"{(len(q), 3 * n, 3 * n)}")
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

    fc : the bare force constants (their FC2 gives D_harm)
    mesh : the outer mesh on which the correction is known
    delta_dynmat : (n_mesh, B, B) ΔD on the outer mesh in :func:`grid_addresses` order, THz²
    temperature : K, for the record
    """

    fc: ForceConstants
    mesh: NDArray[np.int64]
    delta_dynmat: NDArray[np.complex128]
    temperature: float | None = None
    label: str = "scp"
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self.mesh = np.asarray(self.mesh, dtype=np.int64).reshape(3)
        b = 3 * self.fc.setup.n_prim
        n_q = int(np.prod(self.mesh))
        self.delta_dynmat = np.asarray(self.delta_dynmat, dtype=complex)
        if self.delta_dynmat.shape != (n_q, b, b):
            raise EffectiveModelError(f"ΔD has shape {self.delta_dynmat.shape}, expected "
                                      f"{(n_q, b, b)} for mesh {self.mesh.tolist()}")

    @classmethod
    def harmonic(cls, fc: ForceConstants, mesh=(1, 1, 1)) -> EffectiveHarmonicModel:
        """The bare harmonic model (zero correction)."""
        b = 3 * fc.setup.n_prim
        n_q = int(np.prod(mesh))
        return cls(fc, np.asarray(mesh), np.zeros((n_q, b, b), dtype=complex), None, "harmonic")

    @property
    def mesh_qpoints(self) -> NDArray[np.float64]:
        return grid_addresses(self.mesh) / self.mesh

    @cached_property
    def outer_setup(self) -> SupercellSetup:
        return mesh_supercell_setup(self.fc.setup.primitive, self.mesh)

    @cached_property
    def harmonic_builder(self) -> DynamicalMatrixBuilder:
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

    def force_constants(self, setup: SupercellSetup | None = None,
                        keep_anharmonic: bool = True) -> ForceConstants:
        """The effective FC2 as a :class:`ForceConstants`.

        With ``setup=None`` it lives on the outer-mesh supercell (the primitive cell
        repeated by ``mesh``).  With the bare model's own ``setup`` (``fc.setup``) the
        effective FC2 is put on that supercell, exact at the q-points commensurate with
        it, and FC3/FC4 are kept (``keep_anharmonic``) so that the result can go straight
        into the linewidth and κ code: renormalized phonons with bare Φ3.
        """
        setup = setup or self.outer_setup
        q = commensurate_qpoints(setup)
        fc2 = fc2_from_dynamical_matrices(self.dynamical_matrices(q), q, setup)
        source = dict(self.fc.source, renormalized=self.label, temperature=self.temperature,
                      outer_mesh=self.mesh.tolist())
        if keep_anharmonic and setup is self.fc.setup:
            return ForceConstants(setup, fc2, self.fc.fc3, self.fc.fc4, source)
        return ForceConstants(setup, fc2, source=source)

    def write_force_constants(self, path, setup: SupercellSetup | None = None) -> ForceConstants:
        """Write the effective FC2 as phonopy compact FORCE_CONSTANTS; returns it."""
        from ..io.phonopy_format import write_force_constants

        fc = self.force_constants(setup, keep_anharmonic=False)
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
        n = self.n_prim
        dm = delta_mesh.reshape(-1, n, 3, n, 3).transpose(1, 3, 0, 2, 4).reshape(n, n, -1, 9)
        out = np.matmul(self.kernel, dm)  # (a, b, t, xy)
        out = out.reshape(n, n, -1, 3, 3).transpose(2, 0, 3, 1, 4)
        out = out.reshape(self.n_target, 3 * n, 3 * n)
        return 0.5 * (out + out.conj().transpose(0, 2, 1))

"""The quartic loop self-energy of self-consistent phonon theory (seed Eq. 1).

First-order SCP with quartic anharmonicity renormalizes the force constants by

    ΔΦ(1, 2) = ½ Σ_{3,4} Φ4(1, 2, 3, 4) ⟨u_3 u_4⟩,                             (a)

with the displacement correlation of the current (effective harmonic) phonons

    ⟨u_{lκγ} u_{l'κ'δ}⟩ = 1/(N' sqrt(m_κ m_κ')) Σ_{q'} G_{κγ,κ'δ}(q') e^{2πi q'·(r_lκ − r_l'κ')},
    G(q') = Σ_s g_s e_s(q') e_s(q')†,   g_s = ħ(2n_s + 1)/(2Ω_s)  [classical: k_B T/Ω_s²].

In reciprocal space (a) is the matrix loop self-energy of Eq. 1,

    ΔD_{AB}(q) = 1/(2N') Σ_{q'} Σ_{CD} Φ4_{AB,CD}(q, −q, q', −q') G_{CD}(q'),          (b)
    Φ4_{AB,CD}(q,−q,q',−q') = Σ Φ4(0a α, l2 b β, l3 c γ, l4 d δ)
                              e^{2πi [q·v2 + q'·(v3 − v4)]} / sqrt(m_a m_b m_c m_d),

(v_k the shortest vector from atom 1 to atom k, images shared equally), the form that
:func:`loop_kernel` returns, optionally rotated to the normal-mode basis.  Eq. 1 of the
seed is (b) in the harmonic eigenbasis, C_q† Λ C_q being the rotated D_harm + ΔD.

:class:`QuarticLoop` evaluates (b) without ever storing Φ4(q,−q,q',−q'): the q' sum
factorizes, Σ_q' e^{2πi q'·(v3−v4)} G(q') is the real-space correlation at the vector
v3 − v4, which one FFT of G over the inner mesh gives for all vectors at once.  Each
SCP iteration then costs one FFT of (N', 3n, 3n) plus a contraction over the stored
FC4 clusters — the per-(q, q') work of ALAMODE's scheme (and its (3n)⁴·N_q·N' memory)
disappears while the result is identical to (b) (checked in the tests against the
stored-kernel path :class:`StoredLoopKernel`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from ..forceconstants import ForceConstants, ForceConstantsError
from ..interactions import PairPhases
from ..mesh import grid_addresses
from ..units import EIGENVALUE_TO_THZ


def _grid_from_mesh_order(a: NDArray, mesh) -> NDArray:
    """(N', ...) in grid_addresses order (first index fastest) → (m0, m1, m2, ...)."""
    m0, m1, m2 = (int(x) for x in mesh)
    return a.reshape((m2, m1, m0) + a.shape[1:]).transpose((2, 1, 0) + tuple(range(3, a.ndim + 2)))


def correlation_matrices(eigenvectors: NDArray, weights: NDArray) -> NDArray[np.complex128]:
    """Build the mass-weighted displacement correlations G(q') = Σ_s g_s e_s e_s†.

    Parameters
    ----------
    eigenvectors : ndarray of complex, shape (N', B, B)
        Columns are the modes at each inner q'.
    weights : ndarray of float, shape (N', B)
        Mode weights g_s, amu·Å² (:func:`.common.mode_weights`).

    Returns
    -------
    ndarray of complex128, shape (N', B, B)
        G in amu·Å².
    """
    return np.matmul(eigenvectors * weights[:, None, :], eigenvectors.conj().transpose(0, 2, 1))


class QuarticLoop:
    """Loop self-energy ΔΦ[G] for a fixed FC4 and inner mesh, factorized form (a).

    Parameters
    ----------
    fc : ForceConstants
        The model, with ``fc4`` (sparse, eV/Å⁴).
    inner_mesh : array_like of int, shape (3,)
        Γ-centred mesh of q'.
    """

    def __init__(self, fc: ForceConstants, inner_mesh):
        if fc.fc4 is None:
            raise ForceConstantsError("the loop self-energy needs fourth-order force constants")
        setup = fc.setup
        self.fc = fc
        self.mesh = np.asarray(inner_mesh, dtype=np.int64).reshape(3)
        self.qpoints = grid_addresses(self.mesh) / self.mesh
        n, N = setup.n_prim, setup.n_super
        self.n_prim, self.n_super = n, N
        fc4 = fc.fc4
        atoms = fc4.atoms
        kappa1 = np.searchsorted(setup.p2s, atoms[:, 0])
        # unique (κ1, s3, s4) triples: the correlation ⟨u3 u4⟩ seen from atom κ1
        key = (kappa1 * N + atoms[:, 2]) * N + atoms[:, 3]
        ukey, self._cluster_to_triple = np.unique(key, return_inverse=True)
        t_k1 = ukey // (N * N)
        t_s3 = (ukey // N) % N
        t_s4 = ukey % N
        # expand periodic images of s3 and s4 (relative to κ1) independently
        counts = setup.multi[:, :, 0]
        offsets = setup.multi[:, :, 1]
        m3, m4 = counts[t_s3, t_k1], counts[t_s4, t_k1]
        reps = m3 * m4
        t = np.repeat(np.arange(len(ukey)), reps)
        within = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
        i3, i4 = within // m4[t], within % m4[t]
        v3 = setup.svecs[offsets[t_s3, t_k1][t] + i3]
        v4 = setup.svecs[offsets[t_s4, t_k1][t] + i4]
        k3, k4 = setup.s2pp[t_s3][t], setup.s2pp[t_s4][t]
        tau = setup.primitive.positions
        lattice_r = v3 - v4 - (tau[k3] - tau[k4])
        r_int = np.rint(lattice_r).astype(np.int64)
        if not np.allclose(lattice_r, r_int, atol=1e-5):
            raise ForceConstantsError(
                "FC4 pair vectors are not lattice vectors plus basis "
                "differences: inconsistent supercell/primitive cell"
            )
        r_mod = np.mod(r_int, self.mesh)
        masses = setup.primitive.masses
        self._image_index = (
            ((r_mod[:, 0] * self.mesh[1] + r_mod[:, 1]) * self.mesh[2] + r_mod[:, 2]) * n + k3
        ) * n + k4
        self._image_weight = 1.0 / reps[t] / np.sqrt(masses[k3] * masses[k4])
        self._image_triple = t
        self._n_triples = len(ukey)
        # accumulation of cluster contributions into compact ΔΦ(κ1, s2)
        rows = kappa1 * N + atoms[:, 1]
        self._accumulate = sparse.csr_matrix(
            (np.ones(len(atoms)), (rows, np.arange(len(atoms)))), shape=(n * N, len(atoms))
        )
        self._values = fc4.values.reshape(len(atoms), 9, 9)
        tau_phase = np.exp(2j * np.pi * self.qpoints @ tau.T)  # (N', n)
        self._tau_phase = tau_phase

    def real_space_correlation(self, G: NDArray) -> NDArray[np.float64]:
        """⟨u u⟩ correlation on the inner-mesh supercell: (m0, m1, m2, n, n, 3, 3), amu·Å².

        Entry [R, κ, κ'] is Σ_q' G_{κκ'}(q') e^{2πi q'·(R + τ_κ − τ_κ')}/N'.
        """
        n = self.n_prim
        g = G.reshape(-1, n, 3, n, 3)
        g = (
            g
            * self._tau_phase[:, :, None, None, None]
            * self._tau_phase.conj()[:, None, None, :, None]
        )
        grid = _grid_from_mesh_order(g.transpose(0, 1, 3, 2, 4), self.mesh)
        c = np.fft.ifftn(grid, axes=(0, 1, 2))
        return c.real

    def displacement_correlations(self, G: NDArray) -> NDArray[np.float64]:
        """⟨u_3 u_4⟩ (Å², (n_triples, 3, 3)) for every (κ1, s3, s4) triple in FC4."""
        c = self.real_space_correlation(G).reshape(-1, 9)
        per_image = c[self._image_index] * self._image_weight[:, None]
        out = np.zeros((self._n_triples, 9))
        for k in range(9):  # nine Cartesian components
            out[:, k] = np.bincount(self._image_triple, per_image[:, k], minlength=self._n_triples)
        return out

    def delta_fc2(self, G: NDArray) -> NDArray[np.float64]:
        """ΔΦ = ½ Φ4·⟨u u⟩ as compact FC2 (n_prim, N, 3, 3) in eV/Å², from G(q') (amu·Å²)."""
        corr = self.displacement_correlations(G)[self._cluster_to_triple]  # (M, 9)
        contrib = 0.5 * np.einsum("mxy,my->mx", self._values, corr)
        out = self._accumulate @ contrib
        return np.asarray(out).reshape(self.n_prim, self.n_super, 3, 3)


def loop_kernel(
    fc: ForceConstants, q, qprime, eigenvectors_q=None, eigenvectors_qprime=None
) -> NDArray[np.complex128]:
    """Return the loop kernel Φ4(q, −q, q', −q') for one or many pairs (q, q').

    K is defined by ΔD_{AB}(q) = 1/(2N') Σ_{q'} Σ_{CD} K_{AB,CD}(q, q') G_{CD}(q').  With
    eigenvectors the kernel is rotated to the normal-mode basis:
    K_{ij,kl} = Σ e*_{Ai}(q) e_{Bj}(q) K_{AB,CD} e_{Ck}(q') e*_{Dl}(q'), so that
    Σ_q' Σ_kl K_{ij,kl} [C g C†]_{kl}(q') is the loop matrix of Eq. 1 in that basis.

    Parameters
    ----------
    fc : ForceConstants
        The model, with FC4.
    q, qprime : array_like of float, shape (n_pairs, 3) or (3,)
        Reduced coordinates (broadcast against each other).
    eigenvectors_q, eigenvectors_qprime : ndarray of complex, shape (n_pairs, B, B), optional
        Columns are the modes at q and q' (broadcast, e.g. (B, B) for one q); both or
        neither.

    Returns
    -------
    ndarray of complex128, shape (n_pairs, B, B, B, B)
        K in THz² per amu·Å².

    Raises
    ------
    ForceConstantsError
        If ``fc`` has no FC4.
    """
    if fc.fc4 is None:
        raise ForceConstantsError("the loop kernel needs fourth-order force constants")
    setup = fc.setup
    q = np.atleast_2d(np.asarray(q, dtype=float))
    qp = np.atleast_2d(np.asarray(qprime, dtype=float))
    q, qp = np.broadcast_arrays(q, qp)
    n = setup.n_prim
    phases = PairPhases(setup)
    p_q = phases.averaged(q)  # (P, n, N)
    p_qp = phases.averaged(qp)
    atoms = fc.fc4.atoms
    k1 = np.searchsorted(setup.p2s, atoms[:, 0])
    b, c, d = (setup.s2pp[atoms[:, k]] for k in (1, 2, 3))
    phase = (
        p_q[:, k1, atoms[:, 1]] * p_qp[:, k1, atoms[:, 2]] * p_qp[:, k1, atoms[:, 3]].conj()
    )  # (P, M)
    m = setup.primitive.masses
    vals = fc.fc4.values / np.sqrt(m[k1] * m[b] * m[c] * m[d])[:, None, None, None, None]
    slot = ((k1 * n + b) * n + c) * n + d
    flat = sparse.csr_matrix(
        (np.ones(len(atoms)), (slot, np.arange(len(atoms)))), shape=(n**4, len(atoms))
    )
    vals = vals.reshape(len(atoms), 81)
    y = (phase.T[:, :, None] * vals[:, None, :]).reshape(len(atoms), -1)  # (M, P·81)
    kern = np.asarray(flat @ y).reshape(n**4, len(q), 81).transpose(1, 0, 2)
    kern = kern.reshape(len(q), n, n, n, n, 3, 3, 3, 3).transpose(0, 1, 5, 2, 6, 3, 7, 4, 8)
    kern = kern.reshape(len(q), 3 * n, 3 * n, 3 * n, 3 * n) * EIGENVALUE_TO_THZ**2
    if eigenvectors_q is not None:
        eq = np.broadcast_to(eigenvectors_q, (len(q), 3 * n, 3 * n))
        eqp = np.broadcast_to(eigenvectors_qprime, (len(q), 3 * n, 3 * n))
        kern = rotate_kernel(kern, eq, eqp)
    return kern


def rotate_kernel(kern: NDArray, eq: NDArray, eqp: NDArray) -> NDArray[np.complex128]:
    """K_{ij,kl} = Σ e*_{Ai} e_{Bj} K_{AB,CD} e_{Ck} e*_{Dl}, as four batched matmuls."""
    p, b = kern.shape[0], kern.shape[1]
    t = np.matmul(eq.conj().transpose(0, 2, 1), kern.reshape(p, b, -1))  # i,BCD
    t = t.reshape(p, b, b, b * b).transpose(0, 1, 3, 2)  # i,CD,B
    t = np.matmul(t, eq[:, None])  # i,CD,j
    t = t.reshape(p, b, b, b, b).transpose(0, 1, 4, 3, 2)  # i,j,D,C
    t = np.matmul(t, eqp[:, None, None])  # i,j,D,k
    t = t.transpose(0, 1, 2, 4, 3)  # i,j,k,D
    return np.matmul(t, eqp.conj()[:, None, None])  # i,j,k,l


class StoredLoopKernel:
    """ALAMODE's scheme: Φ4(q,−q,q',−q') stored once per (q, q') in the harmonic basis.

    Each SCP iteration only rotates the inner correlation by C_q' (current eigenvectors
    in the harmonic basis) and contracts.  Memory (3n)⁴ × n_q × N' complex numbers —
    meant for small systems and as an independent check of :class:`QuarticLoop`.

    Parameters
    ----------
    fc : ForceConstants
        The model, with FC4.
    outer_qpoints : array_like of float, shape (n_q, 3)
        Reduced outer q-points.
    inner_mesh : array_like of int, shape (3,)
        Γ-centred mesh of q'.
    outer_eigenvectors : ndarray of complex, shape (n_q, B, B)
        Harmonic eigenvectors (columns) at the outer points.
    inner_eigenvectors : ndarray of complex, shape (N', B, B)
        Harmonic eigenvectors (columns) on the inner mesh.
    """

    def __init__(
        self, fc: ForceConstants, outer_qpoints, inner_mesh, outer_eigenvectors, inner_eigenvectors
    ):
        self.mesh = np.asarray(inner_mesh, dtype=np.int64).reshape(3)
        qin = grid_addresses(self.mesh) / self.mesh
        qout = np.atleast_2d(outer_qpoints)
        b = 3 * fc.setup.n_prim
        self.kernel = np.empty((len(qout), len(qin), b, b, b, b), dtype=complex)
        for iq in range(len(qout)):  # outer points; inner vectorized
            self.kernel[iq] = loop_kernel(
                fc, qout[iq][None], qin, outer_eigenvectors[iq], inner_eigenvectors
            )
        self.outer_eigenvectors = outer_eigenvectors
        self.inner_eigenvectors = inner_eigenvectors

    def delta_dynmat(self, C_inner: NDArray, weights: NDArray) -> NDArray[np.complex128]:
        """ΔD(q) (THz², Cartesian, (n_q, B, B)) from C_q' (harmonic→current) and g (amu·Å²)."""
        g_modes = np.einsum("qks,qs,qls->qkl", C_inner, weights, C_inner.conj())
        n_in = g_modes.shape[0]
        m = np.einsum("pqijkl,qkl->pij", self.kernel, g_modes, optimize=True) / (2 * n_in)
        e = self.outer_eigenvectors
        return np.einsum("pai,pij,pbj->pab", e, m, e.conj(), optimize=True)

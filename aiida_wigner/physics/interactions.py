"""Cubic anharmonic interaction in the normal-mode basis, V3(q0 j0, q1 j1, q2 j2).

For a triplet q0 + q1 + q2 = G (reduced coordinates, the q-vectors exactly as the
eigenvectors were computed):

    Φ_abc(q0,q1,q2) = Σ_{j∈b, k∈c} Φ_{a,j,k} P_aj(q1) P_ak(q2) e^{2πi G·r_a}
    P_aj(q) = Σ_images w e^{2πi q·r_{a→j}}            (as in harmonic.py)
    V3(j0,j1,j2) = Σ_{abc,αβγ} Φ_{aα,bβ,cγ} e_{aα}(q0 j0) e_{bβ}(q1 j1) e_{cγ}(q2 j2)
                   / sqrt(m_a m_b m_c)                 [eV/(Å³ amu^{3/2})]

The prephase e^{2πi G·r_a} is split over the legs, e^{2πi q_i·r_a}, so that every
factor depends on one q only.  The first atom is the origin of the periodic images
(phono3py with ``make_r0_average=False``).

Organisation of the work (per triplet, inside one numba kernel parallel over triplets):

1. FC3 is kept as the list of its non-zero atom triplets (a, j, k) (the clusters within
   the cut-off), masses applied; the pair phases P'_aj(q) = P_aj(q) e^{2πi q·r_a} are
   tabulated once per q-point for the (a, j) pairs that occur;
2. Φ in the atomic basis, (3n)³ numbers, is the sum over the clusters of one complex
   phase product times 27 values (:func:`cluster_transform`);
3. three matrix products (BLAS) contract it with the eigenvectors, 3·B·(3n)³ complex
   multiply-adds (:func:`contract_legs`).
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from .cell import SupercellSetup
from .forceconstants import ForceConstants


class PairPhases:
    """Pair phases P_aj(q) = Σ_images w e^{2πi q·r_{a→j}} on the supercell of ``setup``.

    The shortest-image convention (images shared equally), for any list of q-points.
    """

    def __init__(self, setup: SupercellSetup):
        i, j, vectors, weights = setup.pair_images()
        self.n_prim, self.n_super = setup.n_prim, setup.n_super
        self._vectors = vectors
        self._scatter = sp.csr_matrix(
            (weights, (np.arange(len(i)), i * self.n_super + j)),
            shape=(len(i), self.n_prim * self.n_super),
        )
        self._positions = setup.primitive.positions

    def averaged(self, qpoints: NDArray) -> NDArray[np.complex128]:
        """(n_q, n_prim, N): P_aj(q)."""
        q = np.atleast_2d(qpoints)
        phase = np.exp(2j * np.pi * q @ self._vectors.T)
        return np.asarray((self._scatter.T @ phase.T).T).reshape(len(q), self.n_prim, self.n_super)

    def __call__(self, qpoints: NDArray) -> NDArray[np.complex128]:
        """(n_q, n_prim, N): P_aj(q) e^{2πi q·r_a} (the leg's share of the prephase)."""
        q = np.atleast_2d(qpoints)
        return self.averaged(q) * np.exp(2j * np.pi * q @ self._positions.T)[:, :, None]

    def table(
        self, qpoints: NDArray, pair_a: NDArray, pair_j: NDArray, chunk: int = 64
    ) -> NDArray[np.complex128]:
        """(n_q, n_pairs): P_aj(q) e^{2πi q·r_a} for the pairs (``pair_a``, ``pair_j``) only.

        Only the images of those pairs are evaluated (the force constants' pairs are a
        fraction of all n_prim·N: 840 of 2048 for FC3 of the seed-size case), the same
        numbers as ``self(q)[:, pair_a, pair_j]``.
        """
        q = np.atleast_2d(np.asarray(qpoints, dtype=float))
        keys = np.asarray(pair_a) * self.n_super + np.asarray(pair_j)
        sub = self._scatter[:, keys]  # (n_images, n_pairs)
        rows = np.unique(sub.nonzero()[0])
        sub, vectors = sub[rows].T.tocsr(), self._vectors[rows]
        positions = self._positions[np.asarray(pair_a)]
        out = np.empty((len(q), len(keys)), dtype=complex)
        for s in range(0, len(q), chunk):
            qs = q[s : s + chunk]
            phase = np.exp(2j * np.pi * qs @ vectors.T)
            out[s : s + chunk] = (sub @ phase.T).T * np.exp(2j * np.pi * qs @ positions.T)
        return out

    def prephases(self, q0) -> NDArray[np.complex128]:
        """Leg-0 factors e^{2πi q0·r_a}: (n_t, n_prim)."""
        return np.exp(2j * np.pi * np.atleast_2d(q0) @ self._positions.T)


_BLAS = []


def single_threaded_blas():
    """Run BLAS on one thread inside the context.

    For the numba kernels that call BLAS from each of their own threads (a multi-threaded
    BLAS under them oversubscribes the cores: measured 20× slower with
    OPENBLAS_NUM_THREADS=2 on 2 cores).
    """
    if not _BLAS:
        from threadpoolctl import ThreadpoolController

        _BLAS.append(ThreadpoolController())
    return _BLAS[0].limit(limits=1, user_api="blas")


#: Triplets per pass over the FC3 clusters (each cluster block is read once per batch).
BATCH = 8

#: Cartesian components of a cluster (27) padded for SIMD.
PAD = 32


class CubicInteraction:
    """|V3|² for triplets, from the non-zero clusters of compact FC3.

    Attributes used by the kernels: ``kap`` (M, 3) primitive atom of each cluster atom
    (clusters sorted by this atom block, ``block_ptr`` their offsets), ``pidx`` (M, 2)
    rows of the pair table for legs 1 and 2, ``values`` (M, 32) Φ/sqrt(m_a m_b m_c)
    (27 components, zero-padded) in eV/(Å³ amu^{3/2}), ``pair_a``/``pair_j`` the (a, j)
    pairs of the table.
    """

    def __init__(self, fc: ForceConstants):
        if fc.fc3 is None:
            raise ValueError("three-phonon scattering needs third-order force constants (fc3)")
        setup = fc.setup
        self.n_prim, self.n_super = n, N = setup.n_prim, setup.n_super
        self.n_bands = 3 * n
        self.phases = PairPhases(setup)
        clusters = fc.fc3  # SparseForceConstants: the non-zero (a, j, k) in row-major order
        s2p = setup.s2pp
        a_idx = s2p[clusters.atoms[:, 0]]
        jk = clusters.atoms[:, 1:]
        kap = np.stack([a_idx, s2p[jk[:, 0]], s2p[jk[:, 1]]], axis=1)
        block = (kap[:, 0] * n + kap[:, 1]) * n + kap[:, 2]
        order = np.argsort(block, kind="stable")
        a_idx, jk, kap = a_idx[order], jk[order], kap[order]
        self.block_ptr = np.searchsorted(block[order], np.arange(n**3 + 1)).astype(np.int64)
        masses = setup.primitive.masses
        scale = 1.0 / np.sqrt(np.prod(masses[kap], axis=1))
        self.values = np.zeros((len(kap), PAD))
        self.values[:, :27] = clusters.values.reshape(-1, 27)[order] * scale[:, None]
        keys = a_idx[:, None] * N + jk  # (M, 2) pair keys (a, j), (a, k)
        pair_keys, inverse = np.unique(keys, return_inverse=True)
        self.pair_a, self.pair_j = pair_keys // N, pair_keys % N
        self.kap = np.ascontiguousarray(kap, dtype=np.int64)
        self.pidx = np.ascontiguousarray(inverse.reshape(-1, 2), dtype=np.int64)

    def pair_table(self, qpoints) -> NDArray[np.complex128]:
        """(n_q, n_pairs) pair phases of the FC3 pairs at ``qpoints``."""
        return self.phases.table(qpoints, self.pair_a, self.pair_j)

    def strength(self, q0, e0, p1, e1, p2, e2) -> NDArray[np.float64]:
        """|V3(j0, j1, j2)|² (n_t, B, B, B) in eV²/(Å⁶ amu³).

        q0 and e0 (3n, B): q-point and eigenvectors of the first leg; p1, p2 (n_t, n, N)
        pair phases (:class:`PairPhases`) and e1, e2 (n_t, 3n, B) eigenvectors of the
        other two legs of each triplet.
        """
        t1 = np.ascontiguousarray(np.asarray(p1)[:, self.pair_a, self.pair_j])
        t2 = np.ascontiguousarray(np.asarray(p2)[:, self.pair_a, self.pair_j])
        pre = self.phases.prephases(q0)[0]
        with single_threaded_blas():
            return _strength_kernel(
                t1,
                t2,
                pre,
                self.kap,
                self.pidx,
                self.values,
                self.block_ptr,
                np.ascontiguousarray(np.asarray(e0).T),
                np.ascontiguousarray(e1),
                np.ascontiguousarray(e2),
            )


@numba.njit(cache=True, fastmath={"contract"})
def cluster_transform(t1, t2, pre, kap, pidx, values, block_ptr, out):  # pragma: no cover - numba
    """Fourier-transform the FC3 clusters for a batch of triplets t into ``out``.

    out[t, 3a+α, 3b+β, 3c+γ] = Σ_m pre[t,a] t1[t,pidx[m,0]] t2[t,pidx[m,1]]
    values[m, 9α+3β+γ].

    t1, t2 (n_t, n_pairs) pair phases of q1, q2; pre (n_t, n) leg-0 prephases; the
    clusters sorted by atom block (a, b, c), ``block_ptr`` (n³ + 1) their offsets;
    ``values`` (M, 32) with the 27 Cartesian components padded to 32; out (n_t, 3n, 3n,
    3n) complex.  Each cluster's values are read once for the whole batch; real and
    imaginary parts are summed apart over the padded components (SIMD).
    """
    n_t = t1.shape[0]
    n = pre.shape[1]
    acc = np.empty((n_t, 2 * PAD))
    for blk in range(n * n * n):
        a, b, c = blk // (n * n), (blk // n) % n, blk % n
        acc[:] = 0.0
        for m in range(block_ptr[blk], block_ptr[blk + 1]):
            v = values[m]
            for t in range(n_t):
                ph = pre[t, a] * t1[t, pidx[m, 0]] * t2[t, pidx[m, 1]]
                pr, pi = ph.real, ph.imag
                r = acc[t]
                for x in range(PAD):
                    r[x] += v[x] * pr
                    r[PAD + x] += v[x] * pi
        for t in range(n_t):
            x = 0
            for al in range(3):
                for be in range(3):
                    for ga in range(3):
                        out[t, 3 * a + al, 3 * b + be, 3 * c + ga] = complex(
                            acc[t, x], acc[t, PAD + x]
                        )
                        x += 1


@numba.njit(cache=True)
def contract_legs(phi, e0t, e1, e2):  # pragma: no cover - numba
    """Z[j1, j0·B + j2] = Σ phi[i, j, k] e0t[j0, i] e1[j, j1] e2[k, j2] by three GEMMs.

    phi (m, m, m) complex; e0t (B, m) the transposed leg-0 eigenvectors; e1, e2 (m, B).
    """
    m = phi.shape[0]
    nb = e0t.shape[0]
    x = np.dot(phi.reshape(m * m, m), e2)  # (i j, j2)
    y = np.dot(e0t, x.reshape(m, m * nb))  # (j0, j j2)
    yp = np.empty((m, nb * nb), dtype=np.complex128)
    for j0 in range(nb):
        for j in range(m):
            for j2 in range(nb):
                yp[j, j0 * nb + j2] = y[j0, j * nb + j2]
    return np.dot(np.ascontiguousarray(e1.T), yp)  # (j1, j0 j2)


@numba.njit(parallel=True, cache=True)
def _strength_kernel(
    t1, t2, pre, kap, pidx, values, block_ptr, e0t, e1, e2
):  # pragma: no cover - numba
    """|V3|² (n_t, B, B, B) of the triplets with pair phases t1, t2 (n_t, n_pairs)."""
    n_t = t1.shape[0]
    m = e1.shape[1]
    nb = e0t.shape[0]
    out = np.empty((n_t, nb, nb, nb))
    n_batch = (n_t + BATCH - 1) // BATCH
    for ib in numba.prange(n_batch):
        lo, hi = ib * BATCH, min((ib + 1) * BATCH, n_t)
        phi = np.empty((hi - lo, m, m, m), dtype=np.complex128)
        pre_b = np.empty((hi - lo, pre.shape[0]), dtype=np.complex128)
        pre_b[:] = pre
        cluster_transform(t1[lo:hi], t2[lo:hi], pre_b, kap, pidx, values, block_ptr, phi)
        for t in range(lo, hi):
            z = contract_legs(phi[t - lo], e0t, e1[t], e2[t])
            for j1 in range(nb):
                for j0 in range(nb):
                    for j2 in range(nb):
                        v = z[j1, j0 * nb + j2]
                        out[t, j0, j1, j2] = v.real * v.real + v.imag * v.imag
    return out

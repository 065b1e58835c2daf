"""Quartic anharmonic interaction: sparse real-space FC4 → Φ4(q0, q1, q2, q3).

Convention (the same periodic-image rule as :mod:`.harmonic` and
:mod:`.interactions`, i.e. phonopy/phono3py's shortest vectors shared equally):

    Φ4_{aα,bβ,cγ,dδ}(q0,q1,q2,q3)
        = e^{2πi q0·r_a} Σ_{j∈b, k∈c, l∈d} Φ_{aα,jβ,kγ,lδ} / sqrt(m_a m_b m_c m_d)
          × P'_aj(q1) P'_ak(q2) P'_al(q3)

    P'_aj(q) = e^{2πi q·r_a} Σ_{images of j} w e^{2πi q·r_{a→j}}   (interactions.PairPhases)

with q0 + q1 + q2 + q3 = G a reciprocal lattice vector (reduced coordinates), r_a the
position of primitive atom a (reduced coordinates of the primitive cell), r_{a→j} the
shortest vectors from atom a to the images of supercell atom j, and w = 1/multiplicity.
The product of the leg prephases is e^{2πi G·r_a}: this is the factor that makes Φ4
consistent with eigenvectors in phonopy's convention (e(q+G) differs from e(q) by
e^{-2πi G·r}), so that Φ4 may be evaluated with q-points reduced to the mesh.  The
first index (atom a, in the primitive cell) is the origin of all three image vectors.
For q-points commensurate with the supercell every image gives the same phase, so
the image rule matters only for incommensurate q.

In the normal-mode basis

    V4(j0,j1,j2,j3) = Σ Φ4_{aα,bβ,cγ,dδ} e_{aα}(q0 j0) e_{bβ}(q1 j1) e_{cγ}(q2 j2) e_{dδ}(q3 j3)

in eV/(Å⁴ amu²), with eigenvectors exactly as passed (no conjugation: a phonon
−q is represented by q-vector −q and the conjugate eigenvectors e(q)*).

Organisation of the work (per batch of quadruplets):

1. the pair phases P'_aj(q) are computed once for every distinct q-point of the batch
   (or of the whole mesh) and kept only for the (a, j) pairs that appear in FC4;
2. Φ4 in the atomic basis, (3n)⁴ numbers, is summed from the list of clusters: one
   complex phase product and 81 multiply-adds per cluster (the sparsity of a cutoff is
   used as is; :func:`assemble_quadruplet`);
3. four matrix products (BLAS) contract the atomic indices with the eigenvectors,
   4·B⁵ complex multiply-adds per quadruplet, for all B⁴ band combinations at once
   (:func:`contract_modes` for a batch, :func:`contract_quadruplet` for one quadruplet
   inside the fused four-phonon kernel).
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

from .forceconstants import ForceConstants, SparseForceConstants
from .interactions import PairPhases


class FC4Error(ValueError):
    """Fourth-order force constants missing or inconsistent with the quadruplets."""


@numba.njit(cache=True)
def assemble_quadruplet(pf, i1, i2, i3, pre, kap, pidx, values, o):  # pragma: no cover - numba
    """Add the Φ4 of one quadruplet in the atomic basis to ``o``.

    o[3a+α, 3b+β, 3c+γ, 3d+δ] += Σ_m pre[a] pf[i1,m1] pf[i2,m2] pf[i3,m3] Φ_m, with pf
    rows i1..i3 for legs 1..3 and pre (n_prim,) its leg-0 prephases.
    """
    for m in range(kap.shape[0]):
        a = kap[m, 0]
        ph = pre[a] * pf[i1, pidx[m, 0]] * pf[i2, pidx[m, 1]] * pf[i3, pidx[m, 2]]
        x0, x1, x2, x3 = 3 * a, 3 * kap[m, 1], 3 * kap[m, 2], 3 * kap[m, 3]
        v = values[m]
        k = 0
        for al in range(3):
            for be in range(3):
                for ga in range(3):
                    for de in range(3):
                        o[x0 + al, x1 + be, x2 + ga, x3 + de] += v[k] * ph
                        k += 1


@numba.njit(parallel=True, cache=True)
def _assemble_atomic(pf, qidx, pre, kap, pidx, values, out):  # pragma: no cover - numba
    """out[t, 3a+α, 3b+β, 3c+γ, 3d+δ] = Σ_m pre[t,a] pf[q1,m1] pf[q2,m2] pf[q3,m3] Φ_m.

    pf (n_pts, P) pair phases of distinct q-points; qidx (n_t, 3) rows of pf for legs
    1..3; pre (n_t, n_prim) the leg-0 prephases; kap (M, 4) primitive atom of each
    cluster atom; pidx (M, 3) pair index of legs 1..3; values (M, 81) mass-scaled.
    """
    for t in numba.prange(out.shape[0]):
        assemble_quadruplet(
            pf, qidx[t, 0], qidx[t, 1], qidx[t, 2], pre[t], kap, pidx, values, out[t]
        )


@numba.njit(cache=True)
def contract_quadruplet(phi, e0, e1, e2, e3):  # pragma: no cover - numba
    """Contract the Φ4 of one quadruplet with its four eigenvectors by four GEMMs.

    V[d, c, b, a] = Σ phi[i,j,k,l] e0[i,a] e1[j,b] e2[k,c] e3[l,d] (the order of
    ``contract_modes(..., reverse=True)``); phi (m,)*4, e0..e3 (m, B).
    """
    m = phi.shape[0]
    nb = e0.shape[1]
    x = np.dot(phi.reshape(m**3, m), e3)  # (i j k, d)
    y = np.empty((m * m, nb, m), dtype=np.complex128)  # (i j, d, k)
    xr = x.reshape(m * m, m, nb)
    for ij in range(m * m):
        for k in range(m):
            for d in range(nb):
                y[ij, d, k] = xr[ij, k, d]
    x = np.dot(y.reshape(m * m * nb, m), e2).reshape(m, m, nb * nb)  # (i, j, d c)
    y = np.empty((m, nb * nb, m), dtype=np.complex128)  # (i, d c, j)
    for i in range(m):
        for j in range(m):
            for dc in range(nb * nb):
                y[i, dc, j] = x[i, j, dc]
    x = np.dot(y.reshape(m * nb * nb, m), e1).reshape(m, nb**3)  # (i, d c b)
    return np.dot(np.ascontiguousarray(x.T), e0).reshape(nb, nb, nb, nb)  # (d, c, b, a)


class QuarticInteraction:
    """Φ4 of a sparse FC4 in reciprocal space and in the normal-mode basis.

    Parameters
    ----------
    fc : ForceConstants
        Supplies the cells (periodic images, masses) and, unless ``fc4`` is given,
        ``fc.fc4``.
    fc4 : SparseForceConstants, optional
        Order-4 clusters; first atom in the primitive cell, any subset of index
        orderings (the list is a plain sum, like a dense array with zeros).
    """

    def __init__(self, fc: ForceConstants, fc4: SparseForceConstants | None = None):
        fc4 = fc.fc4 if fc4 is None else fc4
        if fc4 is None:
            raise FC4Error("four-phonon scattering needs fourth-order force constants (fc4)")
        if fc4.order != 4:
            raise FC4Error(f"need order-4 force constants, got order {fc4.order}")
        setup = fc.setup
        self.n_prim, self.n_super = setup.n_prim, setup.n_super
        self.n_bands = 3 * self.n_prim
        self.phases = PairPhases(fc.setup)
        kap = setup.s2pp[fc4.atoms]  # (M, 4) primitive index of every cluster atom
        masses = setup.primitive.masses
        scale = 1.0 / np.sqrt(np.prod(masses[kap], axis=1))
        # Distinct (a, j) pairs used by legs 1..3, as rows of a compact phase table.
        keys = kap[:, :1] * self.n_super + fc4.atoms[:, 1:]  # (M, 3)
        pair_keys, inverse = np.unique(keys, return_inverse=True)
        self._pair_a = pair_keys // self.n_super
        self._pair_j = pair_keys % self.n_super
        self.kap = np.ascontiguousarray(kap, dtype=np.int64)
        self.pidx = np.ascontiguousarray(inverse.reshape(-1, 3), dtype=np.int64)
        self.values = np.ascontiguousarray(
            (fc4.values * scale[:, None, None, None, None]).reshape(len(kap), 81)
        )

    # -- phases ---------------------------------------------------------------------------

    def pair_phases(self, qpoints, chunk: int = 64) -> NDArray[np.complex128]:
        """P'_aj(q) for the (a, j) pairs used by FC4: (n_q, n_pairs) complex."""
        return self.phases.table(qpoints, self._pair_a, self._pair_j, chunk)

    def prephases(self, q0) -> NDArray[np.complex128]:
        """Leg-0 factors e^{2πi q0·r_a}: (n_t, n_prim)."""
        return self.phases.prephases(q0)

    # -- transforms -----------------------------------------------------------------------

    def atomic_from_table(self, table, qidx, pre) -> NDArray[np.complex128]:
        """Φ4 in the atomic basis from a precomputed phase table.

        ``table`` (n_pts, n_pairs) from :meth:`pair_phases`; ``qidx`` (n_t, 3) rows of
        the table for q1, q2, q3; ``pre`` (n_t, n_prim) from :meth:`prephases` of q0.
        Returns (n_t, 3n, 3n, 3n, 3n), eV/(Å⁴ amu²) (masses applied).
        """
        m = self.n_bands
        qidx = np.ascontiguousarray(np.atleast_2d(qidx), dtype=np.int64)
        out = np.zeros((len(qidx), m, m, m, m), dtype=complex)
        _assemble_atomic(
            np.ascontiguousarray(table),
            qidx,
            np.ascontiguousarray(pre),
            self.kap,
            self.pidx,
            self.values,
            out,
        )
        return out

    def atomic(self, quadruplets) -> NDArray[np.complex128]:
        """Φ4(q0,q1,q2,q3) in the atomic basis for quadruplets (n_t, 4, 3) (or (4, 3)).

        The q-points are reduced coordinates whose sum must be a reciprocal lattice
        vector.  Returns (n_t, 3n, 3n, 3n, 3n) with the masses applied.
        """
        quads = _check_quadruplets(quadruplets)
        legs = quads[:, 1:].reshape(-1, 3)
        table = self.pair_phases(legs)
        qidx = np.arange(len(legs)).reshape(-1, 3)
        return self.atomic_from_table(table, qidx, self.prephases(quads[:, 0]))

    def normal_mode(self, quadruplets, eigenvectors) -> NDArray[np.complex128]:
        """V4(j0,j1,j2,j3) (n_t, B, B, B, B) for quadruplets (n_t, 4, 3).

        ``eigenvectors`` (n_t, 4, 3n, B): columns are the modes at q0..q3, used as
        given (pass e(q)* together with −q for an incoming phonon −q).
        """
        quads = _check_quadruplets(quadruplets)
        e = np.asarray(eigenvectors).reshape(len(quads), 4, self.n_bands, -1)
        return contract_modes(self.atomic(quads), e[:, 0], e[:, 1], e[:, 2], e[:, 3])


def contract_modes(phi, e0, e1, e2, e3, reverse: bool = False) -> NDArray[np.complex128]:
    """Σ_{ijkl} phi[t,i,j,k,l] e0[i,a] e1[t,j,b] e2[t,k,c] e3[t,l,d] by batched GEMMs.

    ``phi`` (n_t, m, m, m, m); e0 (m, B) shared or (n_t, m, B); e1..e3 (n_t, m, B).
    Each step contracts the last atomic index into one GEMM of shape (m³·…, m)×(m, B)
    per quadruplet.  Returns (n_t, B, B, B, B) indexed (a, b, c, d), or (d, c, b, a)
    with ``reverse`` (the natural order of the GEMM chain, no final transpose).
    """
    n_t, m = phi.shape[0], phi.shape[1]
    b = e1.shape[-1]
    e0 = e0 if e0.ndim == 3 else e0[None]
    x = np.matmul(phi.reshape(n_t, m**3, m), e3)  # (t, i j k, d)
    x = np.matmul(x.reshape(n_t, m * m, m, b).swapaxes(2, 3).reshape(n_t, -1, m), e2)
    # (t, i j d, c)
    x = np.matmul(x.reshape(n_t, m, m, b * b).swapaxes(2, 3).reshape(n_t, -1, m), e1)
    # (t, i d c, b)
    x = np.matmul(x.reshape(n_t, m, b**3).swapaxes(1, 2), e0)  # (t, d c b, a)
    x = x.reshape(n_t, b, b, b, -1)
    return x if reverse else x.transpose(0, 4, 3, 2, 1)


def _check_quadruplets(quadruplets) -> NDArray[np.float64]:
    quads = np.asarray(quadruplets, dtype=float)
    if quads.ndim == 2:
        quads = quads[None]
    if quads.ndim != 3 or quads.shape[1:] != (4, 3):
        raise FC4Error(f"quadruplets must have shape (n, 4, 3), got {quads.shape}")
    total = quads.sum(axis=1)
    if not np.allclose(total, np.rint(total), atol=1e-8):
        raise FC4Error(
            "q0 + q1 + q2 + q3 must be a reciprocal lattice vector (integer in reduced coordinates)"
        )
    return quads


def fc4_to_reciprocal(
    fc: ForceConstants, quadruplets, eigenvectors=None, fc4: SparseForceConstants | None = None
) -> NDArray[np.complex128]:
    """Return Φ4 of quadruplets in the atomic basis, or V4 if ``eigenvectors`` are given.

    A convenience wrapper of :class:`QuarticInteraction` (see it for the convention).

    Parameters
    ----------
    fc : ForceConstants
        The model, with FC4 (or ``fc4`` given).
    quadruplets : ndarray of float, shape (n_t, 4, 3) or (4, 3)
        Reduced q-points (q0, q1, q2, q3) of each quadruplet; their sum must be a
        reciprocal lattice vector.
    eigenvectors : ndarray of complex, shape (n_t, 4, 3n, B), optional
        Columns are the modes at q0..q3, used as given (e(q)* with −q for an incoming
        phonon −q).
    fc4 : SparseForceConstants, optional
        Used instead of ``fc.fc4``.

    Returns
    -------
    ndarray of complex128, shape (n_t, 3n, 3n, 3n, 3n) or (n_t, B, B, B, B)
        Φ4 in the atomic basis, or V4 with ``eigenvectors``; eV/(Å⁴ amu²), masses applied.
    """
    inter = QuarticInteraction(fc, fc4)
    if eigenvectors is None:
        return inter.atomic(quadruplets)
    return inter.normal_mode(quadruplets, eigenvectors)

"""Cubic anharmonic interaction in the normal-mode basis, V3(q0 j0, q1 j1, q2 j2).

For a triplet q0 + q1 + q2 = G (reduced coordinates, the q-vectors exactly as the
eigenvectors were computed):

    Φ_abc(q0,q1,q2) = Σ_{j∈b, k∈c} Φ_{a,j,k} P_aj(q1) P_ak(q2) e^{2πi G·r_a}
    P_aj(q) = Σ_images w e^{2πi q·r_{a→j}}            (as in harmonic.py)
    V3(j0,j1,j2) = Σ_{abc,αβγ} Φ_{aα,bβ,cγ} e_{aα}(q0 j0) e_{bβ}(q1 j1) e_{cγ}(q2 j2)
                   / sqrt(m_a m_b m_c)                 [eV/(Å³ amu^{3/2})]

The prephase e^{2πi G·r_a} is split over the legs, e^{2πi q_i·r_a}, so that every
factor depends on one q only.  The first atom is the origin of the periodic images
(phono3py with ``make_r0_average=False``).  For a fixed q0 the transform of all
triplets is a set of matrix products (BLAS), followed by batched contractions with
the eigenvectors.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from .cell import SupercellSetup
from .forceconstants import ForceConstants
from .harmonic import Phonons


class PairPhases:
    """P_aj(q) = Σ_images w e^{2πi q·r_{a→j}} of the shortest-image convention (images
    shared equally), for any list of q-points, for the supercell of ``setup``."""

    def __init__(self, setup: SupercellSetup):
        i, j, vectors, weights = setup.pair_images()
        self.n_prim, self.n_super = setup.n_prim, setup.n_super
        self._vectors = vectors
        self._scatter = sp.csr_matrix((weights, (np.arange(len(i)), i * self.n_super + j)),
                                      shape=(len(i), self.n_prim * self.n_super))
        self._positions = setup.primitive.positions

    def averaged(self, qpoints: NDArray) -> NDArray[np.complex128]:
        """(n_q, n_prim, N): P_aj(q)."""
        q = np.atleast_2d(qpoints)
        phase = np.exp(2j * np.pi * q @ self._vectors.T)
        return np.asarray((self._scatter.T @ phase.T).T).reshape(len(q), self.n_prim,
                                                                  self.n_super)

    def __call__(self, qpoints: NDArray) -> NDArray[np.complex128]:
        """(n_q, n_prim, N): P_aj(q) e^{2πi q·r_a} (the leg's share of the prephase)."""
        q = np.atleast_2d(qpoints)
        return self.averaged(q) * np.exp(2j * np.pi * q @ self._positions.T)[:, :, None]


class CubicInteraction:
    """|V3|² for the triplets at one q0, from compact FC3 (numba kernel, parallel over triplets)."""

    def __init__(self, fc: ForceConstants, chunk: int = 512):
        if fc.fc3 is None:
            raise ValueError("three-phonon scattering needs third-order force constants (fc3)")
        setup = fc.setup
        self.n_prim, self.n_super = setup.n_prim, setup.n_super
        self.chunk = chunk
        self.phases = PairPhases(setup)
        n, N = self.n_prim, self.n_super
        self._fc3 = np.ascontiguousarray(fc.fc3.reshape(n, N, N, 27))
        self._nonzero = np.abs(self._fc3).max(axis=(2, 3)) > 0  # (a, j) blocks to visit
        self._s2p = np.ascontiguousarray(setup.s2pp)
        self._inv_sqrt_mass = 1.0 / np.sqrt(np.repeat(setup.primitive.masses, 3))

    def strength(self, q0, e0, p1, e1, p2, e2) -> NDArray[np.float64]:
        """|V3(j0, j1, j2)|² (n_t, B, B, B) in eV²/(Å⁶ amu³).

        q0 and e0 (3n, B): q-point and eigenvectors of the first leg; p1, p2 (n_t, n, N)
        pair phases (:class:`PairPhases`) and e1, e2 (n_t, 3n, B) eigenvectors of the
        other two legs of each triplet.
        """
        w = self._inv_sqrt_mass
        p0 = np.exp(2j * np.pi * self.phases._positions @ np.asarray(q0))  # (n,)
        e0 = np.ascontiguousarray(e0 * w[:, None])
        e1 = np.ascontiguousarray(e1 * w[None, :, None])
        e2 = np.ascontiguousarray(e2 * w[None, :, None])
        p1 = np.ascontiguousarray(p1 * p0[None, :, None])
        return _cubic_strength_kernel(self._fc3, self._nonzero, self._s2p, p1,
                                      np.ascontiguousarray(p2), e0, e1, e2)


@numba.njit(parallel=True, cache=True, fastmath=False)
def _cubic_strength_kernel(fc3, nonzero, s2p, p1, p2, e0, e1, e2):
    """|Σ Φ(q0,q1,q2) e0 e1 e2|² per triplet; see module docstring for the transform."""
    n_t = p1.shape[0]
    n, N = fc3.shape[0], fc3.shape[1]
    m = 3 * n
    nb = e0.shape[1]
    out = np.empty((n_t, nb, nb, nb))
    for t in numba.prange(n_t):
        phi_re = np.zeros((n, n, n, 27))
        phi_im = np.zeros((n, n, n, 27))
        tmp_re = np.empty((n, 27))
        tmp_im = np.empty((n, 27))
        for a in range(n):
            for j in range(N):
                if not nonzero[a, j]:
                    continue
                tmp_re[:] = 0.0
                tmp_im[:] = 0.0
                for k in range(N):
                    c = s2p[k]
                    pr = p2[t, a, k].real
                    pi = p2[t, a, k].imag
                    for x in range(27):
                        f = fc3[a, j, k, x]
                        tmp_re[c, x] += pr * f
                        tmp_im[c, x] += pi * f
                b = s2p[j]
                qr = p1[t, a, j].real
                qi = p1[t, a, j].imag
                for c in range(n):
                    for x in range(27):
                        phi_re[a, b, c, x] += qr * tmp_re[c, x] - qi * tmp_im[c, x]
                        phi_im[a, b, c, x] += qr * tmp_im[c, x] + qi * tmp_re[c, x]
        # Φ[aα, bβ, cγ] with x = 9α + 3β + γ, contracted leg by leg.
        phi = np.empty((m, m, m), dtype=np.complex128)
        for a in range(n):
            for b in range(n):
                for c in range(n):
                    for x in range(27):
                        al, be, ga = x // 9, (x // 3) % 3, x % 3
                        phi[3 * a + al, 3 * b + be, 3 * c + ga] = (
                            phi_re[a, b, c, x] + 1j * phi_im[a, b, c, x])
        a1 = (e0.T.copy() @ phi.reshape(m, m * m)).reshape(nb, m, m)  # (j0, bβ, cγ)
        a2 = np.empty((nb, nb, m), dtype=np.complex128)
        e1t = e1[t].T.copy()
        for j0 in range(nb):
            a2[j0] = e1t @ a1[j0]  # (j1, cγ)
        v = (a2.reshape(nb * nb, m) @ e2[t]).reshape(nb, nb, nb)
        for i in range(nb):
            for j in range(nb):
                for k in range(nb):
                    out[t, i, j, k] = v[i, j, k].real ** 2 + v[i, j, k].imag ** 2
    return out


def phonons_at(phonons: Phonons, indices) -> tuple[NDArray, NDArray, NDArray]:
    """q-points, frequencies and eigenvectors of the given grid indices."""
    return (phonons.qpoints[indices], phonons.frequencies[indices],
            phonons.eigenvectors[indices])

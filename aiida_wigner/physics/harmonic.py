"""Harmonic phonons: dynamical matrices, frequencies, eigenvectors, velocity operator.

Dynamical matrix (phonopy's convention, periodic images shared equally):

    D_{aα,bβ}(q) = Σ_{j: s2p(j)=b} Σ_{images} w Φ_{aα,jβ} exp(2πi q·r_{a→j}) / sqrt(m_a m_b)

with r_{a→j} the shortest vectors from primitive atom a to supercell atom j (in
reduced coordinates of the primitive cell), w = 1/multiplicity.  Matrices are
returned in THz² (eigenvalues are ν², ν ordinary frequency in THz); imaginary modes
are returned as negative frequencies.

Velocity operator (docs/conventions.md, Eq. 5 of the seed):

    v^α_{jj'}(q) = <e_j| ∂D/∂q_α |e_j'> / (2 sqrt(ν_j ν_j'))      [THz·Å]

with q Cartesian in 1/Å (no 2π), so that its diagonal is the group velocity dν/dq.
Inside a degenerate subspace the eigenvectors are rotated to diagonalize ∂D/∂q
along a fixed generic direction (default Cartesian (1, 2, 3)), which makes the
diagonal the analytic derivative along that direction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse
from numpy.typing import ArrayLike, NDArray

from .forceconstants import ForceConstants
from .units import EIGENVALUE_TO_THZ, KB_EV, PLANCK_EV_THZ

#: Frequencies closer than this (THz) are treated as degenerate.
DEGENERACY_TOLERANCE = 1e-4


class UnstablePhononsError(ValueError):
    """Imaginary (negative) frequencies where real ones are required."""


@dataclass(frozen=True)
class Phonons:
    """Phonons at a set of q-points.

    Attributes
    ----------
    qpoints : ndarray of float64, shape (n_q, 3)
        Reduced coordinates.
    frequencies : ndarray of float64, shape (n_q, B)
        THz, ascending per q-point (negative = imaginary).
    eigenvectors : ndarray of complex128, shape (n_q, B, B)
        Column k is mode k (phonopy convention), mass-weighted and orthonormal.
    """

    qpoints: NDArray[np.float64]
    frequencies: NDArray[np.float64]
    eigenvectors: NDArray[np.complex128]


#: q-points per pass of :class:`DynamicalMatrixBuilder` (its phase table is (chunk, images):
#: 6.6 MB for the 3240 FC2 images of the seed-size case, not 160 MB for a 16×16×12 mesh).
Q_CHUNK = 128


class DynamicalMatrixBuilder:
    """Fourier transform of FC2 to D(q) and ∂D/∂q, vectorized over q-points.

    Periodic images of a pair share its force constant equally (phonopy's convention).

    Parameters
    ----------
    fc : ForceConstants
        The model; only its FC2 (eV/Å²) and masses (amu) are used.
    """

    def __init__(self, fc: ForceConstants):
        setup = fc.setup
        self.n_prim = setup.n_prim
        self.lattice = setup.primitive.lattice
        i, j, vectors, weights = setup.pair_images()
        b = setup.s2pp[j]
        m = setup.primitive.masses
        n = self.n_prim
        # One row per image: its mass-scaled, weighted FC block placed in the (a, b) slot.
        blocks = fc.fc2[i, j] * (weights / np.sqrt(m[i] * m[b]))[:, None, None]
        self._vectors = vectors  # reduced coordinates of the primitive cell
        self._cart = vectors @ self.lattice  # Å
        slot = i * n + b
        # (n²·9, images), sparse: each image fills only the 9 entries of its (a, b) slot;
        # the product below sums images sharing (a, b, vector).
        rows = (slot[:, None] * 9 + np.arange(9)[None]).ravel()
        cols = np.repeat(np.arange(len(i)), 9)
        self._blocks = scipy.sparse.csr_matrix(
            (blocks.reshape(-1) * EIGENVALUE_TO_THZ**2, (rows, cols)), shape=(n * n * 9, len(i))
        )

    def _assemble(self, coeff: NDArray[np.complex128]) -> NDArray[np.complex128]:
        """Σ_images coeff[q, img] · block[img] → (n_q, 3n, 3n)."""
        n = self.n_prim
        d = (self._blocks @ coeff.T).T.reshape(-1, n, n, 3, 3)
        return d.transpose(0, 1, 3, 2, 4).reshape(-1, 3 * n, 3 * n)

    def dynamical_matrices(self, qpoints) -> NDArray[np.complex128]:
        """D(q) in THz², Hermitian, (n_q, 3n, 3n)."""
        q = np.atleast_2d(qpoints)
        out = np.empty((len(q), 3 * self.n_prim, 3 * self.n_prim), dtype=complex)
        for s in range(0, len(q), Q_CHUNK):
            d = self._assemble(np.exp(2j * np.pi * q[s : s + Q_CHUNK] @ self._vectors.T))
            out[s : s + Q_CHUNK] = 0.5 * (d + d.conj().transpose(0, 2, 1))
        return out

    def derivatives(self, qpoints) -> NDArray[np.complex128]:
        """∂D/∂q_α (Cartesian q in 1/Å, no 2π) in THz²·Å, (n_q, 3, 3n, 3n)."""
        q = np.atleast_2d(qpoints)
        out = np.empty((len(q), 3, 3 * self.n_prim, 3 * self.n_prim), dtype=complex)
        for s in range(0, len(q), Q_CHUNK):
            phase = np.exp(2j * np.pi * q[s : s + Q_CHUNK] @ self._vectors.T)
            d = np.stack(
                [self._assemble(2j * np.pi * phase * self._cart[:, a]) for a in range(3)], axis=1
            )
            out[s : s + Q_CHUNK] = 0.5 * (d + d.conj().transpose(0, 1, 3, 2))
        return out


def frequencies_from_eigenvalues(eigenvalues: NDArray) -> NDArray[np.float64]:
    """ν = sign(λ) sqrt(|λ|), THz from THz²."""
    return np.sign(eigenvalues) * np.sqrt(np.abs(eigenvalues))


def solve(
    fc: ForceConstants, qpoints: ArrayLike, builder: DynamicalMatrixBuilder | None = None
) -> Phonons:
    """Diagonalize the dynamical matrix at ``qpoints``.

    Parameters
    ----------
    fc : ForceConstants
        The model.
    qpoints : array_like of float, shape (n_q, 3) or (3,)
        Reduced coordinates.
    builder : DynamicalMatrixBuilder or EffectiveHarmonicModel, optional
        Source of D(q); default: the harmonic FC2 of ``fc``.

    Returns
    -------
    Phonons
        Frequencies in THz (negative = imaginary) and eigenvectors.
    """
    builder = builder or DynamicalMatrixBuilder(fc)
    q = np.atleast_2d(np.asarray(qpoints, dtype=float))
    eigvals, eigvecs = np.linalg.eigh(builder.dynamical_matrices(q))
    return Phonons(q, frequencies_from_eigenvalues(eigvals), eigvecs)


def degenerate_block_ids(frequencies: NDArray, tol: float = DEGENERACY_TOLERANCE) -> NDArray:
    """Label consecutive (sorted) bands closer than ``tol`` THz with the same integer."""
    gaps = np.diff(frequencies, axis=-1) > tol
    zeros = np.zeros(frequencies.shape[:-1] + (1,), dtype=np.int64)
    return np.concatenate([zeros, np.cumsum(gaps, axis=-1)], axis=-1)


def degenerate_average_matrix(
    frequencies: NDArray, tol: float = DEGENERACY_TOLERANCE
) -> NDArray[np.float64]:
    """Averaging matrices A (..., B, B) over the degenerate blocks of ``frequencies`` (..., B).

    A_ij = 1/|block| when bands i and j are in the same block (:func:`degenerate_block_ids`,
    ``tol`` in THz), else 0; ``A @ x`` replaces x by its block means.
    """
    block = degenerate_block_ids(frequencies, tol)
    same = (block[..., :, None] == block[..., None, :]).astype(float)
    return same / same.sum(axis=-1, keepdims=True)


def average_degenerate(
    values: NDArray, frequencies: NDArray, tol: float = DEGENERACY_TOLERANCE
) -> NDArray[np.float64]:
    """``values`` (..., B) averaged over the degenerate bands of ``frequencies`` (..., B).

    The leading axes broadcast, e.g. values (T, n_q, B) with frequencies (n_q, B).
    """
    matrix = degenerate_average_matrix(frequencies, tol)
    return (matrix @ np.asarray(values, dtype=float)[..., None])[..., 0]


@dataclass(frozen=True)
class VelocityOperator:
    """Phonons plus the velocity operator at the same q-points.

    velocity (n_q, 3, B, B) complex, THz·Å, Hermitian in the band indices;
    group_velocities (n_q, B, 3) real, its diagonal.
    """

    phonons: Phonons
    velocity: NDArray[np.complex128]

    @property
    def group_velocities(self) -> NDArray[np.float64]:
        """Group velocities (n_q, B, 3), THz·Å: the band-diagonal of ``velocity``."""
        return np.einsum("qajj->qja", self.velocity).real


def velocity_operator(
    fc: ForceConstants,
    qpoints: ArrayLike,
    direction: ArrayLike = (1.0, 2.0, 3.0),
    cutoff_frequency: float = 1e-4,
    builder: DynamicalMatrixBuilder | None = None,
) -> VelocityOperator:
    """Compute the velocity operator v^α_{jj'}(q), degenerate subspaces rotated.

    Inside each degenerate subspace the eigenvectors are rotated to diagonalize the
    derivative of D along ``direction``, so that the group velocities are well defined.

    Parameters
    ----------
    fc : ForceConstants
        The model.
    qpoints : array_like of float, shape (n_q, 3) or (3,)
        Reduced coordinates.
    direction : array_like of float, shape (3,)
        Cartesian direction that fixes the basis inside degenerate subspaces.
    cutoff_frequency : float
        THz; modes with ν ≤ it (acoustic modes at Γ, imaginary modes) get zero rows and
        columns.
    builder : DynamicalMatrixBuilder or EffectiveHarmonicModel, optional
        Source of D(q) and ∂D/∂q; default: the harmonic FC2 of ``fc``.

    Returns
    -------
    VelocityOperator
        The (rotated) phonons and v (n_q, 3, B, B) in THz·Å.
    """
    builder = builder or DynamicalMatrixBuilder(fc)
    ph = solve(fc, qpoints, builder)
    dd = builder.derivatives(ph.qpoints)  # (n_q, 3, B, B)
    n_dir = np.asarray(direction, dtype=float)
    n_dir = n_dir / np.linalg.norm(n_dir)
    vecs = rotate_degenerate_subspaces(
        ph.eigenvectors, ph.frequencies, np.einsum("a,qaij->qij", n_dir, dd)
    )
    ph = Phonons(ph.qpoints, ph.frequencies, vecs)
    freqs = ph.frequencies
    scale = np.where(freqs > cutoff_frequency, 1.0 / np.sqrt(2 * np.abs(freqs) + 1e-300), 0.0)
    w = vecs * scale[:, None, :]
    v = np.einsum("qik,qaij,qjl->qakl", w.conj(), dd, w, optimize=True)
    v = 0.5 * (v + v.conj().transpose(0, 1, 3, 2))
    return VelocityOperator(ph, v)


def rotate_degenerate_subspaces(
    eigenvectors, frequencies, perturbation, tol: float = DEGENERACY_TOLERANCE
):
    """Rotate eigenvectors inside degenerate subspaces to diagonalize ``perturbation``.

    Batched over q-points: the perturbation in the eigenbasis is restricted to the
    degenerate blocks and shifted block by block so that one batched ``eigh``
    returns a block-diagonal unitary with the bands kept in their order.
    """
    block = degenerate_block_ids(frequencies, tol)
    same = block[:, :, None] == block[:, None, :]
    p = (
        np.einsum(
            "qik,qij,qjl->qkl", eigenvectors.conj(), perturbation, eigenvectors, optimize=True
        )
        * same
    )
    spread = np.abs(p).sum(axis=(1, 2)).max() + 1.0
    shifted = p + np.einsum("qk,kl->qkl", 4 * spread * block, np.eye(block.shape[1]))
    _, u = np.linalg.eigh(shifted)
    return eigenvectors @ u


def occupation(frequencies: ArrayLike, temperature: ArrayLike) -> NDArray[np.float64]:
    """Return the Bose–Einstein occupation n(ν, T).

    Parameters
    ----------
    frequencies : array_like of float
        Frequencies ν, THz.
    temperature : array_like of float, broadcastable with ``frequencies``
        K.

    Returns
    -------
    ndarray of float64, the broadcast shape
        n, zero for ν ≤ 0 or T = 0.
    """
    freqs = np.asarray(frequencies, dtype=float)
    temperature = np.asarray(temperature, dtype=float)
    x = np.divide(
        PLANCK_EV_THZ * freqs,
        KB_EV * temperature,
        out=np.full(np.broadcast_shapes(freqs.shape, temperature.shape), np.inf),
        where=temperature > 0,
    )
    with np.errstate(over="ignore", divide="ignore"):
        n = 1.0 / np.expm1(np.where(freqs > 0, x, np.inf))
    return n


def heat_capacity(frequencies: ArrayLike, temperature: ArrayLike) -> NDArray[np.float64]:
    """Return the mode heat capacity c = k_B x² e^x/(e^x − 1)², x = hν/k_BT.

    Parameters
    ----------
    frequencies : array_like of float
        Frequencies ν, THz.
    temperature : array_like of float, broadcastable with ``frequencies``
        K.

    Returns
    -------
    ndarray of float64, the broadcast shape
        c in eV/K, zero for ν ≤ 0 or T = 0.
    """
    freqs = np.asarray(frequencies, dtype=float)
    temperature = np.asarray(temperature, dtype=float)
    n = occupation(freqs, temperature)
    x = np.divide(
        PLANCK_EV_THZ * freqs,
        KB_EV * temperature,
        out=np.zeros(np.broadcast_shapes(freqs.shape, temperature.shape)),
        where=temperature > 0,
    )
    return np.where(freqs > 0, KB_EV * x**2 * n * (n + 1), 0.0)


def check_stable(phonons: Phonons, tolerance: float = -1e-2, model=None) -> None:
    """Raise :class:`UnstablePhononsError` if any frequency is below ``tolerance`` THz.

    ``model``: the phonon model the frequencies came from; a renormalized one (with
    ``label`` and ``temperature``, e.g. an ``EffectiveHarmonicModel``) is named in the
    message with what to change, instead of the advice to renormalize.
    """
    low = phonons.frequencies.min()
    if low < tolerance:
        q = phonons.qpoints[np.argmin(phonons.frequencies.min(axis=1))]
        where = f"imaginary phonon frequency {low:.4f} THz at q = {np.round(q, 4).tolist()}"
        label = getattr(model, "label", "harmonic")
        if label == "harmonic":
            raise UnstablePhononsError(
                f"{where}: the harmonic force constants are dynamically unstable. Renormalize "
                f"them first (aiida-wigner renormalize / --renormalize scp) or check the "
                f"structure relaxation."
            )
        bubble = (
            " the cubic bubble correction makes it imaginary; run κ on the SCP phonons "
            "(bubble none) or leave out this temperature."
            if label.startswith("scpb")
            else " raise the temperature, or refine the SCP meshes."
        )
        at = "" if getattr(model, "temperature", None) is None else f" at {model.temperature:g} K"
        raise UnstablePhononsError(
            f"{where} in the {label} phonons{at}, though the renormalization converged:{bubble}"
        )

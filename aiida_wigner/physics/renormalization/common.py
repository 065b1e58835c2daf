"""Helpers shared by the renormalization modules: unit factors, mode weights, kind names.

Units (docs/conventions.md): frequencies ν in THz (ordinary), masses amu, lengths Å, energies eV,
force constants eV/Å^n, temperatures K.  Mass-weighted displacement correlations are in
amu·Å² so that ⟨u u⟩ [Å²] = G / sqrt(m m').
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..harmonic import occupation
from ..units import AMU, ANGSTROM, HBAR, KB, THZ

TWO_PI_THZ = 2.0 * np.pi * THZ  # ω [rad/s] = TWO_PI_THZ · ν [THz]

#: ħ / (2 ω) in amu·Å² for ν = 1 THz (divide by ν in THz).
HBAR_OVER_2OMEGA = HBAR / (2.0 * TWO_PI_THZ) / (AMU * ANGSTROM**2)
#: k_B T / ω² in amu·Å² for T = 1 K and ν = 1 THz (multiply by T, divide by ν²).
KT_OVER_OMEGA2 = KB / TWO_PI_THZ**2 / (AMU * ANGSTROM**2)

#: Frequencies (THz) with |ν| below this carry no weight in the mode sums (translations).
ZERO_FREQUENCY_CUTOFF = 1e-4


def renormalization_kind(bubble: str) -> str:
    """Name the renormalized phonons after their bubble correction.

    Parameters
    ----------
    bubble : str
        ``"none"`` (SCP only) or a bubble kind: ``"static"``, ``"onshell"``, ``"qp"``.

    Returns
    -------
    str
        ``"scp"`` without bubble, ``"scpb-<bubble>"`` with one: the ``kind`` stored on
        every renormalization and the value of ``aiida-wigner kappa --renormalize``.
    """
    return "scp" if bubble == "none" else f"scpb-{bubble}"


def mode_weights(
    frequencies: NDArray,
    temperature: float,
    classical: bool = False,
    frequency_floor: float = 0.0,
    excluded: NDArray | None = None,
) -> NDArray[np.float64]:
    """Mass-weighted mean-square amplitude g = ⟨|Q|²⟩ of each mode, amu·Å².

    Quantum: g = ħ (2n + 1) / (2ω) with Bose–Einstein n; classical: g = k_B T / ω².
    Imaginary modes (ν < 0) are treated with ω = max(|ν|, ``frequency_floor``);
    modes with |ν| < ``ZERO_FREQUENCY_CUTOFF`` or flagged in ``excluded`` get g = 0.
    """
    nu = np.asarray(frequencies, dtype=float)
    mag = np.abs(nu)
    mag = np.where(nu < 0, np.maximum(mag, frequency_floor), mag)
    keep = mag > ZERO_FREQUENCY_CUTOFF
    if excluded is not None:
        keep &= ~excluded
    safe = np.where(keep, mag, 1.0)
    if classical:
        g = KT_OVER_OMEGA2 * temperature / safe**2
    else:
        n = occupation(safe, temperature)
        g = HBAR_OVER_2OMEGA * (2.0 * n + 1.0) / safe
    return np.where(keep, g, 0.0)


def translation_basis(cell, qpoint) -> NDArray[np.complex128]:
    """Orthonormal uniform translations at q ≡ 0 as (B, 3) columns in the eigenvector basis.

    A rigid shift u_lκ = c gives the mass-weighted eigenvector e_κα = √m_κ c_α
    e^{−2πi q·τ_κ} (phonopy's phase convention, τ fractional; the phase is 1 at q = 0
    and matters only for a Γ-equivalent q outside the first zone).
    """
    m = np.asarray(cell.masses, dtype=float)
    phase = np.exp(-2j * np.pi * np.asarray(cell.positions, dtype=float) @ np.asarray(qpoint))
    t = np.zeros((3 * len(m), 3), dtype=complex)
    for a in range(3):
        t[a::3, a] = np.sqrt(m) * phase
    return t / np.sqrt(m.sum())


def gamma_points(qpoints: NDArray) -> NDArray[np.int64]:
    """Return the indices of the q-points equivalent to Γ (integer reduced coordinates)."""
    q = np.asarray(qpoints, dtype=float)
    return np.nonzero(np.all(np.abs(q - np.rint(q)) < 1e-10, axis=1))[0]


def translation_mask(cell, qpoints: NDArray, eigenvectors: NDArray) -> NDArray[np.bool_]:
    """Flag the three modes at q ≡ 0 that carry the uniform translations.

    Identified by their eigenvectors (columns of ``eigenvectors`` (n_q, B, B)): at each
    Γ-equivalent point the three modes with the largest weight Σ_α |⟨t_α|e_s⟩|² on the
    translation basis of :func:`translation_basis`, whatever their frequency or band
    position (a stabilized soft optic mode can sit below or among them, and an unstable
    one below them).

    Parameters
    ----------
    cell : Cell
        The primitive cell (masses and positions of the translation basis).
    qpoints : ndarray of float, shape (n_q, 3)
        Reduced q-points.
    eigenvectors : ndarray of complex, shape (n_q, B, B)
        Eigenvectors as columns at each q-point.

    Returns
    -------
    ndarray of bool, shape (n_q, B)
        True for the three translations at each Γ-equivalent point, False elsewhere.
    """
    mask = np.zeros(eigenvectors.shape[:2], dtype=bool)
    for iq in gamma_points(qpoints):  # at most a handful of Γ-equivalent points
        t = translation_basis(cell, qpoints[iq])
        weight = np.sum(np.abs(t.conj().T @ eigenvectors[iq]) ** 2, axis=0)
        mask[iq, np.argsort(-weight, kind="stable")[:3]] = True
    return mask


def project_out_translations(cell, qpoints: NDArray, matrices: NDArray) -> NDArray:
    """P M P at the Γ-equivalent points, P = 1 − T T† (T from :func:`translation_basis`).

    Applied to the loop correction ΔD(Γ) it keeps the translations exact zero modes even
    where the FC4 breaks the acoustic sum rule slightly (ALAMODE zeroes the same
    elements); with an exact sum rule it changes nothing.  Returns a new array.
    """
    out = np.array(matrices, dtype=complex)
    for iq in gamma_points(qpoints):
        t = translation_basis(cell, qpoints[iq])
        p = np.eye(len(t)) - t @ t.conj().T
        out[iq] = p @ out[iq] @ p
    return out

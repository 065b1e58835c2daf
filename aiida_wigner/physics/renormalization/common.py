"""Helpers shared by the renormalization modules: unit factors and mode weights.

Units (design.md): frequencies ν in THz (ordinary), masses amu, lengths Å, energies eV,
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


def signed_frequencies(eigenvalues: NDArray) -> NDArray[np.float64]:
    """ν = sign(λ) sqrt(|λ|) from eigenvalues λ of D in THz² (negative = imaginary)."""
    return np.sign(eigenvalues) * np.sqrt(np.abs(eigenvalues))


def mode_weights(frequencies: NDArray, temperature: float, classical: bool = False,
                 frequency_floor: float = 0.0, excluded: NDArray | None = None
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


def gamma_acoustic_mask(qpoints: NDArray, frequencies: NDArray, n_acoustic: int = 3
                        ) -> NDArray[np.bool_]:
    """True for the ``n_acoustic`` modes of smallest |ν| at q ≡ 0 (uniform translations)."""
    q = np.asarray(qpoints, dtype=float)
    at_gamma = np.all(np.abs(q - np.rint(q)) < 1e-10, axis=1)
    mask = np.zeros(frequencies.shape, dtype=bool)
    for iq in np.nonzero(at_gamma)[0]:  # at most a handful of Γ-equivalent points
        mask[iq, np.argsort(np.abs(frequencies[iq]))[:n_acoustic]] = True
    return mask

"""Mean-square displacements of the atoms from (renormalized) phonons (seed Fig. S4).

    U_κ,αβ = ⟨u_κα u_κβ⟩ = 1/(N m_κ) Σ_{q,s} g_s e_κα(q,s) e*_κβ(q,s)        [Å²]

with g_s = ħ(2n + 1)/(2ω) (classical: k_B T/ω²) on a Γ-centred mesh; the translations at
Γ are left out (their contribution vanishes as 1/N), imaginary modes count with |ν|.
The isotropic MSD of atom κ is the trace of U_κ (⟨|u|²⟩); ALAMODE's per-direction
output is the diagonal.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..mesh import grid_addresses
from .common import mode_weights, translation_mask
from .effective_fc2 import EffectiveHarmonicModel


def displacement_tensors(
    model: EffectiveHarmonicModel,
    mesh: ArrayLike,
    temperatures: ArrayLike,
    classical: bool = False,
    frequency_floor: float = 0.0,
) -> NDArray[np.float64]:
    """Compute the displacement tensors U_κ,αβ = ⟨u_κα u_κβ⟩ (module docstring).

    Parameters
    ----------
    model : EffectiveHarmonicModel
        The (renormalized) phonons; ``EffectiveHarmonicModel.harmonic(fc)`` for the bare ones.
    mesh : array_like of int, shape (3,)
        Γ-centred mesh of the sum over q.
    temperatures : array_like of float, shape (n_T,)
        K.
    classical : bool
        Classical weights k_B T/ω² instead of ħ(2n + 1)/(2ω).
    frequency_floor : float
        THz, lower bound of |ν| for imaginary modes.

    Returns
    -------
    ndarray of float64, shape (n_T, n_prim, 3, 3)
        U_κ in Å².
    """
    mesh = np.asarray(mesh, dtype=np.int64).reshape(3)
    q = grid_addresses(mesh) / mesh
    ph = model.phonons(q)
    acoustic = translation_mask(model.fc.setup.primitive, q, ph.eigenvectors)
    masses = model.fc.setup.primitive.masses
    n = len(masses)
    e = ph.eigenvectors.reshape(len(q), n, 3, 3 * n)
    temps = np.atleast_1d(np.asarray(temperatures, dtype=float))
    out = np.empty((len(temps), n, 3, 3))
    for it, t in enumerate(temps):  # temperatures only; q and modes vectorized
        g = mode_weights(ph.frequencies, t, classical, frequency_floor, acoustic)
        u = np.einsum("qkas,qs,qkbs->kab", e, g, e.conj(), optimize=True).real
        out[it] = u / len(q) / masses[:, None, None]
    return out


def mean_square_displacements(
    model: EffectiveHarmonicModel,
    mesh: ArrayLike,
    temperatures: ArrayLike,
    classical: bool = False,
    frequency_floor: float = 0.0,
) -> NDArray[np.float64]:
    """Compute the mean-square displacements ⟨|u_κ|²⟩ = Tr U_κ of the primitive atoms.

    Parameters
    ----------
    model : EffectiveHarmonicModel
        The (renormalized) phonons; ``EffectiveHarmonicModel.harmonic(fc)`` for the bare ones.
    mesh : array_like of int, shape (3,)
        Γ-centred mesh of the sum over q.
    temperatures : array_like of float, shape (n_T,)
        K.
    classical : bool
        Classical weights k_B T/ω² instead of ħ(2n + 1)/(2ω).
    frequency_floor : float
        THz, lower bound of |ν| for imaginary modes.

    Returns
    -------
    ndarray of float64, shape (n_T, n_prim)
        Å².
    """
    u = displacement_tensors(model, mesh, temperatures, classical, frequency_floor)
    return np.trace(u, axis1=-2, axis2=-1)

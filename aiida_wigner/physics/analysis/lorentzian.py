"""The Lorentzian weight of a pair of modes in the coherences' conductivity (seed Fig. 6).

In Eq. 5 a pair (j, j') at q contributes to κ_C in proportion to

    W(Δν, Γ) = Γ / ((Δν)² + Γ²)        [1/THz]

with Γ = γ_j + γ_j' the sum of the half widths and Δν = ν_j − ν_j' (THz; the same ratio
in angular units is W/(2π)).  At fixed |Δν|, ∂W/∂Γ = ((Δν)² − Γ²)/((Δν)² + Γ²)² vanishes at
Γ = |Δν|: W rises with Γ below that line (more scattering, more κ_C) and falls above it
(the seed's explanation of the non-monotonic κ_C,z(T)), with the maximum 1/(2|Δν|).

:func:`pair_distribution` puts the κ_C pair terms of a run on the (|Δν|, Γ) plane, so one
sees on which side of Γ = |Δν| the coherences' conductivity sits.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..transport import WignerTerms


def lorentzian_weight(delta: ArrayLike, gamma_sum: ArrayLike) -> NDArray[np.float64]:
    """Return the Lorentzian weight W = Γ/((Δν)² + Γ²) of mode pairs.

    Parameters
    ----------
    delta : array_like of float
        Δν = ν_j − ν_j', THz.
    gamma_sum : array_like of float, broadcastable with ``delta``
        Γ = γ_j + γ_j', THz.

    Returns
    -------
    ndarray of float64, the broadcast shape
        W in 1/THz; 0 where both vanish.
    """
    d = np.asarray(delta, dtype=float)
    g = np.asarray(gamma_sum, dtype=float)
    den = d**2 + g**2
    return np.divide(g, den, out=np.zeros(np.broadcast_shapes(d.shape, g.shape)), where=den > 0)


def lorentzian_map(delta_max: float, gamma_max: float, n: int = 200) -> dict:
    """Tabulate W on an n × n grid of (Δν, Γ) bin centres from 0 to the maxima.

    Parameters
    ----------
    delta_max, gamma_max : float
        Upper ends of the Δν and Γ axes, THz.
    n : int
        Bins per axis.

    Returns
    -------
    dict
        ``delta`` (n,) and ``gamma_sum`` (n,), THz, the bin centres; ``weight``
        (n_Γ, n_Δ), 1/THz.
    """
    delta = (np.arange(n) + 0.5) * (delta_max / n)
    gamma = (np.arange(n) + 0.5) * (gamma_max / n)
    return {
        "delta": delta,
        "gamma_sum": gamma,
        "weight": lorentzian_weight(delta[None, :], gamma[:, None]),
    }


def pair_distribution(terms: WignerTerms, frequencies, gamma, delta_edges, gamma_edges) -> dict:
    """Bin the κ_C pair terms (xx, yy, zz) on (|Δν|, Γ = γ_j + γ_j').

    Parameters
    ----------
    terms : WignerTerms
        The pair terms of a run (:class:`~aiida_wigner.physics.transport.WignerTerms`,
        their weights (T, Q, B, B) and velocity products (Q, B, B, 3, 3)).
    frequencies : array_like of float, shape (Q, B)
        THz.
    gamma : array_like of float, shape (T, Q, B)
        Half widths, THz.
    delta_edges, gamma_edges : array_like of float, shape (n_Δ + 1,), (n_Γ + 1,)
        Bin edges, THz; pairs outside them are left out of ``kappa_C_pairs`` but counted
        in the totals.

    Returns
    -------
    dict
        ``kappa_C_pairs`` (T, n_Δ, n_Γ, 3) W/(m·K) per bin; ``kappa_C_rising`` (T, 3), the
        κ_C of pairs with Γ < |Δν| (which more scattering raises), and ``kappa_C_falling``
        (T, 3), those with Γ ≥ |Δν|; the two add up to κ_C.
    """
    coherent = ~terms.populations  # (Q, B, B)
    f = np.asarray(frequencies, dtype=float)
    g = np.asarray(gamma, dtype=float)
    delta = np.broadcast_to(np.abs(f[:, :, None] - f[:, None, :]), coherent.shape)[coherent]
    g_sum = (g[..., :, None] + g[..., None, :])[:, coherent]  # (T, P)
    n_d, n_g = len(delta_edges) - 1, len(gamma_edges) - 1
    i = np.digitize(delta, delta_edges) - 1
    n_t = terms.n_temperatures
    out = np.zeros((n_t, n_d, n_g, 3))
    rising, falling = np.zeros((n_t, 3)), np.zeros((n_t, 3))
    for t in range(n_t):  # temperatures only; pairs vectorized
        diag = terms.diagonal(t)[coherent]  # (P, 3)
        j = np.digitize(g_sum[t], gamma_edges) - 1
        inside = (i >= 0) & (i < n_d) & (j >= 0) & (j < n_g)
        np.add.at(out[t], (i[inside], j[inside]), diag[inside])
        up = g_sum[t] < delta
        rising[t], falling[t] = diag[up].sum(axis=0), diag[~up].sum(axis=0)
    return {"kappa_C_pairs": out, "kappa_C_rising": rising, "kappa_C_falling": falling}

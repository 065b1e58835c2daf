"""Wigner (unified) thermal conductivity, seed Eq. 5 (Simoncelli, Marzari & Mauri 2019).

    κ^{αβ} = 1/(N V) Σ_q Σ_{j j'} C_{jj'} Re(v^α_{jj'} v^β_{j'j}) L_{jj'} / 2π

    L_{jj'} = (γ_j + γ_j') / ((ν_j − ν_j')² + (γ_j + γ_j')²)        [1/THz]

with ν in THz, γ half widths in THz, v the velocity operator (THz·Å), c mode heat
capacities (eV/K) and V the primitive-cell volume (Å³).  On the diagonal this is the
relaxation-time κ_P = Σ c v v τ / (N V) with τ = 1/(4π γ).

Conventions (``convention=``):

* ``"aiida-wigner"`` (default): heat-capacity weight of the seed,
  C_{jj'} = (c_j ν_j' + c_j' ν_j) / (ν_j + ν_j'); populations κ_P are all pairs
  inside a degenerate subspace (j = j' and j ≠ j' with |ν_j − ν_j'| < 1e-4 THz),
  which makes κ_P and κ_C independent of the basis chosen in degenerate subspaces;
  coherences κ_C are the pairs with different frequencies.
* ``"phono3py"``: phono3py's SMM19 variant, C_{jj'} = (ν_j + ν_j')(c_j/ν_j + c_j'/ν_j')/4,
  κ_P the j = j' terms and κ_C every j ≠ j' term (degenerate pairs included), with
  degenerate subspaces rotated as in :func:`..harmonic.velocity_operator`.

Modes with ν below the cutoff or zero linewidth are left out (their τ is undefined).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from .harmonic import DEGENERACY_TOLERANCE, degenerate_block_ids
from .units import ANGSTROM, EV, THZ

#: eV/K · (THz·Å)² · ps / Å³ → W/(m·K)
KAPPA_UNIT = EV * THZ / ANGSTROM


@dataclass(frozen=True)
class WignerTerms:
    """Per-pair contributions at the irreducible q-points, point-group symmetrized.

    The pair term (T, Q, B, B, 3, 3) factorizes as ``weight[t, q, j, k] · vv[q, j, k]``
    (Eq. 5: C_{jj'} L_{jj'} times Re v v*), so it is held as these two factors:
    T·Q·B² + 9·Q·B² numbers instead of 9·T·Q·B² (the full array of the seed's
    16×16×12 mesh at 7 temperatures would be 91 MB, and twice that while symmetrized).

    Attributes
    ----------
    weight : ndarray of float64, shape (T, Q, B, B)
        C_{jj'} L_{jj'} times the q-point weight and the unit factor, W/(m·K) per
        (THz·Å)².
    vv : ndarray of float64, shape (Q, B, B, 3, 3)
        Re(v^α_{jj'} v^β_{j'j}) averaged over the point group, (THz·Å)².
    populations : ndarray of bool, shape (Q, B, B)
        Which pairs count as κ_P.
    """

    weight: NDArray[np.float64]
    vv: NDArray[np.float64]
    populations: NDArray[np.bool_]

    @property
    def n_temperatures(self) -> int:
        """Number of temperatures T."""
        return self.weight.shape[0]

    def _sum(self, mask) -> NDArray[np.float64]:
        return np.tensordot(self.weight * mask, self.vv, axes=([1, 2, 3], [0, 1, 2]))

    @property
    def kappa_P(self) -> NDArray[np.float64]:
        """κ_P (T, 3, 3) in W/(m·K): the population pairs."""
        return self._sum(self.populations)

    @property
    def kappa_C(self) -> NDArray[np.float64]:
        """κ_C (T, 3, 3) in W/(m·K): the coherence pairs."""
        return self._sum(~self.populations)

    @property
    def kappa(self) -> NDArray[np.float64]:
        """κ = κ_P + κ_C (T, 3, 3) in W/(m·K)."""
        return self._sum(True)

    @property
    def kappa_P_modes(self) -> NDArray[np.float64]:
        """(T, Q, B, 3, 3) W/(m·K): population pairs of each mode (row j)."""
        return np.einsum("tqjk,qjkab->tqjab", self.weight * self.populations, self.vv)

    def diagonal(self, t: int) -> NDArray[np.float64]:
        """xx, yy, zz of every pair term at temperature index ``t``: (Q, B, B, 3) W/(m·K)."""
        return self.weight[t, ..., None] * np.einsum("qjkaa->qjka", self.vv)


def heat_capacity_matrix(frequencies, heat_capacities, convention: str) -> NDArray[np.float64]:
    """C_{jj'} (T, Q, B, B) in eV/K for the given convention (see module docstring)."""
    f = np.where(frequencies > 0, frequencies, 0.0)[None]
    c = heat_capacities
    fi, fj = f[..., :, None], f[..., None, :]
    ci, cj = c[..., :, None], c[..., None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        if convention == "phono3py":
            cf = np.where(f > 0, c / np.where(f > 0, f, 1.0), 0.0)
            out = 0.25 * (fi + fj) * (cf[..., :, None] + cf[..., None, :])
        elif convention == "aiida-wigner":
            out = (ci * fj + cj * fi) / (fi + fj)
        else:
            raise ValueError(f"unknown convention {convention!r}")
    return np.where(np.isfinite(out), out, 0.0)


def wigner_terms(
    frequencies,
    velocity,
    gamma,
    heat_capacities,
    weights,
    n_q: int,
    volume: float,
    symmetrize,
    convention: Literal["aiida-wigner", "phono3py"] = "aiida-wigner",
    cutoff_frequency: float = 1e-3,
) -> WignerTerms:
    """Pair contributions to κ (Eq. 5) from data at irreducible q-points.

    frequencies (Q, B) THz; velocity (Q, 3, B, B) THz·Å; gamma (T, Q, B) THz;
    heat_capacities (T, Q, B) eV/K; weights (Q,) multiplicities; ``symmetrize`` maps
    (..., 3, 3) tensors to their point-group average.
    """
    valid = frequencies > cutoff_frequency
    g_sum = gamma[..., :, None] + gamma[..., None, :]
    d_nu = frequencies[:, :, None] - frequencies[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        lorentz = g_sum / (d_nu[None] ** 2 + g_sum**2)
    pair_valid = valid[:, :, None] & valid[:, None, :]
    lorentz = np.where(np.isfinite(lorentz) & pair_valid[None], lorentz, 0.0)
    cmat = heat_capacity_matrix(frequencies, heat_capacities, convention)
    # Re(v^α v^β*) = Re v^α Re v^β + Im v^α Im v^β: symmetric in (α, β) to the last bit.
    # The point-group average is linear in vv, so the weights factor out of it.
    vr, vi = velocity.real, velocity.imag
    vv = symmetrize(np.einsum("qajk,qbjk->qjkab", vr, vr) + np.einsum("qajk,qbjk->qjkab", vi, vi))
    scale = KAPPA_UNIT / (2 * np.pi * n_q * volume)
    weight = cmat * lorentz * (weights * scale)[:, None, None]
    if convention == "phono3py":
        populations = np.broadcast_to(np.eye(frequencies.shape[1], dtype=bool), d_nu.shape).copy()
    else:
        block = degenerate_block_ids(frequencies, DEGENERACY_TOLERANCE)
        populations = block[:, :, None] == block[:, None, :]
    return WignerTerms(weight, vv, populations)


def spectral_kappa(terms: WignerTerms, frequencies, bins: int) -> dict:
    """Spectral κ_P(ν), κ_C(ν) (W/(m·K·THz)), their cumulative sums and the κ_C map.

    Each pair term is shared equally between ν_j and ν_j'; the (ν_j, ν_j') map holds the
    κ_C pair contributions binned on both frequencies (W/(m·K) per bin).
    """
    f = np.where(frequencies > 0, frequencies, 0.0)
    edges = np.linspace(0.0, f.max() * (1 + 1e-9) + 1e-12, bins + 1)
    width = edges[1] - edges[0]
    idx = np.clip(np.digitize(f, edges) - 1, 0, bins - 1)  # (Q, B)
    n_t = terms.n_temperatures
    vd = np.einsum("qjkaa->qjka", terms.vv)  # xx, yy, zz of each pair
    out = {"frequency_bin_edges": edges}
    for name, mask in (("kappa_P", terms.populations), ("kappa_C", ~terms.populations)):
        w = terms.weight * mask
        per_mode = 0.5 * (np.einsum("tqjk,qjka->tqja", w, vd) + np.einsum("tqjk,qjka->tqka", w, vd))
        spec = np.zeros((n_t, bins, 3))
        np.add.at(spec, (slice(None), idx.ravel()), per_mode.reshape(n_t, -1, 3))
        out[f"{name}_spectral"] = spec / width
        out[f"{name}_cumulative"] = np.cumsum(spec, axis=1)
    coherent = ~terms.populations
    ii = np.broadcast_to(idx[:, :, None], coherent.shape)[coherent]
    jj = np.broadcast_to(idx[:, None, :], coherent.shape)[coherent]
    cmap = np.zeros((n_t, bins, bins, 3))
    for t in range(n_t):  # temperatures only: one (pairs, 3) slice at a time
        np.add.at(cmap[t], (ii, jj), terms.diagonal(t)[coherent])
    out["kappa_C_map"] = cmap
    return out

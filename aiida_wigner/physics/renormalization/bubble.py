"""The cubic bubble self-energy on top of SCP phonons (seed Eqs. 2–4, SCPB).

For a mode λ = (q, j) of the (SCP) phonons with frequency Ω (angular ω below), the
bubble diagram with the bare Φ3 gives the retarded self-energy, written here as the
frequency shift Δ_λ(ω) = Re Π_λ(ω) (phono3py's "Delta"; the seed's Σ_B = −Π):

    Π_λ(ω) = ħ/(16 N') Σ_{q1 j1 j2} |Ψ(−λ, λ1, λ2)|² / (ω_λ ω_1 ω_2) · h(ω),
    h(ω) = (1 + n1 + n2) [1/(ω − ω1 − ω2 + iε) − 1/(ω + ω1 + ω2 + iε)]
         + (n1 − n2)     [1/(ω + ω1 − ω2 + iε) − 1/(ω − ω1 + ω2 + iε)],

with q2 = q − q1, the sum over q1 on the inner mesh (N' points), and Ψ the mass-
weighted, eigenvector-projected Fourier transform of Φ3 (no frequency factors):

    Ψ(−λ, λ1, λ2) = Σ Φ3(0κα, l1κ1β, l2κ2γ) e*_κα(λ) e_κ1β(λ1) e_κ2γ(λ2)
                    e^{2πi (q1·v1 + q2·v2)} / sqrt(m_κ m_κ1 m_κ2).

Its imaginary part is phono3py's Γ; the real part of 1/(x + iε) is x/(x² + ε²).
The renormalized frequency solves Ω² = Ω_S² + 2 Ω_S Δ(ω) (Eq. 2) with
  * "static":  ω = 0 — evaluated *without* ε (the exact ω → 0 limit, (n1 − n2)/(ω1 − ω2)
    → dn/dω at equal frequencies);
  * "onshell": ω = Ω_S;
  * "qp":      ω = Ω, the self-consistent root of Eq. 2 closest to the on-shell value
    (the seed's SCPB).
Shifts are averaged over degenerate SCP modes.  Modes with Ω_S ≤ 1e-4 THz (the
translations) are not shifted; imaginary SCP modes in the sum are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numba
import numpy as np
from numpy.typing import NDArray

from ..forceconstants import ForceConstants, ForceConstantsError
from ..harmonic import average_degenerate
from ..interactions import CubicInteraction
from ..mesh import grid_addresses
from ..units import AMU, ANGSTROM, EV, HBAR, KB_EV, PLANCK_EV_THZ
from .common import TWO_PI_THZ, ZERO_FREQUENCY_CUTOFF, renormalization_kind
from .effective_fc2 import EffectiveHarmonicModel

#: Π[THz] = BUBBLE_PREFACTOR / N' · Σ |Ψ|² [eV²/(Å⁶ amu³)] / (ν ν1 ν2) · h[1/THz]
BUBBLE_PREFACTOR = HBAR * (EV / (ANGSTROM**3 * AMU**1.5)) ** 2 / 16.0 / TWO_PI_THZ**5

KINDS = ("static", "onshell", "qp")


@dataclass
class BubbleAtQ:
    """|Ψ|²/(ν ν1 ν2) and occupations for one q: Δ(ω) for any ω cheaply afterwards."""

    frequencies: NDArray[np.float64]  # (B,) Ω_S at q, THz
    weight: NDArray[np.float64]  # (B, n_q1, B, B), THz per (1/THz)
    nu1: NDArray[np.float64]  # (n_q1, B, 1)
    nu2: NDArray[np.float64]  # (n_q1, 1, B)
    n1: NDArray[np.float64]
    n2: NDArray[np.float64]
    epsilon: float
    temperature: float
    classical: bool

    def shift(self, omega: NDArray) -> NDArray[np.float64]:
        """Δ_j(ω_j) in THz, ε-regularized, for ω (THz) of shape (B,) or (G, B).

        One ω per band, or G of them per band (a frequency grid, evaluated in one pass):
        Δ_j(ω) = Σ_{q1 a b} w_{j q1 a b} h_{q1 a b}(ω) (:func:`_shift_kernel`).
        """
        omega = np.asarray(omega, dtype=float)
        grid = np.atleast_2d(omega)
        out = _shift_kernel(np.ascontiguousarray(grid), self.weight, *self._kernel_terms)
        return out.reshape(omega.shape)

    def static_shift(self) -> NDArray[np.float64]:
        """Δ_j(0) without ε: h(0) = −2(1+n1+n2)/(ω1+ω2) + 2 (n1−n2)/(ω1−ω2) (limit: 2 dn/dω)."""
        s, d = self.nu1 + self.nu2, self.nu1 - self.nu2
        close = np.abs(d) < 1e-6
        if self.classical:
            kt = KB_EV * self.temperature / PLANCK_EV_THZ
            deriv = -kt / np.maximum(self.nu1, 1e-300) ** 2 + 0 * self.nu2
        else:
            x = PLANCK_EV_THZ / max(KB_EV * self.temperature, 1e-300)
            deriv = -self.n1 * (self.n1 + 1) * x + 0 * self.nu2
        ratio = np.where(close, deriv, self._diff_occ / np.where(close, 1.0, d))
        h = -2.0 * self._sum_occ / np.where(s > 0, s, 1.0) + 2.0 * ratio
        return np.einsum("jqab,qab->j", self.weight, h)

    @cached_property
    def _kernel_terms(self) -> tuple:
        """The ω-independent inputs of :func:`_shift_kernel`, contiguous.

        ν1, ν2 (n_q1, B), 1 + n1 + n2 and n1 − n2 (or their classical limits) (n_q1, B, B),
        and ε².
        """
        shape = np.broadcast_shapes(self.nu1.shape, self.nu2.shape)
        sum_occ, diff_occ = (
            np.ascontiguousarray(np.broadcast_to(x, shape)) for x in (self._sum_occ, self._diff_occ)
        )
        nu1 = np.ascontiguousarray(self.nu1[:, :, 0])
        nu2 = np.ascontiguousarray(self.nu2[:, 0, :])
        return nu1, nu2, sum_occ, diff_occ, self.epsilon**2

    @property
    def _sum_occ(self):
        if self.classical:
            kt = KB_EV * self.temperature / PLANCK_EV_THZ
            return kt * (1 / self.nu1 + 1 / self.nu2)
        return 1.0 + self.n1 + self.n2

    @property
    def _diff_occ(self):
        if self.classical:
            kt = KB_EV * self.temperature / PLANCK_EV_THZ
            return kt * (1 / self.nu1 - 1 / self.nu2)
        return self.n1 - self.n2


@numba.njit(parallel=True, cache=True)
def _shift_kernel(omega, weight, nu1, nu2, sum_occ, diff_occ, eps2):  # pragma: no cover - numba
    """Δ (G, B): Σ_{q a b} weight[j, q, a, b] h(omega[g, j]) (Eq. 3, ε-regularized).

    h(ω) = (1 + n1 + n2) [r(ω − s) − r(ω + s)] + (n1 − n2) [r(ω + d) − r(ω − d)] with
    r(x) = x / (x² + ε²), s = ν1 + ν2, d = ν1 − ν2; omega (G, B), weight (B, n_q1, B, B),
    nu1, nu2 (n_q1, B), sum_occ, diff_occ (n_q1, B, B).  Parallel over (g, j).
    """
    n_g, nb = omega.shape
    n_q, n1, n2 = weight.shape[1], weight.shape[2], weight.shape[3]
    out = np.empty((n_g, nb))
    for gj in numba.prange(n_g * nb):
        g, j = gj // nb, gj % nb
        w = omega[g, j]
        acc = 0.0
        for q in range(n_q):
            for a in range(n1):
                for b in range(n2):
                    s = nu1[q, a] + nu2[q, b]
                    d = nu1[q, a] - nu2[q, b]
                    x1, x2, x3, x4 = w - s, w + s, w + d, w - d
                    h = sum_occ[q, a, b] * (x1 / (x1 * x1 + eps2) - x2 / (x2 * x2 + eps2))
                    h += diff_occ[q, a, b] * (x3 / (x3 * x3 + eps2) - x4 / (x4 * x4 + eps2))
                    acc += weight[j, q, a, b] * h
        out[g, j] = acc
    return out


class BubbleCorrection:
    """Bubble shifts of an (effective) harmonic model with the bare Φ3 (fc.fc3).

    Parameters
    ----------
    fc : ForceConstants
        The bare model, with FC3.
    model : EffectiveHarmonicModel
        The SCP phonons (or the harmonic ones).
    inner_mesh : array_like of int, shape (3,)
        The q1 mesh (seed: the SCP inner mesh).
    epsilon : float
        THz, the ε of Eq. 4 (phono3py's --epsilon / ALAMODE's smearing).
    classical : bool
        Classical occupations.
    interaction : CubicInteraction, optional
        A prepared Φ3 Fourier transform of ``fc`` (shared between temperatures).
    """

    def __init__(
        self,
        fc: ForceConstants,
        model: EffectiveHarmonicModel,
        inner_mesh,
        epsilon: float = 0.05,
        classical: bool = False,
        interaction: CubicInteraction | None = None,
    ):
        self.fc, self.model = fc, model
        self.mesh = np.asarray(inner_mesh, dtype=np.int64).reshape(3)
        self.q1 = grid_addresses(self.mesh) / self.mesh
        self.epsilon, self.classical = float(epsilon), classical
        if fc.fc3 is None:
            raise ForceConstantsError("the bubble self-energy needs third-order force constants")
        self.interaction = interaction or CubicInteraction(fc)

    @cached_property
    def _q1_legs(self):
        """Phonons and pair phases of the inner mesh, the q1 leg of every outer q-point."""
        return self.model.phonons(self.q1), self.interaction.phases(self.q1)

    def at_q(self, q, temperature: float) -> BubbleAtQ:
        """Collect the bubble terms of every band at one q-point.

        Parameters
        ----------
        q : array_like of float, shape (3,)
            Reduced coordinates of the q-point.
        temperature : float
            Temperature in K (Bose-Einstein occupations of the q1, q2 phonons).

        Returns
        -------
        BubbleAtQ
            The weights |Ψ|²/(ν ν1 ν2) and occupations over q1 and the band pairs;
            :meth:`BubbleAtQ.shift` evaluates Δ(ω) from them.
        """
        from ..harmonic import occupation

        q = np.asarray(q, dtype=float)
        ph = self.model.phonons(q[None])
        ph1, phases1 = self._q1_legs
        q2 = q[None] - self.q1
        ph2 = self.model.phonons(q2)
        # |Ψ(−λ, λ1, λ2)|² = |V3|² of the triplet (−q, q1, q − q1), with e(−q) = e(q)*
        psi2 = self.interaction.strength(
            -q,
            ph.eigenvectors[0].conj(),
            phases1,
            ph1.eigenvectors,
            self.interaction.phases(q2),
            ph2.eigenvectors,
        )
        nu, nu1, nu2 = ph.frequencies[0], ph1.frequencies, ph2.frequencies
        ok = (nu1[:, :, None] > ZERO_FREQUENCY_CUTOFF) & (nu2[:, None, :] > ZERO_FREQUENCY_CUTOFF)
        den = (
            np.where(nu > ZERO_FREQUENCY_CUTOFF, nu, np.inf)[:, None, None, None]
            * np.where(ok, nu1[:, :, None] * nu2[:, None, :], np.inf)[None]
        )
        weight = np.ascontiguousarray(
            BUBBLE_PREFACTOR / len(self.q1) * psi2.transpose(1, 0, 2, 3) / den
        )
        safe1 = np.where(nu1 > ZERO_FREQUENCY_CUTOFF, nu1, 1.0)
        safe2 = np.where(nu2 > ZERO_FREQUENCY_CUTOFF, nu2, 1.0)
        return BubbleAtQ(
            nu,
            weight,
            safe1[:, :, None],
            safe2[:, None, :],
            occupation(safe1, temperature)[:, :, None],
            occupation(safe2, temperature)[:, None, :],
            self.epsilon,
            float(temperature),
            self.classical,
        )

    def frequencies(
        self, qpoints, temperature: float, kind: str = "qp", n_grid: int = 96
    ) -> tuple[NDArray, NDArray]:
        """Bubble-corrected frequencies Ω (n_q, B) and shifts Δ (THz) at ``qpoints``.

        Ω = sign(Ω²) sqrt|Ω²| with Ω² = Ω_S² + 2 Ω_S Δ(ω) per ``kind`` (see module doc).
        """
        if kind not in KINDS:
            raise ValueError(f"bubble kind must be one of {KINDS}, got {kind!r}")
        qpoints = np.atleast_2d(np.asarray(qpoints, dtype=float))
        omegas, shifts = [], []
        for q in qpoints:  # outer q-points: everything inside is vectorized over q1 and bands
            b = self.at_q(q, temperature)
            nu = b.frequencies
            if kind == "static":
                shift = b.static_shift()
            else:
                shift = b.shift(np.maximum(nu, 0.0))
            shift = average_degenerate(shift, nu)
            omega2 = nu**2 + 2 * nu * shift
            if kind == "qp":
                omega2 = _quasiparticle_root(b, nu, omega2, n_grid)
                omega2 = average_degenerate(omega2, nu)
                shift = np.where(
                    nu > ZERO_FREQUENCY_CUTOFF,
                    (omega2 - nu**2) / (2 * np.where(nu > 0, nu, 1.0)),
                    0.0,
                )
            omegas.append(np.sign(omega2) * np.sqrt(np.abs(omega2)))
            shifts.append(np.where(nu > ZERO_FREQUENCY_CUTOFF, shift, 0.0))
        return np.array(omegas), np.array(shifts)


def _quasiparticle_root(
    b: BubbleAtQ, nu: NDArray, onshell_omega2: NDArray, n_grid: int
) -> NDArray[np.float64]:
    """Ω² with F(ω) = ω² − Ω_S² − 2Ω_S Δ(ω) = 0, the root closest to the on-shell Ω.

    Vectorized over bands: F on a grid ω ∈ (0, ω_max], then the Illinois root search
    (:func:`_illinois`) in the bracket nearest to the on-shell estimate.  Bands without
    a positive root keep the on-shell value (reported as imaginary if that is negative).
    """
    valid = nu > ZERO_FREQUENCY_CUTOFF
    target = np.sqrt(np.abs(onshell_omega2))
    wmax = 2.0 * np.maximum(nu, target) + 1.0
    grid = np.linspace(1e-3, 1.0, n_grid)[:, None] * wmax[None, :]  # (G, B)

    def residual(w):  # F(ω) per band, w (B,) or (G, B)
        return w**2 - nu**2 - 2 * nu * b.shift(w)

    f = residual(grid)
    change = np.sign(f[:-1]) != np.sign(f[1:])
    dist = np.abs(0.5 * (grid[:-1] + grid[1:]) - target[None, :])
    dist = np.where(change, dist, np.inf)
    k = np.argmin(dist, axis=0)
    found = np.isfinite(dist[k, np.arange(len(nu))]) & valid
    lo, hi = grid[k, np.arange(len(nu))], grid[k + 1, np.arange(len(nu))]
    flo = f[k, np.arange(len(nu))]
    fhi = f[k + 1, np.arange(len(nu))]
    root = _illinois(residual, lo, hi, flo, fhi)
    return np.where(found, root**2, np.where(valid, onshell_omega2, nu**2))


def _illinois(func, lo, hi, flo, fhi, max_iterations: int = 60) -> NDArray[np.float64]:
    """Roots of ``func`` (vectorized over bands) in the brackets [lo, hi] with f(lo) f(hi) < 0.

    The Illinois variant of regula falsi: the secant point of the bracket, and the end
    that stays twice in a row has its function value halved, so that both ends converge
    (superlinearly; 6–10 evaluations where bisection needs ~50 to reach machine
    precision).  Stops when every step is below 4 ulp of the root or f vanishes.
    """
    lo, hi, flo, fhi = (np.array(x, dtype=float) for x in (lo, hi, flo, fhi))
    side = np.zeros(lo.shape, dtype=np.int64)  # +1: hi replaced last, −1: lo replaced last
    x = 0.5 * (lo + hi)
    for _ in range(max_iterations):
        den = fhi - flo
        ok = (den != 0.0) & np.isfinite(den)
        x_new = np.where(ok, hi - fhi * (hi - lo) / np.where(ok, den, 1.0), 0.5 * (lo + hi))
        x_new = np.clip(x_new, np.minimum(lo, hi), np.maximum(lo, hi))
        step = np.abs(x_new - x)
        x = x_new
        fx = func(x)
        like_hi = np.sign(fx) == np.sign(fhi)
        flo = np.where(like_hi & (side == 1), 0.5 * flo, flo)
        fhi = np.where(~like_hi & (side == -1), 0.5 * fhi, fhi)
        hi, fhi = np.where(like_hi, x, hi), np.where(like_hi, fx, fhi)
        lo, flo = np.where(like_hi, lo, x), np.where(like_hi, flo, fx)
        side = np.where(like_hi, 1, -1)
        if np.all((step <= 4 * np.spacing(np.abs(x))) | (fx == 0.0)):
            break
    return x


@dataclass
class SCPBResult:
    """Bubble-corrected SCP phonons on the outer mesh (one entry per SCP temperature).

    Attributes
    ----------
    kind : str
        The bubble kind, "static", "onshell" or "qp".
    epsilon : float
        The ε of Eq. 4, THz.
    temperatures : tuple of float
        K.
    qpoints : ndarray of float64, shape (n_q, 3)
        Reduced outer q-points.
    frequencies : ndarray of float64, shape (n_T, n_q, B)
        THz.
    shifts : ndarray of float64, shape (n_T, n_q, B)
        THz, Δ of Eq. 2 at the chosen ω.
    delta_dynmat : ndarray of complex128, shape (n_T, n_q, B, B)
        THz²: D_SCPB − D_harm with the SCP eigenvectors and the corrected eigenvalues,
        for Fourier interpolation (κ on SCPB phonons).
    fc : ForceConstants
        The bare model.
    mesh : ndarray of int64, shape (3,)
        The outer mesh.
    """

    kind: str
    epsilon: float
    temperatures: tuple[float, ...]
    qpoints: NDArray[np.float64]
    frequencies: NDArray[np.float64]
    shifts: NDArray[np.float64]
    delta_dynmat: NDArray[np.complex128]
    fc: ForceConstants
    mesh: NDArray[np.int64]

    def model(self, index: int) -> EffectiveHarmonicModel:
        """Return the effective harmonic model (Fourier interpolation) at temperature ``index``."""
        return EffectiveHarmonicModel(
            self.fc,
            self.mesh,
            self.delta_dynmat[index],
            self.temperatures[index],
            renormalization_kind(self.kind),
        )


def run_bubble(
    fc: ForceConstants,
    scp,
    kind: Literal["static", "onshell", "qp"] = "qp",
    epsilon: float = 0.05,
    inner_mesh=None,
    classical: bool | None = None,
) -> SCPBResult:
    """Apply the bubble correction (Eq. 2, SCPB) on top of self-consistent phonons.

    Computed at the irreducible outer q-points and copied to their stars (frequencies
    are sorted per q, so equivalent points share the band order).

    Parameters
    ----------
    fc : ForceConstants
        The bare model, with FC3 (the bare Φ3 of the bubble).
    scp : SCPResult
        The self-consistent phonons (:func:`~.scp.run_scp`).
    kind : {"static", "onshell", "qp"}
        Where the self-energy is evaluated: ω = 0, ω = Ω_S, or the self-consistent
        quasiparticle root (the seed's SCPB); module docstring.
    epsilon : float
        The ε of Eq. 4, THz.
    inner_mesh : sequence of 3 int, optional
        Mesh of q1 (default: the SCP inner mesh).
    classical : bool, optional
        Classical occupations (default: as in the SCP settings).

    Returns
    -------
    SCPBResult
        Corrected frequencies and shifts (n_T, n_q, B) in THz and ΔD (THz²).
    """
    from ..harmonic import DynamicalMatrixBuilder

    s = scp.settings
    inner = s.inner_mesh if inner_mesh is None else inner_mesh
    classical = s.classical if classical is None else classical
    interaction = CubicInteraction(fc)
    ir = scp.ir_grid
    n_t, n_q, b = scp.frequencies.shape
    freqs = np.zeros((n_t, n_q, b))
    shifts = np.zeros((n_t, n_q, b))
    d_harm = DynamicalMatrixBuilder(fc).dynamical_matrices(scp.qpoints)
    delta = np.zeros((n_t, n_q, b, b), complex)
    mapping = _star_map(scp)
    for it, t in enumerate(scp.temperatures):
        corr = BubbleCorrection(fc, scp.model(it), inner, epsilon, classical, interaction)
        om_ir, sh_ir = corr.frequencies(scp.qpoints[ir], t, kind)
        freqs[it], shifts[it] = om_ir[mapping], sh_ir[mapping]
        e = scp.eigenvectors[it]
        w2 = np.sign(freqs[it]) * freqs[it] ** 2
        delta[it] = np.einsum("qai,qi,qbi->qab", e, w2, e.conj()) - d_harm
    return SCPBResult(
        kind,
        float(epsilon),
        tuple(scp.temperatures),
        scp.qpoints,
        freqs,
        shifts,
        delta,
        fc,
        np.array(s.mesh),
    )


def _star_map(scp) -> NDArray[np.int64]:
    """Index into ``scp.ir_grid`` of the irreducible representative of each outer point."""
    from ..mesh import QMesh

    qmesh = QMesh.build(scp.fc.setup.primitive, scp.settings.mesh)
    return qmesh.to_ir

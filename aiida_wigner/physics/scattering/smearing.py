"""Gaussian representations of the energy-conserving δ-function, fixed or adaptive.

All widths and arguments are ordinary frequencies in THz; every width ``sigma`` here is
the *standard deviation* of a Gaussian normalized in THz, g(x) = exp(−x²/2σ²)/(σ√2π)
in 1/THz.  Three definitions (``Smearing.kind``):

``"fixed"``
    one σ for every process; cut at ``CUTOFF_SIGMAS`` = 6σ.

``"adaptive"`` (ours)
    a width per process from the rate of change of its energy mismatch Δ across one
    mesh cell.  Δ depends on the momenta that are summed over; for each free momentum
    the derivative ∂Δ/∂q is a signed sum of the group velocities (THz·Å) of the modes
    that move with it (3ph decay: v1 − v2, 3ph absorption: v1 + v2 in the triplet
    convention q0 + q1 + q2 = G; 4ph: two free momenta; isotope: the final mode's own
    velocity, ν0 being fixed).  With P(d)_i = b_i·d/m_i (b_i reciprocal vectors in 1/Å
    without 2π, m_i the mesh numbers)

        σ² = scale² Σ_free Σ_i P(∂Δ/∂q)_i² / 6 + Σ_varying-modes f_j²,

    i.e. √2 × the r.m.s. spread of Δ over a cell (a uniform cell has variance h²/12),
    plus a curvature floor f_j per band.  Degenerate modes: a mode of a degenerate
    block (d bands) has no velocity of its own — along a mesh direction b_i the block
    splits into bands whose velocities are the eigenvalues of b_i·V_B, the velocity
    operator restricted to the block.  Each mode's velocity is therefore replaced by
    the statistics of its block: the mean m = tr_B V / d and the spread
    C_αβ = tr_B[(V_α − m_α)(V_β − m_β)] / d (:class:`ModeVelocities`), and the widths
    are the mean over the split bands of the modes, taken independently, of the
    formula above: σ1² = scale² Σ_i [P(Σ± m)_i² + Σ_modes (P C Pᵀ)_ii] / 6.  This does not
    depend on the eigenvectors chosen inside the blocks, and for a non-degenerate band
    (m = v, C = 0) it is the formula above.  Where the velocities vanish or cancel
    (the isotope self term, degenerate partners, band extrema, flat bands) Δ still
    varies by the second-order term ½ h² ∂²ν/∂q² ≈ v̄ h / m across a cell; we take

        f_j² = scale² ⟨ Σ_i (b_iᵀ S_qj b_i) / m_i⁴ ⟩_q / 6,   S = C + m mᵀ,

    the band's r.m.s. velocity step divided once more by the mesh number — it falls
    like 1/m², below the first-order width wherever the velocities do not cancel —
    averaged over the degenerate block of each mode.
    A band that is flat to machine precision keeps ``ADAPTIVE_SIGMA_FLOOR``.
    Cut at 6σ.

``"adaptive-shengbte"``
    ShengBTE's / FourPhonon's ``scalebroad`` definition, number for number: their width
    s = scale · sqrt(max_i (P(Δv)_i)² / 2) with the Gaussian exp(−x²/s²)/(s√π), i.e.
    σ = s/√2 = scale · max_i |P(Δv)_i| / 2 from a single velocity difference Δv; no
    floor (see the per-process rules in ``three_phonon``, ``four_phonon``, ``isotope``);
    cut at |x| ≤ 2s (3ph), |x| ≤ s (4ph), |x| < 2.5s (isotope).  The isotope width has
    no scale factor and is bounded below by ShengBTE's outlier fence
    (:func:`shengbte_isotope_floor`).  docs/conventions.md compares the definitions.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ..harmonic import (
    DEGENERACY_TOLERANCE,
    Phonons,
    VelocityOperator,
    degenerate_average_matrix,
    degenerate_block_ids,
    velocity_operator,
)
from ..mesh import stabilizer_mask

#: Last-resort lower bound (THz) on an ``adaptive`` width: only reached for bands that are
#: flat to machine precision, where the curvature floor vanishes too.
ADAPTIVE_SIGMA_FLOOR = 1e-4

#: Gaussians of the ``fixed`` and ``adaptive`` kinds are cut at this many σ (the weight
#: beyond 6σ is below 1e-8).
CUTOFF_SIGMAS = 6.0

#: ShengBTE/FourPhonon cut-offs in units of σ (their s = √2 σ): |x| ≤ 2s for 3ph,
#: |x| ≤ s for 4ph, |x| < 2.5s for isotope scattering.
SHENGBTE_CUTOFF_3PH = 2.0 * np.sqrt(2.0)
SHENGBTE_CUTOFF_4PH = np.sqrt(2.0)
SHENGBTE_CUTOFF_ISOTOPE = 2.5 * np.sqrt(2.0)

#: FourPhonon's 4ph guard: a process with s ≤ 1e-3 rad/ps gets δ(ω) = exp(−π Δω²) ps/rad
#: (≈ 1); as a σ in THz.
SHENGBTE_TINY_SIGMA_4PH = 1e-3 / (2.0 * np.pi * np.sqrt(2.0))

#: FourPhonon drops 4ph processes with a partner phonon at ω ≤ 1.25 rad/ps (THz here).
SHENGBTE_LOW_FREQUENCY_4PH = 1.25 / (2.0 * np.pi)

KINDS = ("fixed", "adaptive", "adaptive-shengbte")


def mesh_projection(dv, reciprocal_lattice, mesh) -> NDArray[np.float64]:
    """P(dv)_i = b_i·dv/m_i (THz) for velocities ``dv`` (..., 3) in THz·Å.

    ``reciprocal_lattice`` has the reciprocal vectors b_i as columns (1/Å, no 2π).
    """
    return np.asarray(dv) @ np.asarray(reciprocal_lattice) / np.asarray(mesh, dtype=float)


def adaptive_sigma(dv, reciprocal_lattice, mesh, scale: float) -> NDArray[np.float64]:
    """Our first-order width (THz) scale·sqrt(Σ_i P(dv)_i²/6), no floor."""
    proj = mesh_projection(dv, reciprocal_lattice, mesh)
    return scale * np.sqrt((proj**2).sum(axis=-1) / 6.0)


def shengbte_sigma(dv, reciprocal_lattice, mesh, scale: float) -> NDArray[np.float64]:
    """ShengBTE's scalebroad·base_sigma(dv) as a standard deviation: scale·max_i|P(dv)_i|/2."""
    return 0.5 * scale * np.abs(mesh_projection(dv, reciprocal_lattice, mesh)).max(axis=-1)


@dataclass(frozen=True)
class ModeVelocities:
    """Velocities of the modes of a mesh, as the adaptive widths use them (THz·Å).

    group_velocities (n_q, B, 3): the diagonal of the velocity operator in the
    eigenvector basis of the phonons they come with (per band; what
    ``adaptive-shengbte`` uses).  block_mean (n_q, B, 3) and block_spread
    (n_q, B, 3, 3), in (THz·Å)²: m = tr_B V / d and C_αβ = tr_B[(V_α − m_α)(V_β − m_β)] / d
    over the degenerate block B (d bands) of each mode, the same for every mode of a
    block and independent of the basis chosen inside it (what ``adaptive`` uses).
    """

    group_velocities: NDArray[np.float64]
    block_mean: NDArray[np.float64]
    block_spread: NDArray[np.float64]

    @classmethod
    def from_operator(
        cls, operator: VelocityOperator, tol: float = DEGENERACY_TOLERANCE
    ) -> ModeVelocities:
        """Build the block statistics of ``operator.velocity`` (n_q, 3, B, B).

        The blocks are the degenerate subspaces of its phonons (``tol`` in THz).
        """
        v = np.asarray(operator.velocity)
        avg = degenerate_average_matrix(operator.phonons.frequencies, tol)  # (n_q, B, B)
        diag = np.einsum("qajj->qja", v).real
        mean = np.einsum("qjk,qka->qja", avg, diag)
        centred = (v - np.einsum("qka,kl->qakl", mean, np.eye(v.shape[-1]))) * (avg > 0)[:, None]
        rows = np.einsum("qakl,qblk->qkab", centred, centred).real  # Σ_l over the block
        return cls(diag, mean, np.einsum("qjk,qkab->qjab", avg, rows))

    @classmethod
    def per_band(cls, group_velocities) -> ModeVelocities:
        """Velocities of bands taken as non-degenerate: m = v, C = 0."""
        gv = np.asarray(group_velocities, dtype=float)
        return cls(gv, gv, np.zeros(gv.shape + (3,)))

    @classmethod
    def concatenate(cls, parts) -> ModeVelocities:
        """One ModeVelocities from consecutive sets of q-points."""
        names = [f.name for f in fields(cls)]
        return cls(*(np.concatenate([getattr(p, n) for p in parts]) for n in names))


def mode_velocities(
    fc, qpoints, cutoff_frequency: float = 1e-4, builder=None, max_elements: int = 1 << 22
) -> tuple[Phonons, ModeVelocities]:
    """Phonons and their :class:`ModeVelocities` at ``qpoints``, from one velocity operator.

    The eigenvectors are those of :func:`~..harmonic.velocity_operator` (degenerate
    subspaces rotated), so ``group_velocities`` belong to them.  The operator is built
    for at most ``max_elements`` / (3 B²) q-points at a time and not kept.
    """
    q = np.atleast_2d(np.asarray(qpoints, dtype=float))
    n_b = 3 * fc.setup.n_prim
    step = max(1, int(max_elements // (3 * n_b * n_b)))
    phonons, velocities = [], []
    for s in range(0, len(q), step):
        op = velocity_operator(
            fc, q[s : s + step], cutoff_frequency=cutoff_frequency, builder=builder
        )
        phonons.append(op.phonons)
        velocities.append(ModeVelocities.from_operator(op))
    ph = Phonons(
        *(
            np.concatenate([getattr(p, f) for p in phonons])
            for f in ("qpoints", "frequencies", "eigenvectors")
        )
    )
    return ph, ModeVelocities.concatenate(velocities)


def as_mode_velocities(velocities, frequencies, cutoff_frequency: float) -> ModeVelocities:
    """Return ``velocities`` as :class:`ModeVelocities`.

    An array (n_q, B, 3) of per-band velocities is accepted only where no two modes above
    ``cutoff_frequency`` (THz) are degenerate (ValueError otherwise: their widths need the
    velocity operator).
    """
    if isinstance(velocities, ModeVelocities):
        return velocities
    freqs = np.asarray(frequencies, dtype=float)
    block = degenerate_block_ids(freqs)
    shared = np.zeros(freqs.shape, dtype=bool)
    shared[..., 1:] |= block[..., 1:] == block[..., :-1]
    shared[..., :-1] |= block[..., 1:] == block[..., :-1]
    if np.any(shared & (freqs > cutoff_frequency)):
        raise ValueError(
            "adaptive widths of degenerate modes need the velocity operator: pass "
            "ModeVelocities (smearing.mode_velocities) instead of per-band group velocities"
        )
    return ModeVelocities.per_band(velocities)


def _metric(reciprocal_lattice, mesh, power: int) -> NDArray[np.float64]:
    """Σ_i b_i b_iᵀ / m_i^power (3, 3) in 1/Å²."""
    b = np.asarray(reciprocal_lattice, dtype=float)
    return (b / np.asarray(mesh, dtype=float) ** power) @ b.T


def curvature_floor(velocities, reciprocal_lattice, mesh, scale: float) -> NDArray:
    """Return the per-band floor f_j (B,) in THz of the ``adaptive`` widths (module docstring).

    From :class:`ModeVelocities` (an array (n_q, B, 3) counts as per-band velocities).
    """
    mv = (
        velocities
        if isinstance(velocities, ModeVelocities)
        else ModeVelocities.per_band(velocities)
    )
    g = _metric(reciprocal_lattice, mesh, 4)
    m = mv.block_mean
    second = np.einsum("qja,ab,qjb->qj", m, g, m) + np.einsum("ab,qjab->qj", g, mv.block_spread)
    return scale * np.sqrt(second.mean(axis=0) / 6.0)


def little_group_average(qmesh, vectors) -> NDArray:
    """Symmetrize vectors as ShengBTE does, over the little group of each grid address.

    (1/n) Σ_R R v over the point operations that fix the grid address g of q *exactly*
    (g in [0, m), no reciprocal-lattice shift), for Cartesian ``vectors`` (n_q, ..., 3) at
    every mesh point.

    The operations are the rotations R and, for time reversal, −R (v → −R v), applied as
    Cartesian matrices B M B⁻¹ of the grid rotations M (B: reciprocal lattice).
    """
    rots = np.asarray(qmesh.grid_rotations)
    ops = np.concatenate([rots, -rots])  # (2r, 3, 3) on addresses
    addr = np.mod(np.asarray(qmesh.addresses), np.asarray(qmesh.mesh))
    fixed = stabilizer_mask(ops, addr, qmesh.mesh, exact=True)  # (2r, n_q)
    rec = np.asarray(qmesh.cell.reciprocal_lattice, dtype=float)
    cart = np.einsum("ij,rjk,kl->ril", rec, ops.astype(float), np.linalg.inv(rec))
    proj = np.einsum("rq,rij->qij", fixed.astype(float), cart) / fixed.sum(axis=0)[:, None, None]
    return np.einsum("qij,q...j->q...i", proj, np.asarray(vectors, dtype=float))


def shengbte_isotope_floor(s) -> float:
    """ShengBTE's lower bound on its isotope widths: exp(p25 − 1.5 (p75 − p25)) of log s.

    ``s`` holds the widths of all modes of the mesh; zero widths count as log 0 = −∞.
    The percentiles are ShengBTE's order statistics (element ⌊25n/100⌋ of the sorted
    list, 1-based).  Works for σ as well as s (the bound scales with them).
    """
    s = np.ravel(np.asarray(s, dtype=float))
    with np.errstate(divide="ignore"):
        logs = np.sort(np.where(s > 0, np.log(np.where(s > 0, s, 1.0)), -np.inf))
    n = len(logs)
    p25, p75 = logs[max(25 * n // 100 - 1, 0)], logs[max(75 * n // 100 - 1, 0)]
    if not np.isfinite(p25):
        return 0.0
    return float(np.exp(p25 - 1.5 * (p75 - p25)))


class Smearing:
    """How δ-functions are broadened: a fixed ``sigma`` (THz) or adaptive widths.

    ``Smearing(sigma=0.1)``: fixed standard deviation in THz.
    ``Smearing(scale=1.0, reciprocal_lattice=..., mesh=..., kind="adaptive")``: our
    adaptive widths; ``kind="adaptive-shengbte"``: ShengBTE/FourPhonon's (module
    docstring).  ``reciprocal_lattice`` (columns b_i, 1/Å, no 2π) and ``mesh`` may be
    left None for the four-phonon routines (they take them from the q-mesh).
    """

    def __init__(
        self,
        sigma: float | None = None,
        scale: float | None = None,
        reciprocal_lattice=None,
        mesh=None,
        kind: Literal["fixed", "adaptive", "adaptive-shengbte"] | None = None,
    ):
        if (sigma is None) == (scale is None):
            raise ValueError("give either a fixed sigma (THz) or an adaptive scale")
        kind = kind or ("fixed" if sigma is not None else "adaptive")
        if kind not in KINDS or (kind == "fixed") != (sigma is not None):
            raise ValueError(
                f"smearing kind {kind!r} does not fit sigma={sigma!r}, "
                f"scale={scale!r}: use 'fixed' with sigma, 'adaptive' or "
                f"'adaptive-shengbte' with scale"
            )
        self.sigma, self.scale, self.kind = sigma, scale, kind
        self.reciprocal_lattice, self.mesh = reciprocal_lattice, mesh

    def bind(self, qmesh) -> Smearing:
        """Return this smearing with the reciprocal lattice and mesh of ``qmesh`` where unset."""
        if self.reciprocal_lattice is not None and self.mesh is not None:
            return self
        out = copy.copy(self)
        if out.reciprocal_lattice is None:
            out.reciprocal_lattice = np.asarray(qmesh.cell.reciprocal_lattice, dtype=float)
        if out.mesh is None:
            out.mesh = np.asarray(qmesh.mesh, dtype=float)
        return out

    @property
    def adaptive(self) -> bool:
        """True for the adaptive kinds (widths from the velocities)."""
        return self.scale is not None

    @property
    def shengbte(self) -> bool:
        """True for ShengBTE/FourPhonon's adaptive widths."""
        return self.kind == "adaptive-shengbte"

    def cutoff(self, process: str) -> float:
        """Where the Gaussian is cut, in σ, for ``process`` "3ph", "4ph" or "isotope"."""
        if not self.shengbte:
            return CUTOFF_SIGMAS
        return {
            "3ph": SHENGBTE_CUTOFF_3PH,
            "4ph": SHENGBTE_CUTOFF_4PH,
            "isotope": SHENGBTE_CUTOFF_ISOTOPE,
        }[process]

    def widths(self, v1, v2) -> NDArray | float:
        """First-order σ (THz) for the velocity difference v1 − v2 (..., 3) of a process."""
        if not self.adaptive:
            return self.sigma
        width = shengbte_sigma if self.shengbte else adaptive_sigma
        return width(
            np.asarray(v1) - np.asarray(v2), self.reciprocal_lattice, self.mesh, self.scale
        )

    def adaptive_terms(self, qmesh, velocities, frequencies, cutoff_frequency: float):
        """Return what the per-process widths are built from, for the adaptive kinds.

        Returns ``(w, e2)``: velocities w (n_q, B, 3) THz·Å whose signed sums are put
        into :meth:`widths`, and e2 (n_q, B) THz², what each mode adds to σ² in
        quadrature (with the multiplicity of its velocity in the process).
        ``adaptive``: w the block means, e2 the block spread scale²(P C Pᵀ)_ii/6 plus the
        block-averaged curvature floor f².  ``adaptive-shengbte``: w ShengBTE's
        velocities, each band's averaged over the point operations that fix q
        (:func:`little_group_average`), e2 = 0.  ``velocities``: :class:`ModeVelocities`
        or, for ``adaptive-shengbte`` and crystals without degenerate modes, per-band
        velocities (n_q, B, 3) (:func:`as_mode_velocities`).
        """
        if self.shengbte:
            gv = (
                velocities.group_velocities
                if isinstance(velocities, ModeVelocities)
                else np.asarray(velocities, dtype=float)
            )
            return little_group_average(qmesh, gv), np.zeros(gv.shape[:2])
        mv = as_mode_velocities(velocities, frequencies, cutoff_frequency)
        spread = np.einsum(
            "ab,qjab->qj", _metric(self.reciprocal_lattice, self.mesh, 2), mv.block_spread
        )
        floor2 = curvature_floor(mv, self.reciprocal_lattice, self.mesh, self.scale) ** 2
        floor2 = degenerate_average_matrix(np.asarray(frequencies, dtype=float)) @ floor2
        return mv.block_mean, self.scale**2 * spread / 6.0 + floor2


def combine(first_order, floor_squared) -> NDArray:
    """Our adaptive σ = max(sqrt(σ1² + Σ f²), ADAPTIVE_SIGMA_FLOOR)."""
    return np.maximum(np.sqrt(np.asarray(first_order) ** 2 + floor_squared), ADAPTIVE_SIGMA_FLOOR)

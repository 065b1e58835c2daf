"""Four-phonon linewidths (seed Eq. 7), exhaustive and sampled, as half widths γ in THz.

For a mode λ = (q0 j0) and every ordered triple of modes (q1 j1, q2 j2, q3 j3) with
q1 + q2 + q3 = q0 + G (the sum runs over the N² pairs (q1, q2) of the mesh):

    γ_λ = (π ħ² / 96 N²) Σ |V4(−q0 j0, q1 j1, q2 j2, q3 j3)|² / (ω0 ω1 ω2 ω3)
          × Σ_s F_s(n1, n2, n3) δ(ω0 − s1 ω1 − s2 ω2 − s3 ω3)

over the seven sign patterns s ≠ (−,−,−):

* s = (+,+,+): splitting λ → 1 + 2 + 3,
  F = (1+n1)(1+n2)(1+n3) − n1 n2 n3 = 1 + Σ n_i + Σ n_i n_j;
* one s_k = −1: redistribution λ + k → i + j, e.g. F = n1(1+n2)(1+n3) − (1+n1) n2 n3;
* two s_k = −1: recombination λ + i + j → k, e.g. F = n1 n2 (1+n3) − (1+n1)(1+n2) n3;

in general F_s = Π_k a_k − Π_k b_k with (a, b) = (1+n, n) for an emitted (s=+1) and
(n, 1+n) for an absorbed (s=−1) phonon.  Summed over ordered triples, the three
redistribution (recombination) patterns contribute equally: this is Eq. 7 with its
factor 3 (Eq. 7 of the seed prints the bracket of the last two δ's with the opposite
sign; see docs/four_phonon.md).  V4 is :mod:`..fc4_reciprocal`'s normal-mode Φ4 in
eV/(Å⁴ amu²); the prefactor, the counting of equivalent processes (1/3! for three
identical final phonons, 1/2! for two) and the unit conversion are derived in
docs/four_phonon.md.  Modes at or below ``cutoff_frequency`` are left out, and so are
the trivial processes in which a phonon is both destroyed and created (an emitted
partner in the degenerate block of λ or of an absorbed partner at the same q;
docs/four_phonon.md §2); ``counting="fourphonon"`` switches to FourPhonon's counting.

Exhaustive mode sums all pairs, reduced by the little group of q0 (with time
reversal) and the permutations of (q1, q2, q3).  Sampled mode draws pairs (q1, q2)
uniformly without replacement; each sample evaluates all B⁴ band combinations and
serves every band j0 of q0 at once (a cluster sample of B³ processes per mode).
The estimate is the sample mean times the number of pairs (the maximum-likelihood
estimate of the mean of Guo et al., npj Comput. Mater. 10, 31 (2024)), with its
standard error from the sample variance and the finite-population correction.  The
pairs go either ``samples`` to every q0 ("uniform" allocation) or, with
``allocation="kappa"``, a pilot to every q0 and the rest of the budget in proportion to
each q0's share of the statistical error of κ_P (Neyman allocation,
:func:`kappa_allocation`; docs/four_phonon.md §4).
"""

from __future__ import annotations

from typing import Literal

import numba
import numpy as np
from numpy.typing import NDArray

from ..fc4_reciprocal import QuarticInteraction, assemble_quadruplet, contract_quadruplet
from ..harmonic import Phonons, degenerate_average_matrix, degenerate_block_ids, occupation
from ..interactions import single_threaded_blas
from ..mesh import QMesh, grid_index
from ..units import AMU, ANGSTROM, EV, HBAR
from .smearing import (
    ADAPTIVE_SIGMA_FLOOR,
    SHENGBTE_LOW_FREQUENCY_4PH,
    SHENGBTE_TINY_SIGMA_4PH,
    ModeVelocities,
    Smearing,
    mesh_projection,
)

#: π ħ² |V4|² / (96 (2π·10¹²)⁶ ν0 ν1 ν2 ν3) × δ[1/THz] → γ in THz, V4 in eV/(Å⁴ amu²).
FOUR_PHONON_FACTOR = (
    np.pi * HBAR**2 * (EV / (ANGSTROM**4 * AMU**2)) ** 2 / (96.0 * (2.0 * np.pi * 1e12) ** 6)
)

#: Sign patterns (s1, s2, s3) of Eq. 7: splitting, 3 redistributions, 3 recombinations.
SIGN_PATTERNS = np.array(
    [[1, 1, 1], [-1, 1, 1], [1, -1, 1], [1, 1, -1], [-1, -1, 1], [-1, 1, -1], [1, -1, -1]],
    dtype=np.int64,
)

_SQRT_2PI = np.sqrt(2.0 * np.pi)


class FourPhononError(ValueError):
    """Bad arguments for the four-phonon linewidths."""


#: Process counting: "golden-rule" (ours: ordered partners with 1/m! for identical ones,
#: trivial processes by degenerate block) or "fourphonon" (FourPhonon's: identical
#: partners counted once, trivial processes by band index, partners at ω ≤ 1.25 rad/ps
#: dropped); docs/four_phonon.md §2.
COUNTINGS = ("golden-rule", "fourphonon")

#: Smearing kinds as the kernel's integer switch.
_KIND = {"fixed": 0, "adaptive": 1, "adaptive-shengbte": 2}


@numba.njit(cache=True)
def _trivial(b0, gp, bands, legs, neg, signs, s, blk, blk0):  # pragma: no cover - numba
    """Tell whether sign pattern ``s`` destroys and creates the same phonon.

    That is an emitted (q_i, b_i) in the degenerate block of λ = (gp, b0) or of an absorbed
    partner (−q_k, b_k).  ``blk`` (3, B) / ``blk0`` (B,) label the degenerate blocks of the
    legs / of q0 (the band index itself for exact state identity).
    """
    for i in range(3):
        if signs[s, i] < 0:
            continue
        if legs[i] == gp and blk[i, bands[i]] == blk0[b0]:
            return True
        for k in range(3):
            if signs[s, k] < 0 and legs[i] == neg[k] and blk[i, bands[i]] == blk[k, bands[k]]:
                return True
    return False


@numba.njit(cache=True)
def _identical_partners(bands, legs, signs, s):  # pragma: no cover - numba
    """Return Π m! over groups of identical partner phonons (same state, same direction).

    Identical partners are both emitted or both absorbed: FourPhonon counts such processes
    once where the golden rule's sum over ordered partners gives them 1/m! of the weight of
    distinct ones.
    """
    same = 0
    for i in range(3):
        for k in range(i + 1, 3):
            if signs[s, i] == signs[s, k] and legs[i] == legs[k] and bands[i] == bands[k]:
                same += 1
    return 6.0 if same == 3 else (2.0 if same == 1 else 1.0)


@numba.njit(cache=True)
def _shengbte_dv(u, um, p, bands, legs, neg, nb, signs, s):  # pragma: no cover - numba
    """FourPhonon's velocity difference of a 4ph process (projected on the mesh steps).

    Physical partner k is (s_k q_k, b_k), with FourPhonon's velocity at that grid point:
    u (emitted, at q_k) or um (absorbed, at −q_k).  Splitting: the two
    partners with the largest (grid index, band); redistribution: the two emitted ones;
    recombination: the emitted one minus the absorbed one of larger (grid index, band).
    """
    key = np.empty(3, dtype=np.int64)
    n_abs = 0
    for k in range(3):
        key[k] = (legs[k] if signs[s, k] > 0 else neg[k]) * nb + bands[k]
        if signs[s, k] < 0:
            n_abs += 1
    if n_abs == 0:
        lo = 0
        for k in range(1, 3):
            if key[k] < key[lo]:
                lo = k
        i, j = (1, 2) if lo == 0 else ((0, 2) if lo == 1 else (0, 1))
    elif n_abs == 1:
        i, j = (1, 2) if signs[s, 0] < 0 else ((0, 2) if signs[s, 1] < 0 else (0, 1))
    else:
        i = 0 if signs[s, 0] > 0 else (1 if signs[s, 1] > 0 else 2)
        a, b = (1, 2) if i == 0 else ((0, 2) if i == 1 else (0, 1))
        j = a if key[a] > key[b] else b
    dv = np.empty(3)
    for c in range(3):
        vi = u[p, i, bands[i], c] if signs[s, i] > 0 else um[p, i, bands[i], c]
        vj = u[p, j, bands[j], c] if signs[s, j] > 0 else um[p, j, bands[j], c]
        dv[c] = vi - vj
    return dv


@numba.njit(parallel=True, cache=True)
def _pair_kernel(
    table,
    pre0,
    kap,
    pidx,
    values,
    e0,
    vecs,
    nu0,
    nu,
    occ,
    u,
    um,
    floor2,
    legs,
    neg,
    blk,
    blk0,
    gp,
    kind,
    fp_count,
    sigma,
    scale,
    cutoff,
    leg_cutoff,
    ncut,
    floor,
    tiny,
    signs,
    out,
):  # pragma: no cover - numba
    """Evaluate every pair p in one pass, parallel over the pairs.

    Per pair: Φ4 of the quadruplet (q0, q1, q2, q3) = (gp, legs[p]) from the FC4 clusters
    (``assemble_quadruplet``; table (n_q, n_pairs) the mesh's FC4 pair phases, pre0 the
    leg-0 prephases), V4 with the eigenvectors e0 (3n, B) of q0 and vecs (n_q, 3n, B)
    (``contract_quadruplet``), then ``_accumulate``.  Work space per thread: one (3n)⁴ and
    one B⁴ array.
    """
    m = vecs.shape[1]
    for p in numba.prange(legs.shape[0]):
        phi = np.zeros((m, m, m, m), dtype=np.complex128)
        assemble_quadruplet(table, legs[p, 0], legs[p, 1], legs[p, 2], pre0, kap, pidx, values, phi)
        v4 = contract_quadruplet(phi, e0, vecs[legs[p, 0]], vecs[legs[p, 1]], vecs[legs[p, 2]])
        _accumulate(
            v4,
            p,
            nu0,
            nu,
            occ,
            u,
            um,
            floor2,
            legs,
            neg,
            blk,
            blk0,
            gp,
            kind,
            fp_count,
            sigma,
            scale,
            cutoff,
            leg_cutoff,
            ncut,
            floor,
            tiny,
            signs,
            out,
        )


@numba.njit(cache=True)
def _accumulate(
    v4,
    p,
    nu0,
    nu,
    occ,
    u,
    um,
    floor2,
    legs,
    neg,
    blk,
    blk0,
    gp,
    kind,
    fp_count,
    sigma,
    scale,
    cutoff,
    leg_cutoff,
    ncut,
    floor,
    tiny,
    signs,
    out,
):  # pragma: no cover - numba
    """out[p, T, j0] = Σ_{j1 j2 j3} Σ_s c |V4|² / (ν0ν1ν2ν3) F_s g_σ(ν0 − s·ν) for pair p.

    v4 (B, B, B, B) of pair p indexed (j3, j2, j1, j0); nu0 (B,); nu (n_p, 3, B);
    occ (n_p, 3, T, B); u / um (n_p, 3, B, 3) velocities at q_k / −q_k projected on the
    mesh steps (``adaptive``: block means) and floor2 (n_p, 3, B) what each leg adds to
    σ² (``adaptive``: block spread and curvature floor; ``Smearing.adaptive_terms``); legs / neg
    (n_p, 3) grid indices of q_k / −q_k; blk (n_p, 3, B) / blk0 (B,) state labels of the
    legs / of q0 (``_trivial``); gp the grid index of q0.  Processes in which a phonon
    is both destroyed and created are left out; c = 1, or with ``fp_count`` FourPhonon's
    count of identical partners (``_identical_partners``).
    """
    nb = nu0.shape[0]
    n_t = occ.shape[2]
    lo0 = nu0.min()
    hi0 = nu0.max()
    fs = np.empty(n_t)
    bands = np.empty(3, dtype=np.int64)
    for b1 in range(nb):
        w1 = nu[p, 0, b1]
        if w1 <= leg_cutoff:
            continue
        for b2 in range(nb):
            w2 = nu[p, 1, b2]
            if w2 <= leg_cutoff:
                continue
            for b3 in range(nb):
                w3 = nu[p, 2, b3]
                if w3 <= leg_cutoff:
                    continue
                bands[0], bands[1], bands[2] = b1, b2, b3
                inv = 1.0 / (w1 * w2 * w3)
                for s in range(signs.shape[0]):
                    s1, s2, s3 = signs[s, 0], signs[s, 1], signs[s, 2]
                    e = s1 * w1 + s2 * w2 + s3 * w3
                    count = 1.0
                    if kind == 1:
                        acc = 0.0
                        for c in range(3):
                            d1 = -s1 * u[p, 0, b1, c] + s3 * u[p, 2, b3, c]
                            d2 = -s2 * u[p, 1, b2, c] + s3 * u[p, 2, b3, c]
                            acc += d1 * d1 + d2 * d2
                        sig = np.sqrt(
                            scale * scale * acc / 6.0
                            + floor2[p, 0, b1]
                            + floor2[p, 1, b2]
                            + 2.0 * floor2[p, 2, b3]
                        )
                        if sig < floor:
                            sig = floor
                    elif kind == 2:
                        dv = _shengbte_dv(u, um, p, bands, legs[p], neg[p], nb, signs, s)
                        sig = 0.0
                        for c in range(3):
                            if abs(dv[c]) > sig:
                                sig = abs(dv[c])
                        sig *= 0.5 * scale
                    else:
                        sig = sigma
                    if fp_count:
                        count = _identical_partners(bands, legs[p], signs, s)
                    if e + ncut * sig < lo0 or e - ncut * sig > hi0:
                        continue
                    have_f = False
                    for b0 in range(nb):
                        w0 = nu0[b0]
                        if w0 <= cutoff or abs(w0 - e) > ncut * sig:
                            continue
                        if _trivial(b0, gp, bands, legs[p], neg[p], signs, s, blk[p], blk0):
                            continue
                        if not have_f:
                            for t in range(n_t):
                                n1 = occ[p, 0, t, b1]
                                n2 = occ[p, 1, t, b2]
                                n3 = occ[p, 2, t, b3]
                                a1 = 1.0 + n1 if s1 > 0 else n1
                                c1 = n1 if s1 > 0 else 1.0 + n1
                                a2 = 1.0 + n2 if s2 > 0 else n2
                                c2 = n2 if s2 > 0 else 1.0 + n2
                                a3 = 1.0 + n3 if s3 > 0 else n3
                                c3 = n3 if s3 > 0 else 1.0 + n3
                                fs[t] = a1 * a2 * a3 - c1 * c2 * c3
                            have_f = True
                        if sig <= tiny:  # FourPhonon: δ(ω) = exp(−π Δω²) ps/rad
                            dw = 2.0 * np.pi * (w0 - e)
                            g = 2.0 * np.pi * np.exp(-np.pi * dw * dw)
                        else:
                            x = (w0 - e) / sig
                            g = np.exp(-0.5 * x * x) / (_SQRT_2PI * sig)
                        z = v4[b3, b2, b1, b0]
                        a = count * (z.real * z.real + z.imag * z.imag) * inv / w0 * g
                        for t in range(n_t):
                            out[p, t, b0] += a * fs[t]


def _pair_symmetry(qmesh: QMesh, grid_point: int) -> NDArray[np.int64]:
    """Grid operations fixing q0: R with Rq0 ≡ q0, and −R (time reversal) with Rq0 ≡ −q0."""
    mesh = qmesh.mesh
    g0 = qmesh.addresses[grid_point]
    rots = qmesh.grid_rotations
    moved = np.einsum("rij,j->ri", rots, g0)
    fix = np.all(np.mod(moved - g0, mesh) == 0, axis=1)
    anti = np.all(np.mod(moved + g0, mesh) == 0, axis=1)
    return np.unique(np.concatenate([rots[fix], -rots[anti]]), axis=0)


_PERMS = np.array([[0, 1], [1, 0], [0, 2], [2, 0], [1, 2], [2, 1]])

#: Grid operations for the leg permutations alone (the ShengBTE widths depend on the
#: grid order of the partners, so rotations do not leave their summand invariant).
PERMUTATIONS_ONLY = np.eye(3, dtype=np.int64)[None]


def canonical_pairs(
    qmesh: QMesh, grid_point: int, pairs: NDArray, ops=None, chunk: int = 1 << 14
) -> NDArray[np.int64]:
    """Orbit representative (as a pair key q1·n_q + q2, the smallest) of each pair key."""
    ops = _pair_symmetry(qmesh, grid_point) if ops is None else ops
    n_q, mesh, addr = qmesh.n_q, qmesh.mesh, qmesh.addresses
    g0 = addr[grid_point]
    pairs = np.asarray(pairs, dtype=np.int64)
    out = np.empty(len(pairs), dtype=np.int64)
    step = max(1, chunk // (len(ops) * 6))
    for s in range(0, len(pairs), step):
        i1, i2 = np.divmod(pairs[s : s + step], n_q)
        g1, g2 = addr[i1], addr[i2]
        trip = np.stack([g1, g2, g0[None] - g1 - g2], axis=1)  # (n, 3 legs, 3)
        idx = grid_index(np.einsum("rij,nkj->rnki", ops, trip), mesh)  # (r, n, 3)
        keys = idx[:, :, _PERMS[:, 0]] * n_q + idx[:, :, _PERMS[:, 1]]
        out[s : s + step] = keys.min(axis=(0, 2))
    return out


def quadruplet_pairs(
    qmesh: QMesh, grid_point: int, symmetry: bool = True, ops=None
) -> tuple[NDArray, NDArray, NDArray]:
    """Irreducible pairs (q1, q2) (q3 = q0 − q1 − q2 + G) for q0 = ``grid_point``.

    The band-summed four-phonon summand is invariant under the permutations of
    (q1, q2, q3) and under the operations that fix q0: rotations R with R q0 ≡ q0,
    and time reversal combined with rotations R q0 ≡ −q0 (bands of q0 are mixed only
    inside degenerate subspaces, so the result holds after degenerate averaging).
    Returns grid indices ``q1``, ``q2`` of one representative per orbit and the orbit
    sizes ``weights`` (sum = n_q²).  ``ops``: the grid operations to use (default: all
    that fix q0; ``PERMUTATIONS_ONLY`` keeps just the permutations of the legs).
    """
    n_q = qmesh.n_q
    if not symmetry:
        i1, i2 = np.divmod(np.arange(n_q * n_q), n_q)
        return i1, i2, np.ones(n_q * n_q, dtype=np.int64)
    rep = canonical_pairs(qmesh, grid_point, np.arange(n_q * n_q), ops)
    reps, weights = np.unique(rep, return_counts=True)
    q1, q2 = np.divmod(reps, n_q)
    return q1, q2, weights


def _bound_smearing(smearing, qmesh: QMesh) -> Smearing:
    """Return a Smearing (a float is a fixed σ in THz) with the lattice and mesh of ``qmesh``."""
    if isinstance(smearing, (int, float, np.floating)):
        if not smearing > 0:
            raise FourPhononError(f"sigma must be a positive width in THz, got {smearing!r}")
        return Smearing(sigma=float(smearing))
    return smearing.bind(qmesh)


class _PairEvaluator:
    """Per-q0 machinery: Φ4 for batches of pairs and their band sums g (n, T, B)."""

    def __init__(
        self,
        fc,
        qmesh,
        phonons,
        temps,
        smearing,
        group_velocities,
        cutoff_frequency,
        batch_elements,
        counting=None,
    ):
        self.qmesh = qmesh
        self.inter = QuarticInteraction(fc)
        freqs = phonons.frequencies
        self.freqs = np.ascontiguousarray(freqs, dtype=float)
        self.vecs = np.ascontiguousarray(phonons.eigenvectors)
        self.n_bands = freqs.shape[1]
        self.cutoff = float(cutoff_frequency)
        valid = freqs > self.cutoff
        self.occ = np.ascontiguousarray(
            occupation(np.where(valid, freqs, 0.0)[None], temps[:, None, None]).transpose(1, 0, 2)
        )
        self.n_t = len(temps)
        self.table = self.inter.pair_phases(qmesh.qpoints)  # (n_q, n_pairs)
        sm = _bound_smearing(smearing, qmesh)
        self.kind, self.ncut = _KIND[sm.kind], sm.cutoff("4ph")
        self.sigma = float(sm.sigma) if not sm.adaptive else 0.0
        self.scale = float(sm.scale) if sm.adaptive else 0.0
        counting = counting or ("fourphonon" if sm.shengbte else "golden-rule")
        if counting not in COUNTINGS:
            raise FourPhononError(
                f"counting must be one of {', '.join(COUNTINGS)}, got {counting!r}"
            )
        self.fp_count = counting == "fourphonon"
        self.leg_cutoff = (
            max(self.cutoff, SHENGBTE_LOW_FREQUENCY_4PH) if self.fp_count else self.cutoff
        )
        self.tiny = SHENGBTE_TINY_SIGMA_4PH if sm.shengbte else -1.0
        self.floor2 = np.zeros((len(freqs), self.n_bands))
        self.u = np.zeros((len(freqs), self.n_bands, 3))
        if sm.adaptive:
            if group_velocities is None:
                from .smearing import mode_velocities

                _, group_velocities = mode_velocities(fc, qmesh.qpoints, self.cutoff)
            gv, floor2 = sm.adaptive_terms(qmesh, group_velocities, freqs, self.cutoff)
            self.u = np.ascontiguousarray(mesh_projection(gv, sm.reciprocal_lattice, sm.mesh))
            self.floor2 = np.ascontiguousarray(floor2)
        self.minus = grid_index(-qmesh.addresses, qmesh.mesh)  # grid index of −q
        # which states count as "the same phonon" for the trivial processes: the whole
        # degenerate block (basis independent); FourPhonon: the band index itself
        self.blocks = np.ascontiguousarray(
            np.broadcast_to(np.arange(self.n_bands), freqs.shape)
            if self.fp_count
            else degenerate_block_ids(freqs),
            dtype=np.int64,
        )
        # pairs per kernel call: bounds the gathered per-pair arrays (~B² numbers each); the
        # kernel itself holds one (3n)⁴ and one B⁴ array per thread
        self.batch = max(1, int(batch_elements // self.n_bands**2))

    def __call__(self, gp: int, q1: NDArray, q2: NDArray) -> NDArray:
        """g[p, T, j0] for pairs (q1[p], q2[p]) at q0 = gp, without the prefactor."""
        mesh = self.qmesh.mesh
        addr = self.qmesh.addresses
        q3 = grid_index(addr[gp][None] - addr[q1] - addr[q2], mesh)
        e0 = np.ascontiguousarray(self.vecs[gp].conj())
        pre0 = self.inter.prephases(-self.qmesh.qpoints[gp])[0]
        nu0 = self.freqs[gp]
        out = np.zeros((len(q1), self.n_t, self.n_bands))
        inter = self.inter
        for s in range(0, len(q1), self.batch):
            sl = slice(s, s + self.batch)
            legs = np.ascontiguousarray(np.stack([q1[sl], q2[sl], q3[sl]], axis=1))
            neg = np.ascontiguousarray(self.minus[legs])
            c = np.ascontiguousarray
            with single_threaded_blas():
                _pair_kernel(
                    self.table,
                    pre0,
                    inter.kap,
                    inter.pidx,
                    inter.values,
                    e0,
                    self.vecs,
                    nu0,
                    c(self.freqs[legs]),
                    c(self.occ[legs]),
                    c(self.u[legs]),
                    c(self.u[neg]),
                    c(self.floor2[legs]),
                    legs,
                    neg,
                    c(self.blocks[legs]),
                    self.blocks[gp],
                    int(gp),
                    self.kind,
                    self.fp_count,
                    self.sigma,
                    self.scale,
                    self.cutoff,
                    self.leg_cutoff,
                    self.ncut,
                    ADAPTIVE_SIGMA_FLOOR,
                    self.tiny,
                    SIGN_PATTERNS,
                    out[sl],
                )
        return out


class _PairSampler:
    """Pairs (q1, q2) of one q0 drawn without replacement, with running sums of g, g²."""

    def __init__(self, ev, qmesh, gp, n_t, seed, size, symmetry, avg, ops=None):
        self.ev, self.qmesh, self.gp, self.avg = ev, qmesh, int(gp), avg
        self.n_pairs = qmesh.n_q**2
        rng = np.random.default_rng([int(seed), int(gp)])
        self.draw = rng.choice(self.n_pairs, size=min(int(size), self.n_pairs), replace=False)
        self.ops = None
        if symmetry:
            self.ops = _pair_symmetry(qmesh, self.gp) if ops is None else ops
        self.s1 = np.zeros((n_t, ev.n_bands))
        self.s2 = np.zeros((n_t, ev.n_bands))
        self.done = 0
        self.pilot_g = None  # per-pair values of the first call (for the allocation)

    def extend(self, n_goal: int, keep: bool = False) -> None:
        """Evaluate the drawn pairs up to ``n_goal`` (in the order they were drawn)."""
        n_goal = min(int(n_goal), len(self.draw))
        kept = []
        for s in range(self.done, n_goal, 4096):
            chunk = self.draw[s : min(s + 4096, n_goal)]
            if self.ops is not None:  # equivalent pairs have the same value: evaluate once
                chunk, mult = np.unique(
                    canonical_pairs(self.qmesh, self.gp, chunk, self.ops), return_counts=True
                )
            else:
                mult = np.ones(len(chunk), dtype=np.int64)
            q1, q2 = np.divmod(chunk, self.qmesh.n_q)
            g = self.ev(self.gp, q1, q2) @ self.avg.T  # (p, T, B), degenerate-averaged
            self.s1 += np.einsum("p,ptj->tj", mult.astype(float), g)
            self.s2 += np.einsum("p,ptj->tj", mult.astype(float), g * g)
            if keep:
                kept.append(np.repeat(g, mult, axis=0))
        if keep:
            self.pilot_g = np.concatenate(kept) if kept else None
        self.done = max(self.done, n_goal)

    def estimate(self):
        """(mean g, standard error of the mean) with the finite-population correction."""
        n = self.done
        mean = self.s1 / n
        var = np.maximum(self.s2 - n * mean**2, 0.0) / max(n - 1, 1)
        return mean, np.sqrt(var / n * (1.0 - n / self.n_pairs))


def kappa_allocation(
    pilot_g, kappa_modes, gamma_total, budget: int, floor: int, cap: int, prior_weight: float = 4.0
) -> NDArray[np.int64]:
    """Pairs per q0 that minimise the variance of the κ_P estimate (Neyman allocation).

    pilot_g : list over q0 of (n_i, T, B) prefactor-scaled γ_4ph contributions of the
        pilot pairs (their mean is the pilot γ̂_4ph).
    kappa_modes : (T, n_gp, B) κ_P contribution of each mode with the pilot γ (any
        common unit; only ratios matter), zero for modes left out.
    gamma_total : (T, n_gp, B) pilot total half width (γ_other + γ̂_4ph) in THz.

    To first order the relative κ_P error at T is −Σ_ij k_tij δγ4_ij / γ_tot,ij (k the
    κ fractions); for q0 = i the per-pair quantity x_pt = Σ_j k_tij g_pij / γ_tot,ij has
    standard deviation S_i (summed in quadrature over T), and n_i ∝ S_i minimises
    Σ_i S_i²/n_i at fixed Σ n_i.  S_i = CV_i · |mean x| with the pilot coefficient of
    variation CV_i shrunk towards the median over q0 (``prior_weight`` pseudo-samples),
    so that two or three pilot pairs give a usable allocation.  Returns n_i with
    floor ≤ n_i ≤ cap and Σ n_i ≈ budget.
    """
    n_t = kappa_modes.shape[0]
    frac = kappa_modes / np.maximum(kappa_modes.sum(axis=(1, 2), keepdims=True), 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        sens = np.where(gamma_total > 0, frac / gamma_total, 0.0)  # (T, n_gp, B)
    mean_x = np.zeros((len(pilot_g), n_t))
    cv2 = np.full(len(pilot_g), np.nan)
    dof = np.zeros(len(pilot_g))
    for i, g in enumerate(pilot_g):
        x = np.einsum("ptj,tj->pt", g, sens[:, i])  # (n_i, T)
        mean_x[i] = x.mean(axis=0)
        m2 = float(np.sum(mean_x[i] ** 2))
        if len(x) > 1 and m2 > 0:
            cv2[i] = float(np.sum(x.var(axis=0, ddof=1))) / m2
            dof[i] = len(x) - 1
    prior = np.nanmedian(cv2) if np.isfinite(cv2).any() else 1.0
    cv2 = np.where(np.isfinite(cv2), cv2, prior)
    cv2 = (dof * cv2 + prior_weight * prior) / (dof + prior_weight)
    score = np.sqrt(cv2 * np.sum(mean_x**2, axis=1))
    if not score.sum() > 0:
        return np.full(len(pilot_g), max(floor, budget // max(len(pilot_g), 1)), dtype=np.int64)
    n = np.rint(budget * score / score.sum()).astype(np.int64)
    return np.clip(n, floor, cap)


def _kappa_modes(fc, qmesh, phonons, grid_points, temps, group_velocities, cutoff):
    """Unnormalised κ_P weights mult · C · |v|² (T, n_gp, B) without the 1/γ."""
    from ..harmonic import heat_capacity

    freqs = phonons.frequencies[grid_points]
    rows = grid_points
    if group_velocities is None:
        from .smearing import mode_velocities

        _, group_velocities = mode_velocities(fc, qmesh.qpoints[grid_points])
        rows = slice(None)
    if isinstance(group_velocities, ModeVelocities):  # |v|² as the block's mean square
        m, c = group_velocities.block_mean[rows], group_velocities.block_spread[rows]
        v2 = np.sum(m**2, axis=-1) + np.einsum("qjaa->qj", c)
    else:
        v2 = np.sum(np.asarray(group_velocities, dtype=float)[rows] ** 2, axis=-1)
    mult = qmesh.weights[qmesh.to_ir[grid_points]].astype(float)
    cv = heat_capacity(freqs[None], temps[:, None, None])
    out = cv * v2[None] * mult[None, :, None]
    return np.where(freqs[None] > cutoff, out, 0.0)


def four_phonon_linewidths(
    fc,
    qmesh: QMesh,
    phonons: Phonons,
    grid_points,
    temperatures,
    smearing,
    mode: Literal["exhaustive", "sampled"] = "exhaustive",
    samples: int = 2000,
    seed: int = 0,
    target_rel_error: float | None = None,
    max_samples: int | None = None,
    group_velocities=None,
    cutoff_frequency: float = 1e-3,
    symmetry: bool = True,
    batch_elements: int = 1 << 21,
    allocation: Literal["uniform", "kappa"] = "uniform",
    pilot_samples: int | None = None,
    gamma_other=None,
    counting: Literal["golden-rule", "fourphonon"] | None = None,
):
    """Compute γ_4ph (T, n_gp, B) in THz at ``grid_points`` of ``qmesh``, and its standard error.

    Parameters
    ----------
    fc : ForceConstants
        The model, with ``fc4``.
    qmesh : QMesh
        The Γ-centred mesh.
    phonons : Phonons
        All points of ``qmesh`` in the order of ``qmesh.addresses`` (harmonic or
        renormalized frequencies and eigenvectors).
    grid_points : array_like of int, shape (n_gp,)
        Mesh indices of the modes q0 (usually ``qmesh.ir_grid``).
    temperatures : array_like of float, shape (T,)
        K.
    smearing : float or Smearing
        A fixed width in THz, or a ``smearing.Smearing``: fixed ``sigma``, ``adaptive``
        (σ² = scale²(|PΔv1|² + |PΔv2|²)/6 + f1² + f2² + 2 f3², Δv_k the derivatives of
        the energy mismatch with respect to the two free momenta q1, q2, P the projection
        on the mesh steps, f the bands' curvature floors, degenerate modes by the mean and
        spread of their block; cut at 6σ) or ``adaptive-shengbte`` (FourPhonon's single
        velocity difference, cut at √2 σ; docs/conventions.md).
    mode : {"exhaustive", "sampled"}
        All pairs (symmetry-reduced), or a random sample of them.
    samples : int
        Sampled mode: number of pairs (q1, q2) drawn per q0 (each evaluates all band
        combinations); with ``target_rel_error`` the starting number; with
        ``allocation="kappa"`` the mean number per q0 (total budget samples·n_gp).
    seed : int
        Sampled mode: random seed; q0 = g uses the stream ``default_rng([seed, g])``, so
        with uniform allocation results do not depend on the order or subset of grid
        points.
    target_rel_error : float, optional
        Sampled mode, uniform allocation: double the samples until the relative standard
        error of every γ > 0 at that q0 is below this (or ``max_samples`` is reached).
    max_samples : int, optional
        Cap on the pairs per q0 (default: all n_q² pairs, exact result).
    group_velocities : ModeVelocities or ndarray of float, shape (n_q, B, 3), optional
        ``ModeVelocities`` of the mesh (``smearing.mode_velocities``) for adaptive
        smearing and for the κ weights of ``allocation="kappa"``, or per-band velocities
        in THz·Å for ``adaptive-shengbte`` and crystals without degenerate modes;
        harmonic ones are computed from ``fc`` when not given (their per-band part
        belongs to the velocity operator's eigenvectors).
    cutoff_frequency : float
        THz; modes at or below it are left out (module docstring).
    symmetry : bool
        Use the symmetry of the summand (needs FC4 with the crystal symmetry and the
        index-permutation symmetry of physical force constants): exhaustive mode sums
        orbits with their sizes; sampled mode evaluates sampled pairs that are equivalent
        only once (same estimator, lower cost).
    batch_elements : int
        Bound on the gathered per-pair arrays of one kernel call (number of elements,
        about B² per pair).
    allocation : {"uniform", "kappa"}
        Sampled mode: ``samples`` pairs at every q0, or a pilot of ``pilot_samples`` pairs
        per q0 (default max(2, samples // 4)), then the rest of the budget spread over the
        q0 in proportion to their estimated contribution to the statistical error of κ_P
        (:func:`kappa_allocation`, docs/four_phonon.md §4).  Meant for ``grid_points`` =
        the irreducible mesh.
    pilot_samples : int, optional
        Pairs per q0 of the pilot of ``allocation="kappa"``.
    gamma_other : ndarray of float, shape (T, n_gp, B), optional
        THz, the other half widths (3ph, isotope) that κ will use with γ_4ph; only for the
        κ weights of ``allocation="kappa"``.
    counting : {"golden-rule", "fourphonon"}, optional
        ``COUNTINGS``; default: "fourphonon" with ``adaptive-shengbte`` smearing, else
        "golden-rule".

    Returns
    -------
    gamma : ndarray of float64, shape (T, n_gp, B)
        THz, averaged over degenerate modes of q0.
    stderr : ndarray of float64, shape (T, n_gp, B), or None
        THz (sampled), None (exhaustive).
    """
    if mode not in ("exhaustive", "sampled"):
        raise FourPhononError(f"mode must be 'exhaustive' or 'sampled', got {mode!r}")
    if allocation not in ("uniform", "kappa"):
        raise FourPhononError(f"allocation must be 'uniform' or 'kappa', got {allocation!r}")
    if allocation == "kappa" and target_rel_error:
        raise FourPhononError("target_rel_error works with allocation='uniform' only")
    temps = np.atleast_1d(np.asarray(temperatures, dtype=float))
    grid_points = np.atleast_1d(np.asarray(grid_points, dtype=np.int64))
    if phonons.frequencies.shape[0] != qmesh.n_q:
        raise FourPhononError(
            f"phonons must be given on all {qmesh.n_q} mesh points, got "
            f"{phonons.frequencies.shape[0]}"
        )
    ev = _PairEvaluator(
        fc,
        qmesh,
        phonons,
        temps,
        smearing,
        group_velocities,
        cutoff_frequency,
        batch_elements,
        counting,
    )
    n_b = ev.n_bands
    # FourPhonon's widths and band-index rules are not invariant under rotations
    ops = PERMUTATIONS_ONLY if ev.kind == _KIND["adaptive-shengbte"] or ev.fp_count else None
    gamma = np.zeros((len(temps), len(grid_points), n_b))
    n_pairs = qmesh.n_q**2
    avgs = [degenerate_average_matrix(ev.freqs[gp]) for gp in grid_points]
    if mode == "exhaustive":
        for ig, gp in enumerate(grid_points):
            q1, q2, w = quadruplet_pairs(qmesh, int(gp), symmetry=symmetry, ops=ops)
            total = np.zeros((len(temps), n_b))
            for s in range(0, len(q1), 4096):
                g = ev(int(gp), q1[s : s + 4096], q2[s : s + 4096])
                total += np.einsum("p,ptj->tj", w[s : s + 4096].astype(float), g)
            gamma[:, ig] = (total @ avgs[ig].T) * FOUR_PHONON_FACTOR / n_pairs
        return gamma, None
    stderr = np.zeros_like(gamma)
    cap = n_pairs if max_samples is None else min(int(max_samples), n_pairs)
    n_goal = min(max(int(samples), 2), cap)
    if allocation == "uniform":
        for ig, gp in enumerate(grid_points):
            st = _PairSampler(
                ev,
                qmesh,
                gp,
                len(temps),
                seed,
                cap if target_rel_error else n_goal,
                symmetry,
                avgs[ig],
                ops,
            )
            goal = n_goal
            while True:
                st.extend(goal)
                mean, err = st.estimate()
                if not target_rel_error or st.done >= cap:
                    break
                pos = mean > 0
                if not pos.any() or np.all(err[pos] <= target_rel_error * mean[pos]):
                    break
                goal = min(2 * st.done, cap)
            gamma[:, ig] = mean * FOUR_PHONON_FACTOR
            stderr[:, ig] = err * FOUR_PHONON_FACTOR
        return gamma, stderr
    # allocation == "kappa": pilot, Neyman allocation on the κ_P error, completion
    budget = n_goal * len(grid_points)
    pilot = min(max(2, int(pilot_samples) if pilot_samples else n_goal // 4), n_goal)
    states = [
        _PairSampler(ev, qmesh, gp, len(temps), seed, min(budget, cap), symmetry, avgs[ig], ops)
        for ig, gp in enumerate(grid_points)
    ]
    for ig, st in enumerate(states):
        st.extend(pilot, keep=True)
        gamma[:, ig] = st.estimate()[0] * FOUR_PHONON_FACTOR
    other = 0.0 if gamma_other is None else np.asarray(gamma_other, dtype=float)
    g_tot = gamma + other
    kmodes = _kappa_modes(
        fc, qmesh, phonons, grid_points, temps, group_velocities, cutoff_frequency
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        kmodes = np.where(g_tot > 0, kmodes / g_tot, 0.0)
    n_i = kappa_allocation(
        [st.pilot_g * FOUR_PHONON_FACTOR for st in states],
        kmodes,
        g_tot,
        budget,
        pilot,
        min(budget, cap),
    )
    for ig, st in enumerate(states):
        st.extend(n_i[ig])
        mean, err = st.estimate()
        gamma[:, ig] = mean * FOUR_PHONON_FACTOR
        stderr[:, ig] = err * FOUR_PHONON_FACTOR
    return gamma, stderr

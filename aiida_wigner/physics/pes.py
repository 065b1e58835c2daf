"""Potential-energy surface along the normal coordinate of one phonon mode (seed Sec. II.B).

Frozen-phonon scans: the supercell is displaced along a real normal-mode pattern by an
amplitude Q, and the energy E(Q) is compared with the Taylor expansion of the force
constants truncated at orders 2, 4, 6, and fitted by E(Q) = a2 Q² + a4 Q⁴ + a6 Q⁶
(seed Eq. 9 and Fig. 2).

Normalization (stated in every output)
--------------------------------------
For a q-point commensurate with the supercell (exp(2πi q·R) periodic over it), the Bloch
wave of band j, w_{κl} = e(κ; q j) exp(2πi q·r_{κl}) (phonopy's phase convention, r the
atom's position), and its partner at −q, w*, span eigenvectors of the real mass-weighted
supercell dynamical matrix.  The real pattern is

    ε = Re[exp(iφ) w] / ‖Re[exp(iφ) w]‖,     Σ_{κl} |ε_{κl}|² = 1,

with the phase φ chosen to make ‖Re[exp(iφ) w]‖ largest (for q ≡ −q, e.g. M and A, w is
real up to a global phase and ε is the whole mode; otherwise ε is the cosine standing wave),
plus a user phase.  Displacements are

    u_{κl}(Q) = Q ε_{κl} / √m_κ      [Å],   Q in Å·√amu,

so that Σ m |u|² = Q² and the harmonic energy is E₂ = ½ ω² Q² with ω² the eigenvalue of
D(q) in eV/(Å²·amu) (ω² = (ν/15.633302)² for ν in THz; negative for imaginary modes).
Compared with the seed's Eq. 9, u = Q Re[exp(iφ) e exp(iq·r)]/√(N m), this Q equals the
seed's Q times √(N/2) for q ≢ −q and is the same Q for q ≡ −q with a real e.

Energies are per supercell, eV, relative to the undisplaced supercell.  Taylor energies
are exact polynomials along the line: E_n(Q) = c_n Qⁿ with
c_n = (1/n!) Σ Φ_{i1..in} ε̃_{i1}..ε̃_{in}, ε̃ = ε/√m.

numpy only (no AiiDA import).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .cell import SupercellSetup
from .forceconstants import ForceConstants
from .units import EIGENVALUE_TO_THZ

#: Q unit string used in output files
Q_UNIT = "Å·√amu"


class PESError(ValueError):
    """A q-point, band or amplitude list that cannot define a frozen-phonon scan."""


@dataclass(frozen=True)
class ModePattern:
    """A real normal-mode displacement pattern of a supercell of N atoms.

    Attributes
    ----------
    qpoint : ndarray of float64, shape (3,)
        Reduced coordinates of the primitive reciprocal lattice.
    band : int
        0-based band index, bands sorted by frequency.
    frequency : float
        THz (negative = imaginary).
    omega2 : float
        eV/(Å²·amu) (= sign·(ν/EIGENVALUE_TO_THZ)²).
    phase : float
        The phase φ used, rad.
    epsilon : ndarray of float64, shape (N, 3)
        Mass-weighted unit vector (Σ|ε|² = 1).
    u_per_q : ndarray of float64, shape (N, 3)
        Displacement per unit Q, ε/√m (Å per Å·√amu).
    degeneracy : int
        Number of bands degenerate with ``band``, itself included.
    """

    qpoint: NDArray[np.float64]
    band: int
    frequency: float
    omega2: float
    phase: float
    epsilon: NDArray[np.float64]
    u_per_q: NDArray[np.float64]
    degeneracy: int

    def displacements(self, amplitudes) -> NDArray[np.float64]:
        """Return the displacements (n_Q, N, 3) in Å for amplitudes Q (Å·√amu)."""
        q = np.asarray(amplitudes, dtype=float).reshape(-1)
        return q[:, None, None] * self.u_per_q[None]


def supercell_translations(setup: SupercellSetup) -> NDArray[np.float64]:
    """Return the lattice translations of the primitive cell inside the supercell.

    In primitive reduced coordinates, shape (n_cells, 3), from the images of the first
    primitive atom.
    """
    sc = setup.supercell
    cart = sc.cartesian_positions
    j = np.nonzero(setup.s2pp == setup.s2pp[setup.p2s[0]])[0]
    t = (cart[j] - cart[setup.p2s[0]]) @ np.linalg.inv(setup.primitive.lattice)
    return t


def check_commensurate(setup: SupercellSetup, qpoint, tol: float = 1e-6) -> NDArray[np.float64]:
    """Return q if exp(2πi q·R) is periodic over the supercell; raise :class:`PESError` if not.

    Parameters
    ----------
    setup : SupercellSetup
        The supercell of the scan.
    qpoint : array_like of float, shape (3,)
        Reduced coordinates of the primitive reciprocal lattice.
    tol : float
        Tolerance on the integer phases q·L.

    Returns
    -------
    ndarray of float64, shape (3,)
        The q-point.
    """
    q = np.asarray(qpoint, dtype=float).reshape(-1)
    if q.shape != (3,) or not np.all(np.isfinite(q)):
        raise PESError(f"q-point must be 3 finite numbers, got {qpoint!r}")
    # supercell lattice vectors in reduced coordinates of the primitive cell
    s_in_prim = setup.supercell.lattice @ np.linalg.inv(setup.primitive.lattice)
    phase = s_in_prim @ q
    bad = np.abs(phase - np.rint(phase)) > tol
    if np.any(bad):
        allowed = [
            f"multiples of 1/{n}"
            for n in np.rint(np.abs(np.diag(setup.supercell_matrix))).astype(int)
        ]
        raise PESError(
            f"q-point {q.tolist()} is not commensurate with the supercell "
            f"{setup.supercell_matrix.tolist()}: q·L = {np.round(phase, 6).tolist()} "
            f"(L = supercell lattice vectors in primitive reduced coordinates) must be "
            f"integers; a frozen phonon at this q needs another supercell (when the unit "
            f"cell is primitive and the supercell diagonal, the q components must be "
            f"{', '.join(allowed)})"
        )
    return q


def mode_pattern(
    fc: ForceConstants, qpoint, band: int = 0, phase: float = 0.0, degeneracy_tol: float = 1e-4
) -> ModePattern:
    """Build the real normal-mode pattern of one band at a commensurate q (module docstring).

    Parameters
    ----------
    fc : ForceConstants
        The harmonic model (its FC2).
    qpoint : array_like of float, shape (3,)
        Reduced q, commensurate with ``fc``'s supercell.
    band : int
        0-based, bands sorted by frequency.
    phase : float
        User phase added to the optimal φ, rad.
    degeneracy_tol : float
        THz: bands closer than this to ``band`` count as degenerate with it.

    Returns
    -------
    ModePattern
        The pattern, its frequency (THz) and ω² (eV/(Å²·amu)).

    Raises
    ------
    PESError
        For a q-point that is not commensurate or a band out of range.
    """
    from .harmonic import solve

    setup = fc.setup
    q = check_commensurate(setup, qpoint)
    n_bands = 3 * setup.n_prim
    if not 0 <= int(band) < n_bands:
        raise PESError(f"band must be in 0..{n_bands - 1} (0 = lowest), got {band}")
    band = int(band)
    ph = solve(fc, q[None])
    nu = float(ph.frequencies[0, band])
    e = ph.eigenvectors[0, :, band].reshape(setup.n_prim, 3)
    degeneracy = int(np.sum(np.abs(ph.frequencies[0] - nu) < degeneracy_tol))
    sc = setup.supercell
    r = sc.cartesian_positions @ np.linalg.inv(setup.primitive.lattice)  # primitive reduced
    w = e[setup.s2pp] * np.exp(2j * np.pi * (r @ q))[:, None]  # (N, 3) complex Bloch wave
    a = np.sum(w * w)
    phi0 = -0.5 * np.angle(a) if abs(a) > 1e-8 * np.sum(np.abs(w) ** 2) else 0.0
    phi = float(phi0 + phase)
    eps = np.real(np.exp(1j * phi) * w)
    norm = np.linalg.norm(eps)
    if norm < 1e-8:  # pragma: no cover - only for a user phase that cancels the wave
        raise PESError(f"phase {phase} gives a zero real pattern; use another phase")
    eps = eps / norm
    # fix the overall sign: largest component positive (reproducible plots)
    k = np.argmax(np.abs(eps))
    if eps.flat[k] < 0:
        eps = -eps
    omega2 = float(np.sign(nu) * (nu / EIGENVALUE_TO_THZ) ** 2)
    u = eps / np.sqrt(sc.masses)[:, None]
    return ModePattern(
        qpoint=q,
        band=band,
        frequency=nu,
        omega2=omega2,
        phase=phi,
        epsilon=eps,
        u_per_q=u,
        degeneracy=degeneracy,
    )


def cluster_energy(atoms, values, u, all_orderings: bool = False) -> float:
    """Energy (1/n!) Σ Φ u…u of order n from a list of clusters, eV.

    ``atoms`` (M, n) supercell indices and ``values`` (M, 3, …, 3) eV/Åⁿ; ``u`` (N, 3) Å.
    With ``all_orderings=False`` each cluster is stored once (hiphive's sorted clusters,
    repeated atoms allowed) and carries the weight 1/Π_k m_k! (m_k: multiplicity of each
    distinct atom), which equals (number of orderings)/n!; with ``all_orderings=True`` the
    list holds every ordering (like a dense array) and each carries 1/n!.
    """
    atoms = np.asarray(atoms, dtype=np.int64)
    values = np.asarray(values, dtype=float)
    if atoms.size == 0:
        return 0.0
    n = atoms.shape[1]
    t = values
    for k in range(n - 1, -1, -1):  # contract the last Cartesian axis with u of atom k
        t = np.einsum("m...a,ma->m...", t, u[atoms[:, k]])
    if all_orderings:
        weights = np.full(len(atoms), 1.0 / math.factorial(n))
    else:
        s = np.sort(atoms, axis=1)
        weights = np.ones(len(atoms))
        run = np.ones(len(atoms))
        for k in range(1, n):
            same = s[:, k] == s[:, k - 1]
            run = np.where(same, run + 1, 1.0)
            weights = weights / np.where(same, run, 1.0)
    return float(np.dot(weights, t))


def taylor_coefficients(fc: ForceConstants, u_per_q) -> dict[int, float]:
    """c_n (eV per (Å·√amu)ⁿ) of E_n(Q) = c_n Qⁿ for the orders in ``fc`` (2, 3, 4).

    Uses the compact arrays (first atom in the primitive cell) and the lattice
    translations of the supercell: E_n = (1/n!) Σ_L Σ_{a, j…} Φ(a, j…) u(L+a) u(L+j)….
    """
    from .io.folding import translation_permutation

    setup = fc.setup
    u = np.asarray(u_per_q, dtype=float)
    lat = setup.primitive.lattice
    perms = []
    for t in supercell_translations(setup):
        p = translation_permutation(setup, t @ lat)
        if p is None:  # pragma: no cover - the translations are lattice vectors by construction
            raise PESError("supercell translation is not a symmetry of the supercell")
        perms.append(p)
    out = {}
    p2s = setup.p2s
    for order in fc.orders:
        c = 0.0
        for perm in perms:
            v = u[perm]  # v[j] = u at the site of j moved by L
            if order == 2:
                c += 0.5 * np.einsum("aibc,ab,ic->", fc.fc2, v[p2s], v)
            elif order == 3:
                c += cluster_energy(fc.fc3.atoms, fc.fc3.values, v, all_orderings=True)
            elif order == 4:
                c += cluster_energy(fc.fc4.atoms, fc.fc4.values, v, all_orderings=True)
        out[order] = float(c)
    return out


def truncated_energies(coefficients: dict, amplitudes, truncations=(2, 4, 6)) -> dict:
    """Σ_{n ≤ k} c_n Qⁿ for each truncation order k (eV per supercell), and per order."""
    q = np.asarray(amplitudes, dtype=float)
    per_order = {int(n): float(c) * q ** int(n) for n, c in coefficients.items()}
    trunc = {}
    for k in truncations:
        if any(n <= k for n in per_order):
            trunc[int(k)] = sum(v for n, v in per_order.items() if n <= k)
    return {"per_order": per_order, "truncated": trunc}


def fit_polynomial(amplitudes, energies, powers=(2, 4, 6)) -> dict:
    """Least-squares fit E(Q) = Σ_p a_p Q^p (seed Eq. 9: powers 2, 4, 6), E relative to Q=0.

    Returns ``coefficients`` {p: a_p} (eV per (Å·√amu)^p), ``rmse`` (eV) and ``powers``.
    """
    q = np.asarray(amplitudes, dtype=float).reshape(-1)
    e = np.asarray(energies, dtype=float).reshape(-1)
    powers = [int(p) for p in powers]
    if len(q) != len(e):
        raise PESError(f"{len(q)} amplitudes but {len(e)} energies")
    if len(np.unique(np.round(q, 12))) < len(powers):
        raise PESError(
            f"fitting powers {powers} needs at least {len(powers)} distinct "
            f"amplitudes, got {len(np.unique(q))}"
        )
    A = np.stack([q**p for p in powers], axis=1)
    scale = np.abs(A).max(axis=0)
    scale[scale == 0] = 1.0
    coef, *_ = np.linalg.lstsq(A / scale, e, rcond=None)
    coef = coef / scale
    resid = A @ coef - e
    return {
        "powers": powers,
        "coefficients": {p: float(c) for p, c in zip(powers, coef, strict=True)},
        "rmse": float(np.sqrt(np.mean(resid**2))),
    }


def double_well(coefficients: dict) -> dict | None:
    """Minimum of Σ a_p Q^p on Q > 0 when a2 < 0 (double well): Q_min and depth E(Q_min)."""
    a = {int(k): float(v) for k, v in coefficients.items()}
    if a.get(2, 0.0) >= 0:
        return None
    deg = max(a)
    poly = np.zeros(deg + 1)
    for p, c in a.items():
        poly[deg - p] = c
    roots = np.roots(np.polyder(poly))
    real = roots[(np.abs(roots.imag) < 1e-9) & (roots.real > 0)].real
    if len(real) == 0:
        return None
    vals = np.polyval(poly, real)
    k = int(np.argmin(vals))
    return {"q_min": float(real[k]), "depth": float(vals[k])}


def amplitude_grid(start: float, stop: float, num: int) -> NDArray[np.float64]:
    """``num`` amplitudes from ``start`` to ``stop`` (Å·√amu), inclusive."""
    if int(num) < 2:
        raise PESError(f"need at least 2 amplitudes, got {num}")
    return np.linspace(float(start), float(stop), int(num))

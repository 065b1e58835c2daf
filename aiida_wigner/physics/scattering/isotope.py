"""Isotope (mass-disorder) scattering, seed Eq. 8 (Tamura, PRB 27, 858 (1983)).

    γ_iso(q j) = (π / 4N) ν_qj² Σ_{q' j'} δ(ν_qj − ν_q'j') Σ_κ g2(κ) |e*(κ; q'j') · e(κ; q j)|²

in ordinary frequencies (THz), giving the half width γ in THz; g2(κ) = Σ_i f_i (1 − m_i/M_κ)²
with M_κ = Σ_i f_i m_i over the natural isotopes of the element of atom κ.

Adaptive smearing: ν_qj is fixed, so the mismatch ν_qj − ν_q'j' moves across a mesh cell
with the final mode's own velocity v_q'j' (as in ShengBTE); the width of every term
therefore depends on (q' j') only.  ``adaptive``: our first-order width of v_q'j' (for a
degenerate final mode, the mean over the split bands of its block: block mean and
spread, the same for every mode of the block) and the band's curvature floor f_j' in
quadrature (smearing module), so the self term q'j' = qj and band extrema get a finite
width that still converges with the mesh.
``adaptive-shengbte``: ShengBTE's σ = max_i|P(v_q'j')_i|/2 (no scale factor) bounded below
by its outlier fence over all modes of the mesh, cut at 2.5 s = 2.5√2 σ.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

from ..harmonic import Phonons, average_degenerate
from ..mesh import QMesh
from .smearing import Smearing, combine, shengbte_isotope_floor


def natural_mass_variances(symbols) -> NDArray[np.float64]:
    """g2 for each symbol from phonopy's table of natural isotope abundances."""
    from phonopy.structure.atomic_data import get_atomic_data

    table = get_atomic_data().isotope_data
    out = []
    for s in symbols:
        if s not in table or not table[s]:
            raise ValueError(
                f"no natural isotope abundances known for {s!r}: give mass variances explicitly"
            )
        _, masses, fractions = np.array(table[s], dtype=float).T
        mean = fractions @ masses
        out.append(fractions @ (1.0 - masses / mean) ** 2)
    return np.array(out)


def isotope_widths(
    smearing: Smearing,
    velocities,
    frequencies,
    qmesh: QMesh | None = None,
    cutoff_frequency: float = 1e-3,
) -> NDArray[np.float64]:
    """Return the widths σ (n_q, B) in THz of the isotope terms with final mode (q' j').

    Parameters
    ----------
    smearing : Smearing
        The broadening.
    velocities : ModeVelocities or ndarray of float, shape (n_q, B, 3)
        Velocities of the mesh modes, THz·Å (per-band arrays as in
        ``Smearing.adaptive_terms``).
    frequencies : ndarray of float, shape (n_q, B)
        Mesh frequencies, THz.
    qmesh : QMesh, optional
        Needed by ``adaptive-shengbte`` (ShengBTE symmetrizes the velocities).
    cutoff_frequency : float
        THz; modes below it get no width.

    Returns
    -------
    ndarray of float64, shape (n_q, B)
        σ in THz.
    """
    if smearing.shengbte and qmesh is None:
        raise ValueError("adaptive-shengbte isotope widths need the q-mesh (qmesh=...)")
    w, e2 = smearing.adaptive_terms(qmesh, velocities, frequencies, cutoff_frequency)
    if smearing.shengbte:
        # ShengBTE: base_sigma(v) without scalebroad, then its fence
        sigma = smearing.widths(w, 0.0) / smearing.scale
        return np.maximum(sigma, shengbte_isotope_floor(sigma))
    return combine(smearing.widths(w, 0.0), e2)


def isotope_linewidths(
    phonons: Phonons,
    grid_points,
    mass_variances,
    smearing: Smearing,
    group_velocities=None,
    cutoff_frequency: float = 1e-3,
    qmesh: QMesh | None = None,
) -> NDArray[np.float64]:
    """γ_iso (n_gp, B) in THz at ``grid_points``; ``phonons`` covers the whole mesh.

    Adaptive smearing needs ``group_velocities`` (``ModeVelocities`` of the mesh, or for
    crystals without degenerate modes per-band velocities (n_q, B, 3) THz·Å) and the
    reciprocal lattice and mesh, from ``smearing`` or from ``qmesh`` (needed for
    ``adaptive-shengbte``).
    """
    g2 = np.asarray(mass_variances, dtype=float)
    freqs = phonons.frequencies
    n_q, n_b = freqs.shape
    grid_points = np.atleast_1d(grid_points)
    vec = np.ascontiguousarray(phonons.eigenvectors.reshape(n_q, len(g2), 3, n_b))
    if smearing.adaptive:
        if qmesh is not None:
            smearing = smearing.bind(qmesh)
        sigma = isotope_widths(smearing, group_velocities, freqs, qmesh, cutoff_frequency)
    else:
        sigma = np.full((n_q, n_b), float(smearing.sigma))
    valid = freqs > cutoff_frequency
    gamma = _isotope_kernel(
        vec,
        freqs,
        valid,
        np.ascontiguousarray(grid_points),
        g2,
        np.ascontiguousarray(np.broadcast_to(sigma, (n_q, n_b))),
        smearing.cutoff("isotope"),
    )
    gamma *= np.pi / (4.0 * n_q) * freqs[grid_points] ** 2
    gamma[~valid[grid_points]] = 0.0
    return average_degenerate(gamma, freqs[grid_points])


@numba.njit(parallel=True, cache=True)
def _isotope_kernel(vec, freqs, valid, grid_points, g2, sigma, ncut):
    """Σ_{q'j'} g(ν_qj − ν_q'j'; σ_q'j') Σ_κ g2_κ |e*(κ;q'j')·e(κ;qj)|², cut at ``ncut`` σ."""
    n_q, n_atoms, _, nb = vec.shape
    out = np.zeros((len(grid_points), nb))
    norm = 1.0 / np.sqrt(2.0 * np.pi)
    for ig in numba.prange(len(grid_points)):
        gp = grid_points[ig]
        for j in range(nb):
            acc = 0.0
            for q in range(n_q):
                for k in range(nb):
                    s = sigma[q, k]
                    if not valid[q, k] or s <= 0.0:
                        continue
                    d = freqs[gp, j] - freqs[q, k]
                    if abs(d) >= ncut * s:
                        continue
                    overlap = 0.0
                    for a in range(n_atoms):
                        z = 0j
                        for x in range(3):
                            z += np.conj(vec[q, a, x, k]) * vec[gp, a, x, j]
                        overlap += g2[a] * (z.real**2 + z.imag**2)
                    acc += overlap * norm / s * np.exp(-0.5 * (d / s) ** 2)
            out[ig, j] = acc
    return out

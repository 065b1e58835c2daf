"""A harmonically unstable cubic perovskite ABO₃ for SCP tests (FC2, FC3, FC4 in eV/Å^n).

Morse bonds (the pair potential of tests/physics/test_renormalization.py, every bond in slight
tension, r0 = 0.97 × its length) between all atoms closer than 2.8 Å on a 2×2×2
supercell (a = 3.9 Å, masses of Sr, Ti, O), plus two harmonic *negative* transverse
springs that make the phonons imaginary: −k_BO (1 − r̂r̂) on the B–O bonds and −k_OO on
the O–O bonds.  With the defaults the harmonic phonons are imaginary at Γ (a triply
degenerate polar TO mode, −1.28 THz), X, M and the zone corner R (−1.58 THz); the quartic
Morse terms (scaled by ``scale4``) stabilize all of them at 100–500 K in first-order SCP.
FC3 is the cubic Morse term of the same bonds (for the bubble).

Every bond contributes to the supercell force constants once per periodic image of the
pair, with the image weight (pairs that are equidistant through several images share).
"""

from __future__ import annotations

import numpy as np

from aiida_wigner.physics.cell import Cell, SupercellSetup
from aiida_wigner.physics.forceconstants import ForceConstants, SparseForceConstants

A_PEROVSKITE = 3.9
POSITIONS = [
    [0, 0, 0],
    [0.5, 0.5, 0.5],
    [0.5, 0.5, 0],
    [0.5, 0, 0.5],
    [0, 0.5, 0.5],
]  # A, B, O, O, O


def _radial_tensors(rvec, d1, d2, d3, d4):
    """Third and fourth derivative tensors of φ(|r|), from its radial derivatives."""
    from reference_models import radial_tensor4

    r = np.linalg.norm(rvec)
    g2 = d2 / r**2 - d1 / r**3
    g3 = d3 / r**3 - 3 * d2 / r**4 + 3 * d1 / r**5
    e = np.eye(3)
    t3 = g2 * (
        np.einsum("ab,c->abc", e, rvec)
        + np.einsum("ac,b->abc", e, rvec)
        + np.einsum("bc,a->abc", e, rvec)
    ) + g3 * np.einsum("a,b,c->abc", rvec, rvec, rvec)
    return t3, radial_tensor4(rvec, d1, d2, d3, d4)


def unstable_perovskite(
    k_bo: float = 0.4,
    k_oo: float = 0.2,
    scale4: float = 10.0,
    cutoff: float = 2.8,
    with_fc3: bool = True,
) -> ForceConstants:
    """ForceConstants of the model (k in eV/Å², ``scale4`` multiplies the quartic terms)."""
    from reference_models import morse_derivatives

    unit = Cell(np.eye(3) * A_PEROVSKITE, POSITIONS, [38, 22, 8, 8, 8])
    setup = SupercellSetup.build(unit, np.diag((2, 2, 2)))
    i, j, vectors, weights = setup.pair_images()
    cart = vectors @ setup.primitive.lattice
    n, N = setup.n_prim, setup.n_super
    fc2 = np.zeros((n, N, 3, 3))
    fc3 = np.zeros((n, N, N, 3, 3, 3))
    atoms, values = [], []
    for ii, jj, rv, w in zip(i, j, cart, weights, strict=True):
        d = np.linalg.norm(rv)
        kind_j = setup.s2pp[jj]
        if d < 1e-8 or d > cutoff:
            continue
        d1, d2, d3, d4 = morse_derivatives(d, r0=0.97 * d)
        t2 = d1 / d * np.eye(3) + (d2 / d**2 - d1 / d**3) * np.outer(rv, rv)
        transverse = np.eye(3) - np.outer(rv, rv) / d**2
        if {ii, kind_j} == {1, 2} or {ii, kind_j} == {1, 3} or {ii, kind_j} == {1, 4}:
            t2 = t2 - k_bo * transverse
        elif ii >= 2 and kind_j >= 2:
            t2 = t2 - k_oo * transverse
        p = setup.p2s[ii]
        fc2[ii, jj] -= w * t2
        fc2[ii, p] += w * t2
        t3, t4 = _radial_tensors(rv, d1, d2, d3, d4)
        for a in (p, jj):
            for b in (p, jj):
                # ∂/∂u_p = −∂/∂r, ∂/∂u_j = +∂/∂r; the first index is atom p
                fc3[ii, a, b] -= w * t3 * (-1 if a == p else 1) * (-1 if b == p else 1)
                for c in (p, jj):
                    sign = -np.prod([-1 if x == p else 1 for x in (a, b, c)])
                    atoms.append((p, a, b, c))
                    values.append(sign * scale4 * w * t4)
    fc4 = SparseForceConstants(4, np.array(atoms), np.array(values))
    return ForceConstants(setup, fc2, fc3 if with_fc3 else None, fc4)

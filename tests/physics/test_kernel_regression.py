"""The optimized cubic kernels equal a plain dense numpy evaluation of the same sums.

``CubicInteraction`` (sparse FC3 clusters, batched, BLAS contractions) and the fused
three-phonon kernel are checked against the textbook formulas written out below with
dense arrays and ``np.einsum``: the image phases straight from the shortest vectors,
Φ(q0, q1, q2) from dense compact FC3, the eigenvector contraction, and the linewidth sum
triplet by triplet.  Models: a triclinic 3-atom P1 cell (no symmetry at all) and the
8-atom tetragonal seed model (24 bands) on a small supercell, both with the synthetic
force constants of ``benchmarks/seed_model.py`` (genuine three-atom clusters).

Tolerance 1e-10 relative (issue 15's regression requirement); the agreement achieved is
~1e-15, summation order only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import seed_model  # noqa: E402

from aiida_wigner.physics import harmonic  # noqa: E402
from aiida_wigner.physics.cell import Cell, SupercellSetup  # noqa: E402
from aiida_wigner.physics.forceconstants import ForceConstants  # noqa: E402
from aiida_wigner.physics.harmonic import occupation, solve  # noqa: E402
from aiida_wigner.physics.interactions import CubicInteraction  # noqa: E402
from aiida_wigner.physics.mesh import QMesh, grid_index, triplets_at_q  # noqa: E402
from aiida_wigner.physics.scattering import three_phonon  # noqa: E402
from aiida_wigner.physics.scattering.smearing import Smearing  # noqa: E402

RTOL = 1e-10


def _model(kind):
    if kind == "triclinic":
        lattice = [[3.9, 0.0, 0.0], [0.45, 3.7, 0.0], [0.3, -0.35, 4.1]]
        unit = Cell(lattice, [[0.0, 0.0, 0.0], [0.31, 0.42, 0.18], [0.62, 0.17, 0.55]], [14, 32, 6])
        setup = SupercellSetup.build(unit, [2, 2, 2])
        cutoff = 3.6
    else:
        setup = SupercellSetup.build(seed_model.seed_setup().unitcell, [2, 2, 1])
        cutoff = 4.0
    return ForceConstants(
        setup, seed_model.seed_fc2(setup, cutoff), seed_model.seed_fc3(setup, cutoff)
    )


@pytest.fixture(scope="module", params=["triclinic", "seed-2x2x1"])
def model(request):
    return _model(request.param)


def _leg_phases(setup, q):
    """(n, N): e^{2πi q·r_a} × mean over the shortest images of e^{2πi q·r_{a→j}}."""
    n, N = setup.n_prim, setup.n_super
    out = np.empty((n, N), dtype=complex)
    for a in range(n):
        for j in range(N):
            count, offset = setup.multi[j, a]
            out[a, j] = np.exp(2j * np.pi * setup.svecs[offset : offset + count] @ q).mean()
    return out * np.exp(2j * np.pi * setup.primitive.positions @ q)[:, None]


def _reference_v3(fc, q0, q1, q2, e0, e1, e2):
    """V3(j0, j1, j2) by dense einsum (module docstring of interactions.py)."""
    s = fc.setup
    n = s.n_prim
    onehot = np.eye(n)[s.s2pp]  # (N, n)
    p0 = np.exp(2j * np.pi * s.primitive.positions @ q0)
    phi = np.einsum(
        "ajkxyz,a,aj,ak,jb,kc->axbycz",
        fc.dense_fc3(),
        p0,
        _leg_phases(s, q1),
        _leg_phases(s, q2),
        onehot,
        onehot,
        optimize=True,
    ).reshape((3 * n,) * 3)
    w = 1.0 / np.sqrt(np.repeat(s.primitive.masses, 3))
    phi = phi * w[:, None, None] * w[None, :, None] * w[None, None, :]
    return np.einsum("ijk,ia,jb,kc->abc", phi, e0, e1, e2, optimize=True)


def test_pair_table_equals_the_image_phases(model):
    """The FC3 pair table evaluates only its own pairs' images: same numbers as all pairs."""
    q = np.random.default_rng(3).random((70, 3))  # two chunks of 64, off the mesh
    inter = CubicInteraction(model)
    got = inter.pair_table(q)
    want = np.stack([_leg_phases(model.setup, x)[inter.pair_a, inter.pair_j] for x in q])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)


def test_dynamical_matrices_do_not_depend_on_the_q_chunk(model, monkeypatch):
    """D(q) and ∂D/∂q built in chunks of q-points equal one pass, bit for bit."""
    q = np.random.default_rng(4).random((37, 3))
    builder = harmonic.DynamicalMatrixBuilder(model)
    chunked = builder.dynamical_matrices(q), builder.derivatives(q)
    monkeypatch.setattr(harmonic, "Q_CHUNK", 5)
    assert np.array_equal(builder.dynamical_matrices(q), chunked[0])
    assert np.array_equal(builder.derivatives(q), chunked[1])


def test_cubic_strength_equals_dense_reference(model):
    rng = np.random.default_rng(7)
    q0 = rng.random(3)
    q1 = rng.random((3, 3))
    q2 = -q0[None] - q1 + np.array([1.0, 0.0, -1.0])  # q0 + q1 + q2 = G ≠ 0
    ph0, ph1, ph2 = solve(model, q0[None]), solve(model, q1), solve(model, q2)
    inter = CubicInteraction(model)
    got = inter.strength(
        q0,
        ph0.eigenvectors[0],
        inter.phases(q1),
        ph1.eigenvectors,
        inter.phases(q2),
        ph2.eigenvectors,
    )
    ref = np.stack(
        [
            np.abs(
                _reference_v3(
                    model,
                    q0,
                    q1[t],
                    q2[t],
                    ph0.eigenvectors[0],
                    ph1.eigenvectors[t],
                    ph2.eigenvectors[t],
                )
            )
            ** 2
            for t in range(len(q1))
        ]
    )
    assert np.abs(got - ref).max() <= RTOL * np.abs(ref).max()


def _reference_linewidths(fc, qmesh, ph, temps, smearing, gv):
    """γ_3ph (T, n_ir, B) in THz, the formula of three_phonon.py triplet by triplet."""
    freqs = ph.frequencies
    valid = freqs > 1e-3
    inv = np.where(valid, 1.0 / np.where(valid, freqs, 1.0), 0.0)
    occ = occupation(np.where(valid, freqs, 0.0)[None], np.asarray(temps)[:, None, None])
    sm = smearing.bind(qmesh)
    gvp, floor2 = sm.adaptive_terms(qmesh, gv, freqs, 1e-3) if sm.adaptive else (None, None)
    minus = grid_index(-qmesh.addresses, qmesh.mesh)
    ncut = sm.cutoff("3ph")

    def g(x, s):
        return np.where(
            (s > 0) & (np.abs(x) <= ncut * s),
            np.exp(-0.5 * (x / np.where(s > 0, s, 1.0)) ** 2)
            / (np.sqrt(2 * np.pi) * np.where(s > 0, s, 1.0)),
            0.0,
        )

    out = np.zeros((len(temps), len(qmesh.ir_grid), freqs.shape[1]))
    for ig, gp in enumerate(qmesh.ir_grid):
        trip = triplets_at_q(qmesh, gp)
        for a, b, w in zip(trip.q1, trip.q2, trip.weights, strict=True):
            v2 = (
                np.abs(
                    _reference_v3(
                        fc,
                        ph.qpoints[gp],
                        ph.qpoints[a],
                        ph.qpoints[b],
                        ph.eigenvectors[gp],
                        ph.eigenvectors[a],
                        ph.eigenvectors[b],
                    )
                )
                ** 2
            )
            shape = (1,) + freqs.shape[1:] * 2
            s_sum, s_p, s_m = (
                x[0]
                for x in three_phonon._triplet_widths(
                    sm, gvp, floor2, np.array([a]), np.array([b]), minus, shape
                )
            )
            f0, f1, f2 = freqs[gp][:, None, None], freqs[a][None, :, None], freqs[b][None, None]
            n1, n2 = occ[:, a][:, None, :, None], occ[:, b][:, None, None, :]
            term = (n1 + n2 + 1) * g(f0 - f1 - f2, s_sum) + (n1 - n2) * (
                g(f0 + f1 - f2, s_p) - g(f0 - f1 + f2, s_m)
            )
            pref = v2 * inv[gp][:, None, None] * inv[a][None, :, None] * inv[b][None, None]
            out[:, ig] += w * np.sum(pref[None] * term, axis=(2, 3))
    out *= three_phonon.THREE_PHONON_FACTOR / qmesh.n_q
    out[:, ~valid[qmesh.ir_grid]] = 0.0
    return three_phonon.average_degenerate(out, freqs[qmesh.ir_grid])


@pytest.mark.parametrize("kind", ["gaussian", "adaptive"])
def test_three_phonon_linewidths_equal_dense_reference(model, kind):
    from aiida_wigner.physics.scattering.smearing import mode_velocities

    # adaptive on 3×3×3: off the time-reversal-invariant points of a 2×2×2 mesh, where
    # every velocity (and so every adaptive width) vanishes
    qmesh = QMesh.build(model.primitive, (2, 2, 2) if kind == "gaussian" else (3, 3, 3))
    ph, gv = mode_velocities(model, qmesh.qpoints)
    sm = (
        Smearing(sigma=0.3)
        if kind == "gaussian"
        else Smearing(
            scale=2.0,
            reciprocal_lattice=model.primitive.reciprocal_lattice,
            mesh=qmesh.mesh,
            kind="adaptive",
        )
    )
    temps = [150.0, 600.0]
    got = three_phonon.three_phonon_linewidths(
        model, qmesh, ph, qmesh.ir_grid, temps, sm, group_velocities=gv, chunk=5
    )
    ref = _reference_linewidths(model, qmesh, ph, temps, sm, gv)
    assert ref.max() > 0
    assert np.abs(got - ref).max() <= RTOL * ref.max()

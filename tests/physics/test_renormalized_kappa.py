"""κ on renormalized phonons: the SCP correction is Fourier-interpolated from the SCP mesh.

The κ step takes D(q) = D_harm(q) + ΔD(q) at every κ q-point, D_harm from the force-constant
supercell (exact) and ΔD interpolated from the SCP (outer) mesh on the supercell diag(mesh)
of the primitive cell (docs/scp.md §4).  Cu₃Au EMT FC2/FC3 on a 2×2×2 supercell with
Morse-bond FC4, 300 K, SCP mesh 4×4×4 (finer than the supercell):

* (a) κ frequencies at the SCP mesh points are the SCP / SCPB frequencies;
* (b) the full SCP loop correction is itself an FC2 on the force-constant supercell
  (ΔΦ = ½ΣΦ4⟨uu⟩ has the range of Φ4), so with a mesh that is a multiple of the supercell the
  former re-sampling onto the supercell lost nothing: both agree to 1e-12.  The diagonal-only
  SCP and the bubble (SCPB) corrections are not of that form: there κ differs from the
  re-sampled one (~1 %) and equals κ on ΔD summed explicitly here;
* the effective FC2 (``force_constants``, ``effective_fc2_T*``) is exact at every q on the
  common supercell; (c) renormalized phonons of other force constants are refused.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from aiida_wigner.physics.forceconstants import ForceConstants
from aiida_wigner.physics.harmonic import DynamicalMatrixBuilder
from aiida_wigner.physics.kappa import KappaSettings, compute_kappa
from aiida_wigner.physics.mesh import grid_addresses
from aiida_wigner.physics.renormalization import (
    EffectiveModelError,
    RenormalizationSettings,
    SCPSettings,
    fc2_from_dynamical_matrices,
    renormalize,
)

T = 300.0
KAPPA = KappaSettings(mesh=(4, 4, 4), temperatures=(T,), sigma=0.2)


@pytest.fixture(scope="module")
def scp_fc():
    from reference_models import cu3au_force_constants, pair_fc4

    fc = cu3au_force_constants()
    return ForceConstants(fc.setup, fc.fc2, fc.fc3, pair_fc4(fc.setup))


def _renormalize(fc, mesh=(4, 4, 4), bubble="none", off_diagonal=True):
    ren = renormalize(
        fc,
        RenormalizationSettings(
            SCPSettings(
                mesh=mesh,
                inner_mesh=(4, 4, 4),
                temperatures=(T,),
                tolerance=1e-9,
                off_diagonal=off_diagonal,
            ),
            bubble=bubble,
        ),
    )
    assert ren.converged.all()
    return ren


@pytest.fixture(scope="module")
def loop(scp_fc):
    """Full (off-diagonal) SCP on 4×4×4."""
    return _renormalize(scp_fc)


@pytest.fixture(scope="module")
def diagonal(scp_fc):
    """Diagonal-only SCP on 4×4×4: a correction that is not an FC2 on the 2×2×2 supercell."""
    return _renormalize(scp_fc, off_diagonal=False)


def resampled(model, fc):
    """The former scheme: the effective D at the supercell's commensurate q → FC2 on it."""
    q = grid_addresses((2, 2, 2)) / 2  # fc.setup is diag(2, 2, 2) of the primitive cell
    fc2 = fc2_from_dynamical_matrices(model.dynamical_matrices(q), q, fc.setup)
    return ForceConstants(fc.setup, fc2, fc.fc3, fc.fc4)


class ExplicitModel:
    """D_harm + ΔD by explicit Fourier sums over the mesh supercell, written independently.

    ΔΦ_ab(R) = 1/N Σ_k ΔD_ab(k) e^{−2πi k·d}, d = R + τ_b − τ_a (R over the mesh
    supercell's cells), then ΔD_ab(q) = Σ_R ΔΦ_ab(R) ⟨e^{2πi q·d'}⟩ over the shortest
    images d' = d + mesh·L (ties within 1e-5 Å shared equally); ∂/∂q_α brings 2πi d'_α
    (Cartesian, 1/Å without 2π).
    """

    def __init__(self, fc, ren, index=0):
        self.harmonic = DynamicalMatrixBuilder(fc)
        prim = fc.setup.primitive
        self.n, self.lattice = len(prim), prim.lattice
        mesh = np.asarray(ren.mesh)
        k = grid_addresses(mesh) / mesh
        cells = np.array(list(itertools.product(*[range(m) for m in mesh])), dtype=float)
        shifts = np.array(list(itertools.product(range(-2, 3), repeat=3))) * mesh
        delta = ren.delta_dynmat[index].reshape(len(k), self.n, 3, self.n, 3)
        self.terms = []  # per (a, b): phi (R, 3, 3), images (R, I, 3) reduced, weights (R, I)
        for a, b in itertools.product(range(self.n), repeat=2):
            d = cells + prim.positions[b] - prim.positions[a]
            phi = np.einsum(
                "kr,kxy->rxy", np.exp(-2j * np.pi * k @ d.T), delta[:, a, :, b, :]
            ) / len(k)
            images = d[:, None, :] + shifts[None]
            length = np.linalg.norm(images @ self.lattice, axis=-1)
            shortest = length <= length.min(axis=1, keepdims=True) + 1e-5
            self.terms.append((a, b, phi, images, shortest / shortest.sum(axis=1, keepdims=True)))

    def _sum(self, q, derivative):
        q = np.atleast_2d(q)
        shape = (len(q), 3) if derivative else (len(q),)
        out = np.zeros(shape + (self.n, 3, self.n, 3), dtype=complex)
        for a, b, phi, images, w in self.terms:
            phase = w[None] * np.exp(2j * np.pi * np.einsum("qx,rix->qri", q, images))
            if derivative:
                cart = 2j * np.pi * images @ self.lattice
                out[:, :, a, :, b] = np.einsum("qri,rix,ryz->qxyz", phase, cart, phi)
            else:
                out[:, a, :, b] = np.einsum("qri,ryz->qyz", phase, phi)
        return out.reshape(shape + (3 * self.n, 3 * self.n))

    def dynamical_matrices(self, q):
        return self.harmonic.dynamical_matrices(q) + self._sum(q, False)

    def derivatives(self, q):
        return self.harmonic.derivatives(q) + self._sum(q, True)


def assert_same_kappa(a, b, rel=1e-12):
    """Tensors equal to ``rel`` of their largest element (zeros off the diagonal).

    1e-12: the same numbers reached by different sums agree to ~1e-15 here (measured).
    """
    np.testing.assert_allclose(a, b, rtol=0, atol=rel * np.abs(b).max())


def _matching(points, mesh_points):
    """Index into ``mesh_points`` of each of ``points`` (equal modulo 1), −1 if none."""
    diff = points[:, None] - mesh_points[None]
    hit = np.abs(diff - np.rint(diff)).max(axis=-1) < 1e-9
    return np.where(hit.any(axis=1), np.argmax(hit, axis=1), -1)


@pytest.mark.parametrize("case", ["loop", "diagonal", "onshell bubble"])
def test_kappa_frequencies_are_the_scp_ones_on_the_scp_mesh(scp_fc, request, case):
    """(a) κ mesh 8×8×8 ⊃ SCP mesh 4×4×4: the SCP (SCPB) frequencies come back (ν² to 1e-11
    THz², achieved 6e-14 on ν² ≤ 38 THz²)."""
    ren = (
        _renormalize(scp_fc, bubble="onshell")
        if case == "onshell bubble"
        else request.getfixturevalue(case)
    )
    settings = KappaSettings(mesh=(8, 8, 8), temperatures=(T,), three_phonon=False, isotope=True)
    res = compute_kappa(scp_fc, settings, ren.models(scp_fc, [T]))
    on_mesh = _matching(res.qpoints, ren.qpoints)
    assert (on_mesh >= 0).sum() >= 8  # Γ, X, M, R and the half-way points of the 8×8×8 ir set
    got = res.frequencies[0][on_mesh >= 0]
    want = np.sort(ren.frequencies[0][on_mesh[on_mesh >= 0]], axis=-1)
    # ν² (THz²) instead of ν: the Γ translations are ±sqrt(round-off)
    np.testing.assert_allclose(np.sign(got) * got**2, np.sign(want) * want**2, atol=1e-11)
    assert np.abs(want - np.sort(ren.frequencies_harmonic[on_mesh[on_mesh >= 0]])).max() > 0.05


def test_loop_correction_on_a_multiple_of_the_supercell_is_exact_either_way(scp_fc, loop):
    """(b) full SCP loop, mesh 4×4×4 = 2 × the supercell: interpolated = re-sampled (1e-12)."""
    model = loop.model(scp_fc, 0)
    settings = KappaSettings(mesh=(4, 4, 4), temperatures=(T,), sigma=0.2, isotope=True)
    new = compute_kappa(scp_fc, settings, [model])
    old = compute_kappa(resampled(model, scp_fc), settings)
    assert_same_kappa(new.kappa, old.kappa)
    assert_same_kappa(new.gamma, old.gamma)
    assert not np.allclose(new.kappa, compute_kappa(scp_fc, settings).kappa, rtol=1e-2)


def test_finer_scp_mesh_is_interpolated_not_resampled(scp_fc, diagonal):
    """(b) diagonal-only SCP on 4×4×4, 2×2×2 supercell: D, ∂D/∂q = explicit Fourier sums
    (1e-12 relative, achieved 1e-15); κ = κ on the explicit matrices (1e-12) and ≠ κ on the
    re-sampled FC2."""
    model = diagonal.model(scp_fc, 0)
    explicit = ExplicitModel(scp_fc, diagonal)
    q = np.random.default_rng(3).random((6, 3))
    d_model, d_explicit = model.dynamical_matrices(q), explicit.dynamical_matrices(q)
    delta = d_explicit - DynamicalMatrixBuilder(scp_fc).dynamical_matrices(q)
    assert np.abs(delta).max() > 0.5  # THz² (ν² up to 38 THz²): a real correction
    np.testing.assert_allclose(d_model, d_explicit, atol=1e-12 * np.abs(d_explicit).max())
    dd = explicit.derivatives(q)
    np.testing.assert_allclose(model.derivatives(q), dd, atol=1e-12 * np.abs(dd).max())

    new = compute_kappa(scp_fc, KAPPA, [model])
    independent = compute_kappa(scp_fc, KAPPA, [explicit])
    assert_same_kappa(new.kappa, independent.kappa)
    np.testing.assert_allclose(
        new.group_velocities, independent.group_velocities, atol=1e-10
    )  # THz·Å, achieved 6e-13
    old = compute_kappa(resampled(model, scp_fc), KAPPA)
    change = np.abs(new.kappa - old.kappa).max() / np.abs(new.kappa).max()
    assert change > 5e-3, change  # measured 1.1 %


def test_scp_mesh_equal_to_supercell(scp_fc):
    """SCP mesh 2×2×2 = the supercell: κ interpolated = re-sampled (1e-12), FC2 stays on it."""
    ren = _renormalize(scp_fc, (2, 2, 2), off_diagonal=False)
    model = ren.model(scp_fc, 0)
    new = compute_kappa(scp_fc, KAPPA, [model])
    old = compute_kappa(resampled(model, scp_fc), KAPPA)
    assert_same_kappa(new.kappa, old.kappa)
    assert model.export_setup is scp_fc.setup


def test_effective_fc2_is_exact_everywhere(scp_fc, diagonal, tmp_path):
    """The exported FC2 (4×4×4 supercell here) gives the κ step's D(q) at any q: our builder
    1e-12 relative (achieved 1e-15), phonopy reading FORCE_CONSTANTS 1e-6 THz (achieved 7e-7:
    phonopy's THz conversion factor differs from ours by 1.2e-7 relative)."""
    import phonopy
    from phonopy.file_IO import parse_FORCE_CONSTANTS

    model = diagonal.model(scp_fc, 0)
    path = tmp_path / "FORCE_CONSTANTS"
    eff = model.write_force_constants(path)
    assert eff.setup.supercell_matrix.tolist() == np.diag([4, 4, 4]).tolist()
    q = np.vstack([np.random.default_rng(5).random((5, 3)), [[0.25, 0.0, 0.5]]])
    d = model.dynamical_matrices(q)
    np.testing.assert_allclose(
        DynamicalMatrixBuilder(eff).dynamical_matrices(q), d, atol=1e-12 * np.abs(d).max()
    )
    ph = phonopy.Phonopy(eff.setup.unitcell.to_phonopy(), supercell_matrix=np.diag([4, 4, 4]))
    ph.force_constants = parse_FORCE_CONSTANTS(str(path))
    ph.run_qpoints(q)
    np.testing.assert_allclose(
        ph.get_qpoints_dict()["frequencies"], model.phonons(q).frequencies, atol=1e-6
    )


def test_transfer_onto_a_common_supercell_non_diagonal():
    """fcc conventional cell, non-symmetric supercell matrix, primitive matrix: D(q) of both
    parts unchanged on the common supercell (1e-12 relative; random FC2, no symmetry)."""
    from aiida_wigner.physics.cell import Cell, SupercellSetup
    from aiida_wigner.physics.renormalization import (
        common_supercell_setup,
        mesh_supercell_setup,
        transfer_fc2,
    )

    rng = np.random.default_rng(11)
    conv = Cell(np.eye(3) * 3.6, [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]], [29] * 4)
    pmat = np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    setup = SupercellSetup.build(conv, [[2, 1, 0], [0, 2, 0], [0, 0, 1]], pmat)
    q = rng.random((4, 3))
    for mesh in ((2, 3, 2), (4, 4, 4)):
        target = common_supercell_setup(setup, mesh)
        outer = mesh_supercell_setup(setup.primitive, mesh)
        for source in (setup, outer):
            fc2 = rng.normal(size=(source.n_prim, source.n_super, 3, 3))
            d = DynamicalMatrixBuilder(ForceConstants(source, fc2)).dynamical_matrices(q)
            moved = ForceConstants(target, transfer_fc2(fc2, source, target))
            np.testing.assert_allclose(
                DynamicalMatrixBuilder(moved).dynamical_matrices(q), d, atol=1e-12 * np.abs(d).max()
            )


def test_renormalization_of_other_force_constants_refused(scp_fc, loop):
    """(c) the renormalized phonons must belong to the force constants κ is computed from."""
    other = ForceConstants(scp_fc.setup, 1.1 * scp_fc.fc2, scp_fc.fc3, scp_fc.fc4)
    with pytest.raises(EffectiveModelError, match="not computed from these force constants"):
        loop.models(other, [T])
    loop.models(scp_fc, [T])  # its own force constants pass


def test_kappa_calcfunction_refuses_foreign_renormalization(aiida_profile_clean, scp_fc):
    """(c) through wigner.kappa: exit status 300 with the message, no traceback."""
    from aiida import orm

    from aiida_wigner.calculations.kappa import compute_kappa_calcfunction
    from aiida_wigner.calculations.renormalize import renormalize_calcfunction
    from aiida_wigner.data.force_constants import ForceConstantsData

    node = ForceConstantsData.from_force_constants(scp_fc).store()
    out = renormalize_calcfunction(
        force_constants=node,
        settings=orm.Dict({"mesh": [2, 2, 2], "inner_mesh": [2, 2, 2], "temperatures": [T]}),
    )
    other = ForceConstantsData.from_force_constants(
        ForceConstants(scp_fc.setup, 1.1 * scp_fc.fc2, scp_fc.fc3, scp_fc.fc4)
    ).store()
    _, proc = compute_kappa_calcfunction.run_get_node(
        force_constants=other,
        settings=orm.Dict({"mesh": [2, 2, 2], "temperatures": [T]}),
        renormalization=out["renormalization"],
    )
    assert proc.exit_status == 300
    assert "renormalize these force constants" in proc.exit_message


def test_imaginary_renormalized_phonons_name_the_model_and_temperature(scp_fc):
    """A renormalized model with an imaginary mode (here: SCPB phonons pushed down by
    hand) is refused with its kind and temperature named, not with the advice to
    renormalize harmonic force constants."""
    from dataclasses import replace

    from aiida_wigner.physics.harmonic import UnstablePhononsError

    model = _renormalize(scp_fc, bubble="onshell").models(scp_fc, [T])[0]
    shift = -60.0 * np.eye(model.delta_dynmat.shape[-1])  # THz²: more than the lowest ν²
    soft = replace(model, delta_dynmat=model.delta_dynmat + shift, _cache={})
    settings = KappaSettings(mesh=(2, 2, 2), temperatures=(T,), three_phonon=False)
    with pytest.raises(UnstablePhononsError, match=r"in the scpb-onshell phonons at 300 K") as e:
        compute_kappa(scp_fc, settings, [soft])
    assert "bubble none" in str(e.value) and "Renormalize them first" not in str(e.value)

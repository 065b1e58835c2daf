"""Analyses behind the seed's figures (aiida_wigner/physics/analysis, wigner.analysis,
wigner.mode_removal): analytic limits, an independent PR/APR from phonopy's eigenvectors,
the time/length limits on known numbers, spectra that sum to κ, the Lorentzian map, mode
removal, and the calcfunctions storing what the physics functions give.

Models: L1₂ Cu₃Au (EMT FC2/FC3, tests/reference_models.py; with the Morse-pair FC4 of
tests/physics/test_renormalization.py for the renormalized run) and fcc Cu (EMT) described in its
4-atom conventional cell.  Meshes 2×2×2 – 4×4×4 so that each test takes seconds.
"""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm

from aiida_wigner.physics.analysis import (
    ModeRemoval,
    ioffe_regel_length,
    ioffe_regel_time,
    kappa_P_with_modes_removed,
    lifetimes,
    lorentzian_map,
    lorentzian_weight,
    mean_free_paths,
    pair_distribution,
    participation_ratios,
    species_sums,
    wigner_time_limit,
)
from aiida_wigner.physics.analysis.pairs import interband_velocity_map, wigner_pairs
from aiida_wigner.physics.harmonic import solve
from aiida_wigner.physics.kappa import KappaSettings, compute_kappa

SETTINGS = KappaSettings(
    mesh=(4, 4, 4), temperatures=(300.0,), sigma=0.2, isotope=True, frequency_bins=20
)


@pytest.fixture(scope="module")
def run(cu3au_fc):
    """A 3ph + isotope κ run of Cu₃Au on 4×4×4 at 300 K (~3 s)."""
    return compute_kappa(cu3au_fc, SETTINGS)


# --- participation ratios (seed Eqs. 10–11) ---------------------------------------------


def _mode(amplitudes, direction=(1.0, 0.0, 0.0)):
    """One mode (3N, 1): atom κ displaced by amplitudes[κ] along ``direction``, normalized."""
    e = np.kron(np.asarray(amplitudes, dtype=complex), np.asarray(direction))
    return (e / np.linalg.norm(e))[None, :, None]


def test_pr_analytic_limits():
    n = 5
    masses = np.full(n, 63.5)
    pr, apr = participation_ratios(_mode(np.exp(2j * np.pi * np.arange(n) / n)), masses)
    assert pr[0, 0] == pytest.approx(1.0, abs=1e-14)  # every atom with the same amplitude
    np.testing.assert_allclose(apr[0, 0], 1.0 / n, atol=1e-14)
    pr, apr = participation_ratios(_mode([0, 0, 1, 0, 0]), masses)
    assert pr[0, 0] == pytest.approx(1.0 / n, abs=1e-14)  # a mode on one atom
    np.testing.assert_allclose(apr[0, 0], [0, 0, 1 / np.sqrt(n), 0, 0], atol=1e-14)
    # uniform displacement u = e/√M with different masses: |e_κ|² ∝ M_κ, PR = 1 again
    masses = np.array([1.0, 4.0, 16.0])
    pr, _ = participation_ratios(_mode(np.sqrt(masses)), masses)
    assert pr[0, 0] == pytest.approx(1.0, abs=1e-14)


def test_apr_sums():
    """(Σ_κ APR_κ)² = PR, Σ_κ APR_κ² = 1/N, species sums add to Σ_κ APR_κ (any modes)."""
    rng = np.random.default_rng(1)
    n = 4
    z = rng.normal(size=(3, 3 * n, 3 * n)) + 1j * rng.normal(size=(3, 3 * n, 3 * n))
    vecs = np.linalg.qr(z)[0]  # unitary: columns are normalized modes
    masses = np.array([197.0, 63.5, 63.5, 63.5])
    pr, apr = participation_ratios(vecs, masses)
    np.testing.assert_allclose(apr.sum(-1) ** 2, pr, rtol=1e-13)
    np.testing.assert_allclose((apr**2).sum(-1), 1.0 / n, rtol=1e-13)
    assert np.all((pr >= 1.0 / n - 1e-14) & (pr <= 1.0 + 1e-14))
    names, per_species = species_sums(apr, ["Au", "Cu", "Cu", "Cu"])
    assert names == ("Au", "Cu")
    np.testing.assert_allclose(per_species[..., 1], apr[..., 1:].sum(-1), rtol=1e-14)
    np.testing.assert_allclose(per_species.sum(-1), apr.sum(-1), rtol=1e-14)


def test_pr_monatomic_crystal_is_one():
    """fcc Cu in its 4-atom conventional cell: every folded band is a plane wave of the
    primitive crystal, |e_κ|² = 1/4 on every atom, so PR = 1 at every q (degenerate
    subspaces averaged; without the averaging, mixed degenerate bands give PR < 1)."""
    from io_models import POSITIONS, phonopy_emt

    from aiida_wigner.physics.cell import Cell, SupercellSetup
    from aiida_wigner.physics.forceconstants import ForceConstants

    unit = Cell(np.eye(3) * 3.61, POSITIONS, [29] * 4)
    ph = phonopy_emt(3.61, (29,) * 4)
    fc = ForceConstants(SupercellSetup.build(unit, np.diag([2, 2, 2])), ph.force_constants)
    q = np.vstack(
        [
            np.random.default_rng(2).random((6, 3)),
            [[0, 0, 0], [0.5, 0, 0], [0.5, 0.5, 0], [0.25, 0.25, 0.25]],
        ]
    )
    phonons = solve(fc, q)
    pr, apr = participation_ratios(phonons.eigenvectors, unit.masses, phonons.frequencies)
    moving = phonons.frequencies > 1e-3
    # measured: 4e-16 (PR), 2e-14 (APR); 1e-12 leaves room for other eigensolvers
    np.testing.assert_allclose(pr[moving], 1.0, atol=1e-12)
    np.testing.assert_allclose(apr[moving], 0.25, atol=1e-12)
    assert participation_ratios(phonons.eigenvectors, unit.masses)[0][moving].min() < 0.99


def _phonopy_pr_apr(frequencies, eigenvectors, masses):
    """Eqs. 10–11 written out atom by atom from phonopy's eigenvectors, degenerate bands
    (within 1e-4 THz) averaged; independent of aiida_wigner.physics.analysis."""
    n = len(masses)
    pr = np.zeros(frequencies.shape)
    apr = np.zeros(frequencies.shape + (n,))
    for iq in range(len(frequencies)):
        e2 = np.array(
            [
                [
                    np.vdot(
                        eigenvectors[iq, 3 * k : 3 * k + 3, j],
                        eigenvectors[iq, 3 * k : 3 * k + 3, j],
                    ).real
                    for k in range(n)
                ]
                for j in range(3 * n)
            ]
        )
        for j in range(3 * n):
            group = [k for k in range(3 * n) if abs(frequencies[iq, k] - frequencies[iq, j]) < 1e-4]
            w = [sum(e2[k2, k] for k2 in group) / len(group) / masses[k] for k in range(n)]
            fourth = n * sum(x * x for x in w)
            pr[iq, j] = sum(w) ** 2 / fourth
            apr[iq, j] = [x / np.sqrt(fourth) for x in w]
    return pr, apr


def test_pr_apr_cu3au_against_phonopy(cu3au_fc):
    from phonopy import Phonopy
    from reference_models import cu3au_phono3py, cu3au_unitcell

    unit = cu3au_unitcell()
    ph = Phonopy(unit.to_phonopy(), supercell_matrix=np.diag([2, 2, 2]), primitive_matrix=np.eye(3))
    ph.force_constants = cu3au_phono3py().fc2
    q = np.vstack(
        [
            np.random.default_rng(3).random((5, 3)),
            [[0, 0, 0.25], [0.5, 0.5, 0.5], [0.5, 0, 0], [0.2, 0.2, 0.2]],
        ]
    )
    ph.run_qpoints(q, with_eigenvectors=True)
    data = {"frequencies": ph.qpoints.frequencies, "eigenvectors": ph.qpoints.eigenvectors}
    ref_pr, ref_apr = _phonopy_pr_apr(data["frequencies"], data["eigenvectors"], unit.masses)
    phonons = solve(cu3au_fc, q)
    # the frequencies agree but for phonopy's unit factor (VaspToTHz, 1.2e-7 from CODATA),
    # far below the 1e-4 THz of the degenerate groups
    np.testing.assert_allclose(phonons.frequencies, data["frequencies"], rtol=2e-7, atol=1e-8)
    pr, apr = participation_ratios(
        phonons.eigenvectors, cu3au_fc.primitive.masses, phonons.frequencies
    )
    moving = phonons.frequencies > 1e-3
    # measured: 1e-14 (PR and APR) between two codes' diagonalizations; 1e-12 leaves room
    # for other eigensolvers
    np.testing.assert_allclose(pr[moving], ref_pr[moving], atol=1e-12)
    np.testing.assert_allclose(apr[moving], ref_apr[moving], atol=1e-12)
    assert pr[moving].min() < 0.7 < pr[moving].max()  # the model has localized and extended modes


# --- lifetimes and limits ---------------------------------------------------------------


def test_lifetimes_and_limits_on_known_numbers():
    # τ = 1/(4πγ): γ = 0.1 THz half width → 1/(0.4π) ps; γ = 0 → undefined
    np.testing.assert_allclose(
        lifetimes([0.1, 0.5]), [0.7957747154594768, 0.15915494309189535], rtol=1e-15
    )
    assert np.isnan(lifetimes([0.0])[0])
    # τ_W = 3 N/ω_max: 8 atoms, ν_max = 6 THz, ω_max = 12π rad/ps → 24/(12π) = 2/π ps
    assert wigner_time_limit(8, 6.0) == pytest.approx(2 / np.pi, rel=1e-15)
    # Ioffe–Regel τ = 1/ω: ν = 1 THz → 1/(2π) ps
    np.testing.assert_allclose(
        ioffe_regel_time([1.0, 0.5]), [1 / (2 * np.pi), 1 / np.pi], rtol=1e-15
    )
    # λ = |v|τ: v = (3, 4, 0) Å/ps, τ = 2 ps → 10 Å;  a = (V/N)^{1/3}: 64 Å³ / 8 → 2 Å
    assert mean_free_paths([3.0, 4.0, 0.0], 2.0) == pytest.approx(10.0, rel=1e-15)
    assert ioffe_regel_length(64.0, 8) == pytest.approx(2.0, rel=1e-14)
    with pytest.raises(ValueError, match="maximum frequency must be positive"):
        wigner_time_limit(8, 0.0)


# --- spectra and pair maps --------------------------------------------------------------


def test_pairs_rebuilt_from_modes_sum_to_the_run(cu3au_fc, run):
    from aiida_wigner.physics.transport import spectral_kappa

    pairs = wigner_pairs(cu3au_fc, SETTINGS, run.gamma, run.heat_capacities, run.frequencies)
    terms = pairs.terms
    # 1e-12: the same numbers summed in the same order (round-off only)
    np.testing.assert_allclose(terms.kappa, run.kappa, rtol=1e-12, atol=1e-15)
    spec = spectral_kappa(terms, run.frequencies, 37)
    width = np.diff(spec["frequency_bin_edges"])[0]
    for name, total in (("kappa_P", run.kappa_P), ("kappa_C", run.kappa_C)):
        diag = np.diagonal(total, axis1=1, axis2=2)
        np.testing.assert_allclose(spec[f"{name}_spectral"].sum(axis=1) * width, diag, rtol=1e-12)
        np.testing.assert_allclose(spec[f"{name}_cumulative"][:, -1], diag, rtol=1e-12)
        assert np.all(np.diff(spec[f"{name}_cumulative"], axis=1) >= -1e-15)
    np.testing.assert_allclose(
        spec["kappa_C_map"].sum(axis=(1, 2)), np.diagonal(run.kappa_C, axis1=1, axis2=2), rtol=1e-12
    )
    # interband velocities (Fig. 7): the binned means add back to Σ_q w_q Σ_{j≠j'} |v_jj'|²
    # (the point-group average keeps the trace), and the cubic crystal has xx = yy = zz
    vmap = interband_velocity_map(pairs, spec["frequency_bin_edges"])
    v = pairs.velocity.velocity
    off = ~np.eye(v.shape[-1], dtype=bool)
    direct = np.einsum("q,qajk,jk->", pairs.qmesh.weights, np.abs(v) ** 2, off)
    binned = np.einsum("ij,ija->", vmap["velocity_map_weight"], vmap["velocity_map"])
    assert binned == pytest.approx(direct, rel=1e-12)
    assert vmap["velocity_map_weight"].sum() == SETTINGS.mesh[0] ** 3 * off.sum()
    np.testing.assert_allclose(
        vmap["velocity_map"][..., 0], vmap["velocity_map"][..., 2], rtol=1e-10, atol=1e-12
    )


def test_lorentzian_maximum_at_gamma_equal_delta(cu3au_fc, run):
    grid = lorentzian_map(2.0, 4.0, 400)
    best = grid["gamma_sum"][np.argmax(grid["weight"], axis=0)]  # per Δν column
    step = grid["gamma_sum"][1] - grid["gamma_sum"][0]
    assert np.all(np.abs(best - grid["delta"]) <= step)  # the maximum is at Γ = |Δν|
    assert lorentzian_weight(0.3, 0.3) == pytest.approx(1 / 0.6, rel=1e-15)  # 1/(2|Δν|)
    # the κ_C pairs on the (|Δν|, Γ) plane: rising + falling = κ_C; the binned map too
    terms = wigner_pairs(cu3au_fc, SETTINGS, run.gamma, run.heat_capacities).terms
    edges_d = np.linspace(0, run.frequencies.max(), 21)
    edges_g = np.linspace(0, 2 * run.gamma.max() * 1.000001, 21)
    dist = pair_distribution(terms, run.frequencies, run.gamma, edges_d, edges_g)
    kc = np.diagonal(run.kappa_C, axis1=1, axis2=2)
    np.testing.assert_allclose(dist["kappa_C_rising"] + dist["kappa_C_falling"], kc, rtol=1e-12)
    np.testing.assert_allclose(dist["kappa_C_pairs"].sum(axis=(1, 2)), kc, rtol=1e-12)


# --- mode removal (seed Fig. S7) --------------------------------------------------------


def test_zero_eigenvector_removes_every_process_of_that_mode(cu3au_fc):
    """The mechanism of mode removal: |V3|² is multilinear in the eigenvectors, so a zeroed
    eigenvector on a leg zeroes exactly the processes of that mode and leaves the others."""
    from aiida_wigner.physics.interactions import CubicInteraction

    inter = CubicInteraction(cu3au_fc)
    q = np.array([[0.25, 0.0, 0.0], [0.5, 0.25, 0.0]])
    q2 = -q[0] - q[1]
    ph = solve(cu3au_fc, np.vstack([q, q2]))
    phases = inter.phases(ph.qpoints)
    e1 = ph.eigenvectors[1].copy()
    full = inter.strength(
        q[0], ph.eigenvectors[0], phases[1:2], e1[None], phases[2:3], ph.eigenvectors[2][None]
    )
    e1[:, 4] = 0.0
    cut = inter.strength(
        q[0], ph.eigenvectors[0], phases[1:2], e1[None], phases[2:3], ph.eigenvectors[2][None]
    )
    assert np.all(cut[0, :, 4, :] == 0.0) and full[0, :, 4, :].max() > 0
    keep = np.arange(12) != 4
    np.testing.assert_allclose(cut[0][:, keep], full[0][:, keep], rtol=1e-12)


def test_mode_removal(cu3au_fc, run):
    def removed(selection):
        return kappa_P_with_modes_removed(
            cu3au_fc, SETTINGS, selection, 300.0, run.gamma[0], run.gamma_3ph[0]
        )

    # nothing removed (no criterion, or a window without modes): the original κ_P (1e-12:
    # the same γ_3ph to round-off, summed in another order)
    for nothing in (ModeRemoval(), ModeRemoval(window=(20.0, 30.0))):
        result = removed(nothing)
        assert not result.removed.any()
        np.testing.assert_allclose(result.kappa_P, run.kappa_P[0], rtol=1e-12)
        np.testing.assert_allclose(result.gamma, run.gamma[0], rtol=1e-12, atol=1e-15)
    # growing windows remove more scatterers: κ_P rises monotonically and the γ_3ph of the
    # modes kept in both fall, but for Gaussian tails: with σ = 0.2 THz a single absorption
    # term (n1 − n2)(g(ν0+ν1−ν2) − g(ν0−ν1+ν2)) can be negative; measured ≤ 1.5e-5 THz here
    previous, results = removed(ModeRemoval()), {}
    for high in (3.5, 4.0, 4.5):
        result = results[high] = removed(ModeRemoval(window=(3.0, high)))
        assert result.removed.sum() > previous.removed.sum()
        assert np.all(result.removed >= previous.removed)
        assert result.kappa_P[0, 0] > previous.kappa_P[0, 0]
        kept = ~result.removed
        assert np.all(result.gamma_3ph[kept] <= previous.gamma_3ph[kept] + 5e-5)
        assert result.gamma_3ph[kept].sum() < previous.gamma_3ph[kept].sum()
        previous = result
    # the removed modes keep their own half width ("keep") or carry no heat ("exclude")
    keep = results[4.0]
    np.testing.assert_array_equal(keep.gamma[keep.removed], run.gamma[0][keep.removed])
    exclude = removed(ModeRemoval(window=(3.0, 4.0), own="exclude"))
    np.testing.assert_array_equal(exclude.removed, keep.removed)
    terms = wigner_pairs(cu3au_fc, SETTINGS, keep.gamma[None], run.heat_capacities).terms
    own = np.einsum("qjab,qj->ab", terms.kappa_P_modes[0], keep.removed)
    np.testing.assert_allclose(exclude.kappa_P, keep.kappa_P - own, rtol=1e-12)
    # species: the modes whose largest species APR is Au's, whole degenerate subspaces
    au = removed(ModeRemoval(species="Au"))
    _, apr = participation_ratios(
        solve(cu3au_fc, run.qpoints).eigenvectors, cu3au_fc.primitive.masses, run.frequencies
    )
    share = apr[..., 0] / apr.sum(-1)  # Au is atom 0
    assert (
        au.removed.any()
        and np.all(share[au.removed] > 0.2)
        and au.kappa_P[0, 0] > run.kappa_P[0, 0, 0]
    )


def test_mode_removal_bad_input(cu3au_fc, run):
    from aiida_wigner.calculations.analysis import removal_from_dict
    from aiida_wigner.physics.analysis.mode_removal import ModeRemovalError

    with pytest.raises(ModeRemovalError, match="species 'Xe' is not in the crystal"):
        kappa_P_with_modes_removed(
            cu3au_fc, SETTINGS, ModeRemoval(species="Xe"), 300.0, run.gamma[0], run.gamma_3ph[0]
        )
    with pytest.raises(ValueError, match="window must be two frequencies"):
        ModeRemoval(window=(2.0, 1.0))
    with pytest.raises(ValueError, match=r"unknown mode removal setting.*\['own', 'species'"):
        removal_from_dict({"windows": [1, 2]})


# --- the calcfunctions --------------------------------------------------------------------


@pytest.fixture(scope="module")
def stored_runs(aiida_profile, cu3au_fc):
    """Harmonic and renormalized (SCP, 2×2×2) wigner.kappa runs of Cu₃Au with pair FC4."""
    from reference_models import pair_fc4

    from aiida_wigner.calculations.kappa import compute_kappa_calcfunction
    from aiida_wigner.calculations.renormalize import renormalize_calcfunction
    from aiida_wigner.data.force_constants import ForceConstantsData
    from aiida_wigner.physics.forceconstants import ForceConstants

    fc = ForceConstants(cu3au_fc.setup, cu3au_fc.fc2, cu3au_fc.fc3, pair_fc4(cu3au_fc.setup))
    node = ForceConstantsData.from_force_constants(fc).store()
    settings = {
        "mesh": [2, 2, 2],
        "temperatures": [100.0, 300.0],
        "sigma": 0.2,
        "frequency_bins": 15,
    }
    _, harmonic = compute_kappa_calcfunction.run_get_node(
        force_constants=node, settings=orm.Dict(settings)
    )
    _, scp = renormalize_calcfunction.run_get_node(
        force_constants=node,
        settings=orm.Dict(
            {"mesh": [2, 2, 2], "inner_mesh": [2, 2, 2], "temperatures": [100.0, 300.0]}
        ),
    )
    _, renormalized = compute_kappa_calcfunction.run_get_node(
        force_constants=node,
        settings=orm.Dict(settings),
        renormalization=scp.outputs.renormalization,
    )
    assert harmonic.is_finished_ok and scp.is_finished_ok and renormalized.is_finished_ok
    return {"harmonic": harmonic, "renormalized": renormalized, "fc": fc}


@pytest.mark.parametrize("kind", ["harmonic", "renormalized"])
def test_analysis_calcfunction_stores_the_physics(stored_runs, kind):
    from aiida_wigner.calculations.analysis import analysis_calcfunction, analysis_inputs
    from aiida_wigner.calculations.renormalize import renormalization_from_node
    from aiida_wigner.physics.analysis.dispersion import path_phonons
    from aiida_wigner.physics.bandpath import band_path

    kappa = stored_runs[kind]
    fc = stored_runs["fc"]
    inputs = analysis_inputs(kappa)
    outputs, process = analysis_calcfunction.run_get_node(
        **inputs, parameters=orm.Dict({"bins": 15, "path_points": 30})
    )
    assert process.is_finished_ok, process.exit_message
    assert set(outputs) == {"participation", "lifetimes", "spectra", "dispersion"}
    modes = kappa.outputs.modes
    temps = modes.get_array("temperature")
    models = (
        renormalization_from_node(inputs["renormalization"]).models(fc, temps)
        if kind == "renormalized"
        else [None, None]
    )
    part, life, spec = outputs["participation"], outputs["lifetimes"], outputs["spectra"]
    path = band_path(fc.primitive, 30)
    for it, model in enumerate(models):
        phonons = (
            solve(fc, modes.get_array("qpoint"))
            if model is None
            else model.phonons(modes.get_array("qpoint"))
        )
        pr, apr = participation_ratios(
            phonons.eigenvectors, fc.primitive.masses, phonons.frequencies
        )
        np.testing.assert_allclose(part.get_array("pr")[it], pr, rtol=1e-12)
        np.testing.assert_allclose(part.get_array("apr")[it], apr, rtol=1e-12, atol=1e-15)
        along = path_phonons(fc, path.qpoints, model)
        disp = outputs["dispersion"]
        np.testing.assert_allclose(
            disp.get_array("frequency")[it], along.frequencies, rtol=1e-12, atol=1e-12
        )
        np.testing.assert_allclose(disp.get_array("pr")[it], along.pr, rtol=1e-12)
    gamma = modes.get_array("gamma")
    np.testing.assert_array_equal(life.get_array("tau"), lifetimes(gamma))
    freqs = part.get_array("frequency")
    np.testing.assert_allclose(
        life.get_array("tau_wigner"), [wigner_time_limit(4, f.max()) for f in freqs], rtol=1e-15
    )
    # with the run's bins, the spectra are the run's own (stored by wigner.kappa)
    for name in ("kappa_P_spectral", "kappa_C_cumulative", "kappa_C_map", "frequency_bin_edges"):
        stored = np.broadcast_to(modes.get_array(f"spectra__{name}"), spec.get_array(name).shape)
        np.testing.assert_allclose(spec.get_array(name), stored, rtol=1e-12, atol=1e-14)
    kappa_C = kappa.outputs.kappa.get_array("kappa_C")
    np.testing.assert_allclose(spec.get_array("kappa_C"), kappa_C, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        spec.get_array("kappa_C_rising") + spec.get_array("kappa_C_falling"),
        np.diagonal(kappa_C, axis1=1, axis2=2),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        spec.get_array("lorentzian_weight"),
        lorentzian_weight(
            spec.get_array("lorentzian_delta")[None], spec.get_array("lorentzian_gamma")[:, None]
        ),
        rtol=1e-15,
    )
    assert part.base.attributes.get("species") == ["Au", "Cu"]
    assert life.base.attributes.get("units")["tau"] == "ps"
    assert outputs["dispersion"].base.attributes.get("labels")[0] == "Γ"
    assert process.inputs.modes.uuid == modes.uuid


def test_mode_removal_calcfunction(stored_runs):
    from aiida_wigner.calculations.analysis import analysis_inputs, mode_removal_calcfunction
    from aiida_wigner.calculations.kappa import settings_from_dict

    kappa = stored_runs["harmonic"]
    modes = kappa.outputs.modes
    inputs = analysis_inputs(kappa)
    outputs, process = mode_removal_calcfunction.run_get_node(
        **inputs, removal=orm.Dict({"window": [3.0, 4.0]})
    )
    assert process.is_finished_ok, process.exit_message
    node = outputs["mode_removal"]
    settings = settings_from_dict(inputs["settings"].get_dict())
    for it, t in enumerate(modes.get_array("temperature")):
        ref = kappa_P_with_modes_removed(
            stored_runs["fc"],
            settings,
            ModeRemoval(window=(3, 4)),
            t,
            modes.get_array("gamma")[it],
            modes.get_array("gamma_3ph")[it],
        )
        np.testing.assert_allclose(node.get_array("kappa_P")[it], ref.kappa_P, rtol=1e-12)
        np.testing.assert_array_equal(node.get_array("removed")[it], ref.removed)
    np.testing.assert_allclose(
        node.get_array("kappa_P_original"), kappa.outputs.kappa.get_array("kappa_P"), rtol=1e-12
    )
    assert node.base.attributes.get("units")["kappa_P"] == "W/(m K)"
    # on renormalized phonons (one model per temperature), removing nothing gives the run's
    # κ_P (1e-12: same phonons and γ_3ph to round-off)
    renormalized = stored_runs["renormalized"]
    outputs, process = mode_removal_calcfunction.run_get_node(
        **analysis_inputs(renormalized), removal=orm.Dict({"window": [50.0, 60.0]})
    )
    assert process.is_finished_ok, process.exit_message
    assert not outputs["mode_removal"].get_array("removed").any()
    np.testing.assert_allclose(
        outputs["mode_removal"].get_array("kappa_P"),
        renormalized.outputs.kappa.get_array("kappa_P"),
        rtol=1e-12,
    )


def test_calcfunctions_bad_input(stored_runs):
    from aiida_wigner.calculations.analysis import (
        analysis_calcfunction,
        analysis_inputs,
        mode_removal_calcfunction,
    )

    inputs = analysis_inputs(stored_runs["harmonic"])
    # modes of another mesh
    other = dict(
        inputs, settings=orm.Dict({"mesh": [3, 3, 3], "temperatures": [100.0, 300.0], "sigma": 0.2})
    )
    _, process = analysis_calcfunction.run_get_node(
        **other, parameters=orm.Dict({"path_points": 0})
    )
    assert process.exit_status == 300 and "not the phonons" in process.exit_message
    _, process = mode_removal_calcfunction.run_get_node(
        **inputs, removal=orm.Dict({"species": "Xe"})
    )
    assert process.exit_status == 300 and "'Xe' is not in the crystal" in process.exit_message
    count = orm.QueryBuilder().append(orm.ProcessNode).count()
    with pytest.raises(ValueError, match="unknown analysis parameters setting"):
        analysis_calcfunction(**inputs, parameters=orm.Dict({"binz": 3}))
    with pytest.raises(ValueError, match="own must be one of"):
        mode_removal_calcfunction(**inputs, removal=orm.Dict({"own": "drop"}))
    assert orm.QueryBuilder().append(orm.ProcessNode).count() == count


# --- plot kinds of the analyses -----------------------------------------------------------


def test_plot_kinds_store_and_reuse_their_nodes(stored_runs, tmp_path):
    """The analysis kinds of `aiida-wigner plot` draw from wigner.analysis /
    wigner.mode_removal nodes, computed on first use and reused after (each kind's PNG is
    checked for content in tests/cli/test_plot_cli.py)."""
    pytest.importorskip("matplotlib")
    from click.testing import CliRunner

    from aiida_wigner.cli import cmd_root

    def plot(pk, *args):
        return CliRunner().invoke(
            cmd_root, ["plot", str(pk), *map(str, args), "-o", str(tmp_path / "f.png")]
        )

    def count(label):
        return (
            orm.QueryBuilder()
            .append(orm.CalcFunctionNode, filters={"attributes.process_label": label})
            .count()
        )

    harmonic, renormalized = stored_runs["harmonic"], stored_runs["renormalized"]
    before = count("analysis_calcfunction")
    for kind in ("pr", "apr", "lifetimes", "lorentzian-map"):
        result = plot(renormalized.pk, "--kind", kind, "--npoints", 40)
        assert result.exit_code == 0, result.output
    assert count("analysis_calcfunction") == before + 1
    removals = count("mode_removal_calcfunction")
    for _ in range(2):
        result = plot(
            harmonic.pk, "--kind", "mode-removal", "--window", 3.5, 4.5, "--temperature", 300
        )
        assert result.exit_code == 0, result.output
    assert count("mode_removal_calcfunction") == removals + 1
    result = plot(harmonic.pk, "--kind", "msd")
    assert result.exit_code == 1 and "needs a run on renormalized phonons" in result.output
    result = plot(harmonic.pk, "--kind", "mode-removal", "--species", "Xe")
    assert result.exit_code == 1 and "'Xe' is not in the crystal" in result.output
    assert "Traceback" not in result.output

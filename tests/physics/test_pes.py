"""Potential-energy surface along a normal coordinate (seed Sec. II.B, Fig. 2, Eq. 9).

The engine is a known polynomial: a hiphive ForceConstantPotential of fcc Cu (an EMT fit,
orders 2-4, then the cubic parameters set to zero) used as the ASE calculator.  Its
energies along a mode are exactly a2 Q² + a4 Q⁴ with a2 = ω²/2.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from aiida import orm
from click.testing import CliRunner

from aiida_wigner.calculations.pes import compute_pes, pes_scan
from aiida_wigner.engines import compute_static
from aiida_wigner.fitting import (
    build_cluster_space,
    fcp_to_force_constants,
    fit_force_constants,
    rattle_fixed_amplitude,
)
from aiida_wigner.fitting.harmonic import build_setup
from aiida_wigner.fitting.pes import FCPSupercellForceConstants
from aiida_wigner.physics import pes
from aiida_wigner.physics.harmonic import solve
from aiida_wigner.physics.units import EIGENVALUE_TO_THZ

CUTOFFS = {"2": 3.0, "3": 3.0, "4": 3.0}
M = [0.5, 0.5, 0.0]


@pytest.fixture(scope="module")
def quartic(tmp_path_factory):
    """fcc Cu (conventional 4-atom cell), 2x2x2 supercell; FCP with orders 2 and 4 only."""
    from ase.build import bulk
    from hiphive import ForceConstantPotential

    unit = bulk("Cu", "fcc", a=3.59, cubic=True)
    setup = build_setup(unit, [2, 2, 2])
    ideal = setup.supercell.to_ase()
    cs = build_cluster_space(setup.primitive.to_ase(), CUTOFFS)
    rng = np.random.default_rng(5)
    u = np.array([rattle_fixed_amplitude(len(ideal), 0.05, rng) for _ in range(5)])
    structures = []
    for d in u:
        a = ideal.copy()
        a.positions += d
        structures.append(a)
    f = compute_static({"name": "emt"}, structures)["forces"]
    res = fit_force_constants(setup.primitive.to_ase(), ideal, u, f, CUTOFFS, cluster_space=cs)
    params = res.parameters.copy()
    params[cs.get_parameter_indices(3)] = 0.0
    params[cs.get_parameter_indices(4)] *= 50.0  # a visible quartic term at Q ~ 1-2 Å·√amu
    fcp = ForceConstantPotential(cs, params)
    path = tmp_path_factory.mktemp("pes") / "quartic.fcp"
    fcp.write(str(path))
    poscar = path.parent / "POSCAR"
    unit.write(str(poscar), format="vasp")
    return {
        "unit": unit,
        "setup": setup,
        "fcp": fcp,
        "path": path,
        "poscar": poscar,
        "cs": cs,
        "params": params,
    }


def _omega2(fc, q, band):
    nu = solve(fc, np.array([q])).frequencies[0, band]
    return np.sign(nu) * (nu / EIGENVALUE_TO_THZ) ** 2


def _mass_weighted_supercell_fc2(evaluated):
    setup = evaluated.setup
    full = evaluated.harmonic.full_fc2()  # (N, N, 3, 3) eV/Å²
    n = setup.n_super
    m = setup.supercell.masses
    d = full.transpose(0, 2, 1, 3).reshape(3 * n, 3 * n)
    s = np.repeat(1 / np.sqrt(m), 3)
    return d * s[:, None] * s[None, :]


@pytest.mark.parametrize(
    "q,supercell", [(M, [2, 2, 2]), ([0.25, 0.0, 0.0], [4, 2, 2]), ([0.5, 0.5, 0.5], [2, 2, 2])]
)
def test_pattern_is_real_normalized_eigenvector(quartic, q, supercell):
    from aiida_wigner.physics.cell import SupercellSetup

    setup = SupercellSetup.build(quartic["setup"].unitcell, supercell)
    evaluated = FCPSupercellForceConstants(quartic["fcp"], setup)
    for band in (0, 5):
        pat = pes.mode_pattern(evaluated.harmonic, q, band)
        assert pat.epsilon.dtype == np.float64 and pat.u_per_q.dtype == np.float64
        assert abs(np.sum(pat.epsilon**2) - 1) < 1e-12
        m = setup.supercell.masses
        assert abs(np.sum(m[:, None] * pat.u_per_q**2) - 1) < 1e-12  # Σ m u² = Q²
        d = _mass_weighted_supercell_fc2(evaluated)
        e = pat.epsilon.reshape(-1)
        assert np.allclose(d @ e, pat.omega2 * e, atol=1e-8 * np.abs(d).max())
        assert np.allclose(pat.displacements([2.0])[0], 2.0 * pat.u_per_q)


def test_engine_equals_order4_taylor_and_eq9_fit(quartic):
    Q = np.linspace(-2.0, 2.0, 11)
    res = compute_pes(
        quartic["setup"],
        {"name": "fcp"},
        M,
        band=0,
        amplitudes=Q,
        fcp=quartic["fcp"],
        fcp_path=str(quartic["path"]),
    )
    c = res["taylor_coefficients"]
    assert set(c) == {2, 3, 4} and abs(c[3]) < 1e-14
    assert np.abs(res["energies"] - res["taylor_truncated"][4]).max() < 1e-8
    assert np.abs(res["taylor_truncated"][4] - (c[2] * Q**2 + c[4] * Q**4)).max() < 1e-12
    assert abs(c[4] * 16) > 0.05 * abs(c[2] * 4)  # the quartic term matters at Q = 2
    fit = res["fit"]["coefficients"]
    assert fit[2] == pytest.approx(c[2], rel=1e-6)
    assert fit[4] == pytest.approx(c[4], rel=1e-6)
    assert abs(fit[6]) < 1e-6 * abs(c[4])
    assert res["residual_force"] < 1e-10


def test_harmonic_coefficient_is_half_omega_squared(quartic):
    setup = quartic["setup"]
    fc = fcp_to_force_constants(quartic["fcp"], setup)  # independent path to FC2
    for q in (M, [0.5, 0.5, 0.5], [0.0, 0.0, 0.5]):
        for band in (0, 3, 11):
            pat = pes.mode_pattern(fc, q, band)
            coeffs = pes.taylor_coefficients(fc, pat.u_per_q)
            w2 = _omega2(fc, q, band)
            assert coeffs[2] == pytest.approx(w2 / 2, rel=1e-6)
            assert pat.omega2 == pytest.approx(w2, rel=1e-12)
            # the FCP (sorted clusters) and the compact arrays give the same expansion
            evaluated = FCPSupercellForceConstants(quartic["fcp"], setup)
            c_fcp = evaluated.taylor_coefficients(pat.u_per_q)
            for n in (2, 4):
                assert c_fcp[n] == pytest.approx(coeffs[n], rel=1e-9, abs=1e-14)


def test_cluster_energy_weights():
    """Sorted clusters with repeated atoms carry 1/Π m_k!; all orderings carry 1/n!."""
    rng = np.random.default_rng(0)
    t = rng.normal(size=(3, 3, 3))
    t = sum(
        np.transpose(t, p)
        for p in [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]
    )  # symmetric tensor, one atom
    u = rng.normal(size=(1, 3))
    exact = np.einsum("abc,a,b,c->", t, u[0], u[0], u[0]) / 6
    assert pes.cluster_energy([[0, 0, 0]], [t], u) == pytest.approx(exact, rel=1e-12)
    assert pes.cluster_energy([[0, 0, 0]], [t], u, all_orderings=True) == pytest.approx(
        exact, rel=1e-12
    )


def test_incommensurate_qpoint_is_a_clear_error(quartic):
    with pytest.raises(pes.PESError, match="not commensurate"):
        pes.check_commensurate(quartic["setup"], [1 / 3, 0, 0])
    fc = fcp_to_force_constants(quartic["fcp"], quartic["setup"], orders=(2,))
    with pytest.raises(pes.PESError, match="not commensurate"):
        pes.mode_pattern(fc, [0.25, 0.0, 0.0], 0)
    with pytest.raises(pes.PESError, match="band"):
        pes.mode_pattern(fc, M, 12)


def test_polynomial_fit_and_double_well():
    Q = np.linspace(-3, 3, 31)
    E = -0.02 * Q**2 + 0.003 * Q**4 + 1e-5 * Q**6
    fit = pes.fit_polynomial(Q, E)
    assert fit["coefficients"][2] == pytest.approx(-0.02, rel=1e-9)
    assert fit["coefficients"][6] == pytest.approx(1e-5, rel=1e-6)
    dw = pes.double_well(fit["coefficients"])
    grid = np.linspace(0, 3, 300001)
    e = -0.02 * grid**2 + 0.003 * grid**4 + 1e-5 * grid**6
    assert dw["q_min"] == pytest.approx(grid[np.argmin(e)], abs=1e-4)
    assert dw["depth"] == pytest.approx(e.min(), rel=1e-6)
    assert pes.double_well({2: 0.1, 4: 0.01}) is None


def test_calcfunction_records_scan(quartic):
    params = {
        "supercell": [2, 2, 2],
        "qpoint": M,
        "band": 0,
        "amplitudes": np.linspace(-1.5, 1.5, 7).tolist(),
    }
    unit = orm.StructureData(ase=quartic["unit"])
    out, node = pes_scan.run_get_node(
        parameters=orm.Dict(params),
        calculator=orm.Dict({"name": "fcp"}),
        structure=unit,
        fcp=orm.SinglefileData(str(quartic["path"])),
    )
    assert node.is_finished_ok, node.exit_message
    arr = out["pes"]
    e, t4 = arr.get_array("energies"), arr.get_array("taylor_truncated_4")
    assert np.abs(e - t4).max() < 1e-8
    assert {
        "taylor_order_2",
        "taylor_order_4",
        "taylor_truncated_2",
        "fit_coefficients",
        "epsilon",
        "amplitudes",
    } <= set(arr.get_arraynames())
    attrs = arr.base.attributes.all
    assert attrs["units"]["amplitudes"] == "Å·√amu"
    assert attrs["taylor_coefficients"]["2"] == pytest.approx(attrs["omega2"] / 2, rel=1e-6)

    # EMT as the engine, force constants from a ForceConstantsData node (orders 2-4)
    from aiida_wigner.data.force_constants import ForceConstantsData

    fcd = ForceConstantsData.from_force_constants(
        fcp_to_force_constants(quartic["fcp"], quartic["setup"])
    )
    out, node = pes_scan.run_get_node(
        parameters=orm.Dict({**params, "amplitudes": [0.1, 0.2]}),
        calculator=orm.Dict({"name": "emt"}),
        force_constants=fcd,
    )
    assert node.is_finished_ok, node.exit_message
    e = out["pes"].get_array("energies")
    assert np.all(e > 0) and e[1] > e[0]  # fcc Cu is stable: harmonic rise near Q = 0

    # incommensurate q: a clear exit message, not a traceback
    _, node = pes_scan.run_get_node(
        parameters=orm.Dict({**params, "qpoint": [0.3, 0, 0]}),
        calculator=orm.Dict({"name": "fcp"}),
        structure=unit,
        fcp=orm.SinglefileData(str(quartic["path"])),
    )
    assert node.exit_status == 300 and "not commensurate" in node.exit_message


def test_cli(quartic, tmp_path):
    from aiida_wigner.cli import cmd_root

    out = tmp_path / "pes.json"
    png = tmp_path / "pes.png"
    args = [
        "pes",
        "--fcp",
        str(quartic["path"]),
        "--structure",
        str(quartic["poscar"]),
        "--supercell",
        "2",
        "2",
        "2",
        "--qpoint",
        "0.5",
        "0.5",
        "0",
        "--amplitudes",
        "-1",
        "1",
        "5",
        "--engine",
        "fcp",
        "--output",
        str(out),
    ]
    try:
        import matplotlib  # noqa: F401

        args += ["--plot", str(png)]
    except ImportError:
        png = None
    result = CliRunner().invoke(cmd_root, args)
    assert result.exit_code == 0, result.output
    assert "Taylor≤4" in result.output and "ω²/2" in result.output
    rec = json.loads(out.read_text())
    assert len(rec["energies"]) == 5 and rec["units"]["amplitudes"] == "Å·√amu"
    assert np.abs(np.array(rec["energies"]) - np.array(rec["taylor_truncated"]["4"])).max() < 1e-8
    if png is not None:
        assert png.stat().st_size > 1000

    i = args.index("--qpoint") + 1
    bad = CliRunner().invoke(cmd_root, args[:i] + ["0.3", "0", "0"] + args[i + 3 :])
    assert bad.exit_code != 0 and "not commensurate" in bad.output


def test_structure_must_match_the_potential(quartic):
    from aiida_wigner.calculations.pes import setup_for_scan

    strained = quartic["unit"].copy()
    strained.set_cell(strained.cell * 1.01, scale_atoms=True)
    with pytest.raises(pes.PESError, match="not the one the force-constant potential"):
        setup_for_scan(
            orm.StructureData(ase=strained), {"supercell": [2, 2, 2]}, fcp=quartic["fcp"]
        )
    setup = setup_for_scan(
        orm.StructureData(ase=quartic["unit"]), {"supercell": [2, 2, 2]}, fcp=quartic["fcp"]
    )
    assert setup.n_super == 32


def test_eq9_fit_of_a_harmonic_engine_gives_half_omega_squared(quartic, tmp_path):
    """Engine = the harmonic part alone: the Eq. 9 fit's a2 is ω²/2 from our solver."""
    from hiphive import ForceConstantPotential

    params = quartic["params"].copy()
    for n in (3, 4):
        params[quartic["cs"].get_parameter_indices(n)] = 0.0
    path = tmp_path / "harmonic.fcp"
    ForceConstantPotential(quartic["cs"], params).write(str(path))
    fc = fcp_to_force_constants(quartic["fcp"], quartic["setup"], orders=(2,))
    for q, band in ((M, 0), ([0.5, 0.5, 0.5], 2)):
        res = compute_pes(
            quartic["setup"],
            {"name": "fcp"},
            q,
            band=band,
            amplitudes=np.linspace(-1, 1, 9),
            fcp=quartic["fcp"],
            fcp_path=str(path),
        )
        w2 = _omega2(fc, q, band)
        assert res["fit"]["coefficients"][2] == pytest.approx(w2 / 2, rel=1e-6)
        assert abs(res["fit"]["coefficients"][4]) < 1e-6 * abs(w2)

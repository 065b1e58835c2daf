"""benchmarks/compare_engines.py (issue 17 item 3) on small cases, and the CHGNet spec.

The default tests run the comparison's core with EMT and Lennard-Jones on fcc Cu (seconds);
the phonon frequency it reports is checked against a frozen phonon computed here without
phonopy, the relaxed lattice against ASE's equation-of-state fit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import compare_engines as ce  # noqa: E402

from aiida_wigner.engines import compute_static  # noqa: E402

EMT = {"name": "emt"}
LJ = {"name": "lj", "sigma": 2.28, "epsilon": 0.4, "rc": 6.0}


@pytest.fixture(scope="module")
def result():
    atoms = bulk("Cu", "fcc", a=3.65)  # primitive cell, 1 atom; relaxed by compare
    return ce.compare(
        {"EMT": EMT, "LJ": LJ},
        atoms,
        supercells=[(2, 2, 2)],
        snapshot_supercell=(2, 2, 2),
        n_snapshots=4,
        seed=3,
        fmax=1e-5,
        mesh=(4, 4, 4),
    )


def test_relaxed_lattice_is_the_energy_minimum(result):
    """a of the relaxed fcc cell = the minimum of ASE's EOS fit of EMT energies (measured
    5e-6 Å apart; tolerance 5e-5 Å, the EOS fit's own error on its ±2 % grid)."""
    from ase.eos import EquationOfState

    row = result["models"]["EMT"]
    assert row["converged"] and row["spacegroup"] == "Fm-3m (225)"
    scales = np.linspace(0.98, 1.02, 9)
    cells = [bulk("Cu", "fcc", a=3.59 * s) for s in scales]
    energies = compute_static(EMT, cells)["energies"]
    v0 = EquationOfState([c.get_volume() for c in cells], energies).fit()[0]
    a_eos = (4 * v0) ** (1 / 3)
    a_fcc = row["a"] * np.sqrt(2)  # primitive vector length -> cubic lattice constant
    assert abs(a_fcc - a_eos) < 5e-5


def test_x_point_frequency_equals_a_frozen_phonon(result):
    """Lowest X frequency (TA) = sqrt(-F.u / (M u.u)) of a transverse X-point pattern.

    fcc X = (2π/a)(1, 0, 0): u_l = u ŷ cos(q·R_l) is an eigenvector (TA) of the 2x2x2
    primitive supercell; ±0.005 Å averaged removes the cubic term.  Measured 3e-5 relative
    apart (phonopy displaces by 0.01 Å, the O(u²) anharmonic difference); tolerance 1e-4.
    """
    from ase.units import _amu, _e  # SI: kg per amu, J per eV

    row = result["models"]["EMT"]
    a = row["a"] * np.sqrt(2)
    sc = bulk("Cu", "fcc", a=a) * (2, 2, 2)
    q = 2 * np.pi / a * np.array([1.0, 0.0, 0.0])
    pattern = np.outer(np.cos(sc.positions @ q), [0.0, 1.0, 0.0])
    k = []
    for amp in (0.005, -0.005):
        moved = sc.copy()
        moved.positions += amp * pattern
        f = compute_static(EMT, [moved])["forces"][0]
        k.append(-np.sum(f * amp * pattern) / np.sum((amp * pattern) ** 2))  # eV/Å² = M ω²
    mass = sc.get_masses()[0]
    omega = np.sqrt(np.mean(k) * _e / (mass * _amu) * 1e20)  # rad/s
    nu = omega / (2 * np.pi) / 1e12  # THz
    assert row["phonons"]["2x2x2"]["lowest"]["X"] == pytest.approx(nu, rel=1e-4)
    # a stable crystal: nothing imaginary on the mesh; Γ's 3 acoustic modes are left out
    assert row["phonons"]["2x2x2"]["mesh_min"] > 0


def test_force_rmse_and_snapshots(result):
    rmse = result["force_rmse"]
    assert rmse["EMT"]["EMT"] == 0.0 and rmse["EMT"]["LJ"] == rmse["LJ"]["EMT"] > 0
    cu = ce.make_snapshots(EMT, bulk("Cu", "fcc", a=3.59), (2, 2, 2), 4, seed=3)
    again = ce.make_snapshots(EMT, bulk("Cu", "fcc", a=3.59), (2, 2, 2), 4, seed=3)
    assert all(np.array_equal(s.positions, t.positions) for s, t in zip(cu, again, strict=True))
    ideal = (bulk("Cu", "fcc", a=3.59) * (2, 2, 2)).positions
    # the rattled half: every atom exactly 0.1 Å from its ideal place
    assert np.allclose(np.linalg.norm(cu[0].positions - ideal, axis=1), 0.1)
    f_emt, t_emt = ce.forces_and_cost(EMT, cu)
    f_lj, _ = ce.forces_and_cost(LJ, cu)
    assert ce.rmse_matrix({"a": f_emt, "b": f_lj})["a"]["b"] == pytest.approx(
        np.sqrt(np.mean((f_emt - f_lj) ** 2)), rel=1e-12
    )
    assert t_emt >= 0


def test_markdown_table(result, tmp_path, capsys):
    table = ce.markdown(result)
    assert "| EMT | " in table and "| LJ | " in table
    assert f"| {ce.SEED['a']} | {ce.SEED['c']} |" in table
    assert "Force disagreement" in table
    assert len({line.count("|") for line in table.splitlines()[:4]}) == 1  # columns line up
    import json

    path = tmp_path / "r.json"
    path.write_text(json.dumps(result))
    assert ce.main(["--table-from", str(path)]) == 0
    assert capsys.readouterr().out.strip() == table.strip()  # the table from a saved run


@pytest.mark.slow  # importing chgnet (pymatgen) alone takes ~10-40 s on the shared machine
def test_chgnet_spec():
    """The CHGNet spec on CsCu4Se3: the ideal P4/mmm cell's Cs (site 1a, 4/mmm) feels no
    force, the forces sum to zero, the calculator is cached between calls."""
    pytest.importorskip("chgnet")
    from ase.io import read

    from aiida_wigner.engines.calculators import make_calculator

    atoms = read(ce.CIF)
    res = compute_static({"name": "chgnet", "threads": 1}, [atoms], stress=True)
    f = res["forces"][0]
    assert np.abs(f[0]).max() < 1e-5 and np.abs(f.sum(axis=0)).max() < 1e-5  # float32 model
    assert np.abs(f).max() > 1e-3  # the CIF's estimated z are not the model's minimum
    assert make_calculator({"name": "chgnet"}) is make_calculator({"name": "chgnet"})


@pytest.mark.slow
@pytest.mark.sevennet
def test_script_runs_on_sevennet(tmp_path):
    """The command line end to end with one SevenNet model on the unit cell."""
    pytest.importorskip("sevenn")
    import json

    out = tmp_path / "r.json"
    assert (
        ce.main(
            [
                "--models",
                "7net-0",
                "--supercells",
                "1x1x1",
                "--snapshots",
                "2",
                "--snapshot-supercell",
                "1x1x1",
                "--fmax",
                "0.01",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    row = json.loads(out.read_text())["models"]["7net-0"]
    assert row["spacegroup"] == "P4/mmm (123)" and 3.9 < row["a"] < 4.3


def test_fixed_lattice():
    """--seed-cell: the tetragonal cell is held at the given a, c; only ions relax."""
    atoms = bulk("Cu", "fcc", a=3.59, cubic=True)
    r = ce.relaxed_cell(EMT, atoms, fmax=1e-4, lattice=(3.7, 3.8))
    assert (r["a"], r["b"], r["c"]) == pytest.approx((3.7, 3.7, 3.8), abs=1e-12)
    assert r["spacegroup"] == "I4/mmm (139)" and r["converged"]


@pytest.mark.parametrize("name", ["relaxed_cell", "seed_cell"])
def test_results_md_tables_are_the_stored_runs(name):
    """RESULTS.md's Engine tables are, verbatim, the tables of the stored comparison runs
    (examples/cscu4se3/engines/*.json, written by the commands RESULTS.md gives)."""
    import json

    here = ce.CIF.parent
    table = ce.markdown(json.loads((here / "engines" / f"{name}.json").read_text()))
    assert table.strip() in (here / "RESULTS.md").read_text()

"""The ASE engine's plain functions (EMT / LJ), and SevenNet in one marked test."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from aiida_wigner.engines import EngineError, compute_static, make_calculator, relax, run_md
from aiida_wigner.engines.calculators import CalculatorSpecError

LJ = {"name": "lj", "sigma": 2.28, "epsilon": 0.4, "rc": 6.0}


def test_static_shapes_and_units():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    res = compute_static({"name": "emt"}, [atoms, atoms], stress=True)
    assert res["energies"].shape == (2,)
    assert res["forces"].shape == (2, 4, 3)
    assert res["stresses"].shape == (2, 3, 3)
    assert np.allclose(res["forces"], 0, atol=1e-10)  # perfect crystal
    moved = atoms.copy()
    moved.positions[0, 0] += 0.05
    f = compute_static(LJ, [moved])["forces"][0]
    assert f[0, 0] < 0 and abs(f.sum(axis=0)).max() < 1e-10  # restoring, momentum conserved


def test_engine_errors():
    with pytest.raises(CalculatorSpecError, match="choose one of"):
        make_calculator({"name": "nope"})
    with pytest.raises(EngineError, match="calculator 'emt' failed"):
        compute_static({"name": "emt"}, [bulk("Cs", "bcc", a=6.1)])
    squashed = bulk("Cu", "fcc", a=3.6, cubic=True)
    squashed.positions[1] = squashed.positions[0] + 0.05
    with pytest.raises(EngineError, match="atoms too close"):
        compute_static(LJ, [squashed], max_force=100.0)


@pytest.mark.parametrize("thermostat", ["nose-hoover", "langevin"])
def test_md_reproducible(thermostat):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
    kw = dict(temperature=300.0, timestep=2.0, n_steps=40, interval=10, thermostat=thermostat)
    a = run_md({"name": "emt"}, atoms, seed=4, **kw)
    b = run_md({"name": "emt"}, atoms, seed=4, **kw)
    assert list(a["steps"]) == [10, 20, 30, 40]
    assert np.allclose(a["times"], [20, 40, 60, 80])
    assert a["positions"].shape == (4, 32, 3)
    assert np.array_equal(a["positions"], b["positions"])
    assert np.all((a["temperatures"] > 20) & (a["temperatures"] < 800))
    with pytest.raises(EngineError, match="unknown thermostat"):
        run_md({"name": "emt"}, atoms, thermostat="berendsen", n_steps=1)


def test_relax_keeps_symmetry():
    atoms = bulk("Cu", "fcc", a=3.8, cubic=True)
    res = relax({"name": "emt"}, atoms, fmax=1e-4)
    assert res["converged"]
    assert res["spacegroup_initial"] == res["spacegroup_final"] == "Fm-3m (225)"
    a = np.asarray(res["structure"]["cell"])[0, 0]
    assert abs(a - 3.59) < 0.01  # EMT lattice constant of Cu (Å)
    assert np.abs(res["stress"]).max() < 1e-4


@pytest.mark.sevennet
@pytest.mark.slow
def test_sevennet_cscu4se3():
    """SevenNet on CsCu4Se3: finite forces, symmetric relaxation near the seed's lattice."""
    pytest.importorskip("sevenn")
    from pathlib import Path

    from ase.io import read

    atoms = read(Path(__file__).parents[2] / "examples" / "cscu4se3" / "CsCu4Se3.cif")
    res = compute_static({"name": "sevennet", "model": "7net-0"}, [atoms], stress=True)
    assert np.all(np.isfinite(res["forces"]))
    r = relax({"name": "sevennet"}, atoms, fmax=0.01, max_steps=200)
    assert r["spacegroup_final"] == "P4/mmm (123)"
    cell = np.asarray(r["structure"]["cell"])
    assert 3.9 < cell[0, 0] < 4.4 and 9.5 < cell[2, 2] < 11.0
    md = run_md({"name": "sevennet"}, atoms, n_steps=4, interval=2, timestep=1.0)
    assert md["positions"].shape == (2, 8, 3)

"""ALAMODE force-constant files: FCSXML writer → reader round trip, alm's ``.fcs`` text,
and reading them through ``load_force_constants`` / the CLI's ``--fcp``.

Model: the unstable perovskite of tests/unstable_perovskite.py (5 atoms, 2×2×2
supercell, FC2 + FC3 + FC4 with multi-image pairs).  The FCSXML written by the package
(one entry per periodic image, value shared) must come back as the same supercell force
constants: arrays to 1e-12 relative (the file holds 16 significant digits; the unit
conversions Bohr/Rydberg and back cost a few ulp) and frequencies at general q to 1e-9
THz.  anphon's own reading of the same file is checked in tests/physics/test_alamode_scp.py.

The ``.fcs`` file is written here in alm's layout (header, "All FCs below", ``*FC<n>``
groups ``# FC<n>_k  1  value`` and ``index sign atoms`` lines with atoms as "12x", the
first in the primitive cell, the tail in ascending 3j+β order, every other ordering
implied), from the same force constants.
"""

from __future__ import annotations

import numpy as np
import pytest

from aiida_wigner.physics.harmonic import solve
from aiida_wigner.physics.io import ForceConstantsFileError, load_force_constants
from aiida_wigner.physics.io.alamode import (
    BOHR_IN_ANGSTROM,
    RYDBERG_IN_EV,
    read_alamode_fcs,
    read_fcsxml,
    read_fcsxml_supercell,
    write_fcsxml,
)

Q_GENERAL = np.array([[0.1, 0.2, 0.3], [0.5, 0.5, 0.0], [-0.3, 0.45, 0.1], [0.5, 0.5, 0.5]])


@pytest.fixture(scope="module")
def model():
    from unstable_perovskite import unstable_perovskite

    return unstable_perovskite()


@pytest.fixture(scope="module")
def fcsxml(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("alamode") / "model.xml"
    info = write_fcsxml(model, path)
    assert info["asymmetry_fc3"] == 0.0 and info["asymmetry_fc4"] == 0.0
    return path


def _clusters4(fc):
    """FC4 summed per distinct atom quadruple: (atoms (M, 4), values (M, 3, 3, 3, 3)), sorted."""
    atoms, inv = np.unique(fc.fc4.atoms, axis=0, return_inverse=True)
    values = np.zeros((len(atoms),) + (3,) * 4)
    np.add.at(values, inv.reshape(-1), fc.fc4.values)
    return atoms, values


def assert_same_force_constants(a, b):
    assert np.array_equal(a.setup.p2s, b.setup.p2s)
    np.testing.assert_allclose(a.setup.supercell.positions, b.setup.supercell.positions, atol=1e-12)
    np.testing.assert_allclose(a.setup.primitive.lattice, b.setup.primitive.lattice, atol=1e-12)
    np.testing.assert_allclose(a.setup.primitive.masses, b.setup.primitive.masses, rtol=1e-12)
    (atoms_a, fc4_a), (atoms_b, fc4_b) = _clusters4(a), _clusters4(b)
    assert np.array_equal(atoms_a, atoms_b)
    for x, y in ((a.fc2, b.fc2), (a.dense_fc3(), b.dense_fc3()), (fc4_a, fc4_b)):
        assert np.abs(x).max() > 0
        np.testing.assert_allclose(y, x, rtol=0, atol=1e-12 * np.abs(x).max())
    np.testing.assert_allclose(
        solve(b, Q_GENERAL).frequencies, solve(a, Q_GENERAL).frequencies, atol=1e-9
    )


def test_fcsxml_round_trip(model, fcsxml):
    back = read_fcsxml(fcsxml)
    assert_same_force_constants(model, back)
    assert back.source["fc4"]["format"] == "alamode-fcsxml"


def test_fcsxml_through_load_force_constants(model, fcsxml):
    back = load_force_constants(fcp=fcsxml)
    assert_same_force_constants(model, back)
    with pytest.raises(ForceConstantsFileError, match="give it alone"):
        load_force_constants(fcp=fcsxml, fc2=fcsxml)
    heavy = load_force_constants(fcp=fcsxml, masses={"O": 18.0})
    assert np.allclose(heavy.setup.primitive.masses[2:], 18.0)
    assert np.allclose(heavy.setup.primitive.masses[:2], model.setup.primitive.masses[:2])


def _write_fcs(fc, supercell_order, path):
    """alm's .fcs layout for ``fc``; atoms numbered in the order of ``supercell_order``
    (file index → setup supercell index)."""
    to_file = np.argsort(supercell_order)
    lines = [
        " *********************** Force Constants (FCs) ***********************",
        " *        Force constants are printed in Rydberg atomic units.       *",
        "",
        " ------------------------ All FCs below ------------------------",
    ]
    setup = fc.setup
    atoms4, values4 = _clusters4(fc)
    p4 = np.searchsorted(setup.p2s, atoms4[:, 0])
    group = 0
    for order in (2, 3, 4):
        lines += ["", f"**FC{order}"]
        conv = BOHR_IN_ANGSTROM**order / RYDBERG_IN_EV
        if order < 4:
            arr = fc.fc2 if order == 2 else fc.dense_fc3()
            nz = np.nonzero(np.abs(arr) > 1e-12)
            nonzero = [(idx, arr[idx]) for idx in zip(*nz, strict=True)]
        else:
            nonzero = [
                ((p4[m], *atoms4[m, 1:], *xyz), values4[m][xyz])
                for m in range(len(atoms4))
                for xyz in np.ndindex(3, 3, 3, 3)
                if abs(values4[m][xyz]) > 1e-12
            ]
        for idx, value in nonzero:
            p, rest = idx[0], idx[1:order]
            xyz = idx[order:]
            flat = [3 * to_file[j] + x for j, x in zip(rest, xyz[1:], strict=True)]
            if flat != sorted(flat):
                continue  # alm lists one ordering of the tail per class
            group += 1
            atoms = [(to_file[setup.p2s[p]], xyz[0])] + [
                (to_file[j], x) for j, x in zip(rest, xyz[1:], strict=True)
            ]
            lines.append(f"  # FC{order}_{group}    1 {value * conv:16.9e}")
            lines.append("    1     1.00000 " + " ".join(f"{a + 1}{'xyz'[x]}" for a, x in atoms))
            lines.append("")
    path.write_text("\n".join(lines) + "\n")


def test_fcs_text_with_its_fcsxml(model, fcsxml, tmp_path):
    supercell = read_fcsxml_supercell(fcsxml)
    order = np.arange(len(supercell))  # the FCSXML keeps the setup's atom order
    _write_fcs(model, order, tmp_path / "model.fcs")
    back = read_alamode_fcs(tmp_path / "model.fcs", supercell)
    # the .fcs text holds 10 significant digits here
    assert np.array_equal(_clusters4(back)[0], _clusters4(model)[0])
    for x, y in (
        (model.fc2, back.fc2),
        (model.dense_fc3(), back.dense_fc3()),
        (_clusters4(model)[1], _clusters4(back)[1]),
    ):
        np.testing.assert_allclose(y, x, rtol=0, atol=1e-8 * np.abs(x).max())
    # beside its FCSXML (same prefix) the .fcs is found and read through --fcp
    (tmp_path / "model.xml").write_bytes(fcsxml.read_bytes())
    via_load = load_force_constants(fcp=tmp_path / "model.fcs")
    np.testing.assert_allclose(via_load.fc2, back.fc2, atol=0)


def test_fcs_text_in_another_atom_order(model, tmp_path):
    """alm's supercell may number the atoms differently: the reader maps them by position."""
    from aiida_wigner.physics.cell import Cell

    rng = np.random.default_rng(3)
    perm = rng.permutation(model.setup.n_super)  # file atom k = setup atom perm[k]
    sc = model.setup.supercell
    shuffled = Cell(sc.lattice, sc.positions[perm], sc.numbers[perm], sc.masses[perm])
    _write_fcs(model, perm, tmp_path / "shuffled.fcs")
    back = read_alamode_fcs(tmp_path / "shuffled.fcs", shuffled)
    np.testing.assert_allclose(
        solve(back, Q_GENERAL).frequencies, solve(model, Q_GENERAL).frequencies, atol=1e-7
    )
    # the primitive atoms come in the file's order: compare FC3/FC4 as multisets of values
    for x, y in (
        (model.dense_fc3(), back.dense_fc3()),
        (_clusters4(model)[1], _clusters4(back)[1]),
    ):
        np.testing.assert_allclose(
            np.sort(y.ravel()), np.sort(x.ravel()), atol=1e-8 * np.abs(x).max()
        )


def test_bad_alamode_files(tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text('<?xml version="1.0"?>\n<Data><Structure></Structure></Data>\n')
    with pytest.raises(ForceConstantsFileError, match="broken.xml: FCSXML without a complete"):
        load_force_constants(fcp=broken)
    lone = tmp_path / "lone.fcs"
    lone.write_text(" *** Force Constants (FCs) ***\n Rydberg\n All FCs below\n")
    with pytest.raises(ForceConstantsFileError, match="holds no structure: put alm's lone.xml"):
        load_force_constants(fcp=lone)


def test_cli_reads_fcsxml(aiida_profile_clean, fcsxml, model, tmp_path):
    """`aiida-wigner renormalize --fcp model.xml` gives the physics layer's SCP numbers."""
    import json

    from click.testing import CliRunner

    from aiida_wigner.cli import cmd_root
    from aiida_wigner.physics.renormalization import SCPSettings, run_scp

    out = tmp_path / "scp.json"
    run = CliRunner().invoke(
        cmd_root,
        [
            "renormalize",
            "--fcp",
            str(fcsxml),
            "--mesh",
            "2",
            "2",
            "2",
            "--inner-mesh",
            "2",
            "2",
            "2",
            "--temperatures",
            "300",
            "--tolerance",
            "1e-9",
            "--output",
            str(out),
        ],
    )
    assert run.exit_code == 0, run.output
    summary = json.loads(out.read_text())
    res = run_scp(
        model,
        SCPSettings(mesh=(2, 2, 2), inner_mesh=(2, 2, 2), temperatures=(300.0,), tolerance=1e-9),
    )
    ir = res.ir_grid
    # same fixed point; the Γ translations are ±2e-7 THz of round-off
    np.testing.assert_allclose(summary["frequencies"][0], res.frequencies[0][ir], atol=1e-6)

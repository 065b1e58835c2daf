"""Importers and exporters of structures and force constants (aiida_wigner.physics.io)."""

from __future__ import annotations

import os
import re

import h5py
import io_models as models
import numpy as np
import pytest

from aiida_wigner.physics import io as fio
from aiida_wigner.physics.forceconstants import ForceConstants, SparseForceConstants
from aiida_wigner.physics.io import ForceConstantsFileError


def _raises(path_or_name, *exprs):
    """pytest.raises for ForceConstantsFileError whose message names the file (and matches
    every regular expression in ``exprs``)."""
    name = os.fspath(path_or_name)

    class _Check:
        def __enter__(self):
            self._ctx = pytest.raises(ForceConstantsFileError)
            self._info = self._ctx.__enter__()
            return self._info

        def __exit__(self, *exc):
            out = self._ctx.__exit__(*exc)
            msg = str(self._info.value)
            assert name in msg, f"message does not name {name}: {msg}"
            for expr in exprs:
                assert re.search(expr, msg), f"{expr!r} not in message: {msg}"
            return out

    return _Check()


@pytest.fixture(scope="module")
def setup():
    return models.setup()


@pytest.fixture(scope="module")
def fc2_full():
    return models.emt_fc2_full()


@pytest.fixture(scope="module")
def fc3_full():
    return models.random_fc3_full()


def _truncate(path, keep=0.6):
    data = open(path, "rb").read()
    with open(path, "wb") as fh:
        fh.write(data[: int(len(data) * keep)])


# ----------------------------------------------------------------------------- structures


def test_read_structure_poscar_cif_and_yaml(tmp_path, setup):
    from ase.io import write as ase_write
    from phonopy.interface.vasp import write_vasp

    unit = models.unitcell()
    write_vasp(str(tmp_path / "POSCAR"), unit.to_phonopy())
    ase_write(tmp_path / "cu3au.cif", unit.to_ase())
    models.phonopy_emt().save(str(tmp_path / "phonopy_disp.yaml"))
    for name in ("POSCAR", "cu3au.cif", "phonopy_disp.yaml"):
        cell = fio.read_structure(tmp_path / name)
        assert cell.same_as(unit), name
        np.testing.assert_allclose(cell.masses, unit.masses, err_msg=name)


def test_read_phonopy_yaml_masses_and_matrices(tmp_path):
    from phonopy import Phonopy

    masses = [197.0, 63.0, 63.5, 64.0]
    pmat = [[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
    from aiida_wigner.physics.cell import Cell

    fcc = Cell(np.eye(3) * 3.61, models.POSITIONS, [29] * 4, masses).to_phonopy()
    ph = Phonopy(fcc, supercell_matrix=[[-1, 1, 1], [1, -1, 1], [1, 1, -1]], primitive_matrix=pmat)
    ph.save(str(tmp_path / "phonopy.yaml"))
    cell, smat, got_pmat = fio.read_phonopy_yaml(tmp_path / "phonopy.yaml")
    np.testing.assert_allclose(cell.masses, masses)
    np.testing.assert_array_equal(smat, [[-1, 1, 1], [1, -1, 1], [1, 1, -1]])
    np.testing.assert_allclose(got_pmat, pmat)
    # no primitive matrix in the yaml: identity
    Phonopy(models.unitcell().to_phonopy(), supercell_matrix=[2, 2, 2]).save(
        str(tmp_path / "p.yaml")
    )
    _, smat, pmat2 = fio.read_phonopy_yaml(tmp_path / "p.yaml")
    np.testing.assert_array_equal(smat, np.diag([2, 2, 2]))
    np.testing.assert_array_equal(pmat2, np.eye(3))


def test_read_phono3py_yaml_with_phonon_supercell(tmp_path):
    from phono3py import Phono3py

    ph3 = Phono3py(
        models.unitcell().to_phonopy(),
        supercell_matrix=[2, 2, 2],
        phonon_supercell_matrix=[3, 3, 3],
        primitive_matrix=np.eye(3),
    )
    ph3.save(str(tmp_path / "phono3py_params.yaml"))
    info = fio.read_phonopy_yaml_info(tmp_path / "phono3py_params.yaml")
    assert info.command == "phono3py"
    assert info.unitcell.same_as(models.unitcell())
    np.testing.assert_array_equal(info.supercell_matrix, np.diag([2, 2, 2]))
    np.testing.assert_array_equal(info.phonon_supercell_matrix, np.diag([3, 3, 3]))
    assert info.fc_unit_factor(3) == 1.0


def test_yaml_lengths_in_bohr_are_converted(tmp_path):
    from phonopy.physical_units import get_physical_units

    bohr = get_physical_units().Bohr
    text = (
        'phonopy:\n  calculator: qe\nphysical_unit:\n  length: "au"\n'
        "supercell_matrix:\n- [ 2, 0, 0 ]\n- [ 0, 2, 0 ]\n- [ 0, 0, 2 ]\n"
        f"unit_cell:\n  lattice:\n  - [ {A_AU(bohr)}, 0, 0 ]\n  - [ 0, {A_AU(bohr)}, 0 ]\n"
        f"  - [ 0, 0, {A_AU(bohr)} ]\n  points:\n"
        + "".join(
            f"  - symbol: {s}\n    coordinates: {p}\n"
            for s, p in zip(["Au", "Cu", "Cu", "Cu"], models.POSITIONS, strict=True)
        )
    )
    (tmp_path / "phonopy.yaml").write_text(text)
    info = fio.read_phonopy_yaml_info(tmp_path / "phonopy.yaml")
    np.testing.assert_allclose(info.unitcell.lattice, np.eye(3) * models.A)
    assert info.calculator == "qe"
    assert info.fc_unit_factor(2) == pytest.approx(13.605693 / bohr**2, rel=1e-5)


def A_AU(bohr):
    return models.A / bohr


def test_bad_structure_files(tmp_path):
    (tmp_path / "POSCAR").write_text("Cu3Au\n1.0\n3.75 0 0\n0 3.75 0\n")
    with _raises(tmp_path / "POSCAR", "cannot read as a VASP POSCAR"):
        fio.read_structure(tmp_path / "POSCAR")
    (tmp_path / "bad.cif").write_text("data_x\n_cell_length_a 3\n")
    with _raises(tmp_path / "bad.cif", "CIF"):
        fio.read_structure(tmp_path / "bad.cif")
    with _raises(tmp_path / "missing.vasp", "no such file"):
        fio.read_structure(tmp_path / "missing.vasp")
    (tmp_path / "phonopy.yaml").write_text("phonopy:\n  version: 2.0\nsupercell_matrix: [2,2,2]\n")
    with _raises(tmp_path / "phonopy.yaml", "unit_cell"):
        fio.read_phonopy_yaml(tmp_path / "phonopy.yaml")
    (tmp_path / "broken.yaml").write_text("unit_cell: [1, 2\n  x: {")
    with _raises(tmp_path / "broken.yaml", "yaml"):
        fio.read_phonopy_yaml(tmp_path / "broken.yaml")


# -------------------------------------------------------------- phonopy FORCE_CONSTANTS


def test_force_constants_text_against_phonopy(tmp_path, setup, fc2_full):
    from phonopy.file_IO import parse_FORCE_CONSTANTS, write_FORCE_CONSTANTS

    full, compact = tmp_path / "FORCE_CONSTANTS", tmp_path / "FC_compact"
    write_FORCE_CONSTANTS(fc2_full, filename=str(full))
    write_FORCE_CONSTANTS(fc2_full[setup.p2s], filename=str(compact), p2s_map=setup.p2s)
    for path in (full, compact):
        ours = fio.read_force_constants_text(path, setup)
        theirs = parse_FORCE_CONSTANTS(str(path))
        theirs = theirs[setup.p2s] if theirs.shape[0] == setup.n_super else theirs
        np.testing.assert_array_equal(ours, theirs)
        assert ours.shape == (4, 32, 3, 3)
    raw, rows = fio.parse_force_constants_text(full)
    np.testing.assert_array_equal(raw, parse_FORCE_CONSTANTS(str(full)))
    np.testing.assert_array_equal(rows, np.arange(32))


def test_force_constants_text_writer_round_trip(tmp_path, setup, fc2_full):
    from phonopy.file_IO import parse_FORCE_CONSTANTS

    fio.write_force_constants(tmp_path / "FULL", fc2_full)
    fio.write_force_constants(tmp_path / "COMPACT", fc2_full[setup.p2s], p2s=setup.p2s)
    for name in ("FULL", "COMPACT"):
        back = fio.read_force_constants_text(tmp_path / name, setup)
        np.testing.assert_allclose(back, fc2_full[setup.p2s], atol=1e-14, rtol=0)
    np.testing.assert_allclose(
        parse_FORCE_CONSTANTS(str(tmp_path / "FULL")), fc2_full, atol=1e-14, rtol=0
    )
    with pytest.raises(ValueError):
        fio.write_force_constants(tmp_path / "X", fc2_full[setup.p2s])  # compact needs p2s


def test_compact_rows_of_other_equivalent_atoms_are_translated(tmp_path, setup, fc2_full):
    """Compact files whose rows are other translation images of the primitive atoms."""
    rows = np.asarray(setup.p2s) + 1  # the next unit cell's copies of the primitive atoms
    path = tmp_path / "FORCE_CONSTANTS"
    fio.write_force_constants(path, fc2_full[rows], p2s=rows)
    np.testing.assert_allclose(
        fio.read_force_constants_text(path, setup), fc2_full[setup.p2s], atol=1e-12, rtol=0
    )
    fio.write_fc2_hdf5(tmp_path / "fc2.hdf5", fc2_full[rows], p2s=rows)
    np.testing.assert_allclose(
        fio.read_fc2_hdf5(tmp_path / "fc2.hdf5", setup), fc2_full[setup.p2s], atol=1e-12, rtol=0
    )
    # fc3 needs translation-invariant numbers: take them from the hiphive model
    fcs = models.hiphive_fcp().get_force_constants(setup.supercell.to_ase())
    fc3 = fcs.get_fc_array(3)
    fio.write_fc3_hdf5(tmp_path / "fc3.hdf5", fc3[rows], p2s=rows)
    np.testing.assert_array_equal(fio.read_fc3_hdf5(tmp_path / "fc3.hdf5", setup), fc3[setup.p2s])


def test_bad_force_constants_text(tmp_path, setup, fc2_full):
    from phonopy.file_IO import write_FORCE_CONSTANTS

    path = tmp_path / "FORCE_CONSTANTS"
    write_FORCE_CONSTANTS(fc2_full[:16, :16], filename=str(path))  # 16-atom supercell
    with _raises(path, "16 supercell atoms", "32", r"2x2x2 of 4 atoms"):
        fio.read_force_constants_text(path, setup, origin="POSCAR")
    write_FORCE_CONSTANTS(fc2_full, filename=str(path))
    _truncate(path)
    with _raises(path, "truncated"):
        fio.read_force_constants_text(path, setup)
    path.write_text("hello world\n1 1\n")
    with _raises(path, "first line"):
        fio.read_force_constants_text(path, setup)
    path.write_text("1 2\n1 1\n" + "0 0 0\n" * 3 + "1 1\n" + "0 0 0\n" * 3)
    with _raises(path, "every supercell atom"):
        fio.parse_force_constants_text(path)
    path.write_text("1 1\n1 1\n0 0 zero\n0 0 0\n0 0 0\n")
    with _raises(path, "number", "zero"):
        fio.parse_force_constants_text(path)
    # compact rows that are not the primitive atoms of the setup (all Au images)
    rows = np.array([0, 1, 2, 3])
    fio.write_force_constants(path, fc2_full[rows], p2s=rows)
    with _raises(path, "primitive atom"):
        fio.read_force_constants_text(path, setup)


# ------------------------------------------------------------------------------ HDF5


def test_fc2_hdf5_against_phonopy_and_phono3py(tmp_path, setup, fc2_full):
    from phono3py.file_IO import read_fc2_from_hdf5, write_fc2_to_hdf5
    from phonopy.file_IO import read_force_constants_hdf5, write_force_constants_to_hdf5

    write_force_constants_to_hdf5(fc2_full, filename=str(tmp_path / "full.hdf5"))
    write_force_constants_to_hdf5(
        fc2_full[setup.p2s], filename=str(tmp_path / "c.hdf5"), p2s_map=setup.p2s
    )
    write_fc2_to_hdf5(
        fc2_full[setup.p2s],
        filename=str(tmp_path / "fc2.hdf5"),
        p2s_map=setup.p2s,
        physical_unit="eV/angstrom^2",
    )
    for name in ("full.hdf5", "c.hdf5", "fc2.hdf5"):
        ours = fio.read_fc2_hdf5(tmp_path / name, setup)
        theirs = read_force_constants_hdf5(str(tmp_path / name))
        theirs = theirs[setup.p2s] if theirs.shape[0] == 32 else theirs
        np.testing.assert_array_equal(ours, theirs)
    # our writer, read by phono3py and by us
    fio.write_fc2_hdf5(tmp_path / "ours.hdf5", fc2_full[setup.p2s], p2s=setup.p2s)
    np.testing.assert_array_equal(
        read_fc2_from_hdf5(str(tmp_path / "ours.hdf5"), p2s_map=setup.p2s), fc2_full[setup.p2s]
    )
    np.testing.assert_array_equal(
        fio.read_fc2_hdf5(tmp_path / "ours.hdf5", setup), fc2_full[setup.p2s]
    )


def test_fc2_hdf5_physical_unit_is_converted(tmp_path, setup, fc2_full):
    from phono3py.file_IO import write_fc2_to_hdf5
    from phonopy.physical_units import get_physical_units

    u = get_physical_units()
    write_fc2_to_hdf5(fc2_full, filename=str(tmp_path / "fc2.hdf5"), physical_unit="Ry/au^2")
    np.testing.assert_allclose(
        fio.read_fc2_hdf5(tmp_path / "fc2.hdf5", setup), fc2_full[setup.p2s] * u.Rydberg / u.Bohr**2
    )


def test_fc3_hdf5_against_phono3py(tmp_path, setup, fc3_full):
    from phono3py.file_IO import read_fc3_from_hdf5, write_fc3_to_hdf5

    write_fc3_to_hdf5(fc3_full, filename=str(tmp_path / "full.hdf5"))
    write_fc3_to_hdf5(fc3_full[setup.p2s], filename=str(tmp_path / "c.hdf5"), p2s_map=setup.p2s)
    for name in ("full.hdf5", "c.hdf5"):
        ours = fio.read_fc3_hdf5(tmp_path / name, setup)
        theirs = read_fc3_from_hdf5(str(tmp_path / name))
        theirs = theirs[setup.p2s] if theirs.shape[0] == 32 else theirs
        np.testing.assert_array_equal(ours, theirs)
    fio.write_fc3_hdf5(tmp_path / "ours.hdf5", fc3_full[setup.p2s], p2s=setup.p2s)
    np.testing.assert_array_equal(
        read_fc3_from_hdf5(str(tmp_path / "ours.hdf5"), p2s_map=setup.p2s), fc3_full[setup.p2s]
    )
    np.testing.assert_array_equal(
        fio.read_fc3_hdf5(tmp_path / "ours.hdf5", setup), fc3_full[setup.p2s]
    )


def test_fc3_hdf5_nonzero_mask_is_applied(tmp_path, setup, fc3_full):
    from phono3py.file_IO import write_fc3_to_hdf5

    compact = fc3_full[setup.p2s]
    mask = (np.random.default_rng(0).random(compact.shape[:3]) > 0.5).astype("byte")
    write_fc3_to_hdf5(
        compact, fc3_nonzero_indices=mask, filename=str(tmp_path / "fc3.hdf5"), p2s_map=setup.p2s
    )
    got = fio.read_fc3_hdf5(tmp_path / "fc3.hdf5", setup)
    np.testing.assert_array_equal(got, compact * mask[..., None, None, None])


def test_bad_hdf5_files(tmp_path, setup, fc2_full, fc3_full):
    p = tmp_path / "fc2.hdf5"
    with h5py.File(p, "w") as f:
        f["force_constants"] = fc2_full[:16, :16]
    with _raises(p, "16 supercell atoms", "has 32", "phono3py_params.yaml"):
        fio.read_fc2_hdf5(p, setup, origin="phono3py_params.yaml")
    with h5py.File(p, "w") as f:
        f["force_constants"] = fc2_full[..., 0]
    with _raises(p, "shape"):
        fio.read_fc2_hdf5(p, setup)
    with h5py.File(p, "w") as f:
        f["something"] = np.zeros(3)
    with _raises(p, "force_constants"):
        fio.read_fc2_hdf5(p, setup)
    fio.write_fc2_hdf5(p, fc2_full)
    _truncate(p, 0.5)
    with _raises(p, "HDF5"):
        fio.read_fc2_hdf5(p, setup)
    with h5py.File(p, "w") as f:
        f["force_constants"] = fc2_full[:4]
        f["p2s_map"] = np.array([0, 1, 2, 3])  # all Au: not the primitive atoms
    with _raises(p, "primitive atom"):
        fio.read_fc2_hdf5(p, setup)
    with h5py.File(p, "w") as f:
        f["force_constants"] = fc2_full[:4]
        f["physical_unit"] = np.array([b"furlong"])
    with _raises(p, "physical_unit"):
        fio.read_fc2_hdf5(p, setup)

    q = tmp_path / "fc3.hdf5"
    with h5py.File(q, "w") as f:
        f["fc3"] = fc3_full[:4, :16, :16]
    with _raises(q, "16 supercell atoms"):
        fio.read_fc3_hdf5(q, setup)
    with h5py.File(q, "w") as f:
        f["fc3"] = fc3_full[:4, :, :, 0]
    with _raises(q, "shape"):
        fio.read_fc3_hdf5(q, setup)
    with h5py.File(q, "w") as f:
        f["fc3"] = fc3_full[:4]
        f["fc3_nonzero_indices"] = np.ones((4, 32), dtype="byte")
    with _raises(q, "fc3_nonzero_indices"):
        fio.read_fc3_hdf5(q, setup)
    with h5py.File(q, "w") as f:
        f["fc2"] = fc2_full
    with _raises(q, "fc3"):
        fio.read_fc3_hdf5(q, setup)
    fio.write_fc3_hdf5(q, fc3_full[setup.p2s], p2s=setup.p2s, compression=None)
    _truncate(q, 0.5)
    with _raises(q):
        fio.read_fc3_hdf5(q, setup)


# ------------------------------------------------------------------ ShengBTE / FourPhonon


@pytest.mark.parametrize("which", ["cu3au", "fcc-unit", "fcc-primitive"])
def test_shengbte_fc3_round_trip(tmp_path, fc3_full, which):
    s = models.setup() if which == "cu3au" else models.fcc_setup()
    reference = "primitive" if which == "fcc-primitive" else "unit"
    compact = fc3_full[s.p2s]
    path = tmp_path / "FORCE_CONSTANTS_3RD"
    fio.write_shengbte_fc3(path, compact, s, reference=reference)
    back = fio.read_shengbte_fc3(path, s, reference=reference)
    np.testing.assert_allclose(back, compact, atol=1e-13, rtol=0)
    atoms, vectors, values = fio.parse_shengbte_blocks(path, 3)
    assert atoms.shape[1] == 3 and vectors.shape[1:] == (2, 3)
    assert atoms.max() < (s.n_prim if reference == "primitive" else len(s.unitcell))


def test_shengbte_file_written_by_hiphive(tmp_path, setup):
    """hiphive's own ShengBTE writer (one block per supercell triplet) folds back."""
    fcp = models.hiphive_fcp()
    fcs = fcp.get_force_constants(setup.supercell.to_ase())
    path = tmp_path / "FORCE_CONSTANTS_3RD"
    fcs.write_to_shengBTE(str(path), models.unitcell().to_ase())
    got = fio.read_shengbte_fc3(path, setup)
    expected = models.hiphive_dense_compact(fcs, setup, 3)
    np.testing.assert_allclose(got, expected, atol=1e-9, rtol=0)


@pytest.mark.parametrize("which", ["cu3au", "fcc-unit"])
def test_fourphonon_fc4_round_trip(tmp_path, which):
    s = models.setup() if which == "cu3au" else models.fcc_setup()
    fc4 = models.random_sparse_fc4(s)
    path = tmp_path / "FORCE_CONSTANTS_4TH"
    fio.write_fourphonon_fc4(path, fc4, s)
    back = fio.read_fourphonon_fc4(path, s)
    assert isinstance(back, SparseForceConstants) and back.order == 4
    assert np.all(np.isin(back.atoms[:, 0], s.p2s))
    np.testing.assert_allclose(
        back.to_dense_compact(s.p2s, s.n_super),
        fc4.to_dense_compact(s.p2s, s.n_super),
        atol=1e-13,
        rtol=0,
    )


def test_shengbte_blocks_for_the_same_triplet_are_summed(tmp_path, setup):
    """Two blocks that are periodic images in the 2x2x2 supercell add up."""
    head = "2\n\n"
    values = "".join(f"{a} {b} {c} 0.5\n" for a in (1, 2, 3) for b in (1, 2, 3) for c in (1, 2, 3))
    blocks = f"1\n0 0 0\n3.75 0 0\n1 2 3\n{values}\n2\n0 0 0\n-3.75 0 0\n1 2 3\n{values}"
    path = tmp_path / "FORCE_CONSTANTS_3RD"
    path.write_text(head + blocks)
    fc3 = fio.read_shengbte_fc3(path, setup)
    nz = np.argwhere(np.abs(fc3).reshape(4, 32, 32, 27).max(axis=-1) > 0)
    assert len(nz) == 1
    np.testing.assert_array_equal(fc3[tuple(nz[0])], np.ones((3, 3, 3)))


def _fc3_file(tmp_path, setup):
    path = tmp_path / "FORCE_CONSTANTS_3RD"
    rng = np.random.default_rng(2)
    compact = np.zeros((4, 32, 32, 3, 3, 3))
    compact[0, 1, 2] = rng.normal(size=(3, 3, 3))
    compact[1, 0, 9] = rng.normal(size=(3, 3, 3))
    fio.write_shengbte_fc3(path, compact, setup)
    return path


def test_bad_shengbte_files(tmp_path, setup):
    path = _fc3_file(tmp_path, setup)
    lines = path.read_text().splitlines()
    # atom number outside the unit cell
    bad = list(lines)
    bad[5] = "1 2 7"
    path.write_text("\n".join(bad))
    with _raises(path, "names atoms", "outside", "4 atoms"):
        fio.read_shengbte_fc3(path, setup)
    # R vector that is not a lattice vector
    bad = list(lines)
    bad[4] = "1.875 0.0 0.0"
    path.write_text("\n".join(bad))
    with _raises(path, "not a lattice vector", "1.875"):
        fio.read_shengbte_fc3(path, setup)
    # slightly off a lattice vector, beyond 1e-4 Å
    bad = list(lines)
    bad[4] = "3.7503 0.0 0.0"
    path.write_text("\n".join(bad))
    with _raises(path, "not a lattice vector"):
        fio.read_shengbte_fc3(path, setup)
    # truncated
    path.write_text("\n".join(lines[: len(lines) // 2]))
    with _raises(path, "truncated"):
        fio.read_shengbte_fc3(path, setup)
    # block numbering broken (a value line lost in block 1 and one extra at the end)
    bad = list(lines)
    del bad[8]
    bad.append("3 3 3 0.0")
    path.write_text("\n".join(bad))
    with _raises(path):
        fio.read_shengbte_fc3(path, setup)
    # a third-order file read as fourth order
    path.write_text("\n".join(lines))
    with _raises(path, "FORCE_CONSTANTS_4TH"):
        fio.read_fourphonon_fc4(path, setup)
    # non-numeric
    bad = list(lines)
    bad[10] = "1 1 3 abc"
    path.write_text("\n".join(bad))
    with _raises(path, "abc"):
        fio.read_shengbte_fc3(path, setup)
    # a mismatched unit cell: the file of a 2x2x2 Cu3Au read with an fcc Cu primitive cell
    path.write_text("\n".join(lines))
    with _raises(path):
        fio.read_shengbte_fc3(path, models.fcc_setup(), reference="primitive")


def test_bad_fourphonon_files(tmp_path, setup):
    fc4 = models.random_sparse_fc4(setup, n_clusters=3)
    path = tmp_path / "FORCE_CONSTANTS_4TH"
    fio.write_fourphonon_fc4(path, fc4, setup)
    lines = path.read_text().splitlines()
    bad = list(lines)
    bad[6] = "1 2 3 5"
    path.write_text("\n".join(bad))
    with _raises(path, "names atoms"):
        fio.read_fourphonon_fc4(path, setup)
    bad = list(lines)
    bad[5] = "0.1 0.2 0.3"
    path.write_text("\n".join(bad))
    with _raises(path, "R4", "not a lattice vector"):
        fio.read_fourphonon_fc4(path, setup)
    path.write_text("\n".join(lines[:-30]))
    with _raises(path, "truncated"):
        fio.read_fourphonon_fc4(path, setup)
    bad = list(lines)
    bad[7] = "1 1 1 4 0.5"
    path.write_text("\n".join(bad))
    with _raises(path, "Cartesian"):
        fio.read_fourphonon_fc4(path, setup)
    path.write_text("\n".join(lines))
    with _raises(path, "FORCE_CONSTANTS_3RD"):
        fio.read_shengbte_fc3(path, setup)


# ------------------------------------------------------------------------------ hiphive


def test_hiphive_fcp_against_hiphive(tmp_path, setup):
    fcp = models.hiphive_fcp()
    path = tmp_path / "model.fcp"
    fcp.write(str(path))
    got = fio.read_hiphive(path, setup)
    assert sorted(got) == [2, 3, 4]
    fcs = fcp.get_force_constants(setup.supercell.to_ase())
    np.testing.assert_array_equal(got[2], fcs.get_fc_array(2)[setup.p2s])
    np.testing.assert_array_equal(got[3], fcs.get_fc_array(3)[setup.p2s])
    fc4 = got[4]
    assert isinstance(fc4, SparseForceConstants)
    assert len(np.unique(fc4.atoms, axis=0)) == len(fc4)
    for atoms, value in zip(fc4.atoms[::7], fc4.values[::7], strict=True):
        np.testing.assert_array_equal(value, fcs[tuple(int(a) for a in atoms)])
    dense = models.hiphive_dense_compact(fcs, setup, 4)
    np.testing.assert_array_equal(fc4.to_dense_compact(setup.p2s, setup.n_super), dense)


def test_hiphive_fcs_file(tmp_path, setup):
    fcs = models.hiphive_fcp().get_force_constants(setup.supercell.to_ase())
    path = tmp_path / "model.fcs"
    fcs.write(str(path))
    assert fio.detect_format(path) == "hiphive-fcs"
    got = fio.read_hiphive(path, setup, orders=[2])
    assert sorted(got) == [2]
    np.testing.assert_array_equal(got[2], fcs.get_fc_array(2)[setup.p2s])


def test_hiphive_force_constants_in_another_atom_order(tmp_path, setup):
    """A hiphive ForceConstants object on a shuffled supercell is mapped by position."""
    fcp = models.hiphive_fcp()
    atoms = setup.supercell.to_ase()
    order = np.random.default_rng(4).permutation(len(atoms))
    fcs = fcp.get_force_constants(atoms[order])
    got = fio.read_hiphive(fcs, setup, orders=[2, 3])
    ref = fcp.get_force_constants(atoms)
    np.testing.assert_allclose(got[2], ref.get_fc_array(2)[setup.p2s], atol=1e-12)
    np.testing.assert_allclose(got[3], ref.get_fc_array(3)[setup.p2s], atol=1e-12)


def test_bad_hiphive_inputs(tmp_path, setup):
    from aiida_wigner.physics.cell import Cell, SupercellSetup

    fcp = models.hiphive_fcp()
    path = tmp_path / "model.fcp"
    fcp.write(str(path))
    other = SupercellSetup.build(Cell(np.eye(3) * 4.1, models.POSITIONS, models.NUMBERS), [2, 2, 2])
    with _raises(path, "Å\\^3/atom"):
        fio.read_hiphive(path, other, origin="POSCAR")
    small = SupercellSetup.build(models.unitcell(), [1, 1, 1])
    with _raises(path, "cannot be evaluated", "supercell 1x1x1"):
        fio.read_hiphive(path, small)
    with _raises(path, "order"):
        fio.read_hiphive(path, setup, orders=[5])
    junk = tmp_path / "junk.fcp"
    junk.write_text("not a tar archive")
    with _raises(junk, "hiphive"):
        fio.read_hiphive(junk, setup)


# ------------------------------------------------------------------ load_force_constants


@pytest.fixture(scope="module")
def files(tmp_path_factory, setup, fc2_full, fc3_full):
    from phono3py import Phono3py
    from phono3py.file_IO import write_fc2_to_hdf5, write_fc3_to_hdf5
    from phonopy.interface.vasp import write_vasp

    d = tmp_path_factory.mktemp("io_files")
    ph3 = Phono3py(
        models.unitcell().to_phonopy(), supercell_matrix=[2, 2, 2], primitive_matrix=np.eye(3)
    )
    ph3.save(str(d / "phono3py_params.yaml"))
    write_vasp(str(d / "POSCAR"), models.unitcell().to_phonopy())
    write_fc2_to_hdf5(fc2_full[setup.p2s], filename=str(d / "fc2.hdf5"), p2s_map=setup.p2s)
    write_fc3_to_hdf5(fc3_full, filename=str(d / "fc3.hdf5"))
    fio.write_force_constants(d / "FORCE_CONSTANTS", fc2_full)
    fio.write_shengbte_fc3(d / "FORCE_CONSTANTS_3RD", fc3_full[setup.p2s], setup)
    fio.write_fourphonon_fc4(d / "FORCE_CONSTANTS_4TH", models.random_sparse_fc4(setup), setup)
    models.hiphive_fcp().write(str(d / "model.fcp"))
    return d


def test_detect_format(files):
    expected = {
        "fc2.hdf5": "phonopy-hdf5",
        "fc3.hdf5": "phono3py-hdf5",
        "FORCE_CONSTANTS": "phonopy-text",
        "FORCE_CONSTANTS_3RD": "shengbte",
        "FORCE_CONSTANTS_4TH": "fourphonon",
        "model.fcp": "hiphive-fcp",
    }
    for name, fmt in expected.items():
        assert fio.detect_format(files / name) == fmt, name


def test_load_from_phono3py_yaml(files, setup, fc2_full, fc3_full):
    fc = fio.load_force_constants(
        cell=files / "phono3py_params.yaml",
        fc2=files / "fc2.hdf5",
        fc3=files / "fc3.hdf5",
        fc4=files / "FORCE_CONSTANTS_4TH",
    )
    assert isinstance(fc, ForceConstants) and fc.orders == [2, 3, 4]
    np.testing.assert_array_equal(fc.fc2, fc2_full[setup.p2s])
    np.testing.assert_array_equal(fc.dense_fc3(), fc3_full[setup.p2s])
    ref4 = models.random_sparse_fc4(setup)
    np.testing.assert_allclose(
        fc.fc4.to_dense_compact(setup.p2s, 32), ref4.to_dense_compact(setup.p2s, 32), atol=1e-13
    )
    assert fc.source["cell"] == {
        "format": "phono3py-yaml",
        "file": str(files / "phono3py_params.yaml"),
    }
    assert fc.source["fc2"]["format"] == "phonopy-hdf5"
    assert fc.source["fc3"]["format"] == "phono3py-hdf5"
    assert fc.source["fc4"] == {
        "format": "fourphonon",
        "reference_cell": "unit",
        "file": str(files / "FORCE_CONSTANTS_4TH"),
    }


def test_load_from_poscar_and_text_files(files, setup, fc2_full, fc3_full):
    fc = fio.load_force_constants(
        structure=files / "POSCAR",
        supercell=[2, 2, 2],
        fc2=files / "FORCE_CONSTANTS",
        fc3=files / "FORCE_CONSTANTS_3RD",
        masses={"Cu": 65.0},
    )
    np.testing.assert_allclose(fc.fc2, fc2_full[setup.p2s], atol=1e-14)
    np.testing.assert_allclose(fc.dense_fc3(), fc3_full[setup.p2s], atol=1e-13)
    np.testing.assert_allclose(fc.setup.unitcell.masses[1:], 65.0)
    assert fc.source["fc3"]["format"] == "shengbte"


def test_load_from_fcp(files, setup, fc2_full):
    fcp = models.hiphive_fcp()
    fcs = fcp.get_force_constants(setup.supercell.to_ase())
    fc = fio.load_force_constants(fcp=files / "model.fcp", supercell=2)
    assert fc.orders == [2, 3, 4]
    np.testing.assert_array_equal(fc.fc2, fcs.get_fc_array(2)[setup.p2s])
    assert fc.source["fc2"]["format"] == "hiphive-fcp"
    # an fc2 file wins over the potential's second order
    fc = fio.load_force_constants(
        cell=files / "phono3py_params.yaml", fc2=files / "fc2.hdf5", fcp=files / "model.fcp"
    )
    np.testing.assert_array_equal(fc.fc2, fc2_full[setup.p2s])
    np.testing.assert_array_equal(fc.dense_fc3(), fcs.get_fc_array(3)[setup.p2s])
    assert fc.source["fc2"]["format"] == "phonopy-hdf5"
    assert fc.source["fc3"]["format"] == "hiphive-fcp"


def test_load_shengbte_of_the_primitive_cell(tmp_path, fc3_full):
    """Conventional fcc POSCAR with primitive matrix 'F' or 'auto': a ShengBTE file
    numbered in the primitive cell is recognised as such."""
    from phonopy.interface.vasp import write_vasp

    s = models.fcc_setup()
    write_vasp(str(tmp_path / "POSCAR"), s.unitcell.to_phonopy())
    fio.write_fc2_hdf5(tmp_path / "fc2.hdf5", np.zeros((1, 32, 3, 3)), p2s=s.p2s)
    compact = fc3_full[s.p2s]
    for reference in ("primitive", "unit"):
        fio.write_shengbte_fc3(tmp_path / "FORCE_CONSTANTS_3RD", compact, s, reference=reference)
        for pmat in ("F", "auto"):
            fc = fio.load_force_constants(
                structure=tmp_path / "POSCAR",
                supercell=[2, 2, 2],
                primitive_matrix=pmat,
                fc2=tmp_path / "fc2.hdf5",
                fc3=tmp_path / "FORCE_CONSTANTS_3RD",
            )
            assert fc.setup.n_prim == 1
            np.testing.assert_allclose(fc.dense_fc3(), compact, atol=1e-13, rtol=0)
            assert fc.source["fc3"]["reference_cell"] == reference


def test_load_phonon_supercell_of_phono3py(tmp_path, fc2_full):
    from phono3py import Phono3py

    ph3 = Phono3py(
        models.unitcell().to_phonopy(),
        supercell_matrix=[1, 1, 1],
        phonon_supercell_matrix=[2, 2, 2],
        primitive_matrix=np.eye(3),
    )
    ph3.save(str(tmp_path / "phono3py_disp.yaml"))
    fio.write_fc2_hdf5(tmp_path / "fc2.hdf5", fc2_full)
    fc = fio.load_force_constants(cell=tmp_path / "phono3py_disp.yaml", fc2=tmp_path / "fc2.hdf5")
    assert fc.setup.n_super == 32
    fio.write_fc3_hdf5(tmp_path / "fc3.hdf5", np.zeros((4, 4, 4, 3, 3, 3)), p2s=np.arange(4))
    with _raises(tmp_path / "fc2.hdf5", "phonon supercell"):
        fio.load_force_constants(
            cell=tmp_path / "phono3py_disp.yaml",
            fc2=tmp_path / "fc2.hdf5",
            fc3=tmp_path / "fc3.hdf5",
        )


def test_load_errors(tmp_path, files):
    yaml = files / "phono3py_params.yaml"
    with _raises(files / "fc2.hdf5", "given as fc3", "second order"):
        fio.load_force_constants(cell=yaml, fc2=files / "fc2.hdf5", fc3=files / "fc2.hdf5")
    junk = tmp_path / "fc.dat"
    junk.write_text("these are not force constants\n")
    with _raises(junk, "unknown force-constant format"):
        fio.load_force_constants(cell=yaml, fc2=junk)
    empty = tmp_path / "empty"
    empty.write_text("")
    with _raises(empty, "empty"):
        fio.load_force_constants(cell=yaml, fc2=empty)
    with _raises(yaml, "supercell", r"\[\[3, 0, 0\]"):
        fio.load_force_constants(cell=yaml, supercell=3, fc2=files / "fc2.hdf5")
    with _raises(files / "POSCAR", "supercell"):
        fio.load_force_constants(structure=files / "POSCAR", fc2=files / "fc2.hdf5")
    with _raises(yaml, "not both"):
        fio.load_force_constants(cell=yaml, structure=files / "POSCAR", fc2=files / "fc2.hdf5")
    big = tmp_path / "fc2.hdf5"  # written for a supercell of 64 atoms
    with h5py.File(big, "w") as f:
        f["force_constants"] = np.zeros((4, 64, 3, 3))
    with _raises(big, "64 supercell atoms", "has 32", "POSCAR", "2x2x2 of 4 atoms"):
        fio.load_force_constants(structure=files / "POSCAR", supercell=[2, 2, 2], fc2=big)
    with _raises(files / "POSCAR", "no second-order"):
        fio.load_force_constants(
            structure=files / "POSCAR", supercell=[2, 2, 2], fc3=files / "fc3.hdf5"
        )
    with _raises(files / "POSCAR", "3 masses", "4 atoms"):
        fio.load_force_constants(
            structure=files / "POSCAR",
            supercell=[2, 2, 2],
            fc2=files / "fc2.hdf5",
            masses=[1, 2, 3],
        )

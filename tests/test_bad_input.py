"""Bad input is refused up front with a one-line message and a named exit code.

Command line: a click usage error (exit status 2, ``Error: ...``, no traceback) before any
node is stored or any engine runs.  Calcfunctions and WorkChains: an exit code of
:mod:`aiida_wigner.exit_codes` whose message says what to change.
"""

from __future__ import annotations

import re

import h5py
import numpy as np
import pytest
from aiida import orm
from click.testing import CliRunner

from aiida_wigner.cli import cmd_root
from aiida_wigner.exit_codes import status
from aiida_wigner.physics.forceconstants import (ForceConstants, ForceConstantsError,
                                                 SparseForceConstants)
from aiida_wigner.physics.io import ForceConstantsFileError, load_force_constants
from aiida_wigner.physics.io.structure import read_atoms, read_structure

ORDERED_CIF = """data_Cu3Au
_cell_length_a 3.75
_cell_length_b 3.75
_cell_length_c 3.75
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P m -3 m'
_symmetry_Int_Tables_number 221
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Au1 Au 0 0 0 1.0
Cu1 Cu 0 0.5 0.5 1.0
"""

POSCAR = """Cu3Au
1.0
3.75 0 0
0 3.75 0
0 0 3.75
Au Cu
1 3
Direct
0 0 0
0 0.5 0.5
0.5 0 0.5
0.5 0.5 0
"""


def invoke(*args):
    return CliRunner().invoke(cmd_root, [str(a) for a in args])


def assert_usage_error(result, *fragments):
    """Exit status 2, every fragment in the message, one ``Error:`` line, no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1, result.output
    for fragment in fragments:
        assert fragment in result.output, (fragment, result.output)


@pytest.fixture(autouse=True)
def _restore_cli_logging():
    """In-process CLI calls switch aiida's logging to CLI mode; undo that for later tests."""
    from aiida.common import log

    active, level = log.CLI_ACTIVE, log.CLI_LOG_LEVEL
    yield
    if (log.CLI_ACTIVE, log.CLI_LOG_LEVEL) != (active, level):
        log.CLI_ACTIVE, log.CLI_LOG_LEVEL = active, level
        log.configure_logging(with_orm=True)


@pytest.fixture
def files(cu3au_files):
    return {k: str(v) for k, v in cu3au_files.items()}


def kappa_args(files, *extra):
    return ["kappa", "--cell", files["cell"], "--fc2", files["fc2"], "--fc3", files["fc3"],
            "--mesh", 2, 2, 2, *extra]


def renormalize_args(files, *extra):
    return ["renormalize", "--cell", files["cell"], "--fc2", files["fc2"], "--mesh", 2, 2, 2,
            *extra]


# -- structures: one species per site, readable, real elements ---------------------------------

def _cif(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text(ORDERED_CIF.replace("Au1 Au 0 0 0 1.0\nCu1 Cu 0 0.5 0.5 1.0\n", rows))
    return path


@pytest.mark.parametrize("rows, message", [
    ("Au1 Au 0 0 0 0.75\nCu0 Cu 0 0 0 0.25\nCu1 Cu 0 0.5 0.5 1.0\n",
     "site 'Au1' at (0, 0, 0) is shared by several species (Au 0.75 + Cu 0.25)"),
    ("Au1 Au 0 0 0 1.0\nCu1 Cu 0 0.5 0.5 0.9\n",
     "site 'Cu1' at (0, 0.5, 0.5) is partially occupied (Cu 0.9)"),
])
def test_disordered_cif_is_refused(tmp_path, rows, message):
    """ase keeps the majority species of a mixed site and drops the rest; we refuse."""
    path = _cif(tmp_path, "disordered.cif", rows)
    for reader in (read_atoms, read_structure):
        with pytest.raises(ForceConstantsFileError, match="one species per site") as info:
            reader(path)
        assert message in str(info.value) and str(info.value).startswith(str(path))


def test_ordered_cif_and_rounded_occupancy_are_read(tmp_path):
    atoms = read_atoms(_cif(tmp_path, "ok.cif", "Au1 Au 0 0 0 1.0\nCu1 Cu 0 0.5 0.5 0.995\n"))
    assert atoms.get_chemical_formula() == "AuCu3"


@pytest.mark.parametrize("text, message", [
    ("garbage\nnot a poscar\n", "cannot read as a"),
    (POSCAR.replace("Au Cu", "Xx Cu"), "Xx"),
    (POSCAR.replace("0.5 0.5 0\n", "0.01 0 0\n"), "atoms 0 (Au) and 3 (Cu) are 0.037 Å apart"),
])
def test_broken_poscar_is_refused(tmp_path, text, message):
    path = tmp_path / "POSCAR"
    path.write_text(text)
    with pytest.raises(ForceConstantsFileError, match=re.escape(message)):
        read_atoms(path)
    with pytest.raises(ForceConstantsFileError):
        read_structure(path)


def test_poscar_without_valid_symbols_is_not_renamed(tmp_path):
    """phonopy's reader turns unknown species into H, He, ...; we refuse instead."""
    path = tmp_path / "POSCAR"
    path.write_text(POSCAR.replace("Au Cu", "Xx Cu"))
    with pytest.raises(ForceConstantsFileError, match="no valid element symbols"):
        read_structure(path)
    path.write_text(POSCAR)
    assert read_structure(path).symbols == ["Au", "Cu", "Cu", "Cu"]


@pytest.mark.parametrize("command", ["fit", "pes"])
def test_structure_errors_are_usage_errors(aiida_profile_clean, tmp_path, command):
    bad = _cif(tmp_path, "mixed.cif", "Au1 Au 0 0 0 0.5\nCu0 Cu 0 0 0 0.5\nCu1 Cu 0 0.5 0.5 1\n")
    garbage = tmp_path / "POSCAR"
    garbage.write_text("garbage\n")
    for path, fragment in ((bad, "site 'Au1'"), (garbage, "cannot read as a")):
        if command == "fit":
            args = ["fit", path, "--engine", "emt"]
        else:
            fcp = tmp_path / "x.fcp"
            fcp.write_bytes(b"x")
            args = ["pes", "--fcp", fcp, "--structure", path, "--supercell", 1, 1, 1,
                    "--qpoint", 0, 0, 0, "--engine", "emt"]
        assert_usage_error(invoke(*args), fragment)
    assert orm.QueryBuilder().append(orm.Node).count() == 0


def test_fit_overrides_must_be_protocol_sections(aiida_profile_clean, tmp_path):
    path = tmp_path / "POSCAR"
    path.write_text(POSCAR)
    over = tmp_path / "over.yaml"
    over.write_text("fitt: {cutoffs: {2: 3.0}}\n")
    assert_usage_error(invoke("fit", path, "--engine", "emt", "--overrides", over),
                       "expected a mapping of the protocol's sections", "found ['fitt']")
    over.write_text("fit: [unclosed\n")
    assert_usage_error(invoke("fit", path, "--engine", "emt", "--overrides", over),
                       "not a readable YAML file")
    assert orm.QueryBuilder().append(orm.Node).count() == 0


# -- temperatures ------------------------------------------------------------------------------

def test_temperature_list_parses_values_and_ranges():
    from aiida_wigner.cli.options import TemperatureList

    parse = TemperatureList().convert
    assert parse(("100:700:100",), None, None) == (100, 200, 300, 400, 500, 600, 700)
    assert parse(("50", "100:250:100", "0"), None, None) == (50, 100, 200, 0)
    assert parse(("0.1:0.3:0.1",), None, None) == pytest.approx((0.1, 0.2, 0.3))
    assert parse((300.0,), None, None) == (300.0,)  # the default


@pytest.mark.parametrize("command", [kappa_args, renormalize_args])
@pytest.mark.parametrize("values, message", [
    (("300", "-100"), "temperature -100 K is negative"),
    (("-5",), "temperature -5 K is negative"),
    (("300", "hot"), "'hot' is not a temperature in K nor a range START:STOP:STEP"),
    (("700:100:100",), "needs STEP > 0 and STOP >= START"),
    (("100:700",), "a range is START:STOP:STEP"),
    (("100:-700:100",), "temperature -700 K is negative"),
])
def test_bad_temperatures_are_named(aiida_profile_clean, files, command, values, message):
    result = invoke(*command(files, "--temperatures", *values))
    assert_usage_error(result, "Invalid value for '--temperatures'", message)
    assert "No such option" not in result.output
    assert orm.QueryBuilder().append(orm.Node).count() == 0


def test_temperature_range_reaches_the_calculation(aiida_profile_clean, files,
                                                   fake_compute_kappa, tmp_path):
    import json

    out = tmp_path / "k.json"
    result = invoke(*kappa_args(files, "--temperatures", "100:300:100", "500", "-o", out))
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["temperatures"] == [100, 200, 300, 500]


# -- output paths ------------------------------------------------------------------------------

@pytest.mark.parametrize("option", ["--output", "--modes"])
def test_kappa_output_paths_checked_first(aiida_profile_clean, files, tmp_path, option):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    cases = [(tmp_path / "missing" / "out", "the directory"),
             (a_file / "out", "does not exist"),
             (tmp_path, "is a directory"),
             ("/proc/out", "no files can be created in /proc")]
    for path, fragment in cases:
        assert_usage_error(invoke(*kappa_args(files, option, path)), f"'{option}'", fragment)
    assert orm.QueryBuilder().append(orm.Node).count() == 0  # refused before anything ran


def test_renormalize_and_pes_output_paths_checked_first(aiida_profile_clean, files, tmp_path):
    missing = tmp_path / "missing"
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    assert_usage_error(invoke(*renormalize_args(files, "-o", missing / "scp.json")),
                       "'--output'", f"the directory {missing} does not exist")
    assert_usage_error(invoke(*renormalize_args(files, "--write-fc2", missing / "fc2_T")),
                       "'--write-fc2'", "does not exist")
    assert_usage_error(invoke(*renormalize_args(files, "--write-fc2", a_file)),
                       "'--write-fc2'", "is a file")
    fcp = tmp_path / "x.fcp"
    fcp.write_bytes(b"x")
    for option in ("--plot", "--output"):
        assert_usage_error(invoke("pes", "--fcp", fcp, "--supercell", 1, 1, 1, "--qpoint", 0, 0,
                                  0, option, missing / "pes.out"), f"'{option}", "does not exist")
    assert orm.QueryBuilder().append(orm.Node).count() == 0


# -- force constants: finite, and no order that is zero everywhere ------------------------------

def test_nonfinite_force_constants_are_refused(cu3au_fc):
    fc2 = cu3au_fc.fc2.copy()
    fc2[0, 1, 0, 0] = np.nan
    with pytest.raises(ForceConstantsError, match="fc2 holds 1 non-finite values"):
        ForceConstants(cu3au_fc.setup, fc2, cu3au_fc.fc3)
    fc3 = cu3au_fc.fc3.copy()
    fc3[0, 1, 2] = np.inf
    with pytest.raises(ForceConstantsError, match="fc3 holds 27 non-finite values"):
        ForceConstants(cu3au_fc.setup, cu3au_fc.fc2, fc3)
    fc4 = SparseForceConstants(4, [[0, 1, 2, 3]], np.full((1, 3, 3, 3, 3), np.nan))
    with pytest.raises(ForceConstantsError, match="fc4 holds 81 non-finite values"):
        ForceConstants(cu3au_fc.setup, cu3au_fc.fc2, fc4=fc4)


def test_zero_fc3_is_refused(cu3au_fc):
    with pytest.raises(ForceConstantsError, match="fc3 is zero everywhere"):
        ForceConstants(cu3au_fc.setup, cu3au_fc.fc2, np.zeros_like(cu3au_fc.fc3))


def test_zero_force_constant_files_are_refused(cu3au_files, cu3au_fc, tmp_path):
    from aiida_wigner.physics.io import write_fc3_hdf5, write_fourphonon_fc4

    zero3 = tmp_path / "fc3.hdf5"
    write_fc3_hdf5(zero3, np.zeros_like(cu3au_fc.fc3), p2s=cu3au_fc.setup.p2s)
    with pytest.raises(ForceConstantsFileError, match="zero everywhere"):
        load_force_constants(cell=cu3au_files["cell"], fc2=cu3au_files["fc2"], fc3=zero3)
    zero4 = tmp_path / "FORCE_CONSTANTS_4TH"
    fc4 = SparseForceConstants(4, [[0, 1, 2, 3]], np.ones((1, 3, 3, 3, 3)))
    write_fourphonon_fc4(zero4, fc4, cu3au_fc.setup)  # then every value set to zero:
    lines = [ln.split() for ln in zero4.read_text().splitlines()]
    zero4.write_text("\n".join(" ".join(ln[:4] + ["0.0"] if len(ln) == 5 else ln)
                               for ln in lines) + "\n")
    with pytest.raises(ForceConstantsFileError, match="give the real fc4"):
        load_force_constants(cell=cu3au_files["cell"], fc2=cu3au_files["fc2"], fc4=zero4)


def test_zero_fc3_file_is_a_cli_error(aiida_profile_clean, files, cu3au_fc, tmp_path):
    from aiida_wigner.physics.io import write_fc3_hdf5

    zero3 = tmp_path / "fc3.hdf5"
    write_fc3_hdf5(zero3, np.zeros_like(cu3au_fc.fc3), p2s=cu3au_fc.setup.p2s)
    result = invoke(*kappa_args({**files, "fc3": zero3}))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "zero everywhere" in result.output
    assert orm.QueryBuilder().append(orm.Node).count() == 0


def test_kappa_calcfunction_exit_code_for_zero_fc3(aiida_profile_clean, cu3au_fc, tmp_path):
    """A node whose stored FC3 is all zeros (written by another tool or an older version)."""
    from aiida_wigner.calculations.kappa import compute_kappa_calcfunction
    from aiida_wigner.data.force_constants import FILENAME, ForceConstantsData

    node = ForceConstantsData(force_constants=cu3au_fc)
    path = tmp_path / FILENAME
    with node.base.repository.open(FILENAME, mode="rb") as src:
        path.write_bytes(src.read())
    with h5py.File(path, "r+") as h5:
        h5["fc3"][...] = 0.0
    node.base.repository.put_object_from_file(str(path), FILENAME)
    _, process = compute_kappa_calcfunction.run_get_node(
        force_constants=node, settings=orm.Dict({"mesh": [2, 2, 2], "temperatures": [300.0]}))
    assert process.exit_status == status("ERROR_INVALID_INPUT")
    assert "fc3 is zero everywhere" in process.exit_message

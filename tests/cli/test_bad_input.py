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
from aiida_wigner.physics.forceconstants import (
    ForceConstants,
    ForceConstantsError,
    SparseForceConstants,
)
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


@pytest.fixture
def files(cu3au_files):
    return {k: str(v) for k, v in cu3au_files.items()}


def kappa_args(files, *extra):
    return [
        "kappa",
        "--cell",
        files["cell"],
        "--fc2",
        files["fc2"],
        "--fc3",
        files["fc3"],
        "--mesh",
        2,
        2,
        2,
        *extra,
    ]


def renormalize_args(files, *extra):
    return [
        "renormalize",
        "--cell",
        files["cell"],
        "--fc2",
        files["fc2"],
        "--mesh",
        2,
        2,
        2,
        *extra,
    ]


# -- structures: one species per site, readable, real elements ---------------------------------


def _cif(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text(ORDERED_CIF.replace("Au1 Au 0 0 0 1.0\nCu1 Cu 0 0.5 0.5 1.0\n", rows))
    return path


@pytest.mark.parametrize(
    "rows, message",
    [
        (
            "Au1 Au 0 0 0 0.75\nCu0 Cu 0 0 0 0.25\nCu1 Cu 0 0.5 0.5 1.0\n",
            "site 'Au1' at (0, 0, 0) is shared by several species (Au 0.75 + Cu 0.25)",
        ),
        (
            "Au1 Au 0 0 0 1.0\nCu1 Cu 0 0.5 0.5 0.9\n",
            "site 'Cu1' at (0, 0.5, 0.5) is partially occupied (Cu 0.9)",
        ),
    ],
)
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


@pytest.mark.parametrize(
    "text, message",
    [
        ("garbage\nnot a poscar\n", "cannot read as a"),
        (POSCAR.replace("Au Cu", "Xx Cu"), "Xx"),
        (POSCAR.replace("0.5 0.5 0\n", "0.01 0 0\n"), "atoms 0 (Au) and 3 (Cu) are 0.037 Å apart"),
    ],
)
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
            args = [
                "pes",
                "--fcp",
                fcp,
                "--structure",
                path,
                "--supercell",
                1,
                1,
                1,
                "--qpoint",
                0,
                0,
                0,
                "--engine",
                "emt",
            ]
        assert_usage_error(invoke(*args), fragment)
    assert orm.QueryBuilder().append(orm.Node).count() == 0


def test_fit_overrides_must_be_protocol_sections(aiida_profile_clean, tmp_path):
    path = tmp_path / "POSCAR"
    path.write_text(POSCAR)
    over = tmp_path / "over.yaml"
    over.write_text("fitt: {cutoffs: {2: 3.0}}\n")
    assert_usage_error(
        invoke("fit", path, "--engine", "emt", "--overrides", over),
        "expected a mapping of the protocol's sections",
        "found ['fitt']",
    )
    over.write_text("fit: [unclosed\n")
    assert_usage_error(
        invoke("fit", path, "--engine", "emt", "--overrides", over), "not a readable YAML file"
    )
    assert orm.QueryBuilder().append(orm.Node).count() == 0


@pytest.mark.parametrize("command", ["run", "fit"])
def test_daemon_ase_engine_needs_pythonjob(aiida_profile_clean, tmp_path, monkeypatch, command):
    """--daemon sends the ASE engine to PythonJobs: without aiida-pythonjob it is refused
    (daemon check passed) before any node is stored or anything is submitted."""
    import sys

    import aiida_wigner.cli.run
    import aiida_wigner.cli.utils

    for module in (aiida_wigner.cli.run, aiida_wigner.cli.utils):
        monkeypatch.setattr(module, "check_daemon_running", lambda: None)
    monkeypatch.setitem(sys.modules, "aiida_pythonjob", None)  # import raises ImportError
    path = tmp_path / "POSCAR"
    path.write_text(POSCAR)
    assert_usage_error(
        invoke(command, path, "--engine", "emt", "--daemon"),
        "--daemon with --engine emt",
        "aiida-wigner[pythonjob]",
    )
    assert orm.QueryBuilder().append(orm.Node).count() == 0


@pytest.mark.parametrize(
    "command, extra, fragment",
    [
        ("fit", [], "give --code or --daemon too"),
        ("run", [], "give --code or --daemon too"),
        ("fit", ["--engine", "vasp", "--code", "nonexistent"], "VASP runs one job per structure"),
        ("run", ["--force-constants", 1], "which --force-constants skips"),
    ],
    ids=["fit-in-process", "run-in-process", "vasp", "run-force-constants"],
)
def test_structures_per_job_needs_pythonjobs(
    aiida_profile_clean, tmp_path, command, extra, fragment
):
    """--structures-per-job sizes the force PythonJobs: refused, before any node is stored,
    where the engine runs none (in-process ASE engine, VASP, no fitting)."""
    path = tmp_path / "POSCAR"
    path.write_text(POSCAR)
    args = [] if "--force-constants" in extra else [path]
    result = invoke(command, *args, "--engine", "emt", *extra, "--structures-per-job", 2)
    assert_usage_error(result, "--structures-per-job", fragment)
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
@pytest.mark.parametrize(
    "values, message",
    [
        (("300", "-100"), "temperature -100 K is negative"),
        (("-5",), "temperature -5 K is negative"),
        (("300", "hot"), "'hot' is not a temperature in K nor a range START:STOP:STEP"),
        (("700:100:100",), "needs STEP > 0 and STOP >= START"),
        (("100:700",), "a range is START:STOP:STEP"),
        (("100:-700:100",), "temperature -700 K is negative"),
    ],
)
def test_bad_temperatures_are_named(aiida_profile_clean, files, command, values, message):
    result = invoke(*command(files, "--temperatures", *values))
    assert_usage_error(result, "Invalid value for '--temperatures'", message)
    assert "No such option" not in result.output
    assert orm.QueryBuilder().append(orm.Node).count() == 0


def test_temperature_range_reaches_the_calculation(
    aiida_profile_clean, files, fake_compute_kappa, tmp_path
):
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
    cases = [
        (tmp_path / "missing" / "out", "the directory"),
        (a_file / "out", "does not exist"),
        (tmp_path, "is a directory"),
        ("/proc/out", "no files can be created in /proc"),
    ]
    for path, fragment in cases:
        assert_usage_error(invoke(*kappa_args(files, option, path)), f"'{option}'", fragment)
    assert orm.QueryBuilder().append(orm.Node).count() == 0  # refused before anything ran


def test_renormalize_and_pes_output_paths_checked_first(aiida_profile_clean, files, tmp_path):
    missing = tmp_path / "missing"
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    assert_usage_error(
        invoke(*renormalize_args(files, "-o", missing / "scp.json")),
        "'--output'",
        f"the directory {missing} does not exist",
    )
    assert_usage_error(
        invoke(*renormalize_args(files, "--write-fc2", missing / "fc2_T")),
        "'--write-fc2'",
        "does not exist",
    )
    assert_usage_error(
        invoke(*renormalize_args(files, "--write-fc2", a_file)), "'--write-fc2'", "is a file"
    )
    fcp = tmp_path / "x.fcp"
    fcp.write_bytes(b"x")
    for option in ("--plot", "--output"):
        assert_usage_error(
            invoke(
                "pes",
                "--fcp",
                fcp,
                "--supercell",
                1,
                1,
                1,
                "--qpoint",
                0,
                0,
                0,
                option,
                missing / "pes.out",
            ),
            f"'{option}",
            "does not exist",
        )
    assert orm.QueryBuilder().append(orm.Node).count() == 0


# -- force constants: finite, and no order that is zero everywhere ------------------------------


def test_nonfinite_force_constants_are_refused(cu3au_fc):
    fc2 = cu3au_fc.fc2.copy()
    fc2[0, 1, 0, 0] = np.nan
    with pytest.raises(ForceConstantsError, match="fc2 holds 1 non-finite values"):
        ForceConstants(cu3au_fc.setup, fc2, cu3au_fc.fc3)
    fc3 = cu3au_fc.dense_fc3().copy()
    fc3[0, 1, 2] = np.inf
    with pytest.raises(ForceConstantsError, match="fc3 holds 27 non-finite values"):
        ForceConstants(cu3au_fc.setup, cu3au_fc.fc2, fc3)
    fc4 = SparseForceConstants(4, [[0, 1, 2, 3]], np.full((1, 3, 3, 3, 3), np.nan))
    with pytest.raises(ForceConstantsError, match="fc4 holds 81 non-finite values"):
        ForceConstants(cu3au_fc.setup, cu3au_fc.fc2, fc4=fc4)


def test_zero_fc3_is_refused(cu3au_fc):
    with pytest.raises(ForceConstantsError, match="fc3 is zero everywhere"):
        ForceConstants(cu3au_fc.setup, cu3au_fc.fc2, np.zeros_like(cu3au_fc.dense_fc3()))


def test_zero_force_constant_files_are_refused(cu3au_files, cu3au_fc, tmp_path):
    from aiida_wigner.physics.io import write_fc3_hdf5, write_fourphonon_fc4

    zero3 = tmp_path / "fc3.hdf5"
    write_fc3_hdf5(zero3, np.zeros_like(cu3au_fc.dense_fc3()), p2s=cu3au_fc.setup.p2s)
    with pytest.raises(ForceConstantsFileError, match="zero everywhere"):
        load_force_constants(cell=cu3au_files["cell"], fc2=cu3au_files["fc2"], fc3=zero3)
    zero4 = tmp_path / "FORCE_CONSTANTS_4TH"
    fc4 = SparseForceConstants(4, [[0, 1, 2, 3]], np.ones((1, 3, 3, 3, 3)))
    write_fourphonon_fc4(zero4, fc4, cu3au_fc.setup)  # then every value set to zero:
    lines = [ln.split() for ln in zero4.read_text().splitlines()]
    zero4.write_text(
        "\n".join(" ".join(ln[:4] + ["0.0"] if len(ln) == 5 else ln) for ln in lines) + "\n"
    )
    with pytest.raises(ForceConstantsFileError, match="give the real fc4"):
        load_force_constants(cell=cu3au_files["cell"], fc2=cu3au_files["fc2"], fc4=zero4)


def test_zero_fc3_file_is_a_cli_error(aiida_profile_clean, files, cu3au_fc, tmp_path):
    from aiida_wigner.physics.io import write_fc3_hdf5

    zero3 = tmp_path / "fc3.hdf5"
    write_fc3_hdf5(zero3, np.zeros_like(cu3au_fc.dense_fc3()), p2s=cu3au_fc.setup.p2s)
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
        force_constants=node, settings=orm.Dict({"mesh": [2, 2, 2], "temperatures": [300.0]})
    )
    assert process.exit_status == status("ERROR_INVALID_INPUT")
    assert "fc3 is zero everywhere" in process.exit_message


# -- cutoffs against the supercell (issue 13 item 2) --------------------------------------------


def cu3au(a=3.75):
    from ase import Atoms

    return Atoms(
        "AuCu3",
        scaled_positions=[[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]],
        cell=np.eye(3) * a,
        pbc=True,
    )


def test_cutoff_limit_is_where_hiphive_stops():
    """Rule: half the shortest supercell lattice vector minus 0.01 Å.  hiphive itself accepts
    the Cu₃Au 2x2x2 supercell up to 3.75 Å (the 2nd-neighbour shell sits at 3.75 Å, half the
    7.5 Å supercell) and stops with "Found cluster ... in two orbits" just above."""
    from ase.build import bulk
    from hiphive import ClusterSpace
    from hiphive.force_constant_model import ForceConstantModel

    from aiida_wigner.fitting.hiphive_fit import cutoff_limit

    prim = cu3au()
    supercell = prim.repeat(2)
    limit = cutoff_limit(supercell.cell)
    assert limit == 3.74
    ForceConstantModel(supercell, ClusterSpace(prim, [limit, limit]))
    with pytest.raises(Exception, match="two orbits"):
        ForceConstantModel(supercell, ClusterSpace(prim, [limit + 0.02]))
    # skewed cell: fcc primitive x3, shortest vector 3 a/√2 (the perpendicular height would
    # give 3 a/√3 / 2 = 3.11 Å and lose the 2nd-neighbour shell at a = 3.59 Å)
    assert cutoff_limit(bulk("Cu", "fcc", a=3.59).cell * 3) == 3.79


def test_protocol_cutoffs_capped_explicit_ones_refused(aiida_profile_clean):
    from aiida_wigner.workflows.force_constants import ForceConstantsWorkChain

    structure = orm.StructureData(ase=cu3au())
    builder = ForceConstantsWorkChain.get_builder_from_protocol(
        structure, engine="emt", protocol="fast"
    )
    fit = builder.fit.parameters.get_dict()
    assert fit["cutoffs"] == {"2": 3.74, "3": 3.74, "4": 3.0}  # fast.yaml: 4.0, 4.0, 3.0
    assert fit["cap_cutoffs"] is True
    assert "order-2 cutoff 4.0 Å capped at 3.74 Å" in builder.metadata.description
    with pytest.raises(
        ValueError,
        match=re.escape(
            "cutoff 5.00 Å of order 2 exceeds the largest this supercell allows, 3.74 Å"
        ),
    ) as info:
        ForceConstantsWorkChain.get_builder_from_protocol(
            structure,
            engine="emt",
            protocol="fast",
            overrides={"fit": {"parameters": {"cutoffs": {"2": 5.0, "3": 3.0}}}},
        )
    assert "larger supercell (e.g. supercell [3, 3, 3])" in str(info.value)
    explicit = ForceConstantsWorkChain.get_builder_from_protocol(
        structure,
        engine="emt",
        protocol="fast",
        overrides={"fit": {"parameters": {"cutoffs": {"2": 3.5}}}},
    )
    assert explicit.fit.parameters["cap_cutoffs"] is False
    assert not explicit.metadata.get("description")


def test_fit_cli_explicit_cutoff_too_large(aiida_profile_clean, tmp_path):
    path = tmp_path / "POSCAR"
    path.write_text(POSCAR)
    over = tmp_path / "over.yaml"
    over.write_text("fit: {parameters: {cutoffs: {'2': 5.0}}}\n")
    result = invoke("fit", path, "--engine", "emt", "--overrides", over)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Error: building the emt inputs: fit.cutoffs: cutoff 5.00 Å" in result.output
    assert orm.QueryBuilder().append(orm.ProcessNode).count() == 0


def test_cu3au_emt_fast_protocol_fit_finishes(aiida_profile_clean):
    """The case of issue 13: the fast protocol's 4.0 Å on Cu₃Au 2x2x2 with EMT.  The builder
    caps at 3.74 Å (input cell, a = 3.75 Å); EMT relaxes a to 3.708 Å, and the fit step caps
    again at 3.69 Å.  Sampling is shortened (not the cutoffs) to keep the test quick."""
    from aiida.engine import run_get_node

    from aiida_wigner.workflows.force_constants import ForceConstantsWorkChain

    builder = ForceConstantsWorkChain.get_builder_from_protocol(
        orm.StructureData(ase=cu3au()),
        engine="emt",
        protocol="fast",
        overrides={
            "sampling": {
                "md": {"n_steps": 60, "interval": 2},
                "parameters": {"n_snapshots": 6, "discard_steps": 20},
            },
            "fit": {"parameters": {"validation": {"method": "k-fold", "n_splits": 3}}},
        },
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    scores = results["scores"].get_dict()
    assert results["lattice"]["a"] == pytest.approx(3.708, abs=1e-3)
    assert scores["cutoffs"] == {"2": 3.69, "3": 3.69, "4": 3.0}
    assert scores["cutoffs_capped"] == {"2": [3.74, 3.69], "3": [3.74, 3.69]}


def _fit_inputs(atoms, supercell, n_structures, parameters):
    from aiida_wigner.fitting.harmonic import build_setup

    n = build_setup(atoms, supercell).n_super
    zeros = orm.ArrayData()
    zeros.set_array("displacements", np.zeros((n_structures, n, 3)))
    forces = orm.ArrayData()
    forces.set_array("forces", np.zeros((n_structures, n, 3)))
    return {
        "structure": orm.StructureData(ase=atoms),
        "displacements": zeros,
        "forces": forces,
        "parameters": orm.Dict({"harmonic": "joint", **parameters}),
    }, supercell


def test_fit_step_refuses_explicit_cutoff_beyond_the_supercell(aiida_profile_clean):
    from aiida_wigner.calculations.fitting import fit_hiphive

    inputs, supercell = _fit_inputs(cu3au(3.708), [2, 2, 2], 3, {"cutoffs": {"2": 3.74}})
    inputs["parameters"] = orm.Dict(
        {**inputs["parameters"].get_dict(), "supercell_matrix": supercell}
    )
    _, node = fit_hiphive.run_get_node(**inputs)
    assert node.exit_status == status("ERROR_FIT_SETUP")
    assert (
        "cutoff 3.74 Å of order 2 exceeds the largest this supercell allows, 3.69 Å"
        in node.exit_message
    )


def test_too_many_parameters_refused_before_the_fit_matrix(aiida_profile_clean):
    """Cu₃Au with its symmetry broken (P1, atoms moved by ~0.03 Å): a 2x2x2 supercell and
    two structures give 192 force components; an order-2 cutoff of 3.0 Å already has 207
    free parameters (hiphive's count)."""
    from aiida.engine import run_get_node

    from aiida_wigner.calculations.fitting import fit_hiphive
    from aiida_wigner.workflows.force_constants import FitWorkChain

    p1 = cu3au()
    p1.positions += np.random.default_rng(0).normal(scale=0.03, size=(4, 3))
    inputs, supercell = _fit_inputs(p1, [2, 2, 2], 2, {"cutoffs": {"2": 3.0}})
    u = np.random.default_rng(1).normal(scale=0.01, size=(2, 32, 3))
    inputs["displacements"].set_array("displacements", u)
    inputs["forces"].set_array("forces", -2.0 * u)
    params = {**inputs["parameters"].get_dict(), "supercell_matrix": supercell}
    _, node = fit_hiphive.run_get_node(**{**inputs, "parameters": orm.Dict(params)})
    assert node.exit_status == status("ERROR_TOO_MANY_PARAMETERS")
    for text in (
        "207 free parameters (order 2: 207) but only 192 force components",
        "lower the cutoffs (order 2 has the most)",
        "add training structures (at least 3 structures)",
    ):
        assert text in node.exit_message
    _, wc = run_get_node(FitWorkChain, supercell_matrix=orm.List(supercell), **inputs)
    assert wc.exit_status == status("ERROR_TOO_MANY_PARAMETERS")
    assert "207 free parameters" in wc.exit_message
    # the ratio is a parameter: 207 <= 1.1 x 192 passes the guard and the fit runs
    _, ok = fit_hiphive.run_get_node(
        **{
            **inputs,
            "parameters": orm.Dict(
                {**params, "max_parameter_ratio": 1.1, "validation": {"method": "split"}}
            ),
        }
    )
    assert ok.is_finished_ok, ok.exit_message


# -- relaxation sanity ----------------------------------------------------------------------------


def test_absurd_relaxation_volume_is_refused(aiida_profile_clean):
    """ASE's Lennard-Jones defaults (σ = 1 Å) collapse Cu₃Au: refused after the relax step."""
    from aiida.engine import run_get_node

    from aiida_wigner.workflows.engine import RelaxWorkChain

    _, node = run_get_node(
        RelaxWorkChain,
        engine={"calculator": orm.Dict({"name": "lj"})},
        structure=orm.StructureData(ase=cu3au()),
        parameters=orm.Dict({"fmax": 1e-3, "max_steps": 300}),
    )
    assert node.exit_status == status("ERROR_VOLUME_CHANGED")
    message = node.exit_message
    assert "The relaxation changed the volume by -" in message
    assert "more than max_volume_change = 20%" in message and "engine.calculator" in message
    assert node.outputs.lattice["a"] < 3.75 * 0.93  # a 20 % volume change is 7 % in a


def test_volume_guard_stops_the_force_constant_workflow(aiida_profile_clean):
    """The LJ collapse ends ForceConstantsWorkChain with the relax step's own code, before any
    phonon step; the threshold is a relax setting of the protocol (overrides)."""
    from aiida.engine import run_get_node

    from aiida_wigner.workflows.force_constants import ForceConstantsWorkChain

    structure = orm.StructureData(ase=cu3au())
    builder = ForceConstantsWorkChain.get_builder_from_protocol(
        structure, engine="lj", protocol="fast"
    )
    _, node = run_get_node(builder)
    assert node.exit_status == status("ERROR_VOLUME_CHANGED")
    assert "max_volume_change = 20%" in node.exit_message
    assert [child.process_label for child in node.called] == ["RelaxWorkChain"]
    relaxed = ForceConstantsWorkChain.get_builder_from_protocol(
        structure, engine="lj", protocol="fast", overrides={"relax": {"max_volume_change": 0.9}}
    )
    assert relaxed.relax.max_volume_change.value == 0.9
    assert "max_volume_change" not in relaxed.relax.parameters.get_dict()

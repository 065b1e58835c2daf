"""The ``aiida-wigner`` command line: help, input errors, ``kappa`` runs, profile creation."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from aiida import orm
from click.testing import CliRunner

from aiida_wigner.cli import cmd_root

MODE_DATASETS = (
    "qpoint",
    "weight",
    "frequency",
    "gamma_3ph",
    "gamma_4ph",
    "gamma_isotope",
    "gamma",
    "group_velocity",
    "heat_capacity",
)
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CLI = shutil.which("aiida-wigner", path=str(Path(sys.executable).parent)) or "aiida-wigner"


def invoke(*args):
    return CliRunner().invoke(cmd_root, [str(a) for a in args])


@pytest.fixture
def fake_load(monkeypatch, cu3au_fc):
    """Replace the file reader of the ``kappa`` command; records what it was given."""
    import aiida_wigner.cli.options as cli_options

    calls = []

    def load(**kwargs):
        calls.append(kwargs)
        return cu3au_fc

    monkeypatch.setattr(cli_options, "load_files", load)
    return calls


def _base_args(files, *extra):
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


def test_help():
    result = invoke("--help")
    assert result.exit_code == 0, result.output
    assert "kappa" in result.output and "--profile" in result.output
    result = invoke("kappa", "--help")
    assert result.exit_code == 0, result.output
    for option in (
        "--cell",
        "--structure",
        "--supercell",
        "--fc2",
        "--fc3",
        "--fcp",
        "--mesh",
        "--temperatures",
        "--isotope",
        "--sigma",
        "--smearing",
        "--scale",
        "--convention",
        "--output",
        "--modes",
        "--frequency-bins",
    ):
        assert option in result.output


def test_usage_errors(aiida_profile_clean, cu3au_files, tmp_path):
    files = {k: str(v) for k, v in cu3au_files.items()}
    poscar = tmp_path / "POSCAR"
    poscar.write_text("placeholder\n")
    cases = [
        (
            ["kappa", "--cell", files["cell"], "--fc2", tmp_path / "nope.hdf5", "--mesh", 2, 2, 2],
            "does not exist",
        ),
        (_base_args(files, "--structure", poscar, "--supercell", 2, 2, 2), "use only one"),
        (["kappa", "--fc2", files["fc2"], "--mesh", 2, 2, 2], "give the crystal"),
        (
            ["kappa", "--structure", poscar, "--fc2", files["fc2"], "--mesh", 2, 2, 2],
            "--supercell N1 N2 N3",
        ),
        (
            ["kappa", "--cell", files["cell"], "--fc3", files["fc3"], "--mesh", 2, 2, 2],
            "harmonic force constants",
        ),
        (_base_args(files, "--smearing", "adaptive", "--sigma", 0.1), "use --scale"),
        (_base_args(files, "--scale", 0.2), "--smearing adaptive only"),
        (["kappa", "--cell", files["cell"], "--fc2", files["fc2"], "--mesh", 0, 2, 2], "--mesh"),
        (_base_args(files, "--temperatures", -5), "temperatures must be non-negative"),
        (_base_args(files, "--convention", "shengbte"), "--convention"),
        (["kappa", "--cell", files["cell"], "--fc2", files["fc2"]], "Missing option '--mesh'"),
        (_base_args(files, "--primitive-matrix", 1, 2), "9 numbers"),
    ]
    for args, message in cases:
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert orm.QueryBuilder().append(orm.Node).count() == 0  # nothing stored


def test_unknown_profile_is_an_error(aiida_profile_clean, cu3au_files):
    """An explicit -p that does not exist is a usage error, not a reason to create one."""
    result = invoke("-p", "nosuch", *_base_args({k: str(v) for k, v in cu3au_files.items()}))
    assert result.exit_code == 2
    assert "nosuch" in result.output and "Traceback" not in result.output


def test_options_forwarded(aiida_profile, tmp_path, fake_load, fake_compute_kappa):
    poscar = tmp_path / "POSCAR"
    poscar.write_text("placeholder\n")
    fcp = tmp_path / "x.fcp"
    fcp.write_bytes(b"placeholder")
    third = tmp_path / "FORCE_CONSTANTS_3RD"
    third.write_text("placeholder\n")
    result = invoke(
        "kappa",
        "--structure",
        poscar,
        "--supercell",
        2,
        2,
        2,
        "--fc2",
        fcp,
        "--fc3",
        third,
        "--mesh",
        2,
        2,
        2,
        "--smearing",
        "adaptive",
        "--scale",
        0.2,
    )
    assert result.exit_code == 0, result.output
    assert fake_load[-1] == {"structure": poscar, "supercell": (2, 2, 2), "fc2": fcp, "fc3": third}
    result = invoke(
        "kappa",
        "--fcp",
        fcp,
        "--mesh",
        2,
        2,
        2,
        "--primitive-matrix",
        *"0 0.5 0.5 0.5 0 0.5 0.5 0.5 0".split(),
    )
    assert result.exit_code == 0, result.output
    assert fake_load[-1] == {
        "fcp": fcp,
        "primitive_matrix": [[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]],
    }
    result = invoke("kappa", "--fcp", fcp, "--mesh", 2, 2, 2, "--primitive-matrix", "f")
    assert result.exit_code == 0, result.output
    assert fake_load[-1] == {"fcp": fcp, "primitive_matrix": "F"}


def test_input_file_errors_are_clean(aiida_profile_clean, cu3au_files, monkeypatch):
    import aiida_wigner.cli.options as cli_options

    def broken(**kwargs):
        raise ValueError("fc2.hdf5: expected a dataset 'force_constants'")

    monkeypatch.setattr(cli_options, "load_files", broken)
    result = invoke(*_base_args({k: str(v) for k, v in cu3au_files.items()}))
    assert result.exit_code == 1
    assert "Error: reading the force constants: fc2.hdf5: expected a dataset" in result.output
    assert "Traceback" not in result.output
    assert orm.QueryBuilder().append(orm.Node).count() == 0
    # --verbosity debug keeps the original exception for bug reports (aiida reads the option
    # once per process, so forget the earlier in-process call)
    from aiida.common import log

    log.CLI_ACTIVE = None
    result = invoke(*_base_args({k: str(v) for k, v in cu3au_files.items()}, "-v", "debug"))
    assert isinstance(result.exception, ValueError)


def test_failed_calculation_is_clean_error(aiida_profile_clean, cu3au_fc, cu3au_files, monkeypatch):
    """Unstable phonons: non-zero exit, the physics message, no traceback; node recorded."""
    import aiida_wigner.cli.options as cli_options
    from aiida_wigner.physics.forceconstants import ForceConstants

    unstable = ForceConstants(cu3au_fc.setup, -cu3au_fc.fc2, cu3au_fc.fc3)
    monkeypatch.setattr(cli_options, "load_files", lambda **kwargs: unstable)
    result = invoke(*_base_args({k: str(v) for k, v in cu3au_files.items()}))
    assert result.exit_code == 1
    assert "failed with exit status 340" in result.output and "imaginary" in result.output
    assert "Traceback" not in result.output
    assert orm.QueryBuilder().append(orm.ProcessNode).one()[0].exit_status == 340


def _check_outputs(output, modes_path, temperatures, n_bands=12):
    record = json.loads(Path(output).read_text())
    assert {"temperatures", "kappa_P", "kappa_C", "kappa", "units", "node"} <= set(record)
    assert record["temperatures"] == temperatures
    for key in ("kappa_P", "kappa_C", "kappa"):
        assert np.array(record[key]).shape == (len(temperatures), 3, 3)
    assert record["units"] == "W/(m K)"
    assert UUID.match(record["node"])
    with h5py.File(modes_path) as h5:
        for name in MODE_DATASETS:
            assert name in h5, name
        n_q = h5["qpoint"].shape[0]
        assert h5["frequency"].shape == (n_q, n_bands)
        assert h5["gamma"].shape == (len(temperatures), n_q, n_bands)
        assert h5["group_velocity"].shape == (n_q, n_bands, 3)
    return record


def test_kappa_full_form_in_process(
    aiida_profile_clean, cu3au_files, tmp_path, fake_load, fake_compute_kappa
):
    """The documented command line, reading and physics replaced: outputs and provenance."""
    files = cu3au_files
    output, modes = tmp_path / "result.json", tmp_path / "modes.h5"
    result = invoke(
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
        "--temperatures",
        100,
        300,
        700,
        "--isotope",
        "--sigma",
        0.1,
        "--convention",
        "phono3py",
        "--output",
        output,
        "--modes",
        modes,
    )
    assert result.exit_code == 0, result.output
    assert "kP xx" in result.output and "700" in result.output
    assert fake_load[-1] == {"cell": files["cell"], "fc2": files["fc2"], "fc3": files["fc3"]}
    record = _check_outputs(output, modes, [100.0, 300.0, 700.0])

    summary = orm.load_node(record["node"])
    process = summary.creator
    assert process.process_type == "aiida.calculations:wigner.kappa"
    assert process.uuid == record["process"]
    settings = process.inputs.settings.get_dict()
    assert settings["isotope"] is True and settings["convention"] == "phono3py"
    assert settings["sigma"] == 0.1 and settings["three_phonon"] is True
    assert process.inputs.force_constants.formula == "AuCu3"
    np.testing.assert_array_equal(record["kappa"], process.outputs.kappa.get_array("kappa"))
    with h5py.File(modes) as h5:
        np.testing.assert_array_equal(h5["gamma"][()], process.outputs.modes.get_array("gamma"))


def test_kappa_structure_form_reads_files(
    aiida_profile_clean, cu3au_fc, cu3au_files, tmp_path, fake_compute_kappa
):
    """--structure POSCAR --supercell 2 2 2 with the real file reader (physics.io)."""
    from phonopy.interface.vasp import write_vasp

    poscar = tmp_path / "POSCAR"
    write_vasp(str(poscar), cu3au_fc.setup.unitcell.to_phonopy())
    result = invoke(
        "kappa",
        "--structure",
        poscar,
        "--supercell",
        2,
        2,
        2,
        "--fc2",
        cu3au_files["fc2"],
        "--fc3",
        cu3au_files["fc3"],
        "--mesh",
        2,
        2,
        2,
        "--smearing",
        "adaptive",
        "--scale",
        0.2,
    )
    assert result.exit_code == 0, result.output
    node = (
        orm.QueryBuilder()
        .append(orm.Data, filters={"node_type": {"like": "data.wigner.%"}})
        .one()[0]
    )
    fc = node.get_force_constants()
    np.testing.assert_allclose(fc.fc2, cu3au_fc.fc2, atol=1e-12)
    np.testing.assert_allclose(fc.dense_fc3(), cu3au_fc.dense_fc3(), atol=1e-12)


@pytest.mark.slow  # building the hiphive cluster space takes ~7 s
def test_kappa_fcp_form_stores_all_orders(
    aiida_profile_clean, cu3au_fc, cu3au_files, tmp_path, fake_compute_kappa
):
    """--fcp supplies the orders not given as files (here FC3 and a sparse FC4)."""
    from io_models import hiphive_fcp

    fcp = tmp_path / "x.fcp"
    hiphive_fcp().write(str(fcp))
    result = invoke(
        "kappa",
        "--cell",
        cu3au_files["cell"],
        "--fc2",
        cu3au_files["fc2"],
        "--fcp",
        fcp,
        "--mesh",
        2,
        2,
        2,
    )
    assert result.exit_code == 0, result.output
    node = (
        orm.QueryBuilder()
        .append(orm.Data, filters={"node_type": {"like": "data.wigner.%"}})
        .one()[0]
    )
    assert node.orders == [2, 3, 4]
    fc = node.get_force_constants()
    np.testing.assert_allclose(fc.fc2, cu3au_fc.fc2, atol=1e-12)
    assert len(fc.fc4) == node.base.attributes.get("n_fc4_clusters") > 0


def test_kappa_unreadable_file_is_clean_error(aiida_profile_clean, cu3au_files, tmp_path):
    """A file that is not force constants: a one-line error, no traceback (physics.io)."""
    garbage = tmp_path / "fc2.hdf5"
    garbage.write_text("this is not HDF5\n")
    result = invoke(
        "kappa", "--cell", cu3au_files["cell"], "--fc2", garbage, "--mesh", 2, 2, 2, "--isotope"
    )
    assert result.exit_code == 1, result.output
    assert "Error: reading the force constants" in result.output
    assert "Traceback" not in result.output
    assert orm.QueryBuilder().append(orm.Node).count() == 0


# -- subprocesses with their own AIIDA_PATH ------------------------------------------------

_WHOAMI = """
import click
from aiida_wigner.cli.root import cmd_root
from aiida_wigner.cli.utils import ensure_profile

@cmd_root.command("whoami")
@click.pass_context
def whoami(ctx):
    profile = ensure_profile(ctx)
    click.echo(f"PROFILE={profile.name} STORAGE={profile.storage_backend}")

cmd_root(prog_name="aiida-wigner")
"""


def _env(aiida_path: Path) -> dict:
    env = dict(os.environ)
    env["AIIDA_PATH"] = str(aiida_path)
    return env


def _run(args, aiida_path, cwd=None, timeout=120):
    return subprocess.run(
        args, env=_env(aiida_path), cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def test_profile_created_on_first_use(tmp_path):
    """No profile in $AIIDA_PATH: one is made as `verdi presto` does, then reused."""
    aiida_path = tmp_path / "aiida_home"
    whoami = [sys.executable, "-c", _WHOAMI, "whoami"]

    # --help never creates a profile
    assert _run([sys.executable, "-c", _WHOAMI, "whoami", "--help"], aiida_path).returncode == 0
    assert not list(aiida_path.glob(".aiida/config.json")) or not json.loads(
        (aiida_path / ".aiida/config.json").read_text()
    ).get("profiles")

    first = _run(whoami, aiida_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Created new profile `presto`" in first.stdout + first.stderr
    assert "PROFILE=presto STORAGE=core.sqlite_dos" in first.stdout
    config_file = aiida_path / ".aiida" / "config.json"
    config = json.loads(config_file.read_text())
    assert config["default_profile"] == "presto"
    storage = config["profiles"]["presto"]["storage"]["config"]["filepath"]
    assert Path(storage).is_relative_to(aiida_path)  # AIIDA_PATH respected

    second = _run(whoami, aiida_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "PROFILE=presto " in second.stdout and "Created" not in second.stdout + second.stderr

    # a configured default that no longer exists: a new profile is made and becomes default
    config["default_profile"] = "deleted-profile"
    config_file.write_text(json.dumps(config))
    third = _run(whoami, aiida_path)
    assert third.returncode == 0, third.stdout + third.stderr
    assert "PROFILE=presto-1 STORAGE=core.sqlite_dos" in third.stdout
    assert json.loads(config_file.read_text())["default_profile"] == "presto-1"


def test_kappa_end_to_end_fresh_profile(tmp_path, cu3au_files):
    """The documented `aiida-wigner kappa` command line on real files, in a fresh AIIDA_PATH."""
    aiida_path = tmp_path / "aiida_home"
    files = cu3au_files
    args = [
        CLI,
        "kappa",
        "--cell",
        files["cell"],
        "--fc2",
        files["fc2"],
        "--fc3",
        files["fc3"],
        "--mesh",
        "4",
        "4",
        "4",
        "--temperatures",
        "100",
        "300",
        "700",
        "--isotope",
        "--sigma",
        "0.1",
        "--convention",
        "phono3py",
        "--output",
        "result.json",
        "--modes",
        "modes.h5",
    ]
    run = _run([str(a) for a in args], aiida_path, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Created new profile" in run.stdout + run.stderr
    assert "kP xx" in run.stdout
    record = _check_outputs(tmp_path / "result.json", tmp_path / "modes.h5", [100.0, 300.0, 700.0])
    kappa = np.array(record["kappa"])
    assert np.all(np.isfinite(kappa))
    np.testing.assert_allclose(
        kappa, np.array(record["kappa_P"]) + np.array(record["kappa_C"]), rtol=1e-10, atol=1e-12
    )
    assert np.all(np.diagonal(kappa, axis1=1, axis2=2) > 0)

    verdi = shutil.which("verdi", path=str(Path(sys.executable).parent)) or "verdi"
    shown = _run([verdi, "node", "show", record["node"]], aiida_path)
    assert shown.returncode == 0, shown.stdout + shown.stderr

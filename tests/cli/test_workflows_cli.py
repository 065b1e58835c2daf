"""``aiida-wigner fit`` end to end with EMT on fcc Cu (seconds)."""

from __future__ import annotations

import yaml
from ase.build import bulk
from click.testing import CliRunner

from aiida_wigner.cli import cmd_root


def test_fit_cli_emt(tmp_path):
    path = tmp_path / "Cu.cif"
    bulk("Cu", "fcc", a=3.62).write(str(path))
    overrides = {
        "relax": {"parameters": {"max_steps": 100}},
        "sampling": {
            "md": {"n_steps": 40, "interval": 2},
            "parameters": {"n_snapshots": 5, "discard_steps": 10},
        },
        "fit": {"parameters": {"cutoffs": {"2": 3.0, "3": 3.0}, "validation": {"n_splits": 3}}},
    }
    ov = tmp_path / "over.yaml"
    ov.write_text(yaml.safe_dump(overrides))
    result = CliRunner().invoke(
        cmd_root,
        [
            "fit",
            str(path),
            "--engine",
            "emt",
            "--protocol",
            "fast",
            "--supercell",
            "3",
            "3",
            "3",
            "--overrides",
            str(ov),
        ],
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "harmonic frequencies (THz" in out and "R² validation" in out
    assert "Fm-3m (225)" in out
    assert "force_constants: <" in out


def test_fit_cli_vasp_needs_code(tmp_path):
    path = tmp_path / "Cu.cif"
    bulk("Cu", "fcc", a=3.62).write(str(path))
    result = CliRunner().invoke(cmd_root, ["fit", str(path), "--engine", "vasp"])
    assert result.exit_code != 0
    assert "--code" in result.output

"""docs/tutorial.md, run command by command on a small case, so the tutorial cannot rot.

The commands are read from the tutorial's ``bash`` blocks and run in order, as written, in a
scratch directory that holds the same file names (``examples/cscu4se3/CsCu4Se3.cif``, the
two overrides files of ``examples/cscu4se3/study/``) but a small case: L1₂ Cu₃Au with EMT,
a short MD, SCPB on 2×2×2, κ on a 4×4×4 mesh at two temperatures.  Only what names the case
is replaced: ``--engine sevennet`` by ``--engine emt``, ``--formula CsCu4Se3`` by the
formula of Cu₃Au, the frequency windows of the mode removal by ones where Cu₃Au has modes,
and the placeholders
``PK_4PH``, ``PK_3PH``, ``UUID_4PH`` by the nodes the earlier commands made.  The archive is
imported into a second, empty profile, where ``reproduce`` and ``results`` run.
"""

from __future__ import annotations

import json
import pathlib
import re
import shlex

import numpy as np
import pytest
import yaml
from aiida import orm
from click.testing import CliRunner

from aiida_wigner.cli import cmd_root

TUTORIAL = pathlib.Path(__file__).parents[2] / "docs" / "tutorial.md"
KAPPA = {"mesh": [4, 4, 4], "smearing": "gaussian", "sigma": 0.1, "four_phonon_samples": 4}
SMALL = {
    "study/fast_l3i5.yaml": {
        "temperatures": [300.0, 600.0],
        "fitting": {
            "fit": {"parameters": {"cutoffs": {"2": 3.5, "3": 3.5, "4": 3.0}}},
            "sampling": {
                "md": {"n_steps": 60},
                "parameters": {"n_snapshots": 6, "discard_steps": 10},
            },
        },
        "renormalization": {"mesh": [2, 2, 2], "inner_mesh": [4, 4, 4]},
        "kappa": KAPPA,
    },
    "study/three_phonon.yaml": {
        "temperatures": [300.0, 600.0],
        "renormalization": {"mesh": [2, 2, 2], "inner_mesh": [4, 4, 4]},
        "kappa": dict(KAPPA, four_phonon=None),
    },
}
CASE = {
    "--engine sevennet": "--engine emt",
    "--formula CsCu4Se3": "--formula AuCu3",
    "--window 1.0 1.5 --window 1.5 2.0": "--window 2.0 3.0 --window 3.0 4.0",
}


def tutorial_commands() -> list[str]:
    """The command lines of the tutorial's ``bash`` blocks, in order."""
    blocks = re.findall(r"```bash\n(.*?)```", TUTORIAL.read_text(), flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def verdi(args):
    from aiida.cmdline.commands.cmd_verdi import verdi as cmd_verdi
    from aiida.common.extendeddicts import AttributeDict
    from aiida.manage import get_manager
    from aiida.manage.configuration import get_config

    obj = AttributeDict({"config": get_config(), "profile": get_manager().get_profile()})
    return CliRunner().invoke(cmd_verdi, args, obj=obj)


def invoke(line: str, names: dict):
    for old, new in CASE.items():
        line = line.replace(old, new)
    args = [names.get(a, a) for a in shlex.split(line)]
    program, args = args[0], args[1:]
    assert program in ("aiida-wigner", "verdi"), line
    result = verdi(args) if program == "verdi" else CliRunner().invoke(cmd_root, args)
    assert result.exit_code == 0, f"{line}\n{result.output}"
    return result


@pytest.fixture
def case(tmp_path, monkeypatch):
    """A scratch directory laid out like the repository's example, holding the small case."""
    from ase import Atoms

    example = tmp_path / "examples" / "cscu4se3"
    (example / "study").mkdir(parents=True)
    (example / "figures").mkdir()
    Atoms(
        "AuCu3",
        scaled_positions=[[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]],
        cell=np.eye(3) * 3.75,
        pbc=True,
    ).write(example / "CsCu4Se3.cif")
    for name, overrides in SMALL.items():
        (example / name).write_text(yaml.safe_dump(overrides))
    monkeypatch.chdir(tmp_path)
    return example


@pytest.fixture
def second_profile(aiida_config_factory, aiida_profile_factory, tmp_path):
    """Opens another, empty profile when entered (the receiving side of the archive)."""

    def enter():
        config = aiida_config_factory(tmp_path / "elsewhere")
        profile = aiida_profile_factory(config.__enter__())
        profile.__enter__()
        return config, profile

    opened = []
    yield lambda: opened.append(enter())
    for config, profile in reversed(opened):
        profile.__exit__(None, None, None)
        config.__exit__(None, None, None)


@pytest.mark.slow
def test_tutorial_commands_run(aiida_profile_clean, case, second_profile):
    commands = tutorial_commands()
    assert len(commands) >= 20, "the tutorial lost its commands"
    names: dict[str, str] = {}
    imported = False
    for line in commands:
        if line.startswith("verdi archive import") and not imported:
            second_profile()
            assert orm.QueryBuilder().append(orm.Node).count() == 0
            imported = True
        result = invoke(line, names)
        if line.startswith("aiida-wigner run"):
            out = shlex.split(line)
            summary = json.loads(pathlib.Path(out[out.index("-o") + 1]).read_text())
            key = "PK_3PH" if "PK_4PH" in names else "PK_4PH"
            names[key] = str(summary["process"])
            names["UUID" + key[2:]] = orm.load_node(summary["process"]).uuid
        if line.startswith("aiida-wigner plot"):
            out = shlex.split(line)
            assert pathlib.Path(out[out.index("-o") + 1]).stat().st_size > 0
        if line.startswith("aiida-wigner reproduce"):
            assert "Traceback" not in result.output
    assert imported and set(names) == {"PK_4PH", "PK_3PH", "UUID_4PH", "UUID_3PH"}
    # the imported archive's κ table is the one printed before the export
    rows = json.loads(invoke("aiida-wigner results --format json", names).output)["rows"]
    assert {row["uuid"] for row in rows} >= {names["UUID_4PH"], names["UUID_3PH"]}

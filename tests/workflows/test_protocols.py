"""Protocols: the builders of every protocol pinned, the protocol API (available protocols,
inputs with overrides shaped like the input ports) and its errors.

``tests/data/protocol_builders.json`` holds the inputs of ``get_builder_from_protocol`` of
``ForceConstantsWorkChain`` and ``WignerConductivityWorkChain`` turned into plain data, for
each protocol and a few engines and overrides.  It was written once from the code before the
protocols moved to one YAML per workflow (the per-protocol fast/balanced/paper.yaml files);
the comparison is exact, so the refactor changed no input.  Regenerate on purpose with
``WIGNER_REGENERATE_PROTOCOLS=1 pytest tests/workflows/test_protocols.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np
import pytest
from aiida import orm

DATA = pathlib.Path(__file__).parents[1] / "data" / "protocol_builders.json"
PROTOCOLS = ("fast", "balanced", "paper")
#: A short fit (the shape of the CLI's ``--overrides`` YAML).
OVERRIDES = {
    "supercell_matrix": [3, 3, 3],
    "run_relax": False,
    "relax": {"parameters": {"fmax": 0.002}},
    "sampling": {"md": {"n_steps": 60}, "parameters": {"n_snapshots": 6}},
    "fit": {"parameters": {"cutoffs": {"2": 3.5, "3": 3.0}}},
}


def cu3au(a=3.75):
    from ase import Atoms

    return orm.StructureData(
        ase=Atoms(
            "AuCu3",
            scaled_positions=[[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]],
            cell=np.eye(3) * a,
            pbc=True,
        )
    )


def plain(value):
    """Builder inputs as JSON-able data: Dict/List/base types by value, other nodes by type."""
    if isinstance(value, orm.Dict):
        return value.get_dict()
    if isinstance(value, orm.List):
        return value.get_list()
    if isinstance(value, (orm.Bool, orm.Int, orm.Float, orm.Str)):
        return value.value
    if isinstance(value, orm.StructureData):
        return {"structure": value.get_formula(), "cell": np.round(value.cell, 6).tolist()}
    if isinstance(value, orm.Node):
        return f"<{type(value).__name__}>"
    if hasattr(value, "items"):
        return {k: plain(v) for k, v in sorted(value.items()) if plain(v) not in ({}, None)}
    return value


def builder_inputs(builder) -> dict:
    return plain(builder._inputs(prune=True))


def build_all(code=None) -> dict:
    from aiida_wigner.workflows.conductivity import WignerConductivityWorkChain
    from aiida_wigner.workflows.force_constants import ForceConstantsWorkChain

    s = cu3au()
    out = {}
    for protocol in PROTOCOLS:
        for engine in ("sevennet", "emt"):
            out[f"force_constants/{protocol}/{engine}"] = builder_inputs(
                ForceConstantsWorkChain.get_builder_from_protocol(
                    s, engine=engine, protocol=protocol
                )
            )
        out[f"conductivity/{protocol}/sevennet"] = builder_inputs(
            WignerConductivityWorkChain.get_builder_from_protocol(s, protocol=protocol)
        )
    out["force_constants/fast/lj/overrides"] = builder_inputs(
        ForceConstantsWorkChain.get_builder_from_protocol(
            s, engine="lj", protocol="fast", overrides=OVERRIDES
        )
    )
    out["force_constants/fast/sevennet/model+supercell"] = builder_inputs(
        ForceConstantsWorkChain.get_builder_from_protocol(
            s, protocol="fast", model="7net-l3i5", supercell=[3, 3, 3]
        )
    )
    out["conductivity/balanced/emt/harmonic+temperatures+overrides"] = builder_inputs(
        WignerConductivityWorkChain.get_builder_from_protocol(
            s,
            engine="emt",
            protocol="balanced",
            temperatures=[250, 350],
            overrides={
                "fitting": OVERRIDES,
                "renormalization": None,
                "kappa": {"mesh": [6, 6, 6], "sigma": 0.2, "smearing": "gaussian"},
            },
        )
    )
    if code is not None:
        out["force_constants/paper/vasp"] = builder_inputs(
            ForceConstantsWorkChain.get_builder_from_protocol(
                s,
                engine="vasp",
                protocol="paper",
                code=code,
                overrides={
                    "engines": {
                        "vasp": {
                            "potential_family": "FAKE.54",
                            "potential_mapping": {"Au": "Au", "Cu": "Cu"},
                        }
                    }
                },
            )
        )
    return out


@pytest.fixture
def vasp_code(aiida_localhost, tmp_path_factory):
    pytest.importorskip("aiida_vasp", reason="the VASP builder needs aiida-vasp")
    from stand_in_vasp import install_code, upload_fake_potcar_family

    upload_fake_potcar_family(tmp_path_factory.mktemp("potcars"), "FAKE.54")
    return install_code(aiida_localhost)


def test_builders_pinned(vasp_code):
    built = json.loads(json.dumps(build_all(vasp_code)))
    if os.environ.get("WIGNER_REGENERATE_PROTOCOLS"):
        DATA.write_text(json.dumps(built, indent=1, sort_keys=True) + "\n")
    pinned = json.loads(DATA.read_text())
    assert sorted(built) == sorted(pinned)
    for key in pinned:
        assert built[key] == pinned[key], key


# -- the protocol API --------------------------------------------------------------------------


def workchains():
    from aiida_wigner.workflows.conductivity import WignerConductivityWorkChain
    from aiida_wigner.workflows.force_constants import ForceConstantsWorkChain

    return ForceConstantsWorkChain, WignerConductivityWorkChain


@pytest.mark.parametrize("index", [0, 1])
def test_available_and_default_protocols(index):
    import click

    from aiida_wigner.cli import cmd_root

    wc = workchains()[index]
    available = wc.get_available_protocols()
    assert tuple(available) == PROTOCOLS and wc.get_default_protocol() == "fast"
    assert all(len(spec["description"]) > 20 for spec in available.values())
    assert wc.get_protocol_filepath().name in ("force_constants.yaml", "conductivity.yaml")
    for command in ("fit", "run"):  # the CLI's --protocol choices are these protocols
        option = next(p for p in cmd_root.commands[command].params if p.name == "protocol")
        assert isinstance(option.type, click.Choice) and tuple(option.type.choices) == PROTOCOLS
    with pytest.raises(ValueError, match=r"unknown protocol 'x'; available: \['balanced'"):
        wc.get_protocol_inputs("x")


def test_protocol_inputs_and_overrides():
    fc_wc, kappa_wc = workchains()
    fast = fc_wc.get_protocol_inputs()
    assert fast == fc_wc.get_protocol_inputs("fast")
    assert set(fast) == {
        "engines",
        "supercell_matrix",
        "run_relax",
        "relax",
        "harmonic",
        "sampling",
        "fit",
    }
    paper = fc_wc.get_protocol_inputs(
        "paper",
        {"fit": {"parameters": {"cutoffs": {"2": 5.0}}}, "sampling": {"md": {"n_steps": 10}}},
    )
    assert paper["fit"]["parameters"]["cutoffs"] == {"2": 5.0}  # replaced, not merged
    assert paper["fit"]["parameters"]["method"] == "adaptive-lasso"  # the rest kept
    assert paper["sampling"]["md"] == {
        **fc_wc.get_protocol_inputs("paper")["sampling"]["md"],
        "n_steps": 10,
    }
    paper["relax"]["parameters"]["fmax"] = 1.0  # the returned dict is the caller's own
    assert fc_wc.get_protocol_inputs("paper")["relax"]["parameters"]["fmax"] == 1e-4
    k = kappa_wc.get_protocol_inputs(
        "balanced", {"renormalization": None, "fitting": {"run_relax": False}}
    )
    assert k["renormalization"] is None and k["fitting"]["run_relax"] is False
    assert k["fitting"]["supercell_matrix"] == [4, 4, 2] and k["kappa"]["mesh"] == [12, 12, 8]


def test_cli_overrides_are_shaped_like_the_inputs(tmp_path):
    import click

    from aiida_wigner.cli.fit import read_overrides

    fc_wc, kappa_wc = workchains()
    path = tmp_path / "over.yaml"
    path.write_text(
        "fitting: {fit: {parameters: {cutoffs: {'2': 3.0}}}}\nkappa: {mesh: [2, 2, 2]}\n"
    )
    assert read_overrides(path, kappa_wc, "fast")["kappa"] == {"mesh": [2, 2, 2]}
    with pytest.raises(click.BadParameter, match="found \\['fitting', 'kappa'\\]"):
        read_overrides(path, fc_wc, "fast")


def test_overrides_at_the_wrong_level_are_refused():
    """An override that matches no input is an error, not silently dropped."""
    fc_wc, kappa_wc = workchains()
    with pytest.raises(
        ValueError,
        match=r"override relax: \['fmax'\] is not an input of the "
        r"'relax' namespace.*relax: \{parameters: \{fmax",
    ):
        fc_wc.get_protocol_inputs("fast", {"relax": {"fmax": 0.01}})
    with pytest.raises(ValueError, match=r"unknown protocol input\(s\) \['supercell'\]"):
        fc_wc.get_protocol_inputs("fast", {"supercell": [3, 3, 3]})
    with pytest.raises(
        ValueError,
        match=r"unknown protocol input\(s\) \['relax'\].*"
        r"\['kappa', 'renormalization', 'temperatures'\]",
    ):
        kappa_wc.get_builder_from_protocol(
            cu3au(), protocol="fast", overrides={"relax": {"parameters": {"fmax": 0.1}}}
        )
    with pytest.raises(ValueError, match=r"override sampling: \['n_snapshots'\]"):
        kappa_wc.get_protocol_inputs("fast", {"fitting": {"sampling": {"n_snapshots": 4}}})

"""``aiida-wigner results``: exactly the rows of the runs in the database, in three formats.

The runs are made here on a freshly emptied profile; the expected rows are built from the
``kappa`` ArrayData of each process (the numbers must come through bit for bit).
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from aiida import orm
from click.testing import CliRunner

from aiida_wigner.cli import cmd_root

AXES = ("xx", "yy", "zz")


def invoke(*args):
    return CliRunner().invoke(cmd_root, [str(a) for a in args])


@pytest.fixture(scope="module")
def runs(aiida_profile, cu3au_fc):
    """A harmonic kappa run (3 T), one on SCP phonons (2 T), a conductivity workflow (SCPB,
    sampled 4ph, 2 T), and processes that are not runs: the renormalization, a failed kappa
    calculation, and the workflow's own kappa calculation (shown as the workflow's row)."""
    from conductivity_runs import (
        SCP_TEMPERATURES,
        conductivity_workflow,
        kappa_run,
        renormalize_run,
        store_fc4_model,
    )

    from aiida_wigner.calculations.kappa import compute_kappa_calcfunction

    aiida_profile.reset_storage()
    node = store_fc4_model(cu3au_fc)
    harmonic = kappa_run(node, temperatures=[100.0, 300.0, 500.0], isotope=True)
    scp = renormalize_run(node, bubble="none")
    renormalized = kappa_run(node, scp.outputs.renormalization, temperatures=list(SCP_TEMPERATURES))
    _, failed = compute_kappa_calcfunction.run_get_node(
        force_constants=node,
        renormalization=scp.outputs.renormalization,
        settings=orm.Dict({"mesh": [2, 2, 2], "temperatures": [700.0]}),
    )
    assert failed.is_failed  # 700 K was not renormalized
    workflow = conductivity_workflow(node)
    return {"harmonic": harmonic, "renormalized": renormalized, "scp": scp, "workflow": workflow}


def expected_rows(process, phonons, four_phonon, isotope, kind="kappa", protocol=None):
    kappa = process.outputs.kappa
    rows = []
    for i, t in enumerate(kappa.get_array("temperatures")):
        row = {
            "pk": process.pk,
            "uuid": process.uuid,
            "kind": kind,
            "formula": "AuCu3",
            "engine": None,
            "protocol": protocol,
            "temperature": t,
            "phonons": phonons,
            "three_phonon": True,
            "four_phonon": four_phonon,
            "isotope": isotope,
            "ensemble_size": None,  # no fit ensemble here (test_conductivity_ensemble.py)
        }
        for name in ("kappa_P", "kappa_C", "kappa"):
            tensor = kappa.get_array(name)[i]
            row.update({f"{name}_{axis}": tensor[a, a] for a, axis in enumerate(AXES)})
            row[f"{name}_avg"] = np.trace(tensor) / 3
        row.update({f"{key}_std": None for key in list(row) if key.startswith("kappa")})
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def expected(runs):
    return (
        expected_rows(runs["harmonic"], "harmonic", None, True)
        + expected_rows(runs["renormalized"], "scp", None, False)
        + expected_rows(runs["workflow"], "scpb-qp", "sampled", False, "workflow", "fast")
    )


def test_json_rows_are_the_runs(runs, expected):
    result = invoke("results", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["units"]["kappa_C_zz"] == "W/(m K)" and data["units"]["temperature"] == "K"
    assert data["rows"] == expected  # every number bit for bit, nothing else listed


def test_csv_rows_are_the_runs(runs, expected):
    result = invoke("results", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert len(rows) == len(expected) == 7
    for row, want in zip(rows, expected, strict=True):
        assert row["kind"] == want["kind"] and int(row["pk"]) == want["pk"]
        assert row["protocol"] == (want["protocol"] or "")
        assert row["phonons"] == want["phonons"] and row["formula"] == "AuCu3"
        assert row["four_phonon"] == (want["four_phonon"] or "")
        assert float(row["temperature (K)"]) == want["temperature"]
        for key in [k for k in want if k.startswith("kappa")]:
            if want[key] is None:  # no ensemble: an empty cell
                assert row[f"{key} (W/(m K))"] == "", key
                continue
            assert float(row[f"{key} (W/(m K))"]) == want[key], key  # repr: exact round trip


def test_table_and_filters(runs, expected):
    result = invoke("results")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "W/(m K)" in lines[0] and "T (K)" in lines[1]
    body = lines[3:]
    assert len(body) == 7
    assert [int(line.split()[0]) for line in body] == [row["pk"] for row in expected]
    assert body[0].split()[6:8] == ["harmonic", "3ph+iso"]
    assert body[3].split()[6:8] == ["scp", "3ph"]
    assert body[5].split()[1:8] == [
        "workflow",
        "AuCu3",
        "-",
        "fast",
        "100",
        "scpb-qp",
        "3ph+4ph:sampled",
    ]
    assert f"{expected[0]['kappa_P_xx']:.4g}" in body[0]

    def pks(*args):
        out = invoke("results", "--format", "json", *args)
        assert out.exit_code == 0, out.output
        return [row["pk"] for row in json.loads(out.output)["rows"]]

    harmonic, renormalized, workflow = (
        runs[key].pk for key in ("harmonic", "renormalized", "workflow")
    )
    assert pks("--formula", "Cu3Au") == [harmonic] * 3 + [renormalized] * 2 + [workflow] * 2
    assert pks("--formula", "Au2Cu6") == pks("--formula", "Cu3Au")
    assert pks("--formula", "CsCu4Se3") == []
    assert pks("--pk", renormalized) == [renormalized] * 2
    assert pks("--pk", workflow, harmonic) == [harmonic] * 3 + [workflow] * 2
    assert pks("--protocol", "fast") == [workflow] * 2
    assert pks("--engine", "emt") == [] and pks("--protocol", "paper") == []


def test_workflow_summary_agrees(runs):
    """The workflow's own summary (written by the lead's summarize_conductivity) and the row
    agree on what the run was and on κ (Dict storage keeps 14 digits: rtol 1e-13)."""
    summary = runs["workflow"].outputs.summary.get_dict()
    result = invoke("results", "--format", "json", "--pk", runs["workflow"].pk)
    rows = json.loads(result.output)["rows"]
    assert [row["temperature"] for row in rows] == summary["temperatures"]
    assert {rows[0]["engine"], rows[0]["protocol"], rows[0]["formula"]} == {
        summary["engine"],
        summary["protocol"],
        summary["formula"],
    }
    assert rows[0]["four_phonon"] == summary["scattering"]["four_phonon"]
    for row, want in zip(rows, summary["rows"], strict=True):
        for key in (k for k in row if k.startswith("kappa")):
            if key.endswith("_std"):  # no ensemble: neither has a spread
                assert row[key] is None and key not in want, key
                continue
            assert row[key] == pytest.approx(want[key], rel=1e-13, abs=0), key


def test_errors(runs):
    inner = runs["workflow"].outputs.kappa.creator  # a kappa run, but shown as the workflow
    for pk in (runs["scp"].pk, inner.pk):
        result = invoke("results", "--pk", pk)
        assert result.exit_code == 1 and "no finished conductivity workflow" in result.output
    result = invoke("results", "--formula", "cu3au")
    assert result.exit_code == 1 and "cannot read the formula" in result.output
    assert "Traceback" not in result.output
    result = invoke("results", "--format", "xml")
    assert result.exit_code == 2

"""Error bars from a fit ensemble in ``wigner.conductivity`` (issue 17 item 6).

The members (here: the Cu₃Au model with its FC3 scaled by 0.9 and 1.1, as two fits of one
potential could differ) run through the same κ step as the full-data force constants; the
spread in ``kappa_ensemble``, in the summary and in ``aiida-wigner results`` must be the
standard deviation (ddof = 1) of ``compute_kappa`` run directly on the members, and a member
that fails must leave the full-data outputs and summary in place.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from aiida import orm
from aiida.engine import calcfunction, run_get_node
from click.testing import CliRunner

from aiida_wigner.cli import cmd_root
from aiida_wigner.data.force_constants import ForceConstantsData
from aiida_wigner.exit_codes import status
from aiida_wigner.physics.kappa import compute_kappa
from aiida_wigner.workflows.conductivity import WignerConductivityWorkChain

TEMPERATURES = [300.0, 600.0]
KAPPA = {"mesh": [3, 3, 3], "smearing": "gaussian", "sigma": 0.2, "four_phonon": None}
SCALES = (0.9, 1.1)


def _scaled(fc, factor):
    return fc.__class__(fc.setup, fc.fc2, fc.dense_fc3() * factor, None, fc.source)


@calcfunction
def fake_fit(force_constants: ForceConstantsData, factors: orm.List):
    """Stands in for a fit with an ensemble: its ``force_constants`` and ``ensemble``."""
    fc = force_constants.get_force_constants()
    return {
        "force_constants": ForceConstantsData.from_force_constants(fc),
        "ensemble": {
            f"member_{b:03d}": ForceConstantsData.from_force_constants(_scaled(fc, f))
            for b, f in enumerate(factors.get_list())
        },
    }


@pytest.fixture(scope="module")
def fitted(aiida_profile, cu3au_fc):
    base = ForceConstantsData.from_force_constants(cu3au_fc).store()
    return fake_fit(base, orm.List(list(SCALES)))


def _builder(fc, **kwargs):
    return WignerConductivityWorkChain.get_builder_from_protocol(
        force_constants=fc,
        protocol="fast",
        temperatures=TEMPERATURES,
        overrides={"renormalization": None, "kappa": KAPPA},
        **kwargs,
    )


@pytest.fixture(scope="module")
def ensemble_run(fitted):
    builder = _builder(fitted["force_constants"])
    assert sorted(builder.ensemble) == ["member_000", "member_001"]  # found beside the fit
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    return results, node


def test_spread_is_that_of_the_members_kappa(ensemble_run, cu3au_fc):
    from aiida_wigner.calculations.kappa import settings_from_dict

    results, node = ensemble_run
    # the settings the full-data κ ran with (the protocol's, KAPPA overriding)
    settings = settings_from_dict(results["kappa"].creator.inputs.settings.get_dict())
    direct = np.array([compute_kappa(_scaled(cu3au_fc, f), settings).kappa for f in SCALES])
    stats = results["kappa_ensemble"]
    scale = np.abs(direct).max()
    assert np.abs(stats.get_array("kappa_members") - direct).max() < 1e-12 * scale
    want = np.std(direct, axis=0, ddof=1)
    assert np.abs(stats.get_array("kappa_std") - want).max() < 1e-12 * scale
    assert want[0, 0, 0] > 0.05 * direct[0, 0, 0].mean() / 3  # FC3 x0.9 vs x1.1: a real spread
    rows = results["summary"]["rows"]
    for i, row in enumerate(rows):
        avg = np.trace(direct[:, i], axis1=-2, axis2=-1) / 3
        assert row["kappa_avg_std"] == pytest.approx(np.std(avg, ddof=1), rel=1e-12)
        assert row["kappa_xx_std"] == pytest.approx(want[i, 0, 0], rel=1e-12)
    assert results["summary"]["ensemble"]["size"] == 2
    from aiida.common.links import LinkType

    calls = node.base.links.get_outgoing(link_type=LinkType.CALL_WORK).all()
    assert sorted(link.link_label for link in calls) == [
        "ensemble_member_000",
        "ensemble_member_001",
    ]


def test_results_show_the_spread_and_not_the_member_runs(ensemble_run):
    _, node = ensemble_run
    out = CliRunner().invoke(cmd_root, ["results", "--format", "json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)["rows"]
    pks = {row["pk"] for row in rows}
    member_pks = {n.pk for n in node.called if n.process_type == node.process_type}
    assert node.pk in pks and not member_pks & pks
    mine = [row for row in rows if row["pk"] == node.pk]
    summary = node.outputs.summary.get_dict()["rows"]
    for row, want in zip(mine, summary, strict=True):
        assert row["ensemble_size"] == 2
        assert row["kappa_P_zz_std"] == want["kappa_P_zz_std"]
    table = CliRunner().invoke(cmd_root, ["results", "--pk", str(node.pk)])
    assert "σ k avg" in table.output and "bootstrap" in table.output
    md = CliRunner().invoke(cmd_root, ["results", "--pk", str(node.pk), "--format", "markdown"])
    lines = md.output.strip().splitlines()
    assert lines[0].startswith("| run | phonons | scattering | T (K) | κ_P xx |")
    assert len(lines) == 2 + len(TEMPERATURES)
    first = [cell.strip() for cell in lines[2].strip("|").split("|")]
    want = summary[0]
    assert first[0] == node.uuid[:8] and first[3] == "300"
    assert first[-1] == f"{want['kappa_avg']:.4g} ± {want['kappa_avg_std']:.2g}"


def test_no_ensemble_flag_and_a_failing_member(fitted, cu3au_fc):
    assert not dict(_builder(fitted["force_constants"], ensemble=False).ensemble)
    unstable = cu3au_fc.__class__(
        cu3au_fc.setup, -cu3au_fc.fc2, cu3au_fc.fc3, None, cu3au_fc.source
    )
    builder = _builder(fitted["force_constants"], ensemble=False)
    builder.ensemble = {
        "member_000": fitted["ensemble"]["member_000"],
        "member_001": ForceConstantsData.from_force_constants(unstable).store(),
    }
    results, node = run_get_node(builder)
    assert node.exit_status == status("ERROR_ENSEMBLE_FAILED")
    assert "member_001" in node.exit_message and "imaginary" in node.exit_message
    assert {"kappa", "modes", "summary", "force_constants"} <= set(results)
    assert "kappa_ensemble" not in results


def test_kappa_vs_t_plot_has_the_ensemble_error_bars(ensemble_run, tmp_path):
    from matplotlib.container import ErrorbarContainer

    from aiida_wigner.cli.plot import _plot_kappa
    from aiida_wigner.cli.runs import Run

    results, node = ensemble_run
    fig = _plot_kappa(Run(node), slice(None), None, 0, "")
    bars = [c for c in fig.axes[0].containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 6  # κ_P, κ_C, κ × xx, zz
    std = results["kappa_ensemble"].get_array("kappa_std")
    segments = bars[4].lines[2][0].get_segments()  # κ xx: one vertical segment per T
    heights = [abs(seg[1][1] - seg[0][1]) / 2 for seg in segments]
    assert heights == pytest.approx(std[:, 0, 0], rel=1e-12)
    out = CliRunner().invoke(
        cmd_root, ["plot", str(node.pk), "--kind", "kappa-vs-T", "-o", str(tmp_path / "k.png")]
    )
    assert out.exit_code == 0 and (tmp_path / "k.png").stat().st_size > 10_000, out.output

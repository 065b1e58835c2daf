"""``aiida-wigner plot``: every kind writes a readable PNG; the dispersion data are right.

The figures are checked for size and non-blank content (the pixels are opened with
matplotlib); the numbers behind the dispersion are checked against phonopy (harmonic bands
on the same path) and against the stored SCP(B) frequencies at the path's special points,
which are commensurate with the 2x2x2 outer mesh.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from click.testing import CliRunner

from aiida_wigner.cli import cmd_root
from aiida_wigner.cli.plot import KINDS

pytest.importorskip("matplotlib")


def invoke(*args):
    return CliRunner().invoke(cmd_root, [str(a) for a in args])


@pytest.fixture(scope="module")
def workflow(aiida_profile, cu3au_fc):
    """A finished conductivity workflow: SCPB-qp → kappa (3ph + sampled 4ph) at 100, 300 K."""
    from conductivity_runs import conductivity_workflow, store_fc4_model

    aiida_profile.reset_storage()
    return conductivity_workflow(store_fc4_model(cu3au_fc))


@pytest.fixture(scope="module")
def run(workflow):
    """The workflow's kappa calculation (plots take its PK too)."""
    return workflow.outputs.kappa.creator


def _image(path):
    from matplotlib.image import imread

    return imread(path)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_writes_a_png(workflow, kind, tmp_path):
    out = tmp_path / f"{kind}.png"
    result = invoke("plot", workflow.pk, "--kind", kind, "-o", out)
    assert result.exit_code == 0, result.output
    assert f"Wrote {out}" in result.output
    pixels = _image(out)
    height, width = pixels.shape[:2]
    assert width >= 600 and height >= 500  # 7 x 4.8 in (6.2 x 5.2 for the map) at 120 dpi
    rgb = pixels[..., :3]
    ink = np.any(rgb < 0.9, axis=-1).mean()  # share of pixels that are not (near) white
    assert 0.01 < ink < 0.9, ink
    colours = len(np.unique((rgb * 255).astype(np.uint8).reshape(-1, 3), axis=0))
    assert colours > 20  # lines, text and (for the map) a colour scale, not a flat image


def test_options_and_errors(workflow, run, tmp_path):
    out = tmp_path / "map.png"
    result = invoke(
        "plot",
        run.pk,
        "--kind",
        "kappa-c-map",
        "--temperature",
        300,
        "--direction",
        "zz",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    assert out.exists()
    result = invoke("plot", workflow.uuid, "--kind", "spectral", "--direction", "xx", "-o", out)
    assert result.exit_code == 0, result.output
    result = invoke("plot", run.pk, "--kind", "linewidths", "--temperature", 200, "-o", out)
    assert (
        result.exit_code == 1 and "not one of the run's temperatures (100, 300 K)" in result.output
    )
    scp = run.inputs.renormalization.creator
    result = invoke("plot", scp.pk, "--kind", "kappa-vs-T", "-o", out)
    assert result.exit_code == 1 and "not a conductivity workflow" in result.output
    result = invoke("plot", 999999, "--kind", "kappa-vs-T", "-o", out)
    assert result.exit_code == 1 and "aiida-wigner results" in result.output
    assert "Traceback" not in result.output
    result = invoke("plot", run.pk, "--kind", "phonons", "-o", out)
    assert result.exit_code == 2


def test_missing_matplotlib_names_the_extra(run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    result = invoke("plot", run.pk, "--kind", "kappa-vs-T", "-o", tmp_path / "k.png")
    assert result.exit_code == 1
    assert "needs matplotlib: pip install 'aiida-wigner[plot]'" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_dispersion_data(workflow, run):
    """Path = the simple-cubic Γ-X-M-Γ-R-X|M-R path; harmonic bands = phonopy's on the same
    q-points (1e-6 relative: the tolerance of test_phono3py_agreement, eigensolver round-off);
    renormalized bands at Γ, X, M, R = the stored SCPB frequencies there (1e-6 THz, as for the
    effective FC2 in test_renormalize_cli: exact Fourier interpolation at mesh points)."""
    from phonopy import Phonopy
    from reference_models import cu3au_phono3py, cu3au_unitcell

    from aiida_wigner.calculations.renormalize import renormalization_from_node
    from aiida_wigner.cli.plot import dispersion_data
    from aiida_wigner.cli.runs import load_run

    path, harmonic, renormalized = dispersion_data(load_run(workflow.pk), np.arange(2), 120)
    assert path.labels == ("Γ", "X", "M", "Γ", "R", "X|M", "R")
    special = {"Γ": (0, 0, 0), "X": (0, 0.5, 0), "M": (0.5, 0.5, 0), "R": (0.5, 0.5, 0.5)}
    at_ticks = [int(np.argmin(np.abs(path.distances - tick))) for tick in path.ticks]
    for index, label in zip(at_ticks, path.labels, strict=True):
        np.testing.assert_allclose(path.qpoints[index], special[label.split("|")[0]], atol=1e-12)
    steps = np.linalg.norm(np.diff(path.qpoints, axis=0) / 3.75, axis=1) * 2 * np.pi
    jumps = np.diff(path.distances) == 0
    np.testing.assert_allclose(np.diff(path.distances)[~jumps], steps[~jumps], rtol=1e-10)

    ph = Phonopy(cu3au_unitcell().to_phonopy(), np.diag([2, 2, 2]), primitive_matrix=np.eye(3))
    ph.force_constants = cu3au_phono3py().fc2
    ph.run_qpoints(path.qpoints)
    reference = ph.qpoints.frequencies
    assert np.abs(harmonic - reference).max() < 1e-6 * np.abs(reference).max()

    stored = renormalization_from_node(run.inputs.renormalization)
    assert sorted(renormalized) == [100.0, 300.0]
    for it, t in enumerate(stored.temperatures):
        for index, label in zip(at_ticks, path.labels, strict=True):
            q = np.array(special[label.split("|")[0]])
            d = stored.qpoints - q
            mesh_index = int(np.nonzero(np.all(np.isclose(d - np.rint(d), 0), axis=1))[0][0])
            np.testing.assert_allclose(
                renormalized[t][index], np.sort(stored.frequencies[it, mesh_index]), atol=1e-6
            )
        assert np.abs(renormalized[t] - harmonic).max() > 0.05  # visibly renormalized

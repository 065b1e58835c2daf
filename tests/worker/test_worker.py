"""``aiida-wigner-worker`` and the split of κ into linewidth chunks + assembly (no AiiDA).

``compute_linewidths`` on chunks of the irreducible points (any order), gathered, then
``kappa_from_linewidths`` must give ``compute_kappa``'s numbers: the same functions on the
same phonons, each point's γ independent of the others (3ph, isotope, exhaustive/uniform 4ph),
and the coupled "kappa" allocation of sampled 4ph run once on all points with the gathered
3ph + isotope as its weights.  They agree to round-off (measured: ≤ 2.5e-16 of the largest
element for γ_3ph and κ, BLAS summation order; γ_iso and γ_4ph bit for bit); the assertions use
1e-12 of each array's largest element, the contract of the chunked workflow.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from aiida_wigner.physics.forceconstants import ForceConstants, SparseForceConstants
from aiida_wigner.physics.kappa import (
    LINEWIDTH_PARTS,
    KappaSettings,
    Linewidths,
    compute_kappa,
    compute_linewidths,
    four_phonon_couples_points,
    irreducible_grid_points,
    kappa_from_linewidths,
)
from aiida_wigner.worker import EXIT_REFUSED, STATUS_FILE
from aiida_wigner.worker.cli import main, read_npz

SETTINGS = {
    "gaussian-3ph-iso": KappaSettings(mesh=(4, 4, 4), temperatures=(300.0, 600.0), isotope=True),
    "adaptive-4ph-kappa": KappaSettings(
        mesh=(4, 4, 4),
        temperatures=(300.0,),
        isotope=True,
        smearing="adaptive",
        four_phonon="sampled",
        four_phonon_samples=4,
    ),
    "gaussian-4ph-uniform": KappaSettings(
        mesh=(3, 3, 3),
        temperatures=(300.0, 500.0),
        four_phonon="sampled",
        four_phonon_samples=4,
        four_phonon_allocation="uniform",
    ),
}


@pytest.fixture(scope="module")
def fc(cu3au_fc4):
    """Cu3Au with the synthetic FC4 scaled to 1 % (small next to the EMT FC3's rates)."""
    fc4 = SparseForceConstants(4, cu3au_fc4.fc4.atoms, 0.01 * cu3au_fc4.fc4.values)
    return ForceConstants(cu3au_fc4.setup, cu3au_fc4.fc2, cu3au_fc4.fc3, fc4, {})


def chunked_kappa(fc, settings, n_chunks=3):
    ir = irreducible_grid_points(fc, settings)
    coupled = four_phonon_couples_points(settings)
    parts = ("3ph", "isotope") if coupled else LINEWIDTH_PARTS
    chunks = [
        compute_linewidths(fc, settings, c, parts=parts) for c in np.array_split(ir[::-1], n_chunks)
    ]  # reversed: order must not matter
    lw = Linewidths.gather(chunks[::-1], ir)
    if coupled:
        lw = compute_linewidths(fc, settings, parts=("4ph",), previous=lw)
    return kappa_from_linewidths(fc, settings, lw)


@pytest.mark.parametrize("case", sorted(SETTINGS))
def test_chunks_give_the_in_process_kappa(fc, case):
    settings = SETTINGS[case]
    ref = compute_kappa(fc, settings)
    got = chunked_kappa(fc, settings)
    for name in (
        "kappa_P",
        "kappa_C",
        "kappa",
        "gamma_3ph",
        "gamma_isotope",
        "gamma_4ph",
        "gamma_4ph_stderr",
        "kappa_P_modes",
        "frequencies",
    ):
        want = getattr(ref, name)
        np.testing.assert_allclose(
            getattr(got, name), want, rtol=0, atol=1e-12 * np.abs(want).max(), err_msg=name
        )
    assert np.any(ref.gamma_4ph > 0) == (settings.four_phonon is not None)


def test_gather_refuses_missing_or_doubled_points(fc):
    settings = SETTINGS["gaussian-3ph-iso"]
    ir = irreducible_grid_points(fc, settings)
    a = compute_linewidths(fc, settings, ir[:3], parts=("isotope",))
    b = compute_linewidths(fc, settings, ir[2:], parts=("isotope",))
    with pytest.raises(ValueError, match="exactly once"):
        Linewidths.gather([a, b], ir)
    with pytest.raises(ValueError, match="exactly once"):
        Linewidths.gather([a], ir)
    with pytest.raises(ValueError, match="gather the chunks first"):
        kappa_from_linewidths(fc, settings, a)


def _job(path, settings: dict, grid_points=None):
    path.write_text(json.dumps({"settings": settings, "grid_points": grid_points}))
    return str(path)


def test_worker_linewidths_from_phono3py_files(cu3au_files, tmp_path, monkeypatch):
    """The command line on fc2.hdf5 / fc3.hdf5: the chunk's γ of compute_linewidths, units."""
    from aiida_wigner.physics.io import load_force_constants

    monkeypatch.chdir(tmp_path)
    settings = {"mesh": [4, 4, 4], "temperatures": [300.0], "isotope": True}
    args = [
        "linewidths",
        "--cell",
        str(cu3au_files["cell"]),
        "--fc2",
        str(cu3au_files["fc2"]),
        "--fc3",
        str(cu3au_files["fc3"]),
        "--job",
        _job(tmp_path / "job.json", settings, [0, 2, 5]),
        "--output",
        "lw.npz",
    ]
    assert main(args) == 0
    arrays, meta = read_npz(tmp_path / "lw.npz")
    assert meta["units"]["gamma_3ph"] == "THz (half width)"
    fc = load_force_constants(
        cell=cu3au_files["cell"], fc2=cu3au_files["fc2"], fc3=cu3au_files["fc3"]
    )
    ref = compute_linewidths(
        fc, KappaSettings(mesh=(4, 4, 4), temperatures=(300.0,), isotope=True), [0, 2, 5]
    )
    for name, value in ref.arrays().items():
        np.testing.assert_array_equal(arrays[name], value)
    assert json.loads((tmp_path / STATUS_FILE).read_text())["exit_status"] == 0


def test_worker_refusal_writes_the_exit_code(cu3au_files, tmp_path, monkeypatch, capsys):
    """Four-phonon scattering without FC4: no output, exit status 3, status.json with 300 and
    the physics message; no traceback."""
    monkeypatch.chdir(tmp_path)
    job = _job(
        tmp_path / "job.json",
        {"mesh": [2, 2, 2], "temperatures": [300.0], "four_phonon": "exhaustive"},
    )
    code = main(
        [
            "linewidths",
            "--cell",
            str(cu3au_files["cell"]),
            "--fc2",
            str(cu3au_files["fc2"]),
            "--fc3",
            str(cu3au_files["fc3"]),
            "--job",
            job,
            "--output",
            "lw.npz",
        ]
    )
    assert code == EXIT_REFUSED and not (tmp_path / "lw.npz").exists()
    status = json.loads((tmp_path / STATUS_FILE).read_text())
    assert status["exit_status"] == 300 and status["label"] == "ERROR_INVALID_INPUT"
    assert "fourth-order force constants" in status["message"]
    assert "Traceback" not in capsys.readouterr().err

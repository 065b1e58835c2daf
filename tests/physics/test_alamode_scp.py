"""SCP against ALAMODE's anphon (MODE = SCPH) on identical force constants.

Skipped unless the environment variable ALAMODE_ANPHON names an anphon executable
(ALAMODE is not a dependency; CI does not have it).  Model: the Cu₃Au EMT FC2 of
tests/reference_models.py with the Morse-bond FC4 of test_renormalization.py.

* harmonic: anphon MODE = phonons at general q = ours to 1e-5 THz (FCSXML writer,
  image shifts and unit conversions; observed ~1e-7 THz);
* SCP, full matrix self-energy (SELF_OFFDIAG = 1), quantum and classical, outer 2×2×2
  (KMESH_INTERPOLATE), inner 4×4×4 (KMESH_SCPH), 100/300/500 K: every outer frequency
  to 5e-5 THz (observed ≤ 3e-7 THz with anphon's TOL_SCPH = 1e-11; the tolerance
  covers the 6 significant digits in cm⁻¹ of a stock anphon's PREFIX.scph_eval);
* harmonically unstable perovskite (tests/unstable_perovskite.py, imaginary at Γ, X, M,
  R): SCP loop at 300/400/500 K, and the FCSXML importer read back =
  anphon's own reading of the file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ANPHON = os.environ.get("ALAMODE_ANPHON")
pytestmark = pytest.mark.skipif(
    not ANPHON or not Path(ANPHON).is_file(), reason="ALAMODE_ANPHON (path of anphon) not set"
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))


@pytest.fixture(scope="module")
def model():
    from reference_models import cu3au_force_constants, pair_fc4

    from aiida_wigner.physics.forceconstants import ForceConstants

    fc = cu3au_force_constants()
    return ForceConstants(fc.setup, fc.fc2, fc.fc3, pair_fc4(fc.setup))


def _anphon(workdir: Path, name: str) -> str:
    env = dict(os.environ, OMP_NUM_THREADS="2")
    run = subprocess.run(
        [ANPHON, name], cwd=workdir, env=env, capture_output=True, text=True, timeout=1800
    )  # SCP runs take minutes under load
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return run.stdout


def test_harmonic_frequencies_match_anphon(model, tmp_path):
    import alamode_io

    from aiida_wigner.physics.harmonic import solve

    q = np.array([[0, 0, 0], [0.5, 0, 0], [0.5, 0.5, 0.5], [0.1, 0.2, 0.3], [-0.3, 0.45, 0.1]])
    alamode_io.write_fcsxml(model, tmp_path / "fc.xml", fc3=False, fc4=False)
    alamode_io.write_anphon_input(tmp_path / "ph.in", model, "fc.xml", "ph", "phonons", q)
    nu_al = alamode_io.read_phonons_stdout(_anphon(tmp_path, "ph.in"), 12)
    nu = solve(model, q).frequencies
    # anphon prints 4 decimals in cm⁻¹ (3e-6 THz) unless its output precision is raised
    np.testing.assert_allclose(nu_al, nu, atol=1e-5)


@pytest.mark.parametrize("classical", [False, True])
def test_scp_matches_anphon_scph(model, tmp_path, classical):
    import alamode_io

    from aiida_wigner.physics.renormalization import SCPSettings, run_scp

    temps = (100.0, 300.0, 500.0)
    res = run_scp(
        model,
        SCPSettings(
            mesh=(2, 2, 2),
            inner_mesh=(4, 4, 4),
            temperatures=temps,
            classical=classical,
            tolerance=1e-9,
        ),
    )
    assert res.converged.all()
    alamode_io.write_fcsxml(model, tmp_path / "fc.xml", fc3=False)
    alamode_io.write_anphon_input(
        tmp_path / "scph.in",
        model,
        "fc.xml",
        "run",
        "SCPH",
        res.qpoints,
        general={"TMIN": 100, "TMAX": 500, "DT": 200, "CLASSICAL": int(classical)},
        scph={
            "KMESH_INTERPOLATE": "2 2 2",
            "KMESH_SCPH": "4 4 4",
            "SELF_OFFDIAG": 1,
            "MIXALPHA": 0.5,
            "MAXITER": 2000,
            "TOL_SCPH": 1e-11,
            "LOWER_TEMP": 0,
            "WARMSTART": 1,
            "RESTART_SCPH": 0,
        },
    )
    _anphon(tmp_path, "scph.in")
    t_al, nu_al = alamode_io.read_eval(tmp_path / "run.scph_eval", len(res.qpoints), 12)
    np.testing.assert_allclose(t_al, temps)
    # the renormalization is 0.1–0.35 THz here; the agreement is at the 1e-7 THz level,
    # but a stock anphon writes 6 significant digits in cm⁻¹ (≤ 1.5e-5 THz rounding)
    assert np.abs(res.frequencies - res.frequencies_harmonic).max() > 0.05
    np.testing.assert_allclose(nu_al, res.frequencies, atol=5e-5)


# -- a harmonically unstable crystal (issue 14) -----------------------------------------
@pytest.fixture(scope="module")
def unstable():
    from unstable_perovskite import unstable_perovskite

    return unstable_perovskite()


def _anphon_scph(fc, workdir, qpoints, temps):
    import alamode_io

    alamode_io.write_fcsxml(fc, workdir / "fc.xml", fc3=False)
    general = {"TMIN": temps[0], "TMAX": temps[-1], "DT": temps[1] - temps[0]}
    alamode_io.write_anphon_input(
        workdir / "scph.in",
        fc,
        "fc.xml",
        "run",
        "SCPH",
        qpoints,
        general=general,
        scph={
            "KMESH_INTERPOLATE": "2 2 2",
            "KMESH_SCPH": "4 4 4",
            "SELF_OFFDIAG": 1,
            "MIXALPHA": 0.5,
            "MAXITER": 2000,
            "TOL_SCPH": 1e-11,
            "LOWER_TEMP": 1,
            "WARMSTART": 1,
            "RESTART_SCPH": 0,
        },
    )
    _anphon(workdir, "scph.in")
    t_al, nu_al = alamode_io.read_eval(workdir / "run.scph_eval", len(qpoints), 15)
    np.testing.assert_allclose(t_al, temps)
    return nu_al


def test_unstable_scp_matches_anphon(unstable, tmp_path):
    """Harmonic phonons imaginary at Γ, X, M, R; SCP stabilizes them.  Tolerance as for the
    stable cases (anphon's 6 significant digits in cm⁻¹); the issue's bound is 0.05 cm⁻¹.
    100 K is left out: there anphon's damping of negative eigenvalues stops the R and M soft
    modes at ~0 cm⁻¹ (docs/scp.md §7), which is not a solution."""
    from aiida_wigner.physics.renormalization import SCPSettings, run_scp

    temps = (300.0, 400.0, 500.0)
    res = run_scp(
        unstable,
        SCPSettings(mesh=(2, 2, 2), inner_mesh=(4, 4, 4), temperatures=temps, tolerance=1e-9),
    )
    assert res.converged.all()
    assert res.frequencies_harmonic.min() < -1.0 and res.frequencies.min() > -1e-5
    nu_al = _anphon_scph(unstable, tmp_path, res.qpoints, temps)
    np.testing.assert_allclose(nu_al, res.frequencies, atol=5e-5)


def test_fcsxml_reader_matches_anphon(unstable, tmp_path):
    """anphon's reading of an FCSXML and ours give the same harmonic phonons (imaginary
    ones included), so the importer reads what anphon reads."""
    import alamode_io

    from aiida_wigner.physics.harmonic import solve
    from aiida_wigner.physics.io.alamode import read_fcsxml

    q = np.array([[0, 0, 0], [0.5, 0, 0], [0.5, 0.5, 0.5], [0.1, 0.2, 0.3]])
    alamode_io.write_fcsxml(unstable, tmp_path / "fc.xml")
    back = read_fcsxml(tmp_path / "fc.xml")
    alamode_io.write_anphon_input(tmp_path / "ph.in", back, "fc.xml", "ph", "phonons", q)
    nu_al = alamode_io.read_phonons_stdout(_anphon(tmp_path, "ph.in"), 15)
    np.testing.assert_allclose(nu_al, solve(back, q).frequencies, atol=1e-5)

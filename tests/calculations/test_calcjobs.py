"""Worker CalcJobs on ``localhost`` (core.direct), the restart handlers, and the chunked κ.

The jobs really run: ``aiida-wigner-worker`` as an ``InstalledCode`` made by
``ensure_localhost_computer_and_worker_code``.  The chunked ``wigner.conductivity`` (three
linewidth jobs, gather, κ calcfunction) must equal the in-process run: the same functions on
the same numbers, so they agree to round-off (asserted to 1e-12 of each array's largest
element, the contract; tests/worker/test_worker.py states the measured agreement).
"""

from __future__ import annotations

import os
import stat
import sys

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_wigner.calculations.jobs import (
    LinewidthsCalculation,
    ensure_localhost_computer_and_worker_code,
    failure_label,
    linewidths_from_node,
)
from aiida_wigner.data.force_constants import ForceConstantsData
from aiida_wigner.exit_codes import status
from aiida_wigner.workflows.conductivity import WignerConductivityWorkChain
from aiida_wigner.workflows.restart import LinewidthsRestartWorkChain

TEMPERATURES = [300.0, 600.0]
#: 3ph + isotope + sampled 4ph with the default "kappa" allocation (the coupled case: the 4ph
#: job runs after the gathered chunks) on a 4x4x4 mesh (8 irreducible points).
KAPPA = {
    "mesh": [4, 4, 4],
    "sigma": 0.1,
    "isotope": True,
    "four_phonon": "sampled",
    "four_phonon_samples": 4,
    "four_phonon_seed": 3,
}


@pytest.fixture(scope="module")
def worker_code(aiida_profile, tmp_path_factory):
    return ensure_localhost_computer_and_worker_code(
        workdir=str(tmp_path_factory.mktemp("scratch"))
    )


@pytest.fixture(scope="module")
def fc_node(aiida_profile, cu3au_fc4):
    from aiida_wigner.physics.forceconstants import ForceConstants, SparseForceConstants

    fc4 = SparseForceConstants(4, cu3au_fc4.fc4.atoms, 0.01 * cu3au_fc4.fc4.values)
    fc = ForceConstants(cu3au_fc4.setup, cu3au_fc4.fc2, cu3au_fc4.fc3, fc4, cu3au_fc4.source)
    return ForceConstantsData.from_force_constants(fc).store()


def _conductivity(fc_node, kappa=KAPPA, **extra):
    builder = WignerConductivityWorkChain.get_builder()
    builder.force_constants = fc_node
    builder.temperatures = orm.List(TEMPERATURES)
    builder.kappa = orm.Dict(kappa)
    for key, value in extra.items():
        builder[key] = value
    results, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    return results, node


def test_helper_is_idempotent(worker_code):
    again = ensure_localhost_computer_and_worker_code()
    assert again.pk == worker_code.pk and worker_code.computer.label == "localhost"
    assert worker_code.computer.scheduler_type == "core.direct"
    assert os.access(worker_code.get_executable(), os.X_OK)


@pytest.mark.parametrize(
    "allocation, chunks", [("uniform", 2), pytest.param("kappa", 3, marks=pytest.mark.slow)]
)
def test_chunked_equals_in_process(fc_node, worker_code, allocation, chunks):
    from aiida_wigner.calculations.kappa import settings_from_dict
    from aiida_wigner.physics.kappa import irreducible_grid_points

    kappa = {**KAPPA, "four_phonon_allocation": allocation}
    if allocation == "uniform":  # the default selection's case: small (4 irreducible points)
        kappa["mesh"] = [3, 3, 3]
    ref, _ = _conductivity(fc_node, kappa)
    out, node = _conductivity(
        fc_node, kappa, codes={"linewidths": worker_code}, chunks=orm.Int(chunks)
    )
    for node_name, names in (
        ("kappa", ("kappa_P", "kappa_C", "kappa")),
        ("modes", ("gamma_3ph", "gamma_4ph", "gamma_isotope", "gamma_4ph_stderr", "kappa_P_mode")),
    ):
        for name in names:
            want = ref[node_name].get_array(name)
            np.testing.assert_allclose(
                out[node_name].get_array(name),
                want,
                rtol=0,
                atol=1e-12 * np.abs(want).max(),
                err_msg=name,
            )
    # provenance: the chunk jobs (and the coupled 4ph job) feed the gathered linewidths
    jobs = [n for n in node.called_descendants if isinstance(n, orm.CalcJobNode)]
    assert len(jobs) == chunks + (allocation == "kappa")
    assert all(job.is_finished_ok for job in jobs)
    points = sorted(
        g for job in jobs if "grid_points" in job.inputs for g in job.inputs.grid_points.get_list()
    )
    ir = irreducible_grid_points(
        fc_node.get_force_constants(), settings_from_dict({**kappa, "temperatures": TEMPERATURES})
    )
    assert points == ir.tolist()  # each irreducible point exactly once
    kappa_calc = out["kappa"].creator
    assert kappa_calc.process_label == "kappa_from_linewidths_calcfunction"
    gathered = kappa_calc.inputs.linewidths
    if allocation == "kappa":
        assert gathered.creator.process_class is LinewidthsCalculation
        gathered = gathered.creator.inputs.previous
    assert sorted(gathered.creator.inputs) == [f"chunk_{i:04d}" for i in range(chunks)]


def test_chunks_for_walltime_and_cost_model():
    """The fewest chunks whose even split fits the target; the cost model gives back the
    measurements it was calibrated on (docs/performance.md §1: 105 s 3ph, 4 x 91 s for 256
    sampled 4ph pairs, B = 24, 16x16x12)."""
    from aiida_wigner.calculations.jobs import chunks_for_walltime, linewidth_seconds_per_point

    assert chunks_for_walltime(10, 30.0, 100.0) == 4  # 3 points (90 s) per job
    assert chunks_for_walltime(10, 30.0, 10.0) == 10  # one point per job even if it is over
    assert chunks_for_walltime(10, 30.0, 1e6) == 1
    settings = {"mesh": [16, 16, 12], "four_phonon": "sampled", "four_phonon_samples": 256}
    assert linewidth_seconds_per_point(settings, 24, four_phonon=False) == pytest.approx(105.0)
    assert linewidth_seconds_per_point(settings, 24) == pytest.approx(105.0 + 4 * 91.0)


def test_target_chunk_walltime_picks_the_chunks(fc_node, worker_code):
    """target_chunk_walltime with a measured seconds_per_point: 4 irreducible points at 10 s
    and a 20 s target give 2 jobs; the invalid target is refused by the input validator."""
    kappa = {**KAPPA, "mesh": [3, 3, 3], "four_phonon_allocation": "uniform"}
    _, node = _conductivity(
        fc_node,
        kappa,
        codes={"linewidths": worker_code},
        target_chunk_walltime=orm.Float(20.0),
        seconds_per_point=orm.Float(10.0),
    )
    jobs = [n for n in node.called_descendants if isinstance(n, orm.CalcJobNode)]
    assert len(jobs) == 2
    assert any("10 s per point (given), target 20 s" in r for r in _reports(node))
    with pytest.raises(ValueError, match="positive number of seconds"):
        _conductivity(fc_node, kappa, target_chunk_walltime=orm.Float(0.0))


def _reports(node):
    from aiida.cmdline.utils.common import get_workchain_report

    return get_workchain_report(node, "REPORT").splitlines()


def test_worker_refusal_is_the_named_exit_code(fc_node, worker_code):
    """Settings the worker refuses (a grid point that is not irreducible) end the job with 300
    and the physics message, read from the worker's status file."""
    _, node = run_get_node(
        LinewidthsCalculation,
        code=worker_code,
        force_constants=fc_node,
        settings=orm.Dict({**KAPPA, "temperatures": TEMPERATURES}),
        grid_points=orm.List([3]),
    )  # 3 ≡ -1: the image of 1
    assert node.exit_status == status("ERROR_INVALID_INPUT")
    assert "not irreducible points" in node.exit_message


def _fake_worker(tmp_path, name: str, body: str, computer) -> orm.InstalledCode:
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return orm.InstalledCode(computer=computer, label=name, filepath_executable=str(path)).store()


def test_walltime_restart_once_then_named_code(fc_node, worker_code, tmp_path):
    """A job killed at its walltime (SLURM's message) is resubmitted once with twice the
    walltime; the second failure ends the restart workflow with 362 and its advice."""
    code = _fake_worker(
        tmp_path,
        "timeout-worker",
        "echo 'slurmstepd: error: *** JOB 7 "
        "ON n1 CANCELLED AT 2026-01-01T00:00:00 DUE TO TIME LIMIT ***' >&2",
        worker_code.computer,
    )
    job = {
        "code": code,
        "force_constants": fc_node,
        "settings": orm.Dict({**KAPPA, "temperatures": TEMPERATURES}),
        "metadata": {"options": {"max_wallclock_seconds": 600}},
    }
    _, node = run_get_node(LinewidthsRestartWorkChain, job=job)
    assert node.exit_status == status("ERROR_WORKER_OUT_OF_WALLTIME")
    assert "max_wallclock_seconds" in node.exit_message
    calcs = sorted(node.called, key=lambda n: n.ctime)
    assert [c.get_option("max_wallclock_seconds") for c in calcs] == [600, 1200]


def test_missing_output_and_crash(fc_node, worker_code, tmp_path):
    settings = orm.Dict({**KAPPA, "temperatures": TEMPERATURES})
    silent = _fake_worker(tmp_path, "silent-worker", "exit 0", worker_code.computer)
    _, node = run_get_node(
        LinewidthsCalculation, code=silent, force_constants=fc_node, settings=settings
    )
    assert node.exit_status == status("ERROR_WORKER_OUTPUT_MISSING")
    # this interpreter by its path: the job's shell need not have a `python` on its PATH
    crash = _fake_worker(
        tmp_path,
        "crash-worker",
        f"{sys.executable} -c 'import no_such_module'",
        worker_code.computer,
    )
    _, node = run_get_node(
        LinewidthsCalculation, code=crash, force_constants=fc_node, settings=settings
    )
    assert node.exit_status == status("ERROR_WORKER_FAILED")
    assert "no_such_module" in node.exit_message


def test_failure_label():
    assert failure_label(120, "") == "ERROR_WORKER_OUT_OF_WALLTIME"
    assert failure_label(110, "") == "ERROR_WORKER_OUT_OF_MEMORY"
    assert (
        failure_label(None, "slurmstepd: error: Detected 1 oom_kill event in StepId=5.0")
        == "ERROR_WORKER_OUT_OF_MEMORY"
    )
    assert (
        failure_label(None, "/var/spool/job: line 3: 123 Killed  aiida-wigner-worker\n")
        == "ERROR_WORKER_OUT_OF_MEMORY"
    )
    assert (
        failure_label(0, "Traceback (most recent call last):\n  x\nKeyError: 1")
        == "ERROR_WORKER_FAILED"
    )
    assert failure_label(None, "") == "ERROR_WORKER_OUTPUT_MISSING"


def test_linewidths_node_round_trip(fc_node, worker_code):
    """The job's output node holds the worker's arrays with their units."""
    _, node = run_get_node(
        LinewidthsCalculation,
        code=worker_code,
        force_constants=fc_node,
        settings=orm.Dict({**KAPPA, "four_phonon": None, "temperatures": TEMPERATURES}),
        grid_points=orm.List([0, 2]),
    )
    assert node.is_finished_ok, node.exit_message
    lw = linewidths_from_node(node.outputs.linewidths)
    assert lw.grid_points.tolist() == [0, 2] and lw.gamma_3ph.shape == (2, 2, 12)
    assert node.outputs.linewidths.base.attributes.get("units")["gamma_3ph"] == "THz (half width)"
    assert np.all(lw.gamma_3ph[:, 1] > 0) and np.all(lw.gamma_4ph == 0)


def test_renormalize_job_equals_the_calcfunction(fc_node, worker_code):
    """wigner.renormalize_job gives the wigner.renormalize calcfunction's nodes (SCPB, qp)."""
    from aiida_wigner.calculations.jobs import RenormalizeCalculation
    from aiida_wigner.calculations.renormalize import renormalize_calcfunction

    settings = orm.Dict(
        {"mesh": [2, 2, 2], "inner_mesh": [2, 2, 2], "temperatures": [300.0], "bubble": "qp"}
    )
    ref = renormalize_calcfunction(force_constants=fc_node, settings=settings)
    out, node = run_get_node(
        RenormalizeCalculation, code=worker_code, force_constants=fc_node, settings=settings
    )
    assert node.is_finished_ok, node.exit_message
    assert out["summary"].get_dict() == ref["summary"].get_dict()
    for name in ref["renormalization"].get_arraynames():
        np.testing.assert_array_equal(
            out["renormalization"].get_array(name),
            ref["renormalization"].get_array(name),
            err_msg=name,
        )
    assert out["renormalization"].base.attributes.get("kind") == "scpb-qp"
    np.testing.assert_array_equal(
        out["effective_fc2"]["T300"].get_force_constants().fc2,
        ref["effective_fc2_T300"].get_force_constants().fc2,
    )


@pytest.mark.slow
def test_emt_pipeline_chunked_equals_in_process(worker_code):
    """The whole EMT Cu3Au pipeline (fit → SCPB → κ with 3ph + sampled 4ph + isotope) with the
    fit and SCPB in worker jobs and the linewidths in 3 worker jobs on the renormalized phonons:
    κ equals the in-process wigner.kappa calcfunction on the run's own force constants and
    renormalization (the fit job itself equals the calcfunction: test_fit_job.py)."""
    from workflows.test_conductivity_workchain import OVERRIDES, cu3au
    from workflows.test_conductivity_workchain import TEMPERATURES as PIPELINE_T

    from aiida_wigner.calculations.kappa import compute_kappa_calcfunction

    builder = WignerConductivityWorkChain.get_builder_from_protocol(
        cu3au(), engine="emt", protocol="fast", temperatures=PIPELINE_T, overrides=OVERRIDES
    )
    builder.codes = {"linewidths": worker_code, "renormalize": worker_code, "fit": worker_code}
    builder.chunks = orm.Int(3)
    results, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    kappa_calc = results["kappa"].creator
    assert kappa_calc.process_label == "kappa_from_linewidths_calcfunction"
    assert "renormalization" in kappa_calc.inputs
    assert results["renormalization"].creator.process_label == "RenormalizeCalculation"
    assert results["force_constants"].creator.process_label == "FitCalculation"
    ref = compute_kappa_calcfunction(
        force_constants=results["force_constants"],
        settings=kappa_calc.inputs.settings,
        renormalization=results["renormalization"],
    )
    for name in ("kappa_P", "kappa_C", "kappa"):
        want = ref["kappa"].get_array(name)
        np.testing.assert_allclose(
            results["kappa"].get_array(name),
            want,
            rtol=0,
            atol=1e-12 * np.abs(want).max(),
            err_msg=name,
        )

"""The hiphive fit as a worker CalcJob (``wigner.fit_job``) equals the calcfunction.

``wigner.fit`` with ``code`` runs ``aiida-wigner-worker fit`` through ``localhost``
(core.direct) and must give the same output nodes as the in-process ``wigner.fit_hiphive``:
the same fitting function on the same arrays, so the force constants agree to 1e-12 of the
largest element (measured: bit-identical) and the scores are equal.  Its restart wrapper
``wigner.fit_job_restart`` resubmits a job killed at its walltime once, with twice the walltime.
"""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_wigner.calculations.jobs import FitCalculation, ensure_localhost_computer_and_worker_code
from aiida_wigner.engines import compute_static
from aiida_wigner.exit_codes import status
from aiida_wigner.fitting import rattle_fixed_amplitude
from aiida_wigner.fitting.harmonic import build_setup
from aiida_wigner.workflows.force_constants import FitWorkChain

SUPERCELL = [2, 2, 2]
PARAMETERS = {
    "cutoffs": {"2": 3.5, "3": 3.0, "4": 2.8},
    "method": "least-squares",
    "validation": {"method": "split", "train_fraction": 0.75},
}


@pytest.fixture(scope="module")
def worker_code(aiida_profile, tmp_path_factory):
    return ensure_localhost_computer_and_worker_code(
        workdir=str(tmp_path_factory.mktemp("scratch"))
    )


@pytest.fixture(scope="module")
def training(aiida_profile):
    """L1_2 Cu3Au (a = 3.75 Å, EMT), 2x2x2 supercell, 4 structures rattled by 0.05 Å."""
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.75, cubic=True)
    atoms.symbols[0] = "Au"
    ideal = build_setup(atoms, SUPERCELL).supercell.to_ase()
    rng = np.random.default_rng(11)
    u = np.array([rattle_fixed_amplitude(len(ideal), 0.05, rng) for _ in range(4)])
    displaced = []
    for d in u:
        a = ideal.copy()
        a.positions = a.positions + d
        displaced.append(a)
    f = compute_static({"name": "emt"}, displaced)["forces"]
    disp, forces = orm.ArrayData(), orm.ArrayData()
    disp.set_array("displacements", u)
    forces.set_array("forces", np.asarray(f))
    return {
        "structure": orm.StructureData(ase=atoms).store(),
        "supercell_matrix": orm.List(SUPERCELL).store(),
        "displacements": disp.store(),
        "forces": forces.store(),
    }


def _fit(training, parameters=PARAMETERS, **extra):
    return run_get_node(FitWorkChain, parameters=orm.Dict(parameters), **training, **extra)


def _stored_arrays(node) -> dict:
    """Every dataset of the node's force_constants.h5 (FC3 dense compact, eV/Å^n)."""
    import h5py

    out = {}

    def keep(name, item):  # visititems stops at the first callback that returns non-None
        if isinstance(item, h5py.Dataset):
            out[name] = item[()]

    with node.base.repository.open("force_constants.h5", "rb") as fh, h5py.File(fh, "r") as h5:
        h5.visititems(keep)
    return out


def _assert_same_force_constants(got, want):
    a, b = _stored_arrays(got), _stored_arrays(want)
    assert sorted(a) == sorted(b) and {"fc2", "fc3", "fc4/atoms", "fc4/values"} <= set(a)
    for name, want_array in b.items():
        assert a[name].shape == want_array.shape, name
        assert np.abs(a[name] - want_array).max() <= 1e-12 * np.abs(want_array).max(), name
    assert got.base.attributes.get("source") == want.base.attributes.get("source")


@pytest.mark.parametrize("ensemble", [None, {"size": 2, "seed": 5}])
def test_fit_job_equals_calcfunction(training, worker_code, ensemble):
    """Also with a bootstrap ensemble: the same members, in the same order."""
    parameters = PARAMETERS if ensemble is None else {**PARAMETERS, "ensemble": ensemble}
    want, ref = _fit(training, parameters)
    got, node = _fit(training, parameters, code=worker_code)
    assert ref.is_finished_ok and node.is_finished_ok, node.exit_message
    jobs = [
        n for n in node.called_descendants if n.process_type == "aiida.calculations:wigner.fit_job"
    ]
    assert len(jobs) == 1
    _assert_same_force_constants(got["force_constants"], want["force_constants"])
    assert got["scores"].get_dict() == want["scores"].get_dict()
    assert got["fcp"].filename == want["fcp"].filename == "potential.fcp"
    if ensemble is None:
        assert "ensemble" not in got and "ensemble" not in want
        return
    assert sorted(got["ensemble"]) == sorted(want["ensemble"]) == ["member_000", "member_001"]
    for label in want["ensemble"]:
        _assert_same_force_constants(got["ensemble"][label], want["ensemble"][label])
    assert want["scores"]["ensemble"]["size"] == 2


def test_fit_job_refusal_is_the_calcfunction_code(training, worker_code):
    """A cutoff beyond the supercell's limit: the job ends with ERROR_FIT_SETUP (320), its
    message from the worker, as the calcfunction does."""
    too_long = {**PARAMETERS, "cutoffs": {"2": 6.0, "3": 3.0}}
    _, job = run_get_node(
        FitCalculation,
        code=worker_code,
        settings=orm.Dict({**too_long, "supercell_matrix": SUPERCELL}),
        structure=training["structure"],
        displacements=training["displacements"],
        forces=training["forces"],
    )
    assert job.exit_status == status("ERROR_FIT_SETUP"), job.exit_message
    _, node = _fit(training, too_long, code=worker_code)
    assert node.exit_status == status("ERROR_FIT_SETUP")


def test_run_worker_options_send_the_fit_to_the_worker(training, worker_code):
    """``run --daemon`` / ``--worker-code``: the protocol builder gets codes.fit too (with the
    linewidths and the renormalization), so no heavy step runs inside a daemon worker."""
    from aiida_wigner.cli.run import _heavy_steps_to_worker
    from aiida_wigner.workflows.conductivity import WignerConductivityWorkChain

    builder = WignerConductivityWorkChain.get_builder_from_protocol(
        training["structure"], engine="emt", protocol="fast"
    )
    _heavy_steps_to_worker(builder, None, 2, None)
    assert builder.codes.fit.pk == builder.codes.linewidths.pk == worker_code.pk


def test_a_fit_with_an_ensemble_reproduces(training):
    """`aiida-wigner reproduce` re-runs the fit calcfunction and finds every output again,
    the members of the ``ensemble`` namespace included (stored as ``ensemble__member_NNN``)."""
    from aiida_wigner.cli.reproduce import reproduce_process

    _, node = _fit(training, {**PARAMETERS, "ensemble": {"size": 2, "seed": 5}})
    fit = next(n for n in node.called if n.process_label == "fit_hiphive")
    rows = reproduce_process(fit)
    labels = {row.output for row in rows}
    assert {"ensemble__member_000", "ensemble__member_001"} <= labels
    numeric = [row for row in rows if row.name != "file potential.fcp:attributes"]
    assert all(row.absolute == 0 for row in numeric), [r for r in numeric if r.absolute != 0]


def test_fit_job_restart_on_walltime(training, worker_code, tmp_path):
    """wigner.fit_job_restart: a fit job killed at its walltime (SLURM's message on the job's
    stderr, no output) is resubmitted once with twice the walltime; the second job fits, and
    its outputs are the workflow's."""
    from test_calcjobs import _fake_worker

    from aiida_wigner.workflows.restart import FitRestartWorkChain

    killed = tmp_path / "killed"
    code = _fake_worker(
        tmp_path,
        "timeout-once-worker",
        f'if [ -e {killed} ]; then exec {worker_code.get_executable()} "$@"; fi\n'
        f"touch {killed}\n"
        "echo 'slurmstepd: error: *** JOB 7 ON n1 CANCELLED AT 2026-01-01T00:00:00 "
        "DUE TO TIME LIMIT ***' >&2",
        worker_code.computer,
    )
    job = {
        "code": code,
        "settings": orm.Dict({**PARAMETERS, "supercell_matrix": SUPERCELL}),
        "structure": training["structure"],
        "displacements": training["displacements"],
        "forces": training["forces"],
        "metadata": {"options": {"max_wallclock_seconds": 600}},
    }
    results, node = run_get_node(FitRestartWorkChain, job=job)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    first, second = sorted(node.called, key=lambda n: n.ctime)
    assert first.exit_status == status("ERROR_WORKER_OUT_OF_WALLTIME")
    assert second.is_finished_ok
    assert [c.get_option("max_wallclock_seconds") for c in (first, second)] == [600, 1200]
    assert results["force_constants"].uuid == second.outputs.force_constants.uuid
    assert set(results) >= {"fcp", "scores", "force_constants"}

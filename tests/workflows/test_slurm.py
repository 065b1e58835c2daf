"""A real SLURM (slurmctld + slurmd + munge on localhost, ``.ci/services.sh slurm``) behind an
AiiDA ``core.slurm`` computer.

Skipped, with the reason, where SLURM cannot run (the ``slurm_computer`` fixture says why).
The smoke test (one CalcJob through sbatch, 11 s at load 12) is in the default run; the
chunked κ (165 s at load 16 on 2 cores) is marked slow.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from aiida.plugins import CalculationFactory
from click.testing import CliRunner
from cluster_services import RUN_OPTIONS, in_process_kappa, write_overrides

RESOURCES = {"num_machines": 1, "num_mpiprocs_per_machine": 1}
CHUNKS = 3


def test_a_calcjob_runs_through_sbatch(slurm_computer, tmp_path):
    """The computer itself: a CalcJob is submitted with sbatch, runs as a SLURM job, and is
    parsed; its script sees SLURM's environment, so it did not run on the login shell."""
    script = tmp_path / "bash_in_slurm"
    script.write_text('#!/bin/bash\necho "job $SLURM_JOB_ID" >&2\nexec /bin/bash "$@"\n')
    script.chmod(0o755)
    code = orm.InstalledCode(
        computer=slurm_computer, filepath_executable=str(script), label="bash-in-slurm"
    ).store()
    builder = CalculationFactory("core.arithmetic.add").get_builder()
    builder.code, builder.x, builder.y = code, orm.Int(2), orm.Int(3)
    builder.metadata.options.resources = RESOURCES
    builder.metadata.options.max_wallclock_seconds = 120
    results, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    assert results["sum"].value == 5
    job_id = node.get_job_id()
    assert job_id and job_id.isdigit()
    assert f"job {job_id}" in node.outputs.retrieved.get_object_content("_scheduler-stderr.txt")


@pytest.mark.slow
def test_chunked_kappa_through_sbatch_equals_in_process(slurm_computer, cu3au_fc, tmp_path):
    """``aiida-wigner run --worker-code WORKER@SLURM --chunks 3 --job-options FILE`` on the EMT
    Cu3Au force constants: three ``aiida-wigner-worker`` jobs submitted with sbatch, and κ
    equal to the in-process run.

    1e-12 relative (to each tensor's largest element): the jobs run the same functions on the
    same numbers; the diagonal agreed bit for bit here, the symmetry-zero off-diagonal elements
    to 1e-18 W/(m K) (summation order); the bound is the chunked path's contract.
    """
    from aiida_wigner.calculations.jobs import worker_executable
    from aiida_wigner.cli import cmd_root
    from aiida_wigner.data.force_constants import ForceConstantsData

    fc_node = ForceConstantsData.from_force_constants(cu3au_fc).store()
    worker = orm.InstalledCode(
        computer=slurm_computer,
        filepath_executable=worker_executable(),
        label="aiida-wigner-worker",
        prepend_text="export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1",
    )
    worker.store()
    (tmp_path / "jobs.yaml").write_text(
        json.dumps({"resources": RESOURCES, "max_wallclock_seconds": 600})
    )
    summary = tmp_path / "summary.json"
    result = CliRunner().invoke(
        cmd_root,
        [
            "run",
            "--force-constants",
            str(fc_node.pk),
            *RUN_OPTIONS,
            "--overrides",
            str(write_overrides(tmp_path)),
            "--worker-code",
            worker.full_label,
            "--chunks",
            str(CHUNKS),
            "--job-options",
            str(tmp_path / "jobs.yaml"),
            "-o",
            str(summary),
        ],
    )
    assert result.exit_code == 0, result.output
    node = orm.load_node(json.loads(summary.read_text())["process"])
    reference = in_process_kappa(fc_node)
    for name, value in reference.items():
        # the cubic crystal's off-diagonal elements are rounding noise (1e-18 W/(m K)):
        # relative to the tensor's largest element
        np.testing.assert_allclose(
            node.outputs.kappa.get_array(name), value, rtol=1e-12, atol=1e-12 * np.abs(value).max()
        )
    jobs = [n for n in node.called_descendants if isinstance(n, orm.CalcJobNode)]
    assert len(jobs) == CHUNKS
    for job in jobs:  # each one its own SLURM job on this computer, with the given walltime
        assert job.computer.uuid == slurm_computer.uuid and job.is_finished_ok
        assert job.get_job_id().isdigit() and job.get_option("max_wallclock_seconds") == 600
    assert len({job.get_job_id() for job in jobs}) == CHUNKS

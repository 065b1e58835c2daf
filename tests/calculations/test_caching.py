"""AiiDA caching (``caching.enabled_for``) on the package's processes: a second identical run
reuses the finished calcfunctions and CalcJobs instead of computing them again.

The identifiers are those docs/cluster.md tells users to enable: ``aiida.calculations:wigner.*``
(the registered calcfunctions and CalcJobs) and ``aiida_wigner.*`` (the helper calcfunctions
that have no entry point, e.g. the summary).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from aiida import orm
from aiida.manage.caching import enable_caching
from conductivity_runs import conductivity_workflow, store_fc4_model

IDENTIFIERS = ("aiida.calculations:wigner.*", "aiida_wigner.*")


@contextlib.contextmanager
def wigner_caching():
    with contextlib.ExitStack() as stack:
        for identifier in IDENTIFIERS:
            stack.enter_context(enable_caching(identifier=identifier))
        yield


def calculations(workflow):
    """The workflow's calculations (calcfunctions and CalcJobs, at any depth), in a stable
    order: by process type, then creation time."""
    return sorted(
        (n for n in workflow.called_descendants if isinstance(n, orm.CalculationNode)),
        key=lambda node: (node.process_type, node.ctime),
    )


@pytest.fixture(scope="module")
def two_runs(aiida_profile, cu3au_fc):
    node = store_fc4_model(cu3au_fc)
    first = conductivity_workflow(node)
    with wigner_caching():
        second = conductivity_workflow(node)
    return first, second


def test_second_run_reuses_every_calculation(two_runs):
    first, second = two_runs
    computed, cached = calculations(first), calculations(second)
    assert [n.process_type for n in computed] == [n.process_type for n in cached]
    assert {n.process_type for n in cached} >= {
        "aiida.calculations:wigner.renormalize",
        "aiida.calculations:wigner.kappa",
    }
    for original, reused in zip(computed, cached, strict=True):
        assert not original.base.caching.is_created_from_cache
        assert reused.base.caching.is_created_from_cache, reused.process_type
        assert reused.base.caching.get_cache_source() == original.uuid
    # the cached outputs are copies: the same numbers, not a recomputation
    np.testing.assert_array_equal(
        second.outputs.kappa.get_array("kappa"), first.outputs.kappa.get_array("kappa")
    )


def test_second_chunked_run_reuses_the_linewidth_jobs(aiida_profile, cu3au_fc, tmp_path):
    """The same with the linewidths as two ``wigner.linewidths`` CalcJobs on localhost: the
    second run's jobs are cached copies of the first run's, κ the same."""
    from aiida.engine import run_get_node

    from aiida_wigner.calculations.jobs import ensure_localhost_computer_and_worker_code
    from aiida_wigner.data.force_constants import ForceConstantsData
    from aiida_wigner.workflows.conductivity import WignerConductivityWorkChain

    code = ensure_localhost_computer_and_worker_code(workdir=str(tmp_path))
    node = ForceConstantsData.from_force_constants(cu3au_fc).store()

    def chunked_run():
        builder = WignerConductivityWorkChain.get_builder()
        builder.force_constants = node
        builder.temperatures = orm.List([300.0])
        builder.kappa = orm.Dict({"mesh": [2, 2, 2], "sigma": 0.2})
        builder.codes.linewidths = code
        builder.chunks = orm.Int(2)
        _, process = run_get_node(builder)
        assert process.is_finished_ok, (process.exit_status, process.exit_message)
        return process

    first = chunked_run()
    with wigner_caching():
        second = chunked_run()
    jobs = [
        [n for n in calculations(run) if isinstance(n, orm.CalcJobNode)] for run in (first, second)
    ]
    assert len(jobs[0]) == len(jobs[1]) == 2
    assert all(job.base.caching.is_created_from_cache for job in jobs[1])
    assert {job.base.caching.get_cache_source() for job in jobs[1]} == {job.uuid for job in jobs[0]}
    np.testing.assert_array_equal(
        second.outputs.kappa.get_array("kappa"), first.outputs.kappa.get_array("kappa")
    )

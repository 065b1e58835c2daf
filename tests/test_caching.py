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
    """The workflow's calculations (calcfunctions and CalcJobs, at any depth), by process type."""
    query = orm.QueryBuilder().append(orm.WorkflowNode, filters={"id": workflow.pk},
                                      tag="wf")
    query.append(orm.CalculationNode, with_incoming="wf", project="*")
    return sorted(query.all(flat=True), key=lambda node: (node.process_type, node.ctime))


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
    assert {n.process_type for n in cached} >= {"aiida.calculations:wigner.renormalize",
                                                "aiida.calculations:wigner.kappa"}
    for original, reused in zip(computed, cached, strict=True):
        assert not original.base.caching.is_created_from_cache
        assert reused.base.caching.is_created_from_cache, reused.process_type
        assert reused.base.caching.get_cache_source() == original.uuid
    # the cached outputs are copies: the same numbers, not a recomputation
    np.testing.assert_array_equal(second.outputs.kappa.get_array("kappa"),
                                  first.outputs.kappa.get_array("kappa"))


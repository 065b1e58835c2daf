"""``aiida-wigner run --daemon`` on a production-style profile (PostgreSQL ``core.psql_dos`` +
RabbitMQ, started by ``.ci/services.sh``), interrupted while its chunk jobs run.

One workflow, harmonic κ of the EMT Cu3Au force constants with the linewidths as ``CHUNKS``
worker jobs on ``aiida-wigner-worker@localhost`` (what ``--daemon`` sets up).  The worker is
wrapped to wait for a release file first, so the jobs are surely running when the test (1)
stops the daemon (which must answer within seconds: the heavy work is in the jobs, not in the
daemon worker's event loop), starts it again, and (2) kills the new daemon worker with SIGKILL
once it has taken the jobs over (circus starts another one); then it releases the jobs.
Afterwards: the workflow finished with the κ of an uninterrupted in-process run, every
irreducible q-point was computed by exactly one job, and no process node is left unfinished.

Skipped, with the reason, where PostgreSQL or RabbitMQ cannot run (the ``service_profile``
fixture says why).
"""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest
from cluster_services import KAPPA, RUN_OPTIONS, TEMPERATURES, in_process_kappa, write_overrides

from aiida_wigner.calculations.kappa import settings_from_dict as kappa_settings_from_dict
from aiida_wigner.physics.kappa import irreducible_grid_points

pytestmark = pytest.mark.slow

CHUNKS = 4
#: What "within seconds" means for stopping the daemon on a loaded 2-core CI machine.
#: Measured at load 13-15 on 2 cores: 3.6 s idle, 8.8-15.2 s with the four jobs waiting (each
#: process saves its state); a worker blocked in a calcfunction ignores SIGTERM until circus
#: kills it after its 30 s graceful timeout, so 20 s separates the two.
STOP_LIMIT = 20.0

STORE_FC = """
import sys
sys.path.insert(0, {tests!r})
from reference_models import cu3au_force_constants
from aiida_wigner.data.force_constants import ForceConstantsData
from aiida_wigner.calculations.jobs import (ensure_localhost_computer_and_worker_code,
                                            worker_executable)
print(ForceConstantsData.from_force_constants(cu3au_force_constants()).store().pk)
# the worker code --daemon uses, made beforehand so that each job waits for the release file
script = {script!r}
with open(script, "w") as handle:
    handle.write("#!/bin/sh\\nwhile [ ! -e {release} ]; do sleep 0.5; done\\nexec "
                 + worker_executable() + ' "$@"\\n')
import os
os.chmod(script, 0o755)
ensure_localhost_computer_and_worker_code(executable=script, workdir={scratch!r})
"""

STATE = """
import json, sys
from aiida import orm
from aiida.common.links import LinkType
workflow = orm.load_node(int(sys.argv[1]))
jobs = [n for n in workflow.called_descendants if isinstance(n, orm.CalcJobNode)]
processes = orm.QueryBuilder().append(orm.ProcessNode, project=["id", "attributes.process_state"])
state = {"workflow": workflow.process_state.value if workflow.process_state else None,
         "exit_status": workflow.exit_status,
         "jobs": [{"pk": j.pk, "state": j.process_state.value, "status": j.process_status,
                   "job_state": j.get_scheduler_state()
                   and j.get_scheduler_state().value, "job_id": j.get_job_id(),
                   "ok": j.is_finished_ok,
                   "points": j.inputs.grid_points.get_list() if "grid_points" in j.inputs else []}
                  for j in jobs],
         "unfinished": [pk for pk, s in processes.all() if s not in ("finished", "excepted",
                                                                      "killed")],
         "not_ok": [pk for pk, s in processes.all() if s != "finished"]}
if workflow.is_finished_ok:
    state["kappa"] = {k: workflow.outputs.kappa.get_array(k).tolist()
                      for k in ("kappa_P", "kappa_C", "kappa")}
    gathered = workflow.outputs.kappa.creator.inputs.linewidths.creator
    # the jobs whose outputs were gathered (one per chunk input of gather_linewidths)
    state["gathered_from"] = sorted(link.node.creator.pk for link in gathered.base.links
                                    .get_incoming(link_type=LinkType.INPUT_CALC).all())
print(json.dumps(state))
"""


def _state(profile, pk):
    return json.loads(profile.python(STATE, pk))


def _wait(profile, pk, condition, limit, what):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        state = _state(profile, pk)
        if condition(state):
            return state
        time.sleep(2)
    raise AssertionError(f"{what} not reached within {limit} s: {state}")


def _jobs_running(state):
    return len(state["jobs"]) == CHUNKS and all(j["job_state"] == "running" for j in state["jobs"])


def _stop_daemon(profile) -> float:
    """Stop the daemon as `verdi daemon stop` does; the seconds until it has stopped (without
    the interpreter's start-up, which is most of a verdi call's time on a loaded machine)."""
    return float(
        profile.python("""
import time
from aiida.engine.daemon.client import get_daemon_client
client = get_daemon_client()
start = time.monotonic()
client.stop_daemon(wait=True)
while client.is_daemon_running:
    time.sleep(0.1)
print(time.monotonic() - start)
""")
    )


def _worker_pids(profile):
    out = profile.python("""
from aiida.engine.daemon.client import get_daemon_client
print(" ".join(str(info["pid"]) for info in get_daemon_client().get_worker_info()["info"].values()))
""")
    return [int(pid) for pid in out.split()]


@pytest.fixture(scope="module")
def reference(aiida_profile, cu3au_fc):
    """κ of the same run in-process, uninterrupted (in the pytest session profile)."""
    from aiida_wigner.data.force_constants import ForceConstantsData

    return in_process_kappa(ForceConstantsData.from_force_constants(cu3au_fc).store())


def test_run_daemon_survives_stop_and_sigkill(service_profile, reference, cu3au_fc, tmp_path):
    profile = service_profile
    tests = os.path.dirname(os.path.dirname(__file__))
    release = tmp_path / "release"
    fc_pk = profile.python(
        STORE_FC.format(
            tests=tests,
            script=str(tmp_path / "held_worker"),
            release=str(release),
            scratch=str(tmp_path / "scratch"),
        )
    )
    fc_pk = fc_pk.split()[0]
    run = [
        "run",
        "--daemon",
        "--force-constants",
        fc_pk,
        *RUN_OPTIONS,
        "--chunks",
        CHUNKS,
        "--overrides",
        write_overrides(tmp_path),
    ]

    # --daemon without a daemon: a one-line usage error saying how to start one
    refused = profile.cli(*run, check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "no AiiDA daemon is running" in refused.stderr
    assert "verdi daemon start" in refused.stderr

    profile.verdi("daemon", "start", "1")
    submitted = profile.cli(*run)
    pk = submitted.stdout.split("<")[1].split(">")[0]

    # (1) stop the daemon while the jobs run: it answers within seconds
    _wait(profile, pk, _jobs_running, 120, "all chunk jobs running")
    stop_time = _stop_daemon(profile)
    print(f"daemon stopped in {stop_time:.1f} s with {CHUNKS} jobs running")
    assert stop_time < STOP_LIMIT, f"the daemon took {stop_time:.1f} s to stop"
    stopped = _state(profile, pk)
    assert stopped["workflow"] == "waiting" and len(stopped["jobs"]) == CHUNKS
    assert all(j["state"] == "waiting" and "cancelled" in j["status"] for j in stopped["jobs"])
    profile.verdi("daemon", "start", "1")

    # (2) SIGKILL the new daemon worker once it monitors the jobs again
    _wait(
        profile,
        pk,
        lambda s: (
            _jobs_running(s) and all("Monitoring scheduler" in j["status"] for j in s["jobs"])
        ),
        120,
        "jobs taken over",
    )
    killed = _worker_pids(profile)
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while not set(_worker_pids(profile)) - set(killed) and time.monotonic() < deadline:
        time.sleep(1)  # circus starts another worker
    release.touch()

    final = _wait(
        profile,
        pk,
        lambda s: s["workflow"] in ("finished", "excepted", "killed"),
        300,
        "the workflow's end",
    )
    profile.verdi("daemon", "stop", timeout=60)
    assert final["exit_status"] == 0, final
    for name, value in reference.items():
        # the cubic crystal's off-diagonal elements are rounding noise (1e-18 W/(m K)):
        # relative to the tensor's largest element
        np.testing.assert_allclose(
            final["kappa"][name], value, rtol=1e-12, atol=1e-12 * np.abs(value).max()
        )
    # no chunk lost or counted twice: CHUNKS jobs, the same as before the interruptions,
    # each q-point in exactly one, all gathered
    assert sorted(j["pk"] for j in final["jobs"]) == sorted(j["pk"] for j in stopped["jobs"])
    assert all(j["ok"] for j in final["jobs"])
    points = sorted(p for j in final["jobs"] for p in j["points"])
    assert points == sorted(
        int(g)
        for g in irreducible_grid_points(
            cu3au_fc, kappa_settings_from_dict({**KAPPA, "temperatures": TEMPERATURES})
        )
    )
    assert final["gathered_from"] == sorted(j["pk"] for j in final["jobs"])
    assert final["unfinished"] == [] and final["not_ok"] == []

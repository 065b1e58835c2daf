"""``aiida-wigner fit --daemon --engine emt`` on PostgreSQL + RabbitMQ: no engine step and no
fit is computed inside the daemon worker.

The relaxation, the MD run and every force call run as aiida-pythonjob ``PythonJob``s on
``aiida-wigner-python@localhost`` (the forces of each step's structures in one job: core.direct
has no queue) and the fit as a ``wigner.fit_job`` on
``aiida-wigner-worker@localhost``, both made by the CLI; none of the ASE engine's
calcfunctions (``ase_static``, ``ase_md``, ``ase_relax``) or ``fit_hiphive`` appears in the
workflow's provenance.  Fcc Cu in a 3x3x3 supercell, a 40-step MD, 4 snapshots.

Skipped, with the reason, where PostgreSQL or RabbitMQ cannot run (``service_profile``).
"""

from __future__ import annotations

import json
import time

import pytest
import yaml

pytestmark = pytest.mark.slow

OVERRIDES = {
    "relax": {"parameters": {"max_steps": 100}},
    "sampling": {
        "md": {"n_steps": 40, "interval": 2},
        "parameters": {"n_snapshots": 4, "discard_steps": 10},
    },
    "fit": {"parameters": {"cutoffs": {"2": 3.0, "3": 3.0}, "validation": {"n_splits": 3}}},
}

STATE = """
import json, sys
from aiida import orm
workflow = orm.load_node(int(sys.argv[1]))
done = workflow.is_terminated
processes = [n for n in workflow.called_descendants if isinstance(n, orm.CalculationNode)]
print(json.dumps({
    "done": done,
    "exit_status": workflow.exit_status,
    "exit_message": workflow.exit_message,
    "calcfunctions": sorted({n.process_label for n in processes
                             if isinstance(n, orm.CalcFunctionNode)}),
    "jobs": sorted({(n.process_label, n.inputs.code.full_label, n.is_finished_ok)
                    for n in processes if isinstance(n, orm.CalcJobNode)}),
    "static_jobs": sum(n.process_label == "PythonJob<ase_static>" for n in processes),
    "force_steps": sum(n.process_label == "EngineForcesWorkChain"
                       for n in workflow.called_descendants),
}))
"""


def test_fit_daemon_runs_the_engine_and_the_fit_outside_the_daemon(service_profile, tmp_path):
    from ase.build import bulk

    profile = service_profile
    cif = tmp_path / "Cu.cif"
    bulk("Cu", "fcc", a=3.62).write(str(cif))
    overrides = tmp_path / "over.yaml"
    overrides.write_text(yaml.safe_dump(OVERRIDES))
    profile.verdi("daemon", "start", "1")
    try:
        submitted = profile.cli(
            "fit",
            cif,
            "--engine",
            "emt",
            "--supercell",
            3,
            3,
            3,
            "--overrides",
            overrides,
            "--daemon",
        )
        pk = submitted.stdout.split("<")[1].split(">")[0]
        deadline = time.monotonic() + 600
        while True:
            state = json.loads(profile.python(STATE, pk))
            if state["done"] or time.monotonic() > deadline:
                break
            time.sleep(3)
    finally:
        profile.verdi("daemon", "stop", timeout=90)
    assert state["done"], f"not finished within 600 s: {state}"
    assert state["exit_status"] == 0, state
    in_daemon = {"ase_static", "ase_md", "ase_relax", "fit_hiphive"} & set(state["calcfunctions"])
    assert not in_daemon, f"computed inside the daemon worker: {in_daemon}"
    jobs = {(label, code) for label, code, ok in state["jobs"]}
    assert all(ok for *_, ok in state["jobs"]), state["jobs"]
    python = "aiida-wigner-python@localhost"
    assert {
        ("PythonJob<ase_relax>", python),
        ("PythonJob<ase_md>", python),
        ("PythonJob<ase_static>", python),
        ("FitCalculation", "aiida-wigner-worker@localhost"),
    } == jobs
    # one force job per force step (harmonic displacements, MD snapshots), not per structure
    assert state["static_jobs"] == state["force_steps"] >= 2, state

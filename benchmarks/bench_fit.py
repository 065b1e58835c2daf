"""Benchmark: wall time of each step of structure -> fitted force constants, force-call rate.

Usage (creates/uses the default AiiDA profile; SQLite, no services):

    python benchmarks/bench_fit.py [--engine sevennet] [--protocol fast] [--threads 2]
                                   [--structure examples/cscu4se3/CsCu4Se3.cif]
                                   [--sizes 1,1,1 2,2,1 2,2,2 3,3,1 4,4,2] [--skip-workflow]
                                   [--node PK]
                                   [--output bench_fit.json]

Prints and writes JSON: per-step wall time (s) of the ForceConstantsWorkChain
(relax, harmonic, sampling, fit, from the process nodes' creation/modification times),
force calls per second vs number of atoms (wall and CPU time per call), and the peak
resident memory of this process (MiB).  Report the machine load with the numbers: on a
shared machine the wall times include waiting for the CPU.  On an oversubscribed machine
(load average above the core count) use ``--threads 1`` (and OMP_NUM_THREADS=1): two torch
threads that wait for each other burn CPU, and a 64-atom SevenNet call of CsCu4Se3 went from
0.78 s (1 thread) to 14 s (2 threads) at load 8 on 2 cores.  ``--node PK`` reports the steps
of a finished ForceConstantsWorkChain (e.g. of ``aiida-wigner fit``) without running one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def force_call_rate(structure, engine: str, sizes, repeats: int = 3) -> list[dict]:
    from ase.io import read

    from aiida_wigner.engines import compute_static

    atoms = read(structure)
    rows = []
    for rep in sizes:
        s = atoms * tuple(rep)
        compute_static({"name": engine}, [s])  # warm-up (model load, graph compile)
        batch = []  # distinct structures: ASE calculators cache results of unchanged atoms
        for k in range(repeats):
            c = s.copy()
            c.rattle(0.01, seed=k)
            batch.append(c)
        t0, c0 = time.perf_counter(), time.process_time()
        compute_static({"name": engine}, batch)
        wall = (time.perf_counter() - t0) / repeats
        cpu = (time.process_time() - c0) / repeats
        rows.append(
            {
                "supercell": list(rep),
                "atoms": len(s),
                "wall_s_per_call": wall,
                "cpu_s_per_call": cpu,
                "calls_per_s": 1.0 / wall,
            }
        )
        print(
            f"{len(s):5d} atoms: {wall:7.3f} s/call wall, {cpu:7.3f} s CPU, "
            f"{1 / wall:6.2f} calls/s",
            flush=True,
        )
    return rows


def _step_times(node) -> dict:
    """Wall time (s, mtime - ctime) of each called process, with its own called processes.

    ``{label: {"wall_s": t, "steps": {...}}}``; the steps of the ForceConstantsWorkChain are
    relax, harmonic, sampling (MD + static forces of the snapshots) and fit.
    """
    from aiida.common.links import LinkType

    out = {}
    for link in node.base.links.get_outgoing(
        link_type=(LinkType.CALL_CALC, LinkType.CALL_WORK)
    ).all():
        child = link.node
        entry = {"pk": child.pk, "wall_s": (child.mtime - child.ctime).total_seconds()}
        sub = _step_times(child)
        if sub:
            entry["steps"] = sub
        label = child.process_label
        while label in out:  # the same process type called twice
            label += "'"
        out[label] = entry
    return out


def workflow_steps(structure, engine: str, protocol: str, pk: int | None = None) -> dict:
    """Run the ForceConstantsWorkChain (or read the finished one ``pk``) and time its steps."""
    from aiida import load_profile, orm
    from aiida.engine import run_get_node
    from ase.io import read

    from aiida_wigner.workflows.force_constants import ForceConstantsWorkChain

    load_profile()
    if pk is None:
        builder = ForceConstantsWorkChain.get_builder_from_protocol(
            orm.StructureData(ase=read(structure)), engine=engine, protocol=protocol
        )
        t0, c0 = time.perf_counter(), time.process_time()
        results, node = run_get_node(builder)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
    else:
        node = orm.load_node(pk)
        results = node.outputs
        total, cpu = (node.mtime - node.ctime).total_seconds(), None
    out = {
        "pk": node.pk,
        "exit_status": node.exit_status,
        "total_wall_s": total,
        "total_cpu_s": cpu,
        "steps": _step_times(node),
    }
    if "scores" in results:
        s = results["scores"].get_dict()
        out["scores"] = {
            k: s[k]
            for k in (
                "rmse_train",
                "rmse_validation",
                "r2_validation",
                "relative_rmse_validation",
                "n_parameters",
            )
        }
    print(json.dumps(out, indent=1), flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="sevennet")
    ap.add_argument("--protocol", default="fast")
    ap.add_argument("--threads", type=int, default=2, help="torch / BLAS threads")
    ap.add_argument("--structure", default=str(ROOT / "examples/cscu4se3/CsCu4Se3.cif"))
    ap.add_argument("--sizes", nargs="*", default=["1,1,1", "2,2,1", "2,2,2", "3,3,1", "4,4,2"])
    ap.add_argument("--skip-workflow", action="store_true")
    ap.add_argument(
        "--node",
        type=int,
        default=None,
        help="Report the steps of this finished ForceConstantsWorkChain instead of "
        "running a new one.",
    )
    ap.add_argument("--output", default="bench_fit.json")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    report = {
        "engine": args.engine,
        "protocol": args.protocol,
        "threads": args.threads,
        "loadavg_start": os.getloadavg(),
    }
    sizes = [[int(x) for x in s.split(",")] for s in args.sizes]
    report["force_calls"] = force_call_rate(args.structure, args.engine, sizes)
    if not args.skip_workflow:
        report["workflow"] = workflow_steps(args.structure, args.engine, args.protocol, args.node)
    report["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report["loadavg_end"] = os.getloadavg()
    Path(args.output).write_text(json.dumps(report, indent=1))
    print(f"peak RSS {report['peak_rss_mib']:.0f} MiB; load average {report['loadavg_end']}")


if __name__ == "__main__":
    main()

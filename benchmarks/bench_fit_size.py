"""Size the hiphive fit of a protocol without running it: parameters, fit-matrix bytes, row cost.

CsCu4Se3 (examples/cscu4se3/CsCu4Se3.cif) in the protocol's supercell (``paper`` and
``balanced``: 4×4×2, 256 atoms).  Builds hiphive's ClusterSpace at the protocol's
cut-offs as the fit would use them (capped at the supercell's limit,
:func:`aiida_wigner.fitting.hiphive_fit.supercell_cutoffs`), counts the parameters per
order, and prices the fit matrix: rows = snapshots × 3 × atoms, columns = the free
parameters (order 2 is fixed from finite displacements in both protocols, so its columns are
not fitted; the matrix hiphive builds has them too), float64.  The protocols' fit settings
are copied into :data:`PROTOCOLS`.  Then builds the rows of
``--structures`` rattled snapshots (0.1 Å, forces of zero: the cost does not depend on
them) with hiphive's StructureContainer and times them, and prints how many snapshots a
``--budget-gb`` matrix holds.

    python benchmarks/bench_fit_size.py [--protocol paper] [--structures 1] [--snapshots N]
        [--budget-gb 24] [--cutoffs 8.17 8.17 7.41 4.23 3.17] [--output fit_size.json]

Peak RSS (VmHWM) is printed after each stage.  Run with OMP_NUM_THREADS=1 on a loaded machine.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CIF = ROOT / "examples" / "cscu4se3" / "CsCu4Se3.cif"


def _peak_gb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e9
    raise RuntimeError("no VmHWM in /proc/self/status")


#: The fit part of the protocols (wigner.force_constants, protocol files of
#: aiida_wigner/workflows/protocols): supercell, snapshots, cut-offs (Å, orders 2, 3, ...);
#: order 2 is fixed from finite displacements in both.
PROTOCOLS = {
    "paper": {"supercell": (4, 4, 2), "n_snapshots": 100, "cutoffs": [8.2, 8.46, 7.41, 4.23, 3.17]},
    "balanced": {"supercell": (4, 4, 2), "n_snapshots": 50, "cutoffs": [8.0, 6.0, 4.23]},
}


def main():
    from ase.io import read

    from aiida_wigner.fitting.hiphive_fit import build_cluster_space, supercell_cutoffs
    from aiida_wigner.fitting.size import estimate_parameters, point_operations

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--protocol", default="paper", choices=sorted(PROTOCOLS))
    p.add_argument("--snapshots", type=int, help="default: the protocol's")
    p.add_argument(
        "--cutoffs",
        nargs="+",
        type=float,
        help="Å for orders 2, 3, ... (default: the protocol's, capped)",
    )
    p.add_argument(
        "--structures",
        type=int,
        default=1,
        help="snapshots whose rows are built and timed (0: count parameters only)",
    )
    p.add_argument("--budget-gb", type=float, default=24.0)
    p.add_argument(
        "--estimate-only",
        action="store_true",
        help="print the geometric estimate only (no hiphive ClusterSpace)",
    )
    p.add_argument("--output", type=Path)
    args = p.parse_args()

    proto = PROTOCOLS[args.protocol]
    prim = read(CIF)
    ideal = prim.repeat(proto["supercell"])
    cut, capped = supercell_cutoffs(args.cutoffs or proto["cutoffs"], ideal.cell, cap=True)
    n_snap = args.snapshots or proto["n_snapshots"]
    fixed2 = True
    print(
        f"load (uptime): {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; protocol "
        f"{args.protocol}: {len(ideal)} atoms, {n_snap} snapshots, cutoffs {cut} Å "
        f"(capped: {capped or 'none'})",
        flush=True,
    )

    n_ops = point_operations(prim)
    estimate = {o: int(estimate_parameters(prim, o, c, n_ops)) for o, c in enumerate(cut, 2)}
    est_gb = 8e-9 * n_snap * 3 * len(ideal) * sum(v for o, v in estimate.items() if o > 2)
    print(
        f"estimate ({n_ops} point operations): parameters per order {estimate}; "
        f"fit matrix of the anharmonic orders ~{est_gb:.1f} GB",
        flush=True,
    )
    result = {
        "protocol": args.protocol,
        "load": os.getloadavg(),
        "cutoffs": cut,
        "cutoffs_capped": capped,
        "estimate": estimate,
        "estimate_matrix_gb": est_gb,
    }
    if args.estimate_only:
        _write(args.output, result)
        return
    t0, c0 = time.perf_counter(), time.process_time()
    cs = build_cluster_space(prim, cut)
    t_cs, c_cs = time.perf_counter() - t0, time.process_time() - c0
    orders = [int(o) for o in cs.cutoffs.orders]
    per_order = {o: int(cs.get_n_dofs_by_order(o)) for o in orders}
    n_free = sum(n for o, n in per_order.items() if not (fixed2 and o == 2))
    rows = n_snap * 3 * len(ideal)
    gb = 8e-9 * rows * cs.n_dofs
    gb_free = 8e-9 * rows * n_free
    print(
        f"ClusterSpace: {t_cs:.1f} s wall, {c_cs:.1f} s CPU, peak {_peak_gb():.2f} GB; "
        f"parameters per order {per_order}, total {cs.n_dofs}, free {n_free}",
        flush=True,
    )
    print(
        f"fit matrix: {rows} rows x {cs.n_dofs} columns = {gb:.2f} GB float64 "
        f"(free columns only: {gb_free:.2f} GB); a {args.budget_gb:g} GB matrix holds "
        f"{int(args.budget_gb / (gb / n_snap))} snapshots "
        f"({int(args.budget_gb / (gb_free / n_snap))} of free columns)",
        flush=True,
    )

    result.update(
        {
            "cluster_space_s": t_cs,
            "cluster_space_cpu_s": c_cs,
            "parameters": per_order,
            "n_dofs": int(cs.n_dofs),
            "n_free": n_free,
            "rows": rows,
            "matrix_gb": gb,
            "matrix_free_gb": gb_free,
        }
    )
    if args.structures:
        result.update(_row_cost(cs, ideal, args.structures, n_snap, n_free, args.budget_gb))
    _write(args.output, result)


def _write(path, result: dict) -> None:
    result["peak_gb"] = _peak_gb()
    if path:
        path.write_text(json.dumps(result, indent=1))


def _row_cost(cs, ideal, n_structures, n_snap, n_free, budget_gb) -> dict:
    """Build the rows of ``n_structures`` rattled snapshots; time and size per snapshot."""
    from hiphive import StructureContainer

    rng = np.random.default_rng(0)
    sc = StructureContainer(cs)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n_structures):
        atoms = ideal.copy()
        atoms.new_array("displacements", rng.normal(scale=0.1 / np.sqrt(3), size=(len(ideal), 3)))
        atoms.new_array("forces", np.zeros((len(ideal), 3)))
        sc.add_structure(atoms)
    t_rows = (time.perf_counter() - t0) / n_structures
    c_rows = (time.process_time() - c0) / n_structures
    A, _ = sc.get_fit_data()
    density = np.count_nonzero(A) / A.size
    per_snapshot_gb = A.nbytes / n_structures / 1e9
    fits = int(budget_gb // per_snapshot_gb)
    fits_free = int(budget_gb // (per_snapshot_gb * n_free / cs.n_dofs))
    print(
        f"rows of one snapshot ({3 * len(ideal)} x {A.shape[1]}): {t_rows:.1f} s wall, "
        f"{c_rows:.1f} s CPU, {per_snapshot_gb:.3f} GB, non-zero fraction {density:.3f}; all "
        f"{n_snap} snapshots: {c_rows * n_snap / 60:.1f} CPU min to build; peak "
        f"{_peak_gb():.2f} GB",
        flush=True,
    )
    print(
        f"a {budget_gb:g} GB matrix holds {fits} snapshots (free columns only: {fits_free})",
        flush=True,
    )
    return {
        "seconds_per_snapshot": t_rows,
        "cpu_seconds_per_snapshot": c_rows,
        "gb_per_snapshot": per_snapshot_gb,
        "nonzero_fraction": density,
        "snapshots_in_budget": fits,
        "snapshots_in_budget_free": fits_free,
    }


if __name__ == "__main__":
    main()

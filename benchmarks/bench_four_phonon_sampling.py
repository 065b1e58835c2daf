"""Sampled four-phonon scattering at the seed's mesh: κ error and cost against the sample count.

Model: the seed-size CsCu4Se3 case of ``bench_memory`` (8 atoms, 24 branches, 4×4×2
supercell), harmonic phonons on the κ mesh (default the seed's 16×16×12), adaptive
smearing (scale 0.2), one temperature.  Its central-pair FC4 gives γ_4ph only ~0.1 % of
γ at 300 K, so little that any sample count looks exact; ``--fc4-scale`` multiplies FC4
(γ_4ph by the square) to give four-phonon scattering the weight it has in the seed.
γ_3ph and γ_isotope are computed once; then sampled γ_4ph
(``four_phonon_allocation="kappa"``, the default) for every (samples, seed),
each with κ = κ_P + κ_C from γ_3ph + γ_isotope + γ_4ph.  Printed per run: κ_xx, κ_zz
(W/(m·K)), the 1σ error of κ_P the sampler itself reports (``bench_paper_kappa.
kappa_sampling_error``), the difference from the reference (the largest sample count,
mean over its seeds), the 4ph CPU time and its cost per sampled pair, and the speed-up
over the exhaustive sum: the symmetry-reduced pairs an exhaustive γ_4ph evaluates
(orbits of (q1, q2) under the little group of q0 and the permutations of the legs,
counted exactly at ``--count-points`` irreducible points and scaled to all of them)
over the pairs sampled, at the measured cost per pair.

    python benchmarks/bench_four_phonon_sampling.py [--mesh 16 16 12]
        [--samples 32 64 128 256 512] [--seeds 1] [--temperature 300]
        [--count-points 4] [--fc4-scale 17] [--output sampling.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def exhaustive_pairs(qmesh, grid_points) -> float:
    """Mean number of (q1, q2) orbits per q0 over ``grid_points`` (what exhaustive evaluates)."""
    import numpy as np

    from aiida_wigner.physics.scattering.four_phonon import canonical_pairs

    n_q = qmesh.n_q
    counts = []
    for gp in grid_points:
        reps = np.concatenate(
            [
                np.unique(canonical_pairs(qmesh, gp, np.arange(s, min(s + (1 << 20), n_q**2))))
                for s in range(0, n_q**2, 1 << 20)
            ]
        )
        counts.append(len(np.unique(reps)))
    return float(np.mean(counts))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mesh", nargs=3, type=int, default=[16, 16, 12])
    p.add_argument("--samples", nargs="+", type=int, default=[32, 64, 128, 256, 512])
    p.add_argument("--seeds", type=int, default=1, help="seeds per sample count")
    p.add_argument("--temperature", type=float, default=300.0)
    p.add_argument("--count-points", type=int, default=4)
    p.add_argument(
        "--fc4-scale",
        type=float,
        default=1.0,
        help="multiply FC4 (γ_4ph by its square) to give 4ph the weight it has in the seed",
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--output", type=Path)
    args = p.parse_args()
    from bench_paper_kappa import kappa_sampling_error, use_threads

    use_threads(args.threads)

    import numpy as np
    from bench_memory import _cached_model

    from aiida_wigner.physics.forceconstants import ForceConstants, SparseForceConstants
    from aiida_wigner.physics.kappa import (
        KappaSettings,
        compute_linewidths,
        irreducible_grid_points,
        kappa_from_linewidths,
    )
    from aiida_wigner.physics.mesh import QMesh

    print(f"load (uptime) {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    fc = _cached_model((4, 4, 2))
    if args.fc4_scale != 1.0:
        fc4 = SparseForceConstants(4, fc.fc4.atoms, fc.fc4.values * args.fc4_scale)
        fc = ForceConstants(fc.setup, fc.fc2, fc.fc3, fc4, {"fc4_scale": args.fc4_scale})
    base = KappaSettings(
        mesh=tuple(args.mesh),
        temperatures=(args.temperature,),
        smearing="adaptive",
        scale=0.2,
        isotope=True,
        four_phonon="sampled",
    )
    t0 = time.perf_counter()
    other = compute_linewidths(fc, base, parts=("3ph", "isotope"))
    print(f"3ph + isotope: {time.perf_counter() - t0:.1f} s", flush=True)
    n_ir = len(irreducible_grid_points(fc, base))
    qmesh = QMesh.build(fc.primitive, base.mesh)
    rng = np.random.default_rng(0)
    count_at = rng.choice(qmesh.ir_grid, size=min(args.count_points, n_ir), replace=False)
    t0 = time.perf_counter()
    orbits = exhaustive_pairs(qmesh, count_at)
    print(
        f"exhaustive: {orbits:.0f} pair orbits per q-point (mean of {len(count_at)}; "
        f"{qmesh.n_q**2} raw pairs), counted in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    print(
        "samples seed   κ_xx    κ_zz   1σ(κ_P,xx)  1σ(κ_P,zz)  CPU/s  ms/pair  speed-up",
        flush=True,
    )
    runs = []
    for samples in args.samples:
        for seed in range(args.seeds):
            s = KappaSettings(
                **{**base.as_dict(), "four_phonon_samples": samples, "four_phonon_seed": seed}
            )
            c0, w0 = time.process_time(), time.perf_counter()
            lw = compute_linewidths(fc, s, parts=("4ph",), previous=other)
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            res = kappa_from_linewidths(fc, s, lw)
            err = kappa_sampling_error(res)[0]
            pairs = samples * n_ir  # the κ allocation spreads this budget over the points
            per_pair = cpu / pairs
            speedup = orbits * n_ir / pairs  # in pairs; equal cost per pair either way
            k = res.kappa[0]
            runs.append(
                {
                    "samples": samples,
                    "seed": seed,
                    "kappa": k.tolist(),
                    "kappa_P_sampling_error": err.tolist(),
                    "gamma_4ph_share": float(lw.gamma_4ph.sum() / lw.gamma.sum()),
                    "cpu_s": cpu,
                    "wall_s": wall,
                    "cpu_ms_per_pair": 1e3 * per_pair,
                    "speedup_vs_exhaustive": speedup,
                }
            )
            print(
                f"{samples:7d} {seed:4d} {k[0, 0]:7.4f} {k[2, 2]:7.4f} {err[0, 0]:11.2e} "
                f"{err[2, 2]:11.2e} {cpu:6.0f} {1e3 * per_pair:8.2f} {speedup:9.0f}  "
                f"(γ_4ph share {runs[-1]['gamma_4ph_share']:.3f})",
                flush=True,
            )
    ref = np.mean([r["kappa"] for r in runs if r["samples"] == max(args.samples)], axis=0)
    print("relative κ error against the largest sample count (xx, zz):")
    for r in runs:
        k = np.asarray(r["kappa"])
        rel = [abs(k[i, i] - ref[i, i]) / abs(ref[i, i]) for i in (0, 2)]
        r["error_vs_reference"] = rel
        print(f"{r['samples']:7d} {r['seed']:4d} {rel[0]:9.2e} {rel[1]:9.2e}")
    # cost per pair from the largest runs (the first run may include numba's compilation)
    largest = [r["cpu_ms_per_pair"] for r in runs if r["samples"] == max(args.samples)]
    exhaustive_cpu = orbits * n_ir * np.mean(largest) / 1e3
    print(
        f"extrapolated exhaustive γ_4ph: {exhaustive_cpu:.3g} CPU s "
        f"({exhaustive_cpu / 3600:.3g} h) at {np.mean(largest):.2f} ms per pair"
    )
    if args.output:
        args.output.write_text(
            json.dumps(
                {
                    "mesh": args.mesh,
                    "temperature_K": args.temperature,
                    "n_irreducible": n_ir,
                    "exhaustive_orbits_per_point": orbits,
                    "exhaustive_cpu_s_extrapolated": exhaustive_cpu,
                    "runs": runs,
                    "units": {"kappa": "W/(m K)", "time": "s"},
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()

"""Four-phonon linewidths: exhaustive vs. sampled cost and the sampled κ error.

Models (tests/four_phonon_models.py): nearest-neighbour Lennard-Jones fcc with Ar and
Kr sites and analytic FC2/FC3/FC4 — "tet8" (8-atom tetragonal cell, B = 24, 2×2×1
supercell) and "cub4" (4-atom L1₂ cube, B = 12, 2×2×2 supercell).

For one mesh the script times the exhaustive γ_4ph (the reference), then the sampled
γ_4ph for every (allocation, samples per q0, seed), and prints side by side: wall and
CPU time, speed-up (exhaustive / sampled, CPU time), and the relative error of the
conductivity (trace/3 of the symmetrized tensor) computed with

* γ = γ_4ph alone: κ_P and κ = κ_P + κ_C (the worst case: nothing dilutes the noise);
* γ = γ_3ph + γ_4ph: κ_P and κ (γ_3ph exact, from the analytic FC3);

as mean and max |error| over the seeds; peak traced memory (numpy arrays, tracemalloc)
of one q0 in each mode; and the per-q0 cost.

    python benchmarks/bench_four_phonon.py --cell tet8 --mesh 6 6 3 --samples 4 8 \\
        --allocation uniform kappa --seeds 3 --reference-cache /tmp/ref_tet8_663.npz

``--reference-cache``: the exhaustive result and its timing are stored there and reused
by later runs with the same model, mesh, σ and temperature (the output says so and
gives the date of the timed run), so the sampled settings can be explored without
re-running a long exhaustive sum.  Times are CPU seconds of this process (user+sys,
all threads), which are less sensitive than wall time to other jobs on the machine.
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from four_phonon_models import lj_model  # noqa: E402

from aiida_wigner.physics.harmonic import heat_capacity, solve, velocity_operator  # noqa: E402
from aiida_wigner.physics.mesh import QMesh  # noqa: E402
from aiida_wigner.physics.scattering.four_phonon import four_phonon_linewidths, quadruplet_pairs  # noqa: E402
from aiida_wigner.physics.scattering.three_phonon import Smearing, three_phonon_linewidths  # noqa: E402
from aiida_wigner.physics.transport import wigner_terms  # noqa: E402

SUPERCELLS = {"tet8": (2, 2, 1), "cub4": (2, 2, 2), "bct2": (2, 2, 2)}


def cpu_time() -> float:
    t = os.times()
    return t.user + t.system


class Kappa:
    """κ_P and κ (trace/3) at the irreducible points of a mesh for a given γ."""

    def __init__(self, fc, qm, temps):
        self.fc, self.qm = fc, qm
        vo = velocity_operator(fc, qm.qpoints[qm.ir_grid])
        self.vo = vo
        self.freqs = vo.phonons.frequencies
        self.cv = heat_capacity(self.freqs[None], np.asarray(temps)[:, None, None])

    def __call__(self, gamma):
        t = wigner_terms(
            self.freqs,
            self.vo.velocity,
            gamma,
            self.cv,
            self.qm.weights,
            self.qm.n_q,
            self.fc.primitive.volume,
            self.qm.symmetrize_tensor,
        )
        tr = lambda k: np.trace(k, axis1=1, axis2=2) / 3  # noqa: E731
        return np.array([tr(t.kappa_P), tr(t.kappa)])[:, 0]  # (κ_P, κ) at the first T


def exhaustive_reference(fc, qm, ph, temps, sigma, cache, key):
    if cache and Path(cache).exists():
        d = np.load(cache, allow_pickle=False)
        if str(d["key"]) == key:
            return d["gamma"], float(d["wall"]), float(d["cpu"]), str(d["date"]), True
    w0, c0 = time.perf_counter(), cpu_time()
    exact, _ = four_phonon_linewidths(fc, qm, ph, qm.ir_grid, temps, sigma)
    wall, cpu = time.perf_counter() - w0, cpu_time() - c0
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if cache:
        np.savez(cache, key=key, gamma=exact, wall=wall, cpu=cpu, date=date)
    return exact, wall, cpu, date, False


def traced_peak(fn) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cell", choices=sorted(SUPERCELLS), default="tet8")
    ap.add_argument("--mesh", type=int, nargs=3, default=[4, 4, 2])
    ap.add_argument("--samples", type=int, nargs="+", default=[4, 8, 16])
    ap.add_argument(
        "--allocation", nargs="+", default=["uniform", "kappa"], choices=["uniform", "kappa"]
    )
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--temperature", type=float, default=80.0)
    ap.add_argument("--sigma", type=float, default=0.05)
    ap.add_argument("--reference-cache", default=None)
    ap.add_argument(
        "--allocate-for",
        choices=["4ph", "3ph+4ph"],
        default="4ph",
        help="kappa allocation: the conductivity whose error it minimises",
    )
    args = ap.parse_args(argv)
    fc, _ = lj_model(args.cell, SUPERCELLS[args.cell], dense=False, fc3=True)
    qm = QMesh.build(fc.primitive, args.mesh)
    ph = solve(fc, qm.qpoints)
    temps = [args.temperature]
    n_b = ph.frequencies.shape[1]
    kap = Kappa(fc, qm, temps)
    # warm up numba (compilation is not timed)
    four_phonon_linewidths(fc, qm, ph, qm.ir_grid[:1], temps, args.sigma, mode="sampled", samples=2)
    n_orb = sum(len(quadruplet_pairs(qm, gp)[0]) for gp in qm.ir_grid)
    w0 = time.perf_counter()
    g3 = three_phonon_linewidths(fc, qm, ph, qm.ir_grid, temps, Smearing(sigma=args.sigma))
    t3 = time.perf_counter() - w0
    key = f"{args.cell}|{args.mesh}|{args.sigma}|{args.temperature}"
    exact, wall, cpu, date, cached = exhaustive_reference(
        fc, qm, ph, temps, args.sigma, args.reference_cache, key
    )
    k4 = kap(exact)
    k34 = kap(exact + g3)
    gp1 = qm.ir_grid[len(qm.ir_grid) // 2 : len(qm.ir_grid) // 2 + 1]
    mem_exh = traced_peak(lambda: four_phonon_linewidths(fc, qm, ph, gp1, temps, args.sigma))
    mem_smp = traced_peak(
        lambda: four_phonon_linewidths(
            fc, qm, ph, gp1, temps, args.sigma, mode="sampled", samples=max(args.samples)
        )
    )
    print(
        f"model {args.cell}: B = {n_b}, FC4 clusters = {len(fc.fc4)}; mesh {args.mesh}: "
        f"N_q = {qm.n_q}, irreducible q0 = {len(qm.ir_grid)}, pairs per q0 = {qm.n_q**2}, "
        f"symmetry-reduced pairs = {n_orb} ({n_orb / len(qm.ir_grid):.0f} per q0)"
    )
    print(
        f"T = {args.temperature} K, Gaussian sigma = {args.sigma} THz; gamma_3ph "
        f"(exact) {t3:.1f} s wall"
    )
    note = f" [cached run of {date}]" if cached else ""
    print(
        f"exhaustive 4ph: {wall:.1f} s wall, {cpu:.1f} s CPU "
        f"({cpu / n_orb * 1e3:.1f} ms CPU per pair){note}"
    )
    print(
        f"reference kappa [W/(m K)]: 4ph only: kappa_P {k4[0]:.4f}, kappa {k4[1]:.4f};"
        f" 3ph+4ph: kappa_P {k34[0]:.4f}, kappa {k34[1]:.4f}"
    )
    print(
        f"peak traced memory, one q0: exhaustive {mem_exh:.0f} MiB, sampled "
        f"({max(args.samples)} pairs) {mem_smp:.0f} MiB"
    )
    head = (
        "alloc    n/q0  pairs  wall[s]  CPU[s]  speed-up |  4ph only: kP err mean/max   "
        "k err mean/max | 3ph+4ph: kP err mean/max   k err mean/max"
    )
    print(head)
    other = g3 if args.allocate_for == "3ph+4ph" else None
    for alloc in args.allocation:
        for n in args.samples:
            walls, cpus, e4, e34 = [], [], [], []
            for seed in range(args.seeds):
                w0, c0 = time.perf_counter(), cpu_time()
                est, _ = four_phonon_linewidths(
                    fc,
                    qm,
                    ph,
                    qm.ir_grid,
                    temps,
                    args.sigma,
                    mode="sampled",
                    samples=n,
                    seed=seed,
                    allocation=alloc,
                    gamma_other=other,
                )
                walls.append(time.perf_counter() - w0)
                cpus.append(cpu_time() - c0)
                e4.append(np.abs(kap(est) / k4 - 1))
                e34.append(np.abs(kap(est + g3) / k34 - 1))
            e4, e34 = np.array(e4), np.array(e34)
            c = np.mean(cpus)
            print(
                f"{alloc:8s} {n:4d} {n * len(qm.ir_grid):6d} {np.mean(walls):8.2f} {c:7.2f} "
                f"{cpu / c:8.1f}x |  {e4[:, 0].mean():6.2%} / {e4[:, 0].max():6.2%}  "
                f"{e4[:, 1].mean():6.2%} / {e4[:, 1].max():6.2%} |  "
                f"{e34[:, 0].mean():6.2%} / {e34[:, 0].max():6.2%}  "
                f"{e34[:, 1].mean():6.2%} / {e34[:, 1].max():6.2%}",
                flush=True,
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the whole run: {peak:.0f} MiB")


if __name__ == "__main__":
    main()

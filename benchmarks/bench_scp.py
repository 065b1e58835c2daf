"""Benchmark of the SCP loop (issue 3, item 7): time per temperature and peak memory.

Synthetic models with Morse pair FC2/FC4 (every bond within the cutoff in slight tension,
r0 = 0.97 × its length), built in place:

* 8 atoms: rock-salt conventional cell, tetragonally strained (c/a = 1.05), FC on a
  2×2×2 supercell (64 atoms); outer 4×4×2, inner 8×8×4 (the seed's meshes);
* 5 atoms: cubic perovskite ABO3 (a = 3.9 Å), FC on 2×2×2 (40 atoms); outer 2×2×2,
  inner 4×4×4;
* inner-mesh scaling for the 8-atom case.

Run:  /work/venv/bin/python benchmarks/bench_scp.py [--quick]
Peak memory is the process's maximum resident set size (includes numpy/phonopy imports).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from aiida_wigner.physics.cell import Cell, SupercellSetup  # noqa: E402
from aiida_wigner.physics.forceconstants import ForceConstants  # noqa: E402
from aiida_wigner.physics.renormalization import SCPSettings, SCPSolver, run_scp  # noqa: E402


def morse_model(unit: Cell, supercell, cutoff: float, r0_factor: float = 0.97):
    from test_renormalization import morse_derivatives, pair_fc4

    setup = SupercellSetup.build(unit, np.diag(supercell))
    i, j, vectors, w = setup.pair_images()
    cart = vectors @ setup.primitive.lattice
    fc2 = np.zeros((setup.n_prim, setup.n_super, 3, 3))
    for ii, jj, rv, ww in zip(i, j, cart, w, strict=True):
        d = np.linalg.norm(rv)
        if d < 1e-8 or d > cutoff:
            continue
        d1, d2, _, _ = morse_derivatives(d, r0=r0_factor * d)
        t2 = (d1 / d * np.eye(3) + (d2 / d**2 - d1 / d**3) * np.outer(rv, rv)) * ww
        fc2[ii, jj] -= t2
        fc2[ii, setup.p2s[ii]] += t2
    return ForceConstants(setup, fc2, fc4=pair_fc4(setup, cutoff=cutoff, r0_factor=r0_factor))


def rocksalt8():
    a = 5.0
    pos = [
        [0, 0, 0],
        [0, 0.5, 0.5],
        [0.5, 0, 0.5],
        [0.5, 0.5, 0],
        [0.5, 0.5, 0.5],
        [0.5, 0, 0],
        [0, 0.5, 0],
        [0, 0, 0.5],
    ]
    unit = Cell(np.diag([a, a, 1.05 * a]), pos, [11] * 4 + [17] * 4)
    return morse_model(unit, (2, 2, 2), cutoff=2.7)


def perovskite5():
    a = 3.9
    pos = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    unit = Cell(np.eye(3) * a, pos, [38, 22, 8, 8, 8])
    return morse_model(unit, (2, 2, 2), cutoff=2.8)


def run_case(name, fc, mesh, inner, temps=(100.0, 300.0, 500.0, 700.0)):
    t0 = time.perf_counter()
    settings = SCPSettings(mesh=mesh, inner_mesh=inner, temperatures=temps, tolerance=1e-6)
    solver = SCPSolver(fc, settings)
    t_setup = time.perf_counter() - t0
    res = run_scp(fc, settings, solver)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    per_it = res.seconds.sum() / res.iterations.sum()
    print(
        f"{name:28s} n_atoms={fc.setup.n_prim} FC4 clusters={len(fc.fc4):6d} "
        f"outer={mesh} inner={inner}: setup {t_setup:6.2f} s, per T "
        f"{np.round(res.seconds, 2).tolist()} s, iterations {res.iterations.tolist()}, "
        f"{1e3 * per_it:7.1f} ms/iteration, converged {res.converged.all()}, "
        f"peak RSS {rss:6.0f} MiB"
    )
    return per_it


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    fc8 = rocksalt8()
    run_case("8-atom rocksalt (seed mesh)", fc8, (4, 4, 2), (8, 8, 4))
    run_case("5-atom perovskite", perovskite5(), (2, 2, 2), (4, 4, 4))
    if not args.quick:
        for inner in [(4, 4, 2), (8, 8, 4), (12, 12, 6), (16, 16, 8)]:
            run_case("8-atom inner-mesh scaling", fc8, (4, 4, 2), inner, temps=(300.0,))


if __name__ == "__main__":
    main()

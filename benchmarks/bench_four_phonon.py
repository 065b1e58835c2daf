"""Four-phonon linewidths: exhaustive vs. sampled cost and the sampled κ error.

Model: nearest-neighbour Lennard-Jones fcc (Ar/Kr layers) in an 8-atom tetragonal cell
(B = 24), analytic FC2/FC4 (tests/four_phonon_models.py), 2×2×1 supercell.  κ_P is the
relaxation-time population term of the Wigner conductivity with γ = γ_4ph only (the
worst case for sampling noise: no 3ph/isotope scattering to dilute it).

    python benchmarks/bench_four_phonon.py --mesh 4 4 2 --samples 8 16 32 --seeds 2

Prints, per mesh: exhaustive time, number of symmetry-reduced pairs, per-pair cost;
per sample size: time, speed-up, κ relative error (mean and max over seeds) and the
median relative stderr of γ; the projected exhaustive cost at denser meshes (orbit
counts are exact, the cost per pair is the measured one); peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from four_phonon_models import lj_model  # noqa: E402

from aiida_wigner.physics.harmonic import heat_capacity, solve, velocity_operator  # noqa: E402
from aiida_wigner.physics.mesh import QMesh  # noqa: E402
from aiida_wigner.physics.scattering.four_phonon import (four_phonon_linewidths,  # noqa: E402
                                                         quadruplet_pairs)
from aiida_wigner.physics.transport import wigner_terms  # noqa: E402


def kappa_p(fc, qm, gamma, temps):
    ir = qm.ir_grid
    vo = velocity_operator(fc, qm.qpoints[ir])
    freqs = vo.phonons.frequencies
    cv = heat_capacity(freqs[None], np.asarray(temps)[:, None, None])
    terms = wigner_terms(freqs, vo.velocity, gamma, cv, qm.weights, qm.n_q,
                         fc.primitive.volume, qm.symmetrize_tensor)
    return np.trace(terms.kappa_P, axis1=1, axis2=2) / 3


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mesh", type=int, nargs=3, default=[4, 4, 2])
    ap.add_argument("--samples", type=int, nargs="+", default=[8, 16, 32])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--temperature", type=float, default=80.0)
    ap.add_argument("--sigma", type=float, default=0.05)
    ap.add_argument("--project", type=str, nargs="*", default=["6 6 3", "8 8 4", "12 12 6"])
    args = ap.parse_args(argv)
    fc, _ = lj_model("tet8", (2, 2, 1), dense=False)
    qm = QMesh.build(fc.primitive, args.mesh)
    ph = solve(fc, qm.qpoints)
    temps = [args.temperature]
    # warm up numba
    four_phonon_linewidths(fc, qm, ph, qm.ir_grid[:1], temps, args.sigma, mode="sampled",
                           samples=2)
    n_orb = sum(len(quadruplet_pairs(qm, gp)[0]) for gp in qm.ir_grid)
    t0 = time.perf_counter()
    exact, _ = four_phonon_linewidths(fc, qm, ph, qm.ir_grid, temps, args.sigma)
    t_exh = time.perf_counter() - t0
    k_exact = kappa_p(fc, qm, exact, temps)[0]
    per_pair = t_exh / n_orb
    print(f"model: LJ Ar/Kr 8-atom cell, B = 24, FC4 clusters = {len(fc.fc4)}")
    print(f"mesh {args.mesh}: n_q = {qm.n_q}, irreducible q0 = {len(qm.ir_grid)}, "
          f"ordered pairs per q0 = {qm.n_q**2}, symmetry-reduced pairs (all q0) = {n_orb}")
    print(f"exhaustive: {t_exh:.1f} s ({per_pair * 1e3:.1f} ms per pair), "
          f"kappa_P(4ph only, {args.temperature} K) = {k_exact:.4f} W/(m K)")
    print("samples/q0   time[s]   speed-up   kappa err mean/max   median rel stderr(gamma)")
    for n in args.samples:
        errs, times, rel = [], [], []
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            est, se = four_phonon_linewidths(fc, qm, ph, qm.ir_grid, temps, args.sigma,
                                             mode="sampled", samples=n, seed=seed)
            times.append(time.perf_counter() - t0)
            errs.append(abs(kappa_p(fc, qm, est, temps)[0] / k_exact - 1))
            ok = est > 0
            rel.append(np.median(se[ok] / est[ok]))
        t = np.mean(times)
        print(f"{n:10d} {t:9.2f} {t_exh / t:10.1f}   {np.mean(errs):8.2%} / {np.max(errs):6.2%}"
              f"   {np.mean(rel):8.2%}")
    print("projection (orbit counts exact, measured cost per pair):")
    for spec in args.project:
        m = [int(x) for x in spec.split()]
        qp = QMesh.build(fc.primitive, m)
        orb = sum(len(quadruplet_pairs(qp, gp)[0]) for gp in qp.ir_grid)
        print(f"  mesh {m}: n_ir = {len(qp.ir_grid)}, reduced pairs = {orb}, exhaustive ≈ "
              f"{orb * per_pair / 3600:.2f} h; sampled N pairs/q0 ≈ "
              f"{len(qp.ir_grid) * per_pair:.2f}·N s → speed-up ≈ {orb / len(qp.ir_grid):.0f}/N")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MiB")


if __name__ == "__main__":
    main()

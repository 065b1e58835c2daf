"""3-phonon + isotope + Wigner κ: aiida-wigner vs phono3py on the same problem, one run.

Cu₃Au (EMT, 4 atoms, 2×2×2 supercell), 16×16×16 mesh, 3 temperatures, σ = 0.1 THz,
isotopes on, phono3py's SMM19 Wigner variant with make_r0_average=False (identical
physics). Each code runs in its own subprocess (so peak RSS is its own) with the same
number of threads; aiida-wigner's numba kernels are compiled in a warm-up on a 2×2×2
mesh before the clock starts (compilation is cached on disk after the first run).

    python benchmarks/bench_kappa.py [--mesh 16 16 16] [--threads 2]

Prints the wall time of each, the ratio ours/phono3py, and peak memory (max RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

TEMPS = [100.0, 300.0, 700.0]
SIGMA = 0.1


def run_ours(mesh):
    from reference_models import cu3au_force_constants

    from aiida_wigner.physics.kappa import KappaSettings, compute_kappa

    fc = cu3au_force_constants()
    compute_kappa(fc, KappaSettings((2, 2, 2), TEMPS, sigma=SIGMA, isotope=True))  # JIT warm-up
    import time

    t0 = time.perf_counter()
    r = compute_kappa(
        fc, KappaSettings(mesh, TEMPS, sigma=SIGMA, isotope=True, convention="phono3py")
    )
    return time.perf_counter() - t0, r.kappa_P[:, 0, 0].tolist(), r.kappa_C[:, 0, 0].tolist()


def run_phono3py(mesh):
    import time

    from reference_models import cu3au_phono3py, cu3au_phono3py_conductivity

    cu3au_phono3py()  # force constants, outside the clock
    t0 = time.perf_counter()
    tc = cu3au_phono3py_conductivity(mesh, TEMPS, SIGMA)
    return (
        time.perf_counter() - t0,
        tc.kappa_intra[0][:, 0].tolist(),
        tc.kappa_inter[0][:, 0].tolist(),
    )


def child(code, mesh):
    import resource

    elapsed, kp, kc = (run_ours if code == "ours" else run_phono3py)(mesh)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # MiB
    print(json.dumps({"time": elapsed, "peak_mib": peak, "kappa_P_xx": kp, "kappa_C_xx": kc}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mesh", type=int, nargs=3, default=[16, 16, 16])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", choices=["ours", "phono3py"])
    args = parser.parse_args()
    if args.child:
        child(args.child, tuple(args.mesh))
        return
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(args.threads),
        NUMBA_NUM_THREADS=str(args.threads),
        OPENBLAS_NUM_THREADS=str(args.threads),
    )
    results = {}
    for code in ("phono3py", "ours"):
        out = subprocess.run(
            [sys.executable, __file__, "--child", code, "--mesh", *map(str, args.mesh)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        results[code] = json.loads(out.stdout.strip().splitlines()[-1])
    o, p = results["ours"], results["phono3py"]
    print(f"mesh {args.mesh}, {len(TEMPS)} temperatures, sigma {SIGMA} THz, {args.threads} threads")
    for name, r in (("aiida-wigner", o), ("phono3py", p)):
        print(
            f"  {name:13s} wall {r['time']:8.2f} s   peak RSS {r['peak_mib']:7.0f} MiB   "
            f"kappa_P_xx {[f'{k:.4f}' for k in r['kappa_P_xx']]}   "
            f"kappa_C_xx {[f'{k:.4f}' for k in r['kappa_C_xx']]}"
        )
    print(
        f"  ratio ours/phono3py: time {o['time'] / p['time']:.2f}, "
        f"peak memory {o['peak_mib'] / p['peak_mib']:.2f}"
    )


if __name__ == "__main__":
    main()

"""3-phonon + isotope + Wigner κ at the seed's scale: aiida-wigner vs phono3py, one run.

The 8-atom, 24-branch CsCu4Se3 model of ``seed_model.py`` (4×4×2 supercell, 256 atoms,
synthetic FC3 with three-atom clusters up to 8.17 Å), fixed σ = 0.1 THz, isotopes on,
phono3py's SMM19 Wigner split with ``make_r0_average=False`` (identical physics), on
each mesh with one temperature and with seven.  Both codes read the same phono3py files
(``phono3py_params.yaml``, ``fc2.hdf5``, compact ``fc3.hdf5``) in their own subprocess, so
that the peak RSS (``ru_maxrss``) is that code's own; the clock runs from reading the
files to κ.  aiida-wigner's numba kernels are compiled in a warm-up on a 2×2×2
mesh after reading the files, outside the clock (and cached on disk).  phono3py runs
its compiled kernels as installed (C/Rust, ``phonors``).

    python benchmarks/bench_seed_kappa.py [--meshes 8,8,6 12,12,9] [--temperatures 1 7]
        [--threads 2] [--model DIR]

Prints per case the wall and CPU time of each code, their ratios ours/phono3py, the peak
memory ratio and the largest relative κ_P / κ_C difference (xx and zz).  CPU time (user +
system over all threads) is the fairer ratio on a loaded machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SIGMA = 0.1  # THz
TEMPERATURES = {1: [300.0], 7: [100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0]}


def run_ours(model: Path, mesh, temps):
    import time

    from aiida_wigner.physics.io.load import load_force_constants
    from aiida_wigner.physics.kappa import KappaSettings, compute_kappa

    t0, c0 = time.perf_counter(), time.process_time()
    fc = load_force_constants(
        cell=model / "phono3py_params.yaml", fc2=model / "fc2.hdf5", fc3=model / "fc3.hdf5"
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    compute_kappa(fc, KappaSettings((2, 2, 2), temps, sigma=SIGMA, isotope=True))  # JIT
    t0, c0 = time.perf_counter(), time.process_time()
    r = compute_kappa(
        fc, KappaSettings(mesh, temps, sigma=SIGMA, isotope=True, convention="phono3py")
    )
    return (
        wall + time.perf_counter() - t0,
        cpu + time.process_time() - c0,
        [[k[0, 0], k[2, 2]] for k in r.kappa_P],
        [[k[0, 0], k[2, 2]] for k in r.kappa_C],
    )


def phono3py_conductivity(model: Path, mesh, temps):
    """phono3py's SMM19 conductivity object of the model's files (σ = SIGMA, isotopes)."""
    import phono3py

    p = phono3py.load(
        str(model / "phono3py_params.yaml"),
        fc2_filename=str(model / "fc2.hdf5"),
        fc3_filename=str(model / "fc3.hdf5"),
        make_r0_average=False,
        produce_fc=False,
        symmetrize_fc=False,
        log_level=0,
    )
    p.mesh_numbers = mesh
    p.sigmas = [SIGMA]
    p.init_phph_interaction()
    p.run_thermal_conductivity(temperatures=temps, is_isotope=True, transport_type="SMM19")
    return p.thermal_conductivity


def run_phono3py(model: Path, mesh, temps):
    import time

    t0, c0 = time.perf_counter(), time.process_time()
    tc = phono3py_conductivity(model, mesh, temps)
    return (
        time.perf_counter() - t0,
        time.process_time() - c0,
        tc.kappa_intra[0][:, [0, 2]].tolist(),
        tc.kappa_inter[0][:, [0, 2]].tolist(),
    )


def child(code: str, model: Path, mesh, n_temps: int) -> None:
    import resource

    wall, cpu, kp, kc = (run_ours if code == "ours" else run_phono3py)(
        model, mesh, TEMPERATURES[n_temps]
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # MiB
    print(
        json.dumps(
            {
                "wall": wall,
                "cpu": cpu,
                "peak_mib": peak,
                "kappa_P": [[float(x) for x in k] for k in kp],
                "kappa_C": [[float(x) for x in k] for k in kc],
            }
        )
    )


def _max_rel(a, b) -> float:
    import numpy as np

    a, b = np.asarray(a), np.asarray(b)  # (T, 2): xx, zz
    scale = np.maximum(np.abs(b), 1e-10 * np.abs(b).max())  # zero by symmetry: noise only
    return float(np.max(np.abs(a - b) / scale))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meshes", nargs="+", default=["8,8,6", "12,12,9"])
    parser.add_argument(
        "--temperatures", type=int, nargs="+", default=[1, 7], choices=sorted(TEMPERATURES)
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--model",
        type=Path,
        help="directory of the model files "
        "(written there by seed_model.py if missing; default: a temporary one)",
    )
    parser.add_argument("--child", choices=["ours", "phono3py"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(
            args.child,
            args.model,
            tuple(int(x) for x in args.meshes[0].split(",")),
            args.temperatures[0],
        )
        return
    from seed_model import write_seed_model

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or Path(tmp)
        if not (model / "fc3.hdf5").exists():
            write_seed_model(model)
        env = dict(
            os.environ,
            OMP_NUM_THREADS=str(args.threads),
            NUMBA_NUM_THREADS=str(args.threads),
            OPENBLAS_NUM_THREADS=str(args.threads),
            RAYON_NUM_THREADS=str(args.threads),
        )
        print(
            f"seed model (8 atoms, 24 branches, 4x4x2 supercell), sigma {SIGMA} THz, "
            f"isotopes, SMM19, {args.threads} threads; load {os.getloadavg()[0]:.1f}"
        )
        for mesh in args.meshes:
            for n_temps in args.temperatures:
                res = {}
                for code in ("phono3py", "ours"):
                    out = subprocess.run(
                        [
                            sys.executable,
                            __file__,
                            "--child",
                            code,
                            "--model",
                            str(model),
                            "--meshes",
                            mesh,
                            "--temperatures",
                            str(n_temps),
                        ],
                        env=env,
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    res[code] = json.loads(out.stdout.strip().splitlines()[-1])
                o, p = res["ours"], res["phono3py"]
                print(f"mesh {mesh}, {n_temps} T (load {os.getloadavg()[0]:.1f})")
                for name, r in (("aiida-wigner", o), ("phono3py", p)):
                    print(
                        f"  {name:13s} wall {r['wall']:8.1f} s  cpu {r['cpu']:8.1f} s  "
                        f"peak RSS {r['peak_mib']:7.0f} MiB"
                    )
                print(
                    f"  ratio ours/phono3py: wall {o['wall'] / p['wall']:.2f}, "
                    f"cpu {o['cpu'] / p['cpu']:.2f}, peak memory "
                    f"{o['peak_mib'] / p['peak_mib']:.2f}; kappa max rel. diff: "
                    f"P {_max_rel(o['kappa_P'], p['kappa_P']):.1e}, "
                    f"C {_max_rel(o['kappa_C'], p['kappa_C']):.1e}",
                    flush=True,
                )


if __name__ == "__main__":
    main()

"""Mode by mode: aiida-wigner vs phono3py on the seed model (which modes make a κ difference).

The case of ``bench_seed_kappa.py`` (8-atom CsCu4Se3 model of ``seed_model.py``, σ 0.1 THz,
isotopes, SMM19 split, 300 K) on one mesh; each code in its own process writes its
frequencies (THz), group velocities (THz·Å), γ_3ph and γ_isotope (THz), κ_P and κ_C
(W/(m K)); the parent prints the largest differences, the modes behind them and each
mode's share of κ_P.

    python benchmarks/bench_seed_kappa_modes.py --mesh 12 12 9 --model DIR [--workdir DIR]

Single-threaded children (timings are not the point here; bench_seed_kappa.py has them).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_seed_kappa import SIGMA, phono3py_conductivity  # noqa: E402

T = 300.0  # K


def run_child(code: str, model: Path, mesh, out: Path) -> None:
    if code == "phono3py":
        tc = phono3py_conductivity(model, mesh, [T])
        arrays = dict(
            qpoints=tc.qpoints,
            frequencies=tc.frequencies,
            velocities=tc.group_velocities,
            gamma_3ph=tc.gamma[0, 0],
            gamma_isotope=tc.gamma_isotope[0],
            kappa_P=np.diag(tc.kappa_intra[0][0][:3]),
            kappa_C=np.diag(tc.kappa_inter[0][0][:3]),
        )
    else:
        from aiida_wigner.physics.io.load import load_force_constants
        from aiida_wigner.physics.kappa import KappaSettings, compute_kappa

        fc = load_force_constants(
            cell=model / "phono3py_params.yaml", fc2=model / "fc2.hdf5", fc3=model / "fc3.hdf5"
        )
        r = compute_kappa(
            fc, KappaSettings(mesh, [T], sigma=SIGMA, isotope=True, convention="phono3py")
        )
        arrays = dict(
            qpoints=r.qpoints,
            frequencies=r.frequencies,
            velocities=r.group_velocities,
            gamma_3ph=r.gamma_3ph[0],
            gamma_isotope=r.gamma_isotope[0],
            kappa_P=r.kappa_P[0],
            kappa_C=r.kappa_C[0],
            kappa_P_modes=r.kappa_P_modes[0],
        )
    np.savez(out, **arrays)


def _rel(a, b):
    return np.abs(a - b) / np.maximum(np.abs(b), 1e-30)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mesh", type=int, nargs=3, default=[12, 12, 9])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, default=Path("."))
    parser.add_argument("--child", choices=["ours", "phono3py"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    mesh = tuple(args.mesh)
    files = {
        code: args.workdir / f"modes_{code}_{'x'.join(map(str, mesh))}.npz"
        for code in ("ours", "phono3py")
    }
    if args.child:
        run_child(args.child, args.model, mesh, files[args.child])
        return
    if not (args.model / "fc3.hdf5").exists():
        from seed_model import write_seed_model

        write_seed_model(args.model)
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    for code, path in files.items():
        if not path.exists():
            cmd = [sys.executable, __file__, "--child", code, "--model", str(args.model)]
            cmd += ["--mesh", *map(str, mesh), "--workdir", str(args.workdir)]
            subprocess.run(cmd, env=env, check=True)
    o, p = (np.load(files[c]) for c in ("ours", "phono3py"))
    dq = o["qpoints"] - p["qpoints"]
    assert np.abs(dq - np.rint(dq)).max() < 1e-12, "different irreducible points"
    print(f"mesh {mesh}: max |Δν| {np.abs(o['frequencies'] - p['frequencies']).max():.1e} THz")
    for name in ("gamma_3ph", "gamma_isotope"):
        rel = _rel(o[name], p[name])
        q, b = np.unravel_index(np.argmax(rel), rel.shape)
        print(
            f"  {name}: median {np.median(rel):.1e}, worst {rel.max():.1e} at q "
            f"{np.round(o['qpoints'][q], 4).tolist()} band {b} (ν {o['frequencies'][q, b]:.5f} THz)"
        )
    dv = np.abs(o["velocities"] - p["velocities"]).max(axis=-1)
    q, b = np.unravel_index(np.argmax(dv), dv.shape)
    share = o["kappa_P_modes"][q, b].diagonal() / np.diag(o["kappa_P"])
    print(
        f"  velocities: worst |Δv| {dv.max():.3g} THz·Å at q "
        f"{np.round(o['qpoints'][q], 4).tolist()} "
        f"band {b}: ours {np.round(o['velocities'][q, b], 3).tolist()}, phono3py "
        f"{np.round(p['velocities'][q, b], 3).tolist()}; neighbours ν "
        f"{np.round(o['frequencies'][q, max(b - 1, 0) : b + 2], 6).tolist()} THz; "
        f"share of κ_P (xx, yy, zz) {np.round(share, 5).tolist()}"
    )
    for name in ("kappa_P", "kappa_C"):
        a, b2 = np.diag(o[name]), np.diag(p[name])
        print(
            f"  {name} xx, yy, zz: ours {np.round(a, 6).tolist()}, phono3py "
            f"{np.round(b2, 6).tolist()}, rel. {np.round(_rel(a, b2), 7).tolist()}"
        )


if __name__ == "__main__":
    main()

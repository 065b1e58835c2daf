"""Side-by-side SCP benchmark: aiida-wigner vs ALAMODE's anphon (MODE = SCPH), same input.

Both codes get identical force constants (anphon through the FCSXML written by
benchmarks/alamode_io.py) and the same meshes, temperatures and statistics; each runs in
its own subprocess with two threads (anphon: OMP_NUM_THREADS=2, one MPI rank; ours:
NUMBA_NUM_THREADS=OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=2).  Printed per temperature:
max |Δν| (THz) over all outer q-points and bands between the two SCP (and, with
``--bubble``, SCP+bubble) frequencies; then wall times, the ratio ours/ALAMODE and the
peak resident memory of each process (os.wait4 → ru_maxrss of that child alone).

Mesh names: ``--mesh`` is our outer mesh = anphon's KMESH_INTERPOLATE, ``--inner-mesh``
is our inner mesh = anphon's KMESH_SCPH.

Cases: ``cu3au`` (tests/reference_models.py EMT FC2/FC3 on 2×2×2, Morse-bond FC4 of
tests/physics/test_renormalization.py), ``rocksalt8`` (benchmarks/bench_scp.py, FC2+FC4 only),
``perovskite-unstable`` (tests/unstable_perovskite.py: harmonic phonons imaginary at Γ,
X, M and R, stabilized by the quartic terms; FC2+FC3+FC4).

anphon is found through the environment variable ALAMODE_ANPHON (path of the executable);
without it the benchmark prints a message and exits 0.  ALAMODE is not a dependency and
is not distributed here; build it separately (see its documentation).

Run:  ALAMODE_ANPHON=/path/to/anphon python benchmarks/bench_scp_alamode.py \
          --case cu3au --mesh 2 2 2 --inner-mesh 4 4 4 --temperatures 100 300 500
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import alamode_io  # noqa: E402

BUBBLE_CODE = {"none": 0, "static": 1, "onshell": 2, "qp": 3}
BUBBLE_TAG = {1: "scph+bubble(0)", 2: "scph+bubble(w)", 3: "scph+bubble(wQP)"}


def build_model(case: str):
    from aiida_wigner.physics.forceconstants import ForceConstants

    if case == "cu3au":
        from reference_models import cu3au_force_constants
        from test_renormalization import pair_fc4

        fc = cu3au_force_constants()
        return ForceConstants(fc.setup, fc.fc2, fc.fc3, pair_fc4(fc.setup))
    if case == "rocksalt8":
        from bench_scp import rocksalt8

        return rocksalt8()
    if case == "perovskite-unstable":
        from unstable_perovskite import unstable_perovskite

        return unstable_perovskite()
    raise SystemExit(f"unknown case {case!r}")


def thread_env(n: int) -> dict:
    env = dict(os.environ)
    for key in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[key] = str(n)
    return env


def run_child(cmd, cwd, env, log_path) -> dict:
    """Run one process; wall time and its own peak RSS (os.wait4)."""
    with open(log_path, "w") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall": wall,
        "rc": proc.returncode,
        "maxrss_mib": usage.ru_maxrss / 1024,
        "user": usage.ru_utime,
        "sys": usage.ru_stime,
    }


# -- our side (runs in the child process) ------------------------------------------
def worker(args) -> None:
    from aiida_wigner.physics.renormalization import SCPSettings, SCPSolver, run_bubble, run_scp

    workdir = Path(args.workdir)
    with open(workdir / "fc.pickle", "rb") as fh:
        fc = pickle.load(fh)
    settings = SCPSettings(
        mesh=tuple(args.mesh),
        inner_mesh=tuple(args.inner_mesh),
        temperatures=tuple(args.temperatures),
        off_diagonal=not args.diagonal_only,
        classical=args.classical,
        tolerance=args.tolerance,
        max_iterations=1000,
    )
    t0 = time.perf_counter()
    solver = SCPSolver(fc, settings)
    t_setup = time.perf_counter() - t0
    res = run_scp(fc, settings, solver)
    t_scp = time.perf_counter() - t0
    out = {
        "qpoints": res.qpoints.tolist(),
        "frequencies": res.frequencies.tolist(),
        "harmonic": res.frequencies_harmonic.tolist(),
        "iterations": res.iterations.tolist(),
        "converged": res.converged.tolist(),
        "t_setup": t_setup,
        "t_scp": t_scp,
    }
    if args.bubble != "none":
        t1 = time.perf_counter()
        bub = run_bubble(fc, res, args.bubble, args.epsilon)
        out["t_bubble"] = time.perf_counter() - t1
        out["bubble"] = bub.frequencies.tolist()
    (workdir / "ours.json").write_text(json.dumps(out))


def print_per_mode(qpoints, temps, harm, nu, nu_al, n_modes, what) -> None:
    """The lowest ``n_modes`` bands at Γ and at the irreducible zone-boundary points, cm⁻¹."""
    to_cm = 1.0 / alamode_io.KAYSER_TO_THZ
    print(f"\n{what}, per mode (cm⁻¹): harmonic, ours, anphon, ours − anphon")
    seen = []
    for iq, q in enumerate(qpoints):
        key = tuple(np.round(np.sort(np.abs(q)), 6))
        if key in seen:
            continue  # a star already shown (cubic or tetragonal mesh points)
        seen.append(key)
        for k, t in enumerate(temps):
            for band in range(n_modes):
                print(
                    f"  q={np.round(q, 3).tolist()!s:18} T={t:6.1f} band {band:2d}: "
                    f"{harm[iq, band] * to_cm:10.4f} {nu[k, iq, band] * to_cm:10.4f} "
                    f"{nu_al[k, iq, band] * to_cm:10.4f} "
                    f"{(nu[k, iq, band] - nu_al[k, iq, band]) * to_cm:10.2e}"
                )


# -- driver ---------------------------------------------------------------------------
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--case", default="cu3au", choices=["cu3au", "rocksalt8", "perovskite-unstable"])
    p.add_argument("--mesh", type=int, nargs=3, default=[2, 2, 2])
    p.add_argument("--inner-mesh", type=int, nargs=3, default=[4, 4, 4])
    p.add_argument("--temperatures", type=float, nargs="+", default=[100.0, 300.0, 500.0])
    p.add_argument("--diagonal-only", action="store_true")
    p.add_argument("--classical", action="store_true")
    p.add_argument("--bubble", default="none", choices=list(BUBBLE_CODE))
    p.add_argument("--epsilon", type=float, default=0.1, help="bubble smearing, THz")
    p.add_argument("--tolerance", type=float, default=1e-8, help="our SCP tolerance, THz")
    p.add_argument(
        "--tol-scph",
        type=float,
        default=1e-11,
        help="anphon TOL_SCPH (rms frequency change, Rydberg atomic units)",
    )
    p.add_argument("--mixalpha", type=float, default=0.5, help="anphon MIXALPHA")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--per-mode",
        type=int,
        default=0,
        metavar="N",
        help="also print the lowest N bands per distinct q-point, in cm⁻¹",
    )
    p.add_argument("--workdir", default=None, help="keep the files here (default: temporary)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return

    anphon = os.environ.get("ALAMODE_ANPHON")
    if not anphon or not Path(anphon).is_file() or not os.access(anphon, os.X_OK):
        print(
            "skipped: set ALAMODE_ANPHON to the path of ALAMODE's anphon executable "
            f"(got {anphon!r})"
        )
        return
    temps = sorted(args.temperatures)
    steps = np.diff(temps)
    if len(temps) > 1 and not np.allclose(steps, steps[0]):
        raise SystemExit("anphon needs equally spaced temperatures (TMIN, TMAX, DT)")
    args.temperatures = temps

    tmp = None
    if args.workdir:
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench_scp_alamode_")
        workdir = Path(tmp.name)

    fc = build_model(args.case)
    with open(workdir / "fc.pickle", "wb") as fh:
        pickle.dump(fc, fh)
    from aiida_wigner.physics.mesh import QMesh

    qpoints = QMesh.build(fc.setup.primitive, args.mesh).qpoints
    need_fc3 = args.bubble != "none"
    if need_fc3 and fc.fc3 is None:
        raise SystemExit(f"case {args.case} has no FC3: no bubble")
    t0 = time.perf_counter()
    info = alamode_io.write_fcsxml(fc, workdir / "fc.xml", fc3=need_fc3)
    t_write = time.perf_counter() - t0
    dt = steps[0] if len(temps) > 1 else 1.0
    general = {"TMIN": temps[0], "TMAX": temps[-1], "DT": dt, "CLASSICAL": int(args.classical)}
    scph = {
        "KMESH_INTERPOLATE": " ".join(map(str, args.mesh)),
        "KMESH_SCPH": " ".join(map(str, args.inner_mesh)),
        "SELF_OFFDIAG": int(not args.diagonal_only),
        "MIXALPHA": args.mixalpha,
        "MAXITER": 2000,
        "TOL_SCPH": args.tol_scph,
        "LOWER_TEMP": 0,
        "WARMSTART": 1,
        "RESTART_SCPH": 0,
        "BUBBLE": BUBBLE_CODE[args.bubble],
    }
    if need_fc3:
        general["EPSILON"] = args.epsilon / alamode_io.KAYSER_TO_THZ
    alamode_io.write_anphon_input(
        workdir / "scph.in", fc, "fc.xml", "run", "SCPH", qpoints, general=general, scph=scph
    )
    print(
        f"case {args.case}: {fc.setup.n_prim} atoms, supercell {fc.setup.n_super}, "
        f"FC4 clusters {len(fc.fc4)}; outer {args.mesh} inner {args.inner_mesh}; "
        f"T = {temps} K; {'diagonal-only' if args.diagonal_only else 'full matrix'}, "
        f"{'classical' if args.classical else 'quantum'}, bubble {args.bubble}"
    )
    print(f"FCSXML: {info} (written in {t_write:.1f} s) -> {workdir}")

    env = thread_env(args.threads)
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--workdir",
        str(workdir),
        "--mesh",
        *map(str, args.mesh),
        "--inner-mesh",
        *map(str, args.inner_mesh),
        "--temperatures",
        *map(str, temps),
        "--bubble",
        args.bubble,
        "--epsilon",
        str(args.epsilon),
        "--tolerance",
        str(args.tolerance),
    ]
    cmd += ["--diagonal-only"] * args.diagonal_only + ["--classical"] * args.classical
    ours = run_child(cmd, workdir, env, workdir / "ours.log")
    if ours["rc"] != 0:
        print((workdir / "ours.log").read_text()[-3000:])
        raise SystemExit("our SCP run failed")
    al = run_child([anphon, "scph.in"], workdir, env, workdir / "anphon.log")
    if al["rc"] != 0:
        print((workdir / "anphon.log").read_text()[-3000:])
        raise SystemExit("anphon failed")

    res = json.loads((workdir / "ours.json").read_text())
    nq, nb = len(qpoints), 3 * fc.setup.n_prim
    t_al, nu_al = alamode_io.read_eval(workdir / "run.scph_eval", nq, nb)
    nu = np.array(res["frequencies"])
    harm = np.array(res["harmonic"])
    log = (workdir / "anphon.log").read_text()
    iters = [int(x.split()[-2]) for x in log.splitlines() if "convergence achieved in" in x]
    print(
        f"\n{'T (K)':>7} {'max|SCP shift|':>15} {'max|Δν| SCP':>13} {'rms|Δν|':>10}"
        f"{'max|bubble shift|':>18}{'max|Δν| +bubble':>17}  iterations ours/anphon"
    )
    nu_b = nu_bal = None
    if args.bubble != "none":
        # ours keeps the SCP band order after the bubble shift, anphon sorts: compare sorted
        nu_b = np.sort(np.array(res["bubble"]), axis=-1)
        _, nu_bal = alamode_io.read_eval(
            workdir / f"run.{BUBBLE_TAG[BUBBLE_CODE[args.bubble]]}_eval", nq, nb
        )
        nu_bal = np.sort(nu_bal, axis=-1)
    for k, t in enumerate(temps):
        d = np.abs(nu[k] - nu_al[k])
        if nu_b is not None:
            shift_b = np.abs(nu_b[k] - np.sort(nu[k], axis=-1)).max()
            extra = f"{shift_b:18.4f}{np.abs(nu_b[k] - nu_bal[k]).max():17.3e}"
        else:
            extra = f"{'-':>18}{'-':>17}"
        its = f"{res['iterations'][k]}/{iters[k] if k < len(iters) else '?'}"
        print(
            f"{t:7.1f} {np.abs(nu[k] - harm).max():15.4f} {d.max():13.3e} "
            f"{np.sqrt((d**2).mean()):10.2e}{extra}  {its}"
        )
    if args.per_mode:
        print_per_mode(qpoints, temps, harm, nu, nu_al, args.per_mode, "SCP")
        if nu_b is not None:
            print_per_mode(
                qpoints,
                temps,
                np.sort(harm, axis=-1),
                nu_b,
                nu_bal,
                args.per_mode,
                f"SCP + {args.bubble} bubble (sorted)",
            )

    t_ours_solve = res["t_scp"] + res.get("t_bubble", 0.0)
    bubble = f", bubble {res['t_bubble']:.2f} s" if "t_bubble" in res else ""
    print(
        f"\nwall time  ours: process {ours['wall']:.2f} s (SCP setup+solve "
        f"{res['t_scp']:.2f} s{bubble})"
        f", CPU {ours['user'] + ours['sys']:.2f} s, peak RSS {ours['maxrss_mib']:.0f} MiB"
    )
    print(
        f"         anphon: process {al['wall']:.2f} s, CPU {al['user'] + al['sys']:.2f} s, "
        f"peak RSS {al['maxrss_mib']:.0f} MiB"
    )
    print(
        f"ratio ours/ALAMODE: wall (whole processes) {ours['wall'] / al['wall']:.4f}, "
        f"CPU {(ours['user'] + ours['sys']) / (al['user'] + al['sys']):.4f}, "
        f"ours solve-only / anphon process {t_ours_solve / al['wall']:.4f}, "
        f"peak RSS {ours['maxrss_mib'] / al['maxrss_mib']:.2f}"
    )
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()

"""FourPhonon (ShengBTE + 4ph) and ours side by side on identical force constants.

For one model and mesh: writes FourPhonon's inputs (benchmarks/fourphonon_io.py), runs
the stock binary (adaptive widths, scalebroad = --scale) and, if given, a fixed-width build
(``--fourphonon-fixed``: FourPhonon with ``base_sigma = 1`` and our 6σ cut-offs, so its
s = scalebroad = 2π√2·σ), computes ours at FourPhonon's irreducible q-points and prints,
per rate kind (3ph, 4ph, isotope), the median and worst |ours/FourPhonon − 1| over the
modes, for

* fixed σ: ours (golden-rule counting) and ours with ``counting="fourphonon"``;
* adaptive: ``adaptive-shengbte`` with our velocities and with FourPhonon's (BTE.v_full),
  and our own ``adaptive``; with ``--bases N``, also ``adaptive-shengbte`` in N random
  bases of the degenerate subspaces (each with its own velocities), the spread of the
  rates over the bases and whether FourPhonon's lie inside it; and FourPhonon's own
  spread over the bands of each degenerate set (its rates band by band);

each over all modes and over the non-degenerate modes ("nd"), plus κ (trace/3, RTA with
3ph + 4ph + isotope), the wall-time ratio FourPhonon/ours (measured back to back in this
run, FourPhonon with ``--nproc`` MPI ranks × 1 thread, ours with the NUMBA_NUM_THREADS
threads) and peak memory (max RSS of each side).

    python benchmarks/bench_fourphonon.py --model diamond --mesh 4 4 4 \\
        --fourphonon /work/peers/fourphonon/ShengBTE_cpu \\
        --fourphonon-fixed /work/peers/fourphonon/ShengBTE_fixed --workdir /tmp/fp_bench

``--reuse``: take FourPhonon's results from a finished run in the work directory instead
of running it (no timing then); ``--three-phonon-only``: no four-phonon scattering on
either side.  ``--fcp``: a fitted model (default: tests/data/sw_si_<model>.fcp; fitted on
the fly with ``fourphonon_io.fit_fcp``, ~5 min, where absent).  ``--save-reference`` writes the
FourPhonon numbers to tests/data/fourphonon_si_<model>_<mesh>.npz.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fourphonon_io as F  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _peak_children_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def _peak_self_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _line(label, ours, theirs):
    single = F.single_modes(theirs["frequencies"])
    parts = []
    for key in ("w_3ph", "w_4ph", "w_iso"):
        if ours.get(key) is None or theirs.get(key) is None:
            continue
        a = F.agreement(ours[key], theirs[key])
        nd = F.agreement(ours[key], theirs[key], mask=single)
        parts.append(
            f"{key[2:]:>4} {a['median']:.1e}/{a['worst']:.1e} "
            f"(nd {nd['median']:.1e}/{nd['worst']:.1e})"
        )
    print(f"  {label:<44} " + "   ".join(parts))


def _basis_spread(variants, theirs):
    """Spread of our rates over the random bases and FourPhonon's place in it."""
    for key in ("w_3ph", "w_4ph", "w_iso"):
        stack = [v[key] for v in variants if v.get(key) is not None]
        if not stack or theirs.get(key) is None:
            continue
        lo, hi, t = np.min(stack, axis=0), np.max(stack, axis=0), theirs[key]
        keep = t > 1e-3 * t.max()
        spread = hi[keep] / lo[keep] - 1.0
        outside = np.maximum(lo - t, t - hi)[keep] / t[keep]
        print(
            f"  {key[2:]:>4}: spread over {len(stack)} bases median {np.median(spread):.1e} "
            f"worst {spread.max():.1e}; FourPhonon inside it for "
            f"{np.mean(outside <= 1e-6):.0%} of the modes, at most {max(outside.max(), 0):.1e} "
            f"outside"
        )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=["diamond", "lowsym6"], default="diamond")
    p.add_argument("--fcp", type=Path, default=None)
    p.add_argument("--mesh", type=int, nargs=3, default=[4, 4, 4])
    p.add_argument("--temperature", type=float, default=300.0)
    p.add_argument("--sigma", type=float, default=0.1, help="fixed width, THz")
    p.add_argument("--scale", type=float, default=1.0, help="scalebroad")
    p.add_argument("--fourphonon", type=Path, required=True, help="stock ShengBTE_cpu")
    p.add_argument("--fourphonon-fixed", type=Path, default=None)
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/fourphonon_bench"))
    p.add_argument("--save-reference", action="store_true")
    p.add_argument("--reuse", action="store_true", help="FourPhonon results already in workdir")
    p.add_argument("--three-phonon-only", action="store_true")
    p.add_argument("--bases", type=int, default=0, help="random degenerate bases to try")
    args = p.parse_args(argv)

    from aiida_wigner.physics.mesh import QMesh
    from aiida_wigner.physics.scattering.isotope import natural_mass_variances

    fcp = args.fcp
    if fcp is None:  # the stored fits of the tests
        fcp = ROOT / "tests" / "data" / f"sw_si_{args.model}.fcp"
        fcp = fcp if fcp.is_file() else None
    if fcp is None:
        fcp = args.workdir / f"{args.model}.fcp"
        args.workdir.mkdir(parents=True, exist_ok=True)
        print("fitting", args.model, F.fit_fcp(args.model, fcp))
    fc = F.load_model(args.model, fcp)
    g2 = natural_mass_variances(fc.primitive.symbols)
    nb = 3 * len(fc.primitive)
    mesh, T = tuple(args.mesh), args.temperature
    qm = QMesh.build(fc.primitive, mesh)
    print(
        f"model {args.model}: {len(fc.primitive)} atoms, mesh {mesh}, T = {T} K; "
        f"|ours/FourPhonon − 1| median/worst over modes"
    )
    runs = {"adaptive": (args.fourphonon, args.scale)}
    if args.fourphonon_fixed:
        runs["fixed"] = (args.fourphonon_fixed, 2 * np.pi * np.sqrt(2) * args.sigma)
    reference = {}
    four = not args.three_phonon_only
    for mode, (binary, scalebroad) in runs.items():
        d = args.workdir / (
            f"{args.model}_{'x'.join(map(str, mesh))}_{mode}" + ("" if four else "_3ph")
        )
        if args.reuse:
            wall_fp = float("nan")
        else:
            F.write_inputs(fc, d, mesh, T, scalebroad, g2, four_phonon=four)
            wall_fp = F.run(binary, d, nproc=args.nproc)
        theirs = F.read_outputs(d, T, nb)
        reference.update({f"{mode}_{k}": v for k, v in theirs.items() if v is not None})
        t0 = time.perf_counter()
        if mode == "fixed":
            variants = {
                "gaussian (golden-rule counting)": F.our_rates(
                    fc, mesh, theirs["qpoints"], T, "gaussian", args.sigma, g2, four_phonon=four
                )
            }
            wall_ours = time.perf_counter() - t0
            variants["gaussian, counting='fourphonon'"] = F.our_rates(
                fc,
                mesh,
                theirs["qpoints"],
                T,
                "gaussian",
                args.sigma,
                g2,
                four_phonon=four,
                counting="fourphonon",
            )
        else:
            variants = {
                "adaptive-shengbte, our velocities": F.our_rates(
                    fc,
                    mesh,
                    theirs["qpoints"],
                    T,
                    "adaptive-shengbte",
                    args.scale,
                    g2,
                    four_phonon=four,
                )
            }
            wall_ours = time.perf_counter() - t0
            variants["adaptive-shengbte, FourPhonon's velocities"] = F.our_rates(
                fc,
                mesh,
                theirs["qpoints"],
                T,
                "adaptive-shengbte",
                args.scale,
                g2,
                four_phonon=four,
                velocities_from=d,
            )
            variants["adaptive (ours)"] = F.our_rates(
                fc, mesh, theirs["qpoints"], T, "adaptive", args.scale, g2, four_phonon=four
            )
            reference["adaptive_velocities"] = F.read_velocities(d, qm, nb)
        print(
            f"{mode}: FourPhonon {wall_fp:.0f} s ({args.nproc} ranks), ours {wall_ours:.0f} s "
            f"(rates + κ) — ratio {wall_fp / wall_ours:.1f}; peak RSS FourPhonon "
            f"{_peak_children_mb():.0f} MB (largest rank), ours {_peak_self_mb():.0f} MB"
        )
        first = variants[next(iter(variants))]
        print(
            f"  frequencies: max |Δν| = "
            f"{np.abs(first['frequencies'] - theirs['frequencies']).max():.1e} THz"
        )
        for label, ours in variants.items():
            _line(label, ours, theirs)
            if ours["kappa"] is not None:
                print(
                    f"  {'':<44} κ = {np.trace(ours['kappa']) / 3:.2f} W/(m K) vs FourPhonon "
                    f"{np.trace(theirs['kappa']) / 3:.2f}"
                )
        if mode == "adaptive":
            raw = F.read_outputs(d, T, nb, average=False)
            for key in ("w_3ph", "w_4ph", "w_iso"):
                spread = (
                    F.degenerate_set_spread(raw[key], raw["frequencies"])
                    if raw[key] is not None
                    else []
                )
                if len(spread):
                    print(
                        f"  FourPhonon's own {key[2:]} rates over the bands of each of its "
                        f"{len(spread)} degenerate sets: max/min − 1 median "
                        f"{np.median(spread):.1e}, worst {spread.max():.1e}"
                    )
            bases = [
                F.our_rates(
                    fc,
                    mesh,
                    theirs["qpoints"],
                    T,
                    "adaptive-shengbte",
                    args.scale,
                    g2,
                    four_phonon=four,
                    basis_seed=seed,
                )
                for seed in range(args.bases)
            ]
            for seed, ours in enumerate(bases):
                _line(f"adaptive-shengbte, random basis {seed}", ours, theirs)
            if bases:
                _basis_spread(bases, theirs)
        print(F.timing_lines(d))
    if args.save_reference:
        out = ROOT / "tests" / "data" / f"fourphonon_si_{args.model}_{''.join(map(str, mesh))}.npz"
        np.savez_compressed(out, **reference)
        print("wrote", out)


if __name__ == "__main__":
    main()

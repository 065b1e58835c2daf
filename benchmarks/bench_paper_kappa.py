"""The seed's whole κ step, end to end, timed on this machine: SCPB, then κ(T) on 16×16×12.

Model: the seed-size CsCu4Se3 case of ``bench_memory`` (8 atoms, 24 branches, 4×4×2
supercell of 256 atoms; central-pair FC2/FC4, three-body FC3 within 8.17 Å; stable).
Steps, as the ``paper`` protocol of ``wigner.conductivity`` runs them
(aiida_wigner/workflows/protocols/conductivity.yaml):

1. SCP (Eq. 1, off-diagonal) + quasiparticle bubble (Eqs. 2–4) on the 4×4×2 outer /
   8×8×4 inner mesh at the seven temperatures 100–700 K (warm starts from the top);
2. per temperature, on that temperature's renormalized phonons, κ_P + κ_C (Eq. 5) on the
   16×16×12 mesh with adaptive smearing (scale 0.2): three-phonon (Eq. 6), sampled
   four-phonon (Eq. 7; 256 pairs per q-point, κ allocation) and isotope (Eq. 8).

Prints, per temperature, κ (W/(m·K)) and the 1σ statistical error of κ_P from the 4ph
sampling (first-order propagation of ``gamma_4ph_stderr``: δκ_P,mode = κ_P,mode ·
δγ4/γ, summed linearly over the bands of one q-point and in quadrature over q-points),
the wall time of each step (and, per temperature, of its 3ph, isotope and 4ph
linewidths), the load and the peak RSS (``ru_maxrss``) of the process.

    python benchmarks/bench_paper_kappa.py [--mesh 16 16 12] [--scp-mesh 4 4 2]
        [--inner-mesh 8 8 4] [--temperatures 100 200 ... 700] [--samples 256]
        [--threads 2] [--output paper_kappa.json]

A small smoke run: ``--mesh 4 4 3 --scp-mesh 2 2 1 --inner-mesh 4 4 2 --temperatures
300 --samples 8``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def kappa_sampling_error(result):
    """1σ error (T, 3, 3) of κ_P in W/(m·K) from the standard error of sampled γ_4ph.

    κ_P of a mode is ∝ 1/γ, so δκ = κ δγ4/γ to first order; the bands of one q-point share
    their samples (errors added linearly), different q-points are sampled independently
    (added in quadrature).
    """
    import numpy as np

    gamma = result.gamma
    rel = np.divide(
        result.gamma_4ph_stderr, gamma, out=np.zeros_like(gamma), where=gamma > 0
    )  # (T, Q, B)
    per_q = np.abs(np.einsum("tqbij,tqb->tqij", result.kappa_P_modes, rel))
    return np.sqrt((per_q**2).sum(axis=1))


def use_threads(n: int) -> None:
    """Give numba, OpenMP and BLAS ``n`` threads (before they are imported)."""
    for var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)


#: The linewidth channels whose wall time each temperature reports (module, function).
STAGES = {
    "3ph": ("aiida_wigner.physics.scattering.three_phonon", "three_phonon_linewidths"),
    "isotope": ("aiida_wigner.physics.scattering.isotope", "isotope_linewidths"),
    "4ph": ("aiida_wigner.physics.scattering.four_phonon", "four_phonon_linewidths"),
}


def time_stages(stages=STAGES) -> dict[str, float]:
    """Wrap each channel's function so that its wall time (s) adds up in the dict returned.

    ``compute_kappa`` imports them from their modules at call time, so the wrappers are
    what it runs; the rest of a temperature's time is the mesh phonons, velocities and
    the Wigner sums.
    """
    import functools
    import importlib

    spent = dict.fromkeys(stages, 0.0)
    for key, (module, name) in stages.items():
        mod = importlib.import_module(module)
        inner = getattr(mod, name)

        @functools.wraps(inner)
        def timed(*a, _inner=inner, _key=key, **k):
            t0 = time.perf_counter()
            try:
                return _inner(*a, **k)
            finally:
                spent[_key] += time.perf_counter() - t0

        setattr(mod, name, timed)
    return spent


def peak_rss_gb() -> float:
    """High-water RSS of this process in GB (``ru_maxrss``, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mesh", nargs=3, type=int, default=[16, 16, 12])
    p.add_argument("--scp-mesh", nargs=3, type=int, default=[4, 4, 2])
    p.add_argument("--inner-mesh", nargs=3, type=int, default=[8, 8, 4])
    p.add_argument(
        "--temperatures", nargs="+", type=float, default=[100, 200, 300, 400, 500, 600, 700]
    )
    p.add_argument("--samples", type=int, default=256, help="sampled 4ph pairs per q-point")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--output", type=Path)
    args = p.parse_args()
    use_threads(args.threads)

    import numpy as np
    from bench_memory import _cached_model

    from aiida_wigner.physics.kappa import KappaResult, KappaSettings, compute_kappa
    from aiida_wigner.physics.renormalization import SCPSettings
    from aiida_wigner.physics.renormalization.renormalize import (
        RenormalizationSettings,
        renormalize,
    )

    temps = tuple(args.temperatures)
    print(f"load (uptime) {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    t_start = time.perf_counter()
    fc = _cached_model((4, 4, 2))
    t0 = time.perf_counter()
    scp = SCPSettings(tuple(args.scp_mesh), tuple(args.inner_mesh), temps)
    ren = renormalize(fc, RenormalizationSettings(scp, bubble="qp"))
    models = ren.models(fc, temps)
    t_scpb = time.perf_counter() - t0
    print(
        f"SCPB {args.scp_mesh}/{args.inner_mesh}, {len(temps)} T: {t_scpb:.1f} s, "
        f"peak {peak_rss_gb():.2f} GB",
        flush=True,
    )
    settings = KappaSettings(
        mesh=tuple(args.mesh),
        temperatures=temps,
        smearing="adaptive",
        scale=0.2,
        isotope=True,
        four_phonon="sampled",
        four_phonon_samples=args.samples,
    )
    rows, parts = [], []
    spent = time_stages()
    print(
        "   T/K   κ_xx    κ_zz   κ_C,xx  κ_C,zz  δκ_P,xx(4ph)  δκ_P,zz   time/s   load"
        "   3ph/s   iso/s   4ph/s  rest/s",
        flush=True,
    )
    for i, t in enumerate(temps):
        before = dict(spent)
        t0 = time.perf_counter()
        s = KappaSettings(**{**settings.as_dict(), "temperatures": (t,)})
        part = compute_kappa(fc, s, [models[i]])
        wall = time.perf_counter() - t0
        err = kappa_sampling_error(part)[0]
        stage = {key: spent[key] - before[key] for key in spent}
        stage["rest"] = wall - sum(stage.values())
        parts.append(part)
        k, kc = part.kappa[0], part.kappa_C[0]
        rows.append(
            {
                "temperature_K": t,
                "kappa": k.tolist(),
                "kappa_C": kc.tolist(),
                "kappa_P_4ph_sampling_error": err.tolist(),
                "wall_s": wall,
                "stage_wall_s": stage,
                "load": os.getloadavg()[0],
            }
        )
        print(
            f"{t:6.0f} {k[0, 0]:7.4f} {k[2, 2]:7.4f} {kc[0, 0]:7.4f} {kc[2, 2]:7.4f} "
            f"{err[0, 0]:13.2e} {err[2, 2]:9.2e} {wall:8.1f} {rows[-1]['load']:6.2f} "
            + " ".join(f"{v:7.1f}" for v in stage.values()),
            flush=True,
        )
    total = KappaResult.stack(settings, parts)
    t_all = time.perf_counter() - t_start
    out = {
        "mesh": args.mesh,
        "scp_mesh": args.scp_mesh,
        "inner_mesh": args.inner_mesh,
        "samples": args.samples,
        "threads": args.threads,
        "n_irreducible": int(len(total.qpoints)),
        "scpb_wall_s": t_scpb,
        "kappa_wall_s": sum(r["wall_s"] for r in rows),
        "total_wall_s": t_all,
        "peak_rss_gb": peak_rss_gb(),
        "temperatures": rows,
        "units": {"kappa": "W/(m K)", "time": "s", "memory": "GB"},
    }
    assert np.allclose(total.kappa[:, 0, 0], [r["kappa"][0][0] for r in rows])
    print(
        f"total {t_all:.0f} s ({t_all / 3600:.2f} h): SCPB {t_scpb:.0f} s, κ "
        f"{out['kappa_wall_s']:.0f} s; peak RSS {out['peak_rss_gb']:.2f} GB",
        flush=True,
    )
    if args.output:
        args.output.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

"""Lennard-Jones argon: κ with three-phonon vs. three- plus four-phonon scattering.

The physical check of docs/four_phonon.md §6 (Feng & Ruan, PRB 93, 045202 (2016)):
FC2/FC3/FC4 are fitted with hiphive to ASE's LennardJones calculator (ε = 0.0104 eV,
σ = 3.40 Å, rc = 8.5 Å with the energy shifted to zero there) on the 4×4×4 conventional
supercell of fcc argon at a fixed lattice constant (default 5.30 Å), loaded through
aiida_wigner's hiphive importer on a 6×6×6 primitive supercell, and κ is computed by
``compute_kappa`` on a Γ-centred mesh with adaptive smearing, three-phonon only and
with exhaustive four-phonon scattering added.  Prints κ_P, κ and the ratio
κ(3ph+4ph)/κ(3ph) per temperature.

    python examples/argon/argon_4ph.py                       # mesh 8, 20/50/80 K
    python examples/argon/argon_4ph.py --mesh 10 --lattice 5.30 5.37
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from four_phonon_models import argon_fcp, argon_force_constants  # noqa: E402

from aiida_wigner.physics.kappa import KappaSettings, compute_kappa  # noqa: E402


def argon_table(
    lattice=5.30,
    mesh=8,
    temperatures=(20.0, 50.0, 80.0),
    four_phonon="exhaustive",
    fcp_dir=None,
    scale=1.0,
):
    """Rows (T, κ_P 3ph, κ_P 3+4ph, κ 3ph, κ 3+4ph) in W/(m·K), trace/3, and timings."""
    fcp_dir = Path(fcp_dir or tempfile.mkdtemp())
    path = fcp_dir / f"argon_a{lattice:.3f}.fcp"
    t0 = time.perf_counter()
    rmse = None
    if not path.exists():
        rmse, _ = argon_fcp(path, a=lattice)
    t_fit = time.perf_counter() - t0
    fc = argon_force_constants(path)
    base = dict(
        mesh=(mesh,) * 3, temperatures=tuple(temperatures), smearing="adaptive", scale=scale
    )
    t0 = time.perf_counter()
    r3 = compute_kappa(fc, KappaSettings(**base))
    t3 = time.perf_counter() - t0
    t0 = time.perf_counter()
    r34 = compute_kappa(fc, KappaSettings(**base, four_phonon=four_phonon))
    t34 = time.perf_counter() - t0
    tr = lambda k: np.trace(k, axis1=1, axis2=2) / 3  # noqa: E731
    rows = np.stack(
        [np.asarray(temperatures), tr(r3.kappa_P), tr(r34.kappa_P), tr(r3.kappa), tr(r34.kappa)],
        axis=1,
    )
    return rows, {
        "fit_s": t_fit,
        "fit_rmse": rmse,
        "kappa_3ph_s": t3,
        "kappa_34ph_s": t34,
        "results": (r3, r34),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mesh", type=int, default=8)
    ap.add_argument("--lattice", type=float, nargs="+", default=[5.30])
    ap.add_argument("--temperatures", type=float, nargs="+", default=[20.0, 50.0, 80.0])
    ap.add_argument("--four-phonon", choices=["exhaustive", "sampled"], default="exhaustive")
    ap.add_argument("--fcp-dir", default=None, help="keep/reuse the fitted .fcp files here")
    args = ap.parse_args(argv)
    for a in args.lattice:
        rows, info = argon_table(a, args.mesh, args.temperatures, args.four_phonon, args.fcp_dir)
        fit = (
            f"fit {info['fit_s']:.0f} s, force RMSE {info['fit_rmse'] * 1e3:.2f} meV/Å"
            if info["fit_rmse"] is not None
            else "fit reused"
        )
        print(
            f"LJ argon, a = {a:.3f} Å, mesh {args.mesh}^3, adaptive smearing; {fit}; "
            f"kappa 3ph {info['kappa_3ph_s']:.0f} s, 3ph+4ph ({args.four_phonon}) "
            f"{info['kappa_34ph_s']:.0f} s"
        )
        print(
            "   T[K]  kappa_P 3ph  kappa_P 3+4ph  ratio_P | kappa 3ph  kappa 3+4ph  ratio"
            "   [W/(m K)]"
        )
        for t, p3, p34, k3, k34 in rows:
            print(
                f"  {t:5.0f}  {p3:11.4f}  {p34:13.4f}  {p34 / p3:7.3f} | {k3:9.4f}  "
                f"{k34:11.4f}  {k34 / k3:5.3f}"
            )


if __name__ == "__main__":
    main()

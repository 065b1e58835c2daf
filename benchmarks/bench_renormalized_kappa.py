"""Cost of κ on renormalized phonons: interpolated SCP phonons vs the former re-sampling.

For each case one SCP run, then the κ step twice, side by side in one process:

* interpolated (current): ``compute_kappa(fc, settings, [model])`` — D_harm(q) from the
  force-constant supercell + ΔD(q) interpolated from the SCP mesh at every κ q-point;
* re-sampled (former): the effective D at the q-points commensurate with the force-constant
  supercell → FC2 on it → ``compute_kappa`` on that FC2 (the time of building it included).

Reported: wall time of the whole κ step and of its phonon part alone (``solve`` on the full
κ mesh + ``velocity_operator`` on the irreducible points; each with a fresh model, its
set-up included), best of ``--repeat``, the
relative κ difference max|Δκ|/max|κ| and max|Δν| of the two schemes.  Both cases are full
SCP loops with nearest-neighbour FC4 on a mesh that is a multiple of the supercell, where
the two schemes give the same D(q) (docs/scp.md §4): the comparison is of cost.  The
isotope-only κ of the 8-atom case is not a physical number: isolated optical modes get
γ_iso ~ 1e-35 THz from the Gaussian tails, so their κ is set by round-off (max|Δκ| ~ 1e-3
while max|Δν| ~ 1e-14 THz).

Cases: Cu₃Au (4 atoms, EMT FC2/FC3 on 2×2×2, Morse FC4; SCP 4×4×4/4×4×4; κ 8×8×8 with 3ph,
σ = 0.1 THz) and the 8-atom tetragonal rock salt of bench_scp.py (FC2/FC4 on 2×2×2, no FC3;
SCP on the seed's 4×4×2/8×8×4; κ on the seed's 16×16×12 with isotope scattering only).

Run:  OMP_NUM_THREADS=2 NUMBA_NUM_THREADS=2 python benchmarks/bench_renormalized_kappa.py
      [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from aiida_wigner.physics.forceconstants import ForceConstants  # noqa: E402
from aiida_wigner.physics.harmonic import DynamicalMatrixBuilder, solve, velocity_operator  # noqa: E402
from aiida_wigner.physics.kappa import KappaSettings, compute_kappa  # noqa: E402
from aiida_wigner.physics.mesh import QMesh, grid_addresses  # noqa: E402
from aiida_wigner.physics.renormalization import SCPSettings, fc2_from_dynamical_matrices, run_scp  # noqa: E402


def resampled(model, fc):
    """The former scheme: effective FC2 on the force-constant supercell (diagonal here)."""
    mesh = np.diag(fc.setup.supercell_matrix)
    q = grid_addresses(mesh) / mesh
    fc2 = fc2_from_dynamical_matrices(model.dynamical_matrices(q), q, fc.setup)
    return ForceConstants(fc.setup, fc2, fc.fc3, fc.fc4)


def best(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def phonon_part(fc, builder, mesh):
    qmesh = QMesh.build(fc.primitive, mesh)
    solve(fc, qmesh.qpoints, builder)
    velocity_operator(fc, qmesh.qpoints[qmesh.ir_grid], builder=builder)


def run_case(name, fc, scp_mesh, inner, settings, repeat):
    res = run_scp(fc, SCPSettings(mesh=scp_mesh, inner_mesh=inner, temperatures=(300.0,)))
    assert res.converged.all()
    # a fresh model each time: its set-up (mesh supercell, ΔΦ) is part of the κ step
    t_new, new = best(lambda: compute_kappa(fc, settings, [res.model(0)]), repeat)
    t_old, old = best(lambda: compute_kappa(resampled(res.model(0), fc), settings), repeat)
    p_new, _ = best(lambda: phonon_part(fc, res.model(0), settings.mesh), repeat)
    p_old, _ = best(
        lambda: phonon_part(fc, DynamicalMatrixBuilder(resampled(res.model(0), fc)), settings.mesh),
        repeat,
    )
    diff = np.abs(new.kappa - old.kappa).max() / np.abs(new.kappa).max()
    dnu = np.abs(new.frequencies[0] - old.frequencies).max()
    print(
        f"{name}: SCP {scp_mesh}/{inner}, kappa mesh {settings.mesh}, "
        f"n_q = {int(np.prod(settings.mesh))}"
    )
    print(
        f"  kappa step    interpolated {t_new:7.2f} s   re-sampled {t_old:7.2f} s   "
        f"ratio {t_new / t_old:5.2f}"
    )
    print(
        f"  phonon part   interpolated {p_new:7.2f} s   re-sampled {p_old:7.2f} s   "
        f"ratio {p_new / p_old:5.2f}"
    )
    print(
        f"  kappa_xx {new.kappa[0, 0, 0]:.5f} vs {old.kappa[0, 0, 0]:.5f} W/(m K), "
        f"max|dk|/max|k| = {diff:.2e}, max|dnu| = {dnu:.1e} THz (irreducible points)"
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="coarser κ meshes")
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args()

    from bench_scp import rocksalt8
    from reference_models import cu3au_force_constants
    from test_renormalization import pair_fc4

    cu = cu3au_force_constants()
    cu = ForceConstants(cu.setup, cu.fc2, cu.fc3, pair_fc4(cu.setup))
    mesh4 = (4, 4, 4) if args.quick else (8, 8, 8)
    run_case(
        "Cu3Au (4 atoms, 3ph)",
        cu,
        (4, 4, 4),
        (4, 4, 4),
        KappaSettings(mesh=mesh4, temperatures=(300.0,), sigma=0.1),
        args.repeat,
    )
    mesh8 = (8, 8, 6) if args.quick else (16, 16, 12)
    run_case(
        "rock salt (8 atoms, isotope only)",
        rocksalt8(),
        (4, 4, 2),
        (8, 8, 4),
        KappaSettings(mesh=mesh8, temperatures=(300.0,), three_phonon=False, isotope=True),
        args.repeat,
    )


if __name__ == "__main__":
    main()

"""Peak memory (and wall time) of each κ step at the seed's size: 8 atoms, 24 branches.

The case is CsCu4Se3 (examples/cscu4se3/CsCu4Se3.cif, P4/mmm) in the seed's 4×4×2
supercell (256 atoms) with deterministic force constants (:func:`spring_model`): FC2 and
FC4 of a central pair model (every pair within 6.0 Å and 4.23 Å contributes
φ^(n)(r) r̂⊗…⊗r̂ with φ''(r) = A e^(−r/ρ); stable, acoustic sum rules exact, the crystal
symmetry exact) and the three-body FC3 of ``seed_model.seed_fc3`` (every atom triplet
within 8.17 Å — the largest the supercell holds, the seed's 8.46 Å capped —, like a
fitted FC3).  The numbers are not CsCu4Se3's; the array sizes, the sparsity of the
cut-offs and the mode count are the seed's.

Each (step, mesh) runs in its own child process; the child builds the model, the mesh,
the phonons on the full mesh and the full-mesh group velocities, then resets its
peak-RSS counter (``/proc/self/clear_refs``) and runs the step alone, so the peak
printed is that of the step on top of what it is given (``base``: RSS when the step
starts; ``peak``: VmHWM during the step).  Steps:

``isotope``  γ_iso at the irreducible points, adaptive smearing (natural isotopes)
``3ph``      γ_3ph at ``--gp`` irreducible points (default 2), adaptive, one T
``4ph``      sampled γ_4ph, ``--samples`` pairs at ``--gp`` points, adaptive, one T
``wigner``   κ_P + κ_C from given linewidths at the irreducible points, 7 T
``velocity`` the full-mesh velocity operator (what adaptive smearing needs)
``scpb``     SCP + quasiparticle bubble at 300 K on the mesh (the seed: 4,4,2) with the
             inner mesh twice as fine (8×8×4); needs no phonons of its own
``storage``  (no mesh) the FC3 file of a ``ForceConstantsData``: a compact FC3 of the
             4×4×2 supercell with random values on every (p, j, k) triple within the
             seed's 8.17 Å (hiphive's rule: all three distances), written with the node's
             filters; dense and file MB, write and read time

    python benchmarks/bench_memory.py [--steps isotope 3ph 4ph wigner velocity]
        [--meshes 8,8,6 12,12,8 16,16,12] [--threads 2] [--gp 2] [--samples 64]
        [--smearing adaptive] [--output bench_memory.json]

Prints one line per (step, mesh): wall time (s), base and peak RSS (GB).  3ph and 4ph
time is per grid point and includes the pair-phase table a run computes once (0.7 s at
16×16×12): extrapolate from two ``--gp`` values, or time a whole run with
``bench_paper_kappa.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CIF = HERE.parent / "examples" / "cscu4se3" / "CsCu4Se3.cif"
CUTOFFS = {2: 6.0, 3: 8.17, 4: 4.23}
TEMPERATURES = [100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0]
STEPS = ("velocity", "isotope", "3ph", "4ph", "wigner", "scpb", "storage")


def _pair_terms(setup, cutoff):
    """(i primitive, j supercell, r̂ (n, 3), r (n,), weight) of every image within ``cutoff``."""
    import numpy as np

    i, j, vectors, weights = setup.pair_images()
    cart = vectors @ setup.primitive.lattice
    r = np.linalg.norm(cart, axis=1)
    keep = (r > 1e-8) & (r <= cutoff)
    return i[keep], j[keep], cart[keep] / r[keep, None], r[keep], weights[keep]


def spring_model(supercell=(4, 4, 2), amplitude: float = 40.0, decay: float = 0.8, cutoffs=None):
    """ForceConstants of the central pair model on CsCu4Se3 (module docstring).

    φ''(r) = A e^(−r/ρ) (A ``amplitude`` eV/Å², ρ ``decay`` Å), FC3 three-body
    (``seed_model.seed_fc3``),
    φ'''' = φ''/ρ²; only the r̂⊗…⊗r̂ terms (no tension), so FC2 is a sum of positive
    springs.  The derivative of the pair energy with respect to u_p (the pair's
    primitive atom) is −∂/∂r, with respect to u_q +∂/∂r: Φ(p, x2, …) = Π s · φ^(n) r̂^n
    with s_p = −1, s_q = +1 over the cluster's atoms drawn from {p, q}.
    """
    import itertools

    import numpy as np
    from ase.io import read
    from seed_model import seed_fc3

    from aiida_wigner.physics.cell import Cell, SupercellSetup
    from aiida_wigner.physics.forceconstants import ForceConstants, SparseForceConstants

    cut = dict(CUTOFFS, **(cutoffs or {}))
    setup = SupercellSetup.build(Cell.from_ase(read(CIF)), supercell)
    n, big = setup.n_prim, setup.n_super
    p2s = setup.p2s
    fc = {}
    clusters4 = {}
    for order in (2, 4):
        i, j, rhat, r, w = _pair_terms(setup, cut[order])
        deriv = amplitude * np.exp(-r / decay) * (-1.0 / decay) ** (order - 2) * w
        tensor = deriv.reshape((-1,) + (1,) * order) * rhat.reshape((-1, 3) + (1,) * (order - 1))
        for k in range(1, order):
            tensor = tensor * rhat.reshape((-1,) + (1,) * k + (3,) + (1,) * (order - 1 - k))
        if order == 4:
            for legs in itertools.product((0, 1), repeat=3):
                sign = -((-1.0) ** (3 - sum(legs)))  # s_p for the first leg, then the others
                atoms = np.stack([p2s[i]] + [np.where(leg, j, p2s[i]) for leg in legs], axis=1)
                for a, t in zip(map(tuple, atoms), sign * tensor, strict=True):
                    clusters4[a] = clusters4.get(a, 0.0) + t
            continue
        dense = np.zeros((n,) + (big,) * (order - 1) + (3,) * order)
        for legs in itertools.product((0, 1), repeat=order - 1):
            sign = -((-1.0) ** (order - 1 - sum(legs)))
            idx = (i,) + tuple(np.where(leg, j, p2s[i]) for leg in legs)
            np.add.at(dense, idx, sign * tensor)
        fc[order] = dense
    atoms4 = np.array(list(clusters4), dtype=np.int64)
    values4 = np.array([clusters4[a] for a in clusters4])
    return ForceConstants(
        setup,
        fc[2],
        seed_fc3(setup, cut[3]),
        SparseForceConstants(4, atoms4, values4),
        {"model": "bench_memory.spring_model", "cutoffs": cut},
    )


def _cached_model(supercell):
    """The model from a cache file under $TMPDIR (FC3 as clusters: build it once)."""
    import tempfile

    import numpy as np
    from ase.io import read

    from aiida_wigner.physics.cell import Cell, SupercellSetup
    from aiida_wigner.physics.forceconstants import ForceConstants, SparseForceConstants

    path = Path(tempfile.gettempdir()) / f"bench_memory_model3_{'x'.join(map(str, supercell))}.npz"
    if not path.exists():
        fc = spring_model(supercell)
        np.savez(
            path,
            fc2=fc.fc2,
            atoms3=fc.fc3.atoms,
            values3=fc.fc3.values,
            atoms4=fc.fc4.atoms,
            values4=fc.fc4.values,
        )
    data = np.load(path)
    setup = SupercellSetup.build(Cell.from_ase(read(CIF)), supercell)
    return ForceConstants(
        setup,
        data["fc2"],
        SparseForceConstants(3, data["atoms3"], data["values3"]),
        SparseForceConstants(4, data["atoms4"], data["values4"]),
        {"model": "bench_memory.spring_model"},
    )


def _rss(field: str) -> float:
    """``field`` (VmRSS, VmHWM) of this process from /proc/self/status, in GB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024 / 1e9
    raise RuntimeError(f"no {field} in /proc/self/status")


def fc3_storage(cutoff: float = CUTOFFS[3]) -> dict:
    """Size and time of the FC3 dataset as ``ForceConstantsData`` writes it (``storage``)."""
    import io

    import h5py
    import numpy as np

    from aiida_wigner.data.force_constants import _write_compressed

    setup = _cached_model((4, 4, 2)).setup
    sc = setup.supercell
    frac = sc.positions[None] - sc.positions[:, None]
    frac -= np.round(frac)  # minimum image (orthogonal supercell)
    dist = np.linalg.norm(frac @ sc.lattice, axis=-1)
    near = dist[setup.p2s] <= cutoff
    triples = near[:, :, None] & near[:, None, :] & (dist[None] <= cutoff)
    fc3 = np.where(
        triples[..., None, None, None],
        np.random.default_rng(0).normal(size=triples.shape + (3, 3, 3)),
        0.0,
    )
    buffer = io.BytesIO()
    t0 = time.perf_counter()
    with h5py.File(buffer, "w") as h5:
        _write_compressed(h5, "fc3", fc3, by_first_index=True)
    t_write = time.perf_counter() - t0
    buffer.seek(0)
    t0 = time.perf_counter()
    with h5py.File(buffer, "r") as h5:
        back = h5["fc3"][()]
    t_read = time.perf_counter() - t0
    assert np.array_equal(back.view(np.uint64), fc3.view(np.uint64))
    return {
        "step": "storage",
        "cutoff": cutoff,
        "dense_mb": fc3.nbytes / 1e6,
        "nonzero_fraction": float(triples.mean()),
        "file_mb": len(buffer.getvalue()) / 1e6,
        "write_s": t_write,
        "read_s": t_read,
    }


def child(step: str, mesh, args) -> dict:
    import numpy as np

    from aiida_wigner.physics.harmonic import heat_capacity, solve, velocity_operator
    from aiida_wigner.physics.mesh import QMesh
    from aiida_wigner.physics.renormalization import SCPSettings
    from aiida_wigner.physics.renormalization.renormalize import (
        RenormalizationSettings,
        renormalize,
    )
    from aiida_wigner.physics.scattering.four_phonon import four_phonon_linewidths
    from aiida_wigner.physics.scattering.isotope import isotope_linewidths, natural_mass_variances
    from aiida_wigner.physics.scattering.smearing import Smearing, mode_velocities
    from aiida_wigner.physics.scattering.three_phonon import three_phonon_linewidths
    from aiida_wigner.physics.transport import wigner_terms

    fc = _cached_model((4, 4, 2))
    prim = fc.primitive
    qmesh = QMesh.build(prim, mesh)
    ir = qmesh.ir_grid
    smearing = Smearing(
        scale=0.2, reciprocal_lattice=prim.reciprocal_lattice, mesh=qmesh.mesh, kind=args.smearing
    )
    gp = ir[1 : 1 + args.gp]
    phonons = solve(fc, qmesh.qpoints)

    def run():
        if step == "scpb":
            scp = SCPSettings(mesh, tuple(2 * m for m in mesh), (300.0,))
            return renormalize(fc, RenormalizationSettings(scp, bubble="qp"))
        if step == "velocity":
            return velocity_operator(fc, qmesh.qpoints).group_velocities
        if step == "isotope":
            return isotope_linewidths(
                phonons,
                ir,
                natural_mass_variances(prim.symbols),
                smearing,
                group_velocities=gv,
                qmesh=qmesh,
            )
        if step == "3ph":
            return three_phonon_linewidths(
                fc, qmesh, phonons, gp, [300.0], smearing, group_velocities=gv
            )
        if step == "4ph":
            return four_phonon_linewidths(
                fc,
                qmesh,
                phonons,
                gp,
                [300.0],
                smearing,
                mode="sampled",
                samples=args.samples,
                group_velocities=gv,
            )
        temps = np.asarray(TEMPERATURES)
        gamma = np.full((len(temps), len(ir), phonons.frequencies.shape[1]), 0.01)
        freqs = vel_ir.phonons.frequencies
        cv = heat_capacity(freqs[None], temps[:, None, None])
        return wigner_terms(
            freqs,
            vel_ir.velocity,
            gamma,
            cv,
            qmesh.weights,
            qmesh.n_q,
            prim.volume,
            qmesh.symmetrize_tensor,
        ).kappa_P

    gv = vel_ir = None
    if step in ("isotope", "3ph", "4ph"):
        # adaptive widths take the block statistics of the velocity operator, with the
        # phonons of the same operator (one eigenvector basis)
        phonons, gv = mode_velocities(fc, qmesh.qpoints)
    if step == "wigner":
        vel_ir = velocity_operator(fc, qmesh.qpoints[ir])
    # no warm-up: the kernels are compiled once (numba cache=True), so a step's first run
    # ever includes its compilation; run the benchmark twice for clean times
    base = _rss("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    t0 = time.perf_counter()
    run()
    wall = time.perf_counter() - t0
    return {
        "step": step,
        "mesh": list(mesh),
        "n_q": int(qmesh.n_q),
        "n_ir": int(len(ir)),
        "wall_s": wall,
        "base_gb": base,
        "peak_gb": _rss("VmHWM"),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", nargs="+", default=list(STEPS), choices=STEPS)
    p.add_argument("--meshes", nargs="*", default=["8,8,6", "12,12,8", "16,16,12"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--gp", type=int, default=2, help="grid points for 3ph and 4ph")
    p.add_argument("--samples", type=int, default=64, help="sampled 4ph pairs per grid point")
    p.add_argument("--smearing", default="adaptive", choices=("adaptive", "adaptive-shengbte"))
    p.add_argument("--output", type=Path)
    p.add_argument("--child", nargs=2, metavar=("STEP", "MESH"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        step, mesh = args.child
        print(json.dumps(child(step, tuple(int(x) for x in mesh.split(",")), args)))
        return
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(args.threads),
        NUMBA_NUM_THREADS=str(args.threads),
        OPENBLAS_NUM_THREADS=str(args.threads),
    )
    print(f"load (uptime): {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    rows = []
    if "storage" in args.steps:
        row = fc3_storage()
        rows.append(row)
        print(
            f"storage  FC3 4x4x2, {row['cutoff']} Å: {row['dense_mb']:.1f} MB dense, "
            f"{100 * row['nonzero_fraction']:.1f} % non-zero, file {row['file_mb']:.1f} MB; "
            f"write {row['write_s']:.1f} s, read {row['read_s']:.1f} s",
            flush=True,
        )
    for mesh in args.meshes:
        for step in (s for s in args.steps if s != "storage"):
            cmd = [
                sys.executable,
                __file__,
                "--child",
                step,
                mesh,
                "--gp",
                str(args.gp),
                "--samples",
                str(args.samples),
                "--smearing",
                args.smearing,
            ]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if out.returncode:
                print(
                    f"{step:8s} {mesh:>9s}: failed (rc {out.returncode}): "
                    f"{out.stderr.strip().splitlines()[-1] if out.stderr.strip() else ''}",
                    flush=True,
                )
                rows.append({"step": step, "mesh": mesh, "failed": out.returncode})
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(
                f"{step:8s} {mesh:>9s} (n_q {row['n_q']:5d}, n_ir {row['n_ir']:4d}): "
                f"{row['wall_s']:8.2f} s, base {row['base_gb']:6.3f} GB, "
                f"peak {row['peak_gb']:6.3f} GB",
                flush=True,
            )
    if args.output:
        args.output.write_text(json.dumps({"load": os.getloadavg(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()

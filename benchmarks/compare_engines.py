"""Compare the machine-learned potentials that install with their weights, on CsCu4Se3.

Issue 17 item 3: which engine should the CsCu4Se3 study use?  For every model this measures
(a) the relaxed lattice (a, c; cell and ions relaxed with the space group kept, ASE
FixSymmetry + FrechetCellFilter, BFGS to ``--fmax``), (b) harmonic phonons from phonopy's
0.01 Å finite displacements on the model's own relaxed cell (the project's harmonic path,
:mod:`aiida_wigner.fitting.harmonic`: residual forces of the ideal supercell subtracted,
FC2 symmetrized) at Γ, X, M, Z, R, A and the lowest frequency on a q-mesh, (c) the force
disagreement between models on the same snapshots (root-mean-square difference of every
force component, eV/Å) and (d) the CPU time of one force call.

Snapshots for (c): the ``--snapshot-supercell`` supercell of the first model's relaxed cell,
half of them rattled (every atom moved by exactly 0.1 Å in a random direction, the seed's
displacement), half short-MD frames of the first model (Langevin 300 K, 2 fs) each given the
same 0.1 Å rattle, as the seed does with its AIMD frames.  Every random number comes from
``numpy.random.default_rng(--seed)``; torch runs on one thread, so a rerun gives the same
table.  Times: ``time.process_time`` per call (CPU seconds of this process; with one thread
this is far less sensitive to a loaded machine than wall time), median over the snapshots.

Units: Å, eV/Å, THz (ordinary frequency; negative = imaginary), seconds.

Run (the tables of examples/cscu4se3/RESULTS.md; 48 min on the loaded 2-core machine)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/compare_engines.py \
        --json examples/cscu4se3/engines/relaxed_cell.json
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/compare_engines.py --seed-cell \
        --supercells 2x2x2 --snapshots 0 --json examples/cscu4se3/engines/seed_cell.json
    python benchmarks/compare_engines.py --table-from examples/cscu4se3/engines/seed_cell.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from aiida_wigner.engines import compute_static, relax, run_md
from aiida_wigner.engines.calculators import make_calculator
from aiida_wigner.fitting import harmonic as harm
from aiida_wigner.fitting.hiphive_fit import rattle_fixed_amplitude

ROOT = Path(__file__).resolve().parents[1]
CIF = ROOT / "examples" / "cscu4se3" / "CsCu4Se3.cif"

#: every model an installed package ships with its weights (label -> calculator spec)
MODELS = {
    "7net-0": {"name": "sevennet", "model": "7net-0"},
    "7net-0_22May2024": {"name": "sevennet", "model": "7net-0_22may2024"},
    "7net-l3i5": {"name": "sevennet", "model": "7net-l3i5"},
    "7net-mf-0 PBE": {"name": "sevennet", "model": "7net-mf-0", "modal": "PBE"},
    "7net-mf-0 R2SCAN": {"name": "sevennet", "model": "7net-mf-0", "modal": "R2SCAN"},
    "CHGNet 0.3.0": {"name": "chgnet", "model": "0.3.0"},
    "CHGNet 0.2.0": {"name": "chgnet", "model": "0.2.0"},
    "CHGNet r2scan": {"name": "chgnet", "model": "r2scan"},
}

#: the seed (optB86b-vdW, VASP; Sec. II.A and Fig. 1c) and experiment (seed ref. 17)
SEED = {"a": 4.12, "c": 10.25, "imaginary": "M and A (Cu4Se tilting)", "supercell": "4x4x2"}
EXPERIMENT = {"a": 4.09, "c": 10.07}

#: the special points reported (ASE's labels of the tetragonal primitive cell; G = Γ)
POINTS = ("G", "X", "M", "Z", "R", "A")


def with_threads(spec: dict, threads: int) -> dict:
    """The spec with torch's CPU thread count set (ignored by EMT/LJ)."""
    return dict(spec, threads=threads) if spec.get("name") in ("sevennet", "chgnet") else dict(spec)


def relaxed_cell(spec: dict, atoms, fmax: float = 1e-3, max_steps: int = 500, lattice=None) -> dict:
    """Relax ions and cell keeping the space group; lattice lengths a, b, c in Å.

    ``lattice``: (a, c) Å of a tetragonal cell to hold fixed (the ions are scaled into it
    and relaxed alone), e.g. the seed's, to tell the model's volume from its curvature.
    """
    from aiida_wigner.engines.calculators import atoms_from_dict

    if lattice is not None:
        atoms = atoms.copy()
        atoms.set_cell(np.diag([lattice[0], lattice[0], lattice[1]]), scale_atoms=True)
    res = relax(
        spec, atoms, fmax=fmax, max_steps=max_steps, relax_cell=lattice is None, keep_symmetry=True
    )
    relaxed = atoms_from_dict(res["structure"])
    a, b, c = relaxed.cell.lengths()
    return {
        "atoms": relaxed,
        "a": float(a),
        "b": float(b),
        "c": float(c),
        "converged": res["converged"],
        "n_steps": res["n_steps"],
        "spacegroup": res["spacegroup_final"],
        "max_stress_eV_A3": float(np.abs(res["stress"]).max()),
    }


def lowest_frequencies(points: dict) -> dict:
    """{label: lowest frequency THz}; at Γ the lowest once the three modes nearest zero
    (the acoustic ones) are left out, None for a one-atom cell."""
    out = {k: min(f) for k, f in points.items()}
    optical = sorted(points["G"], key=abs)[3:]
    out["G"] = min(optical) if optical else None
    return out


def harmonic_phonons(spec: dict, atoms, supercell, distance: float = 0.01, mesh=(8, 8, 4)) -> dict:
    """Finite-displacement harmonic phonons of ``atoms`` (the project's phonopy path).

    Returns ``points`` {label: frequencies THz, ascending; negative = imaginary},
    ``lowest`` (:func:`lowest_frequencies`),
    ``mesh_min`` (lowest frequency on the Γ-centred ``mesh``, the three modes of Γ nearest
    zero, its acoustic ones, left out),
    ``n_displacements`` and ``cpu_s`` (force calls' CPU seconds).
    """
    from phonopy import Phonopy

    setup = harm.build_setup(atoms, np.diag(supercell))
    data = harm.generate_displacements(setup, distance)
    ideal = setup.supercell.to_ase()
    cells = [ideal]
    for u in data["displacements"]:
        displaced = ideal.copy()
        displaced.positions = ideal.positions + u
        cells.append(displaced)
    t0 = time.process_time()
    forces = compute_static(spec, cells)["forces"]
    cpu = time.process_time() - t0
    ph = Phonopy(
        setup.unitcell.to_phonopy(),
        supercell_matrix=setup.supercell_matrix,
        primitive_matrix=setup.primitive_matrix,
    )
    ph.dataset = data["dataset"]
    ph.forces = forces[1:] - forces[0]  # residual forces of the ideal supercell subtracted
    fc2 = harm.fc2_from_dataset(ph)
    freqs = harm.special_point_frequencies(setup, fc2)
    points = {k: sorted(v["frequencies"]) for k, v in freqs.items()}
    ph.run_mesh(list(mesh), is_gamma_center=True)
    mfreq = np.array(ph.mesh.frequencies)
    gamma = np.all(np.isclose(ph.mesh.qpoints, 0.0), axis=1)
    acoustic = np.argsort(np.abs(mfreq[gamma]), axis=1)[:, :3]  # the 3 modes nearest zero
    mfreq[np.flatnonzero(gamma)[:, None], acoustic] = np.inf
    return {
        "points": points,
        "lowest": lowest_frequencies(points),
        "mesh_min": float(mfreq.min()),
        "n_displacements": len(cells) - 1,
        "cpu_s": cpu,
        "max_residual_force": float(np.abs(forces[0]).max()),
    }


def make_snapshots(
    spec: dict,
    atoms,
    supercell,
    n: int,
    amplitude: float = 0.1,
    seed: int = 0,
    md_steps_between: int = 10,
    temperature: float = 300.0,
):
    """``n`` supercells: n - n//2 rattled from ideal, n//2 short-MD frames (``spec``) + rattle.

    Every atom of every snapshot is moved by exactly ``amplitude`` Å in a random direction
    on top of its ideal (rattled) or MD (frames) position.
    """
    rng = np.random.default_rng(seed)
    ideal = atoms * tuple(int(x) for x in supercell)
    n_md = n // 2
    bases = [ideal.positions] * (n - n_md)
    if n_md:
        md = run_md(
            spec,
            ideal,
            temperature=temperature,
            timestep=2.0,
            n_steps=md_steps_between * n_md,
            interval=md_steps_between,
            thermostat="langevin",
            seed=seed,
        )
        bases += list(md["positions"])
    snaps = []
    for pos in bases:
        s = ideal.copy()
        s.positions = pos + rattle_fixed_amplitude(len(ideal), amplitude, rng)
        snaps.append(s)
    return snaps


def forces_and_cost(spec: dict, structures) -> tuple[np.ndarray, float]:
    """Forces (m, N, 3) eV/Å and the median CPU seconds of one force call."""
    calc = make_calculator(spec)
    forces, cpu = [], []
    for s in structures:
        s = s.copy()
        s.calc = calc
        t0 = time.process_time()
        forces.append(s.get_forces())
        cpu.append(time.process_time() - t0)
    return np.array(forces), float(np.median(cpu))


def rmse_matrix(forces: dict) -> dict:
    """{a: {b: RMS over all components of F_a - F_b}} eV/Å for forces (m, N, 3) per model."""
    return {
        a: {b: float(np.sqrt(np.mean((fa - fb) ** 2))) for b, fb in forces.items()}
        for a, fa in forces.items()
    }


def compare(
    models: dict,
    atoms,
    supercells=((2, 2, 1), (2, 2, 2)),
    snapshot_supercell=(2, 2, 2),
    n_snapshots: int = 20,
    seed: int = 0,
    threads: int = 1,
    fmax: float = 1e-3,
    mesh=(8, 8, 4),
    lattice=None,
    log=None,
) -> dict:
    """The whole comparison; the first model is the reference of (c) and of the cost ratios."""
    import os

    out = {
        "models": {},
        "load_average_start": os.getloadavg()[0],
        "settings": {
            "supercells": [list(s) for s in supercells],
            "snapshot_supercell": list(snapshot_supercell),
            "n_snapshots": n_snapshots,
            "seed": seed,
            "threads": threads,
            "fmax": fmax,
            "mesh": list(mesh),
            "displacement_A": 0.01,
            "rattle_A": 0.1,
            "fixed_lattice": None if lattice is None else list(lattice),
        },
    }
    snaps, forces = None, {}
    for label, spec in models.items():
        spec = with_threads(spec, threads)
        r = relaxed_cell(spec, atoms, fmax=fmax, lattice=lattice)
        row = {
            "spec": {k: v for k, v in spec.items() if k != "threads"},
            **{k: v for k, v in r.items() if k != "atoms"},
            "phonons": {},
        }
        for sc in supercells:
            row["phonons"]["x".join(map(str, sc))] = harmonic_phonons(
                spec, r["atoms"], sc, mesh=mesh
            )
        if snaps is None and n_snapshots:
            snaps = make_snapshots(spec, r["atoms"], snapshot_supercell, n_snapshots, seed=seed)
        if snaps:
            forces[label], row["cpu_s_per_call"] = forces_and_cost(spec, snaps)
            row["rms_force"] = float(np.sqrt(np.mean(forces[label] ** 2)))
        out["models"][label] = row
        if log:
            log(
                f"{label}: a={r['a']:.3f} c={r['c']:.3f} "
                + " ".join(
                    f"{k}:{v['lowest']['M']:.2f}/{v['lowest']['A']:.2f}"
                    for k, v in row["phonons"].items()
                )
            )
    if forces:
        out["force_rmse"] = rmse_matrix(forces)
    out["load_average_end"] = os.getloadavg()[0]
    return out


def _f(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.2f}" if abs(x) >= 0.005 else "0.00"


def markdown(res: dict) -> str:
    """The tables of RESULTS.md's Engine section from :func:`compare`'s result."""
    models = res["models"]
    first = next(iter(models))
    lines = [
        "| model | a (Å) | c (Å) | supercell | "
        + " | ".join(("Γ (opt.)" if p == "G" else p) for p in POINTS)
        + " | mesh min | M, A imaginary? | force RMSE vs "
        + first
        + " (eV/Å) | CPU s/call |",
        "|" + "---|" * (len(POINTS) + 8),
    ]
    for label, row in models.items():
        for i, (sc, ph) in enumerate(row["phonons"].items()):
            low = lowest_frequencies(ph["points"])
            lowest = min(ph["mesh_min"], np.inf if low["G"] is None else low["G"])
            soft = [p for p in ("M", "A") if low.get(p, 0.0) < 0]
            imag = {2: "yes", 1: f"{''.join(soft)} only", 0: "no"}[len(soft)]
            head = f"| {label} | {row['a']:.3f} | {row['c']:.3f} " if i == 0 else "| | | "
            tail = " | |"
            if i == 0 and "force_rmse" in res:
                ratio = row["cpu_s_per_call"] / models[first]["cpu_s_per_call"]
                tail = (
                    f"{res['force_rmse'][first][label]:.3f} | "
                    f"{row['cpu_s_per_call']:.2f} ({ratio:.1f}×) |"
                )
            lines.append(
                head
                + f"| {sc} | "
                + " | ".join(_f(low.get(p)) for p in POINTS)
                + f" | {_f(lowest)} | {imag} | "
                + tail
            )
    lines.append(
        f"| seed (optB86b-vdW, VASP) | {SEED['a']} | {SEED['c']} | "
        f"{SEED['supercell']} |" + " |" * len(POINTS) + f" | {SEED['imaginary']} | | |"
    )
    lines.append(
        f"| experiment | {EXPERIMENT['a']} | {EXPERIMENT['c']} |" + " |" * (len(POINTS) + 5)
    )
    if "force_rmse" in res:
        labels = list(res["force_rmse"])
        n = res["settings"]["n_snapshots"]
        lines += [
            "",
            "Force disagreement (RMS of every component's difference, eV/Å) on the "
            f"same {n} snapshots; diagonal: the RMS force itself.",
            "",
            "| | " + " | ".join(labels) + " |",
            "|---" * (len(labels) + 1) + "|",
        ]
        for a in labels:
            cells = [
                f"{(models[a]['rms_force'] if a == b else res['force_rmse'][a][b]):.3f}"
                for b in labels
            ]
            lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--models",
        nargs="+",
        default=list(MODELS),
        choices=list(MODELS),
        help="models to compare (the first is the reference of (c) and (d))",
    )
    p.add_argument(
        "--supercells",
        nargs="+",
        default=["2x2x1", "2x2x2", "4x4x2"],
        help="supercells of the harmonic phonons, e.g. 2x2x2",
    )
    p.add_argument("--snapshot-supercell", default="2x2x2")
    p.add_argument("--snapshots", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--fmax", type=float, default=1e-3, help="relaxation threshold, eV/Å")
    p.add_argument(
        "--seed-cell",
        action="store_true",
        help="hold the cell at the seed's a, c (ions relaxed) instead of relaxing it",
    )
    p.add_argument("--json", type=Path, help="write the full result here")
    p.add_argument(
        "--table-from",
        type=Path,
        metavar="JSON",
        help="only print the tables of an earlier run's --json file",
    )
    p.add_argument("--markdown", type=Path, help="write the tables here")
    args = p.parse_args(argv)
    if args.table_from:
        print(markdown(json.loads(args.table_from.read_text())))
        return 0
    from ase.io import read

    def sc(s):
        return tuple(int(x) for x in s.lower().split("x"))

    import torch

    torch.set_num_threads(args.threads)
    res = compare(
        {k: MODELS[k] for k in args.models},
        read(CIF),
        supercells=[sc(s) for s in args.supercells],
        snapshot_supercell=sc(args.snapshot_supercell),
        n_snapshots=args.snapshots,
        seed=args.seed,
        threads=args.threads,
        fmax=args.fmax,
        lattice=(SEED["a"], SEED["c"]) if args.seed_cell else None,
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    table = markdown(res)
    print(table)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    if args.markdown:
        args.markdown.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

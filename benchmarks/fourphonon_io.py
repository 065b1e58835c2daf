"""Side-by-side runs of FourPhonon (ShengBTE with four-phonon scattering) and ours.

FourPhonon is not a dependency: build it beside the checkout (/work/shared/peers/README.md)
and point ``FOURPHONON_BIN`` at its ``ShengBTE_cpu``.  Everything here writes FourPhonon's
inputs from our :class:`~aiida_wigner.physics.forceconstants.ForceConstants` with the
package's own writers (phonopy FORCE_CONSTANTS, ShengBTE FORCE_CONSTANTS_3RD, FourPhonon
FORCE_CONSTANTS_4TH), runs it, reads its per-mode rates and puts ours next to them:

* FourPhonon rates are 1/τ in 1/ps with ω in rad/ps; ours are half widths γ in THz, so
  1/τ = 4π γ.  Stock FourPhonon does not average over degenerate modes: its rates are
  averaged here over the degenerate sets of its own frequencies before comparing.
* Masses and isotope g-factors are written explicitly (``autoisotopes = .false.``) so
  both codes use the same numbers (phonopy's natural-abundance table).
* Models (SW silicon): Stillinger–Weber (PRB 31, 5262 (1985), matscipy's ``Manybody``)
  fitted with hiphive to FC2/FC3/FC4; "diamond" is the 2-atom cell; "lowsym6" is the
  sheared diamond lattice (relaxed positions, space group P-1, fitted in its 2-atom
  cell) taken in a 1×1×3 cell of 6 atoms whose last atom has the mass of germanium
  (same force constants; the mass breaks the translations and the inversion: 6 atoms,
  18 bands, space group P1).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
from pathlib import Path

import numpy as np

#: Stillinger–Weber silicon equilibrium lattice parameter (Å), zero stress within 2e-5 eV/Å³.
SW_LATTICE = 5.431

#: Strain (symmetric, applied to the lattice) of the 6-atom low-symmetry cell.
LOWSYM_STRAIN = np.array([[0.010, 0.015, -0.008], [0.015, -0.006, 0.012], [-0.008, 0.012, 0.004]])

#: hiphive cutoffs (Å) of FC2, FC3, FC4 per model; FC4: nearest neighbours only.
CUTOFFS = {"diamond": (5.2, 3.9, 2.7), "lowsym6": (4.6, 3.9, 2.7)}
#: training supercells (repetitions of the primitive cell) per model
TRAINING = {"diamond": (4, 4, 4), "lowsym6": (3, 3, 1)}


def sw_calculator():
    from matscipy.calculators.manybody import Manybody
    from matscipy.calculators.manybody.explicit_forms.stillinger_weber import (
        Stillinger_Weber_PRB_31_5262_Si,
        StillingerWeber,
    )

    return Manybody(**StillingerWeber(Stillinger_Weber_PRB_31_5262_Si))


def silicon_cell(kind: str):
    """ASE primitive cell of the model ``kind`` ("diamond" or "lowsym6")."""
    from ase.build import bulk

    prim = bulk("Si", "diamond", a=SW_LATTICE)
    if kind == "diamond":
        return prim
    if kind != "lowsym6":
        raise ValueError(f"unknown model {kind!r}")
    from ase.optimize import BFGS

    cell = prim.repeat((1, 1, 3))
    cell.set_cell(cell.cell.array @ (np.eye(3) + LOWSYM_STRAIN), scale_atoms=True)
    cell.calc = sw_calculator()
    with contextlib.redirect_stdout(io.StringIO()):
        BFGS(cell, logfile=None).run(fmax=1e-7, steps=500)
    cell.calc = None
    return cell


def fit_fcp(kind: str, path, n_structures: int = 12, rattle: float = 0.03, seed: int = 5):
    """Fit FC2/FC3/FC4 of SW silicon ``kind`` with hiphive; write ``path`` (.fcp).

    Training set: ``n_structures`` Gaussian-rattled copies (standard deviation ``rattle``
    Å) of the ``TRAINING`` supercell; ordinary least squares.  Returns the force RMSE
    (eV/Å) and the number of parameters.
    """
    from hiphive import ClusterSpace, ForceConstantPotential, StructureContainer
    from hiphive.utilities import prepare_structures
    from trainstation import Optimizer

    prim = silicon_cell(kind)
    ideal = prim.repeat(TRAINING[kind])
    rng = np.random.default_rng(seed)
    structures = []
    for _ in range(n_structures):
        s = ideal.copy()
        s.positions += rng.normal(scale=rattle, size=s.positions.shape)
        structures.append(s)
    structures = prepare_structures(structures, ideal, calc=sw_calculator())
    with contextlib.redirect_stdout(io.StringIO()):
        cs = ClusterSpace(prim, list(CUTOFFS[kind]))
        sc = StructureContainer(cs)
        for s in structures:
            sc.add_structure(s)
    opt = Optimizer(sc.get_fit_data(), train_size=1.0)
    opt.train()
    ForceConstantPotential(cs, opt.parameters).write(str(path))
    return float(opt.rmse_train), int(cs.n_dofs)


#: FC supercells (repetitions of the model's cell) for FourPhonon's FORCE_CONSTANTS_2ND
SUPERCELLS = {"diamond": (4, 4, 4), "lowsym6": (3, 3, 1)}


def load_model(kind: str, fcp):
    """Our ForceConstants of the fitted model ``kind`` on its ``SUPERCELLS`` supercell."""
    from aiida_wigner.physics.cell import Cell, SupercellSetup
    from aiida_wigner.physics.forceconstants import ForceConstants
    from aiida_wigner.physics.io.load import load_force_constants

    if kind == "diamond":
        return load_force_constants(fcp=str(fcp), supercell=list(SUPERCELLS[kind]))
    import tempfile

    from ase.io import write

    cell = silicon_cell("lowsym6")
    with tempfile.TemporaryDirectory() as tmp:
        write(f"{tmp}/POSCAR", cell, format="vasp", direct=True)
        fc = load_force_constants(
            structure=f"{tmp}/POSCAR", fcp=str(fcp), supercell=list(SUPERCELLS[kind])
        )
    numbers = np.array(fc.setup.unitcell.numbers)
    numbers[-1] = 32  # Ge mass on the last atom
    unit = Cell(fc.setup.unitcell.lattice, fc.setup.unitcell.positions, numbers)
    setup = SupercellSetup.build(unit, fc.setup.supercell_matrix)
    if not np.allclose(setup.supercell.positions, fc.setup.supercell.positions):
        raise RuntimeError("supercell order changed with the masses")
    return ForceConstants(setup, fc.fc2, fc.fc3, fc.fc4)


# ------------------------------------------------------------------------ FourPhonon input


def _vec(x) -> str:
    return " ".join(f"{v:.12f}" for v in x)


def write_inputs(
    fc,
    directory,
    mesh,
    temperature: float,
    scalebroad: float,
    mass_variances,
    four_phonon: bool = True,
) -> None:
    """CONTROL and FORCE_CONSTANTS_2ND/3RD/4TH of ``fc`` in ``directory`` (RTA, exhaustive)."""
    from aiida_wigner.physics.io.phonopy_format import write_force_constants
    from aiida_wigner.physics.io.shengbte import write_fourphonon_fc4, write_shengbte_fc3

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    setup = fc.setup
    unit = setup.unitcell
    scell = np.diag(setup.supercell_matrix).astype(int)
    if not np.allclose(setup.supercell_matrix, np.diag(scell)):
        raise ValueError("FourPhonon needs a diagonal supercell of the unit cell")
    symbols = unit.symbols
    elements = list(dict.fromkeys(symbols))
    types = [elements.index(s) + 1 for s in symbols]
    masses = [float(np.asarray(unit.masses)[symbols.index(e)]) for e in elements]
    g2 = [float(np.asarray(mass_variances)[symbols.index(e)]) for e in elements]
    lines = [
        "&allocations",
        f"  nelements={len(elements)}, natoms={len(unit)}, "
        f"ngrid(:)={mesh[0]} {mesh[1]} {mesh[2]}, norientations=0",
        "&end",
        "&crystal",
        "  lfactor=0.1,",
    ]
    lines += [f"  lattvec(:,{i + 1})={_vec(unit.lattice[i])}," for i in range(3)]
    lines += [
        "  elements=" + " ".join(f'"{e}"' for e in elements) + ",",
        "  types=" + " ".join(map(str, types)) + ",",
    ]
    lines += [f"  positions(:,{i + 1})={_vec(p)}," for i, p in enumerate(unit.positions)]
    lines += [
        "  masses=" + " ".join(f"{m:.10f}" for m in masses) + ",",
        "  gfactors=" + " ".join(f"{g:.12e}" for g in g2) + ",",
        f"  scell(:)={scell[0]} {scell[1]} {scell[2]}",
        "&end",
        "&parameters",
        f"  T={temperature}",
        f"  scalebroad={scalebroad}",
        "  num_sample_process_3ph=-1, num_sample_process_3ph_phase_space=-1,",
        "  num_sample_process_4ph=-1, num_sample_process_4ph_phase_space=-1",
        "&end",
        "&flags",
        "  nonanalytic=.false., convergence=.false., isotopes=.true.,",
        "  autoisotopes=.false., onlyharmonic=.false.,",
        f"  four_phonon={'.true.' if four_phonon else '.false.'}",
        "&end",
        "",
    ]
    (d / "CONTROL").write_text("\n".join(lines))
    write_force_constants(d / "FORCE_CONSTANTS_2ND", fc.full_fc2())
    write_shengbte_fc3(d / "FORCE_CONSTANTS_3RD", _dense3(fc), setup)
    if four_phonon:
        write_fourphonon_fc4(d / "FORCE_CONSTANTS_4TH", fc.fc4, setup)


def _dense3(fc):
    fc3 = fc.fc3
    if hasattr(fc3, "to_dense_compact"):
        return fc3.to_dense_compact(fc.setup.p2s, fc.setup.n_super)
    return fc3


def run(binary, directory, nproc: int = 2, timeout: float = 3600) -> float:
    """Run FourPhonon in ``directory`` (``mpirun -np nproc``, one OpenMP thread each);
    returns the wall time in s."""
    import time

    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(nproc), str(binary)]
    t0 = time.perf_counter()
    out = subprocess.run(
        cmd, cwd=directory, env=env, capture_output=True, text=True, timeout=timeout
    )
    wall = time.perf_counter() - t0
    (Path(directory) / "stdout.txt").write_text(out.stdout + out.stderr)
    if out.returncode != 0:
        raise RuntimeError(f"FourPhonon failed ({out.returncode}): {out.stderr[-2000:]}")
    return wall


# ------------------------------------------------------------------------ FourPhonon output


def _columns(path, n_bands, n_ir):
    a = np.loadtxt(path)
    return a[:, 1].reshape(n_bands, n_ir).T  # rows: bands slowest, then q


def read_outputs(directory, temperature: float, n_bands: int, average: bool = True) -> dict:
    """FourPhonon's irreducible q-points and per-mode results (degenerate-averaged).

    Returns dict with ``qpoints`` (n_ir, 3) reduced, ``multiplicity`` (n_ir,),
    ``frequencies`` (n_ir, B) THz and rates 1/τ (1/ps) ``w_3ph``, ``w_4ph``, ``w_iso``
    (None where absent), and ``kappa`` (3, 3) W/(m K) (RTA with all rates).
    ``average=False``: the rates band by band, as FourPhonon prints them.
    """
    from aiida_wigner.physics.harmonic import average_degenerate

    d = Path(directory)
    qp = np.loadtxt(d / "BTE.qpoints", ndmin=2)
    n_ir = len(qp)
    omega = np.loadtxt(d / "BTE.omega", ndmin=2)  # (n_ir, B) rad/ps
    tdir = d / f"T{int(round(temperature))}K"
    out = {
        "qpoints": qp[:, 3:6],
        "multiplicity": qp[:, 2].astype(int),
        "frequencies": omega / (2 * np.pi),
    }
    for key, path in (
        ("w_3ph", tdir / "BTE.w_3ph"),
        ("w_4ph", tdir / "BTE.w_4ph"),
        ("w_iso", d / "BTE.w_isotopic"),
    ):
        raw = _columns(path, n_bands, n_ir) if path.is_file() else None
        out[key] = (
            average_degenerate(raw, out["frequencies"]) if raw is not None and average else raw
        )
    tensor = np.loadtxt(tdir / "BTE.kappa_tensor", ndmin=2)
    out["kappa"] = tensor[0, 1:10].reshape(3, 3)
    return out


def single_modes(frequencies) -> np.ndarray:
    """Mask (..., B) of the modes not degenerate with another band."""
    from aiida_wigner.physics.harmonic import degenerate_block_ids

    block = degenerate_block_ids(np.asarray(frequencies))
    return (block[..., :, None] == block[..., None, :]).sum(axis=-1) == 1


def degenerate_set_spread(raw, frequencies, floor_fraction: float = 1e-3) -> np.ndarray:
    """max/min − 1 of FourPhonon's own band-by-band rates ``raw`` (n_ir, B) over each of
    its degenerate sets with rates above the floor of :func:`agreement`.  Zero for a
    basis-independent definition: a rotation inside the set is a symmetry."""
    from aiida_wigner.physics.harmonic import degenerate_block_ids

    raw = np.asarray(raw)
    spread = []
    for iq, ids in enumerate(degenerate_block_ids(np.asarray(frequencies))):
        for b in np.unique(ids):
            vals = raw[iq, ids == b]
            if len(vals) > 1 and vals.min() > floor_fraction * raw.max():
                spread.append(vals.max() / vals.min() - 1.0)
    return np.array(spread)


def timing_lines(directory) -> str:
    text = (Path(directory) / "stdout.txt").read_text()
    return "\n".join(re.findall(r"Timing:.*", text))


# ------------------------------------------------------------------------ ours


def grid_points_of(qmesh, qpoints) -> np.ndarray:
    """Our grid index of each reduced q-point (must lie on the mesh)."""
    from aiida_wigner.physics.mesh import grid_index

    g = np.rint(np.asarray(qpoints) * qmesh.mesh).astype(np.int64)
    if not np.allclose(g / qmesh.mesh, qpoints, atol=1e-6):
        raise ValueError("q-points are not on the mesh")
    return grid_index(g, qmesh.mesh)


def read_velocities(directory, qmesh, n_bands) -> np.ndarray:
    """FourPhonon's group velocities (BTE.v_full, km/s) on our mesh order, THz·Å."""
    d = Path(directory)
    v = np.loadtxt(d / "BTE.v_full").reshape(n_bands, qmesh.n_q, 3).transpose(1, 0, 2)
    order = grid_points_of(qmesh, np.loadtxt(d / "BTE.qpoints_full", ndmin=2)[:, 2:5])
    out = np.empty_like(v)
    out[order] = v * 10.0  # 1 km/s = 10 THz·Å
    return out


def random_degenerate_basis(fc, qmesh, seed: int, cutoff_frequency: float = 1e-3):
    """Phonons on ``qmesh`` with every degenerate subspace in a random orthonormal basis
    (Haar unitary, stream ``seed``) and the group velocities of that basis, the diagonal
    ⟨e_j|∂D/∂q|e_j⟩/2ν (THz·Å): an equally valid choice of eigenvectors, to measure how
    much a basis-dependent definition depends on it."""
    from aiida_wigner.physics.harmonic import (
        DynamicalMatrixBuilder,
        Phonons,
        degenerate_block_ids,
        solve,
    )

    builder = DynamicalMatrixBuilder(fc)
    ph = solve(fc, qmesh.qpoints, builder)
    rng = np.random.default_rng(seed)
    vecs = ph.eigenvectors.copy()
    for iq, ids in enumerate(degenerate_block_ids(ph.frequencies)):
        for b in np.unique(ids):
            cols = np.flatnonzero(ids == b)
            if len(cols) > 1:
                z = rng.normal(size=(len(cols),) * 2) + 1j * rng.normal(size=(len(cols),) * 2)
                vecs[iq][:, cols] = vecs[iq][:, cols] @ np.linalg.qr(z)[0]
    freqs = ph.frequencies
    inv = np.where(freqs > cutoff_frequency, 0.5 / np.maximum(freqs, cutoff_frequency), 0.0)
    gv = (
        np.einsum("qik,qaij,qjk->qka", vecs.conj(), builder.derivatives(ph.qpoints), vecs).real
        * inv[..., None]
    )
    return Phonons(ph.qpoints, freqs, vecs), gv


def our_rates(
    fc,
    mesh,
    qpoints,
    temperature: float,
    smearing: str,
    scale_or_sigma: float,
    mass_variances,
    four_phonon: bool = True,
    velocities_from=None,
    counting: str | None = None,
    basis_seed: int | None = None,
) -> dict:
    """Our 1/τ = 4πγ (1/ps) at ``qpoints`` for 3ph, 4ph (exhaustive) and isotope
    scattering, our frequencies (THz), and RTA κ_P (3, 3) W/(m K) with all three.

    Adaptive widths from our velocities use the eigenvectors those velocities belong to
    (``velocity_operator``: degenerate subspaces rotated to diagonalize ∂D/∂q along
    (1, 2, 3)).  ``velocities_from``: a FourPhonon run directory whose velocities
    (BTE.v_full) make the widths instead, with the plain ``eigh`` eigenvectors (LAPACK's
    choice inside degenerate subspaces, FourPhonon's own at most points; see
    docs/conventions.md).  ``basis_seed``: a random basis of every degenerate subspace
    and its own velocities (:func:`random_degenerate_basis`).  κ is computed only with
    our own velocities.  ``counting``: the four-phonon process counting
    (``four_phonon.COUNTINGS``; default: FourPhonon's with adaptive-shengbte)."""
    from aiida_wigner.physics.harmonic import solve, velocity_operator
    from aiida_wigner.physics.kappa import KappaSettings, compute_kappa
    from aiida_wigner.physics.mesh import QMesh
    from aiida_wigner.physics.scattering.four_phonon import four_phonon_linewidths
    from aiida_wigner.physics.scattering.isotope import isotope_linewidths
    from aiida_wigner.physics.scattering.smearing import Smearing
    from aiida_wigner.physics.scattering.three_phonon import three_phonon_linewidths

    prim = fc.primitive
    qm = QMesh.build(prim, mesh)
    ph = solve(fc, qm.qpoints)
    gps = grid_points_of(qm, qpoints)
    if smearing == "gaussian":
        sm = Smearing(sigma=scale_or_sigma)
        gv = None
    else:
        sm = Smearing(
            scale=scale_or_sigma,
            reciprocal_lattice=prim.reciprocal_lattice,
            mesh=qm.mesh,
            kind=smearing,
        )
        if velocities_from is not None:
            gv = read_velocities(velocities_from, qm, ph.frequencies.shape[1])
        elif basis_seed is not None:
            ph, gv = random_degenerate_basis(fc, qm, basis_seed)
        else:
            vo = velocity_operator(fc, qm.qpoints, cutoff_frequency=1e-3)
            ph, gv = vo.phonons, vo.group_velocities
    out = {"frequencies": ph.frequencies[gps]}
    out["w_3ph"] = (
        4
        * np.pi
        * three_phonon_linewidths(fc, qm, ph, gps, [temperature], sm, group_velocities=gv)[0]
    )
    out["w_iso"] = (
        4 * np.pi * isotope_linewidths(ph, gps, mass_variances, sm, group_velocities=gv, qmesh=qm)
    )
    out["w_4ph"] = None
    if four_phonon:
        g4, _ = four_phonon_linewidths(
            fc, qm, ph, gps, [temperature], sm, group_velocities=gv, counting=counting
        )
        out["w_4ph"] = 4 * np.pi * g4[0]
    out["kappa"] = None
    if velocities_from is not None or basis_seed is not None:
        return out
    settings = dict(
        mesh=tuple(mesh),
        temperatures=(temperature,),
        isotope=True,
        mass_variances=tuple(np.asarray(mass_variances, dtype=float)),
        four_phonon="exhaustive" if four_phonon else None,
    )
    if smearing == "gaussian":
        settings.update(smearing="gaussian", sigma=scale_or_sigma)
    else:
        settings.update(smearing=smearing, scale=scale_or_sigma)
    res = compute_kappa(fc, KappaSettings(**settings))
    out["kappa"] = res.kappa_P[0]
    return out


def agreement(ours, theirs, floor_fraction: float = 1e-3, mask=None) -> dict:
    """Median and worst |ours/theirs − 1| over modes with rates above a floor.

    Modes whose FourPhonon rate is below ``floor_fraction`` × its largest are left out
    (acoustic modes at Γ have none in either code); ``mask``: only these modes.
    """
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    keep = theirs > floor_fraction * theirs.max()
    if mask is not None:
        keep &= np.asarray(mask)
    if not keep.any():
        return {"median": float("nan"), "worst": float("nan"), "n": 0}
    rel = np.abs(ours[keep] / theirs[keep] - 1.0)
    return {"median": float(np.median(rel)), "worst": float(rel.max()), "n": int(keep.sum())}

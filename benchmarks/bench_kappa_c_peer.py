"""κ_C of the default Wigner convention against peer codes on identical inputs.

The default convention of aiida-wigner (seed Eq. 5) weights a coherence pair with
C_jj' = (c_j ν_j' + c_j' ν_j)/(ν_j + ν_j') and a Lorentzian of half width γ_j + γ_j'.
Peers and their weights (all in the same Lorentzian, half widths added):

* ALAMODE anphon 1.5, ``KAPPA_COHERENT`` (conductivity.cpp, compute_kappa_coherent):
  2ω ω'/(ω + ω') (c/ω + c'/ω') times 2(Γ+Γ')/(4Δω² + 4(Γ+Γ')²), which is
  (c ω' + c' ω)/(ω + ω') · (Γ+Γ')/(Δω² + (Γ+Γ')²): **the same weight as ours**.
  Its κ_C is every j ≠ j' pair (degenerate pairs included); its velocity matrix is
  projected on the vectors invariant under the little group of each k (velmat ·
  mean_g S_g), which removes the matrix elements between modes of different
  irreducible representations at k-points with a non-trivial little group.
* phono3py ``SMM19``: (ω + ω')/4 (c/ω + c'/ω'); ours = SMM19 · 4ωω'/(ω + ω')²
  exactly (per pair; the factor is 1 − ((ω − ω')/(ω + ω'))²).
* kALDo 2.3 ``qhgk`` (and phono3py ``IBDB19``): the quasi-harmonic Green–Kubo
  weight ħωω'/T (n − n')/(ω' − ω); equal to ours for ω = ω' and in the classical
  limit, different in between.  κ_QHGK sums all pairs (diagonal included).

Comparisons printed (per temperature, xx/yy/zz of κ_C in W/(m·K)):

* ``alamode``: ours vs anphon fed our γ (its damping read back from the restart file
  PREFIX.result), κ_C over the pairs of different frequency (from PREFIX.kc_elem,
  KAPPA_COHERENT = 2), plus the largest difference per (k, degenerate block, block)
  pair; on the cubic model also ours with anphon's little-group projection;
* ``phono3py``: ours (our own γ, σ = 0.1 THz, isotopes) vs phono3py's SMM19
  per-pair κ re-weighted by 4ωω'/(ω + ω')², non-degenerate pairs;
* ``kaldo``: ours re-weighted to the QHGK weight vs kALDo's qhgk κ, the same
  constant half width for every mode (kALDo's ``diffusivity_bandwidth``).

Models: ``cu3au`` (tests/reference_models.py, EMT, 4 atoms, Pm-3m) and ``p1`` (a
6-atom EMT cell without symmetry, :func:`p1_force_constants`).  Peers are found through
ALAMODE_ANPHON (anphon executable) and KALDO_PYTHON (python of a venv with kaldo);
missing peers are reported and skipped.  Wall times and peak RSS of each peer
subprocess and of our calculation (its own subprocess, VmHWM) are printed
side by side; threads: 2 each.

Run:  ALAMODE_ANPHON=... KALDO_PYTHON=... python benchmarks/bench_kappa_c_peer.py \
          --model cu3au --mesh 8 8 8
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

TEMPERATURES = (100.0, 400.0, 700.0)  # anphon needs TMIN:DT:TMAX
SIGMA = 0.1  # THz, fixed Gaussian width of our γ_3ph on Cu3Au
THREADS = {"OMP_NUM_THREADS": "2", "NUMBA_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}

# -- models ---------------------------------------------------------------------------
#: 6 distinct EMT elements at a cell relaxed with EMT, then rattled (0.02 Å, seed 1):
#: space group P1 (spglib, symprec 1e-3); not an equilibrium (forces ≤ 0.45 eV/Å) but
#: stable (lowest non-zero ν 0.55 THz on 6×6×6); FC2 by central differences (0.01 Å).
P1_LATTICE = [
    [4.55913933, 1.26770591, -0.16336032],
    [1.17547242, 4.55783211, -0.22284008],
    [0.1055303, 0.18817362, 4.40546056],
]
P1_POSITIONS = [
    [0.00662044, 0.85984861, 0.07442904],
    [0.6656235, 0.19299804, 0.57442906],
    [0.327245, 0.87076203, 0.57442905],
    [0.32804799, 0.20235016, 0.07442902],
    [0.00524002, 0.52997231, 0.57442905],
    [0.67473565, 0.53367609, 0.07442906],
]
P1_SYMBOLS = ["Cu", "Ag", "Au", "Ni", "Pd", "Pt"]


def p1_force_constants(supercell=(2, 2, 2), rattle=0.02, step=0.01):
    """FC2 (eV/Å²) of the P1 EMT cell on a 2×2×2 supercell, index- and ASR-symmetrized."""
    from ase import Atoms
    from ase.calculators.emt import EMT
    from phonopy.harmonic.force_constants import symmetrize_force_constants

    from aiida_wigner.physics.cell import Cell, SupercellSetup
    from aiida_wigner.physics.forceconstants import ForceConstants

    atoms = Atoms(P1_SYMBOLS, cell=P1_LATTICE, scaled_positions=P1_POSITIONS, pbc=True)
    atoms.rattle(rattle, seed=1)
    unit = Cell(atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    setup = SupercellSetup.build(unit, np.diag(supercell))
    sc = setup.supercell
    cart = sc.positions @ sc.lattice  # Cell positions are fractional
    work = Atoms(numbers=sc.numbers, cell=sc.lattice, positions=cart, pbc=True)
    work.calc = EMT()
    compact = np.zeros((setup.n_prim, len(sc.numbers), 3, 3))
    for k, i in enumerate(setup.p2s):
        for a in range(3):
            forces = []
            for sign in (1, -1):
                pos = cart.copy()
                pos[i, a] += sign * step
                work.positions = pos
                forces.append(work.get_forces())
            compact[k, :, a, :] = -(forces[0] - forces[1]) / (2 * step)
    full = full_fc2(ForceConstants(setup, compact, None))
    symmetrize_force_constants(full)
    return ForceConstants(setup, full[setup.p2s], None, source={"format": "EMT P1 (bench)"})


def build_model(name: str):
    if name == "cu3au":
        from reference_models import cu3au_force_constants

        return cu3au_force_constants()
    if name == "p1":
        return p1_force_constants()
    raise SystemExit(f"unknown model {name!r}: use cu3au or p1")


def model_gamma(frequencies, temperatures):
    """γ(ν, T) = (T/300 K)(0.02 + 0.004 ν²) THz: a linewidth both codes can be handed."""
    t = np.asarray(temperatures, float)[:, None, None]
    return t / 300.0 * (0.02 + 0.004 * np.asarray(frequencies)[None] ** 2)


# -- our side -------------------------------------------------------------------------
def our_gamma(fc, mesh, temperatures):
    """Our γ (THz) at the irreducible q: γ_3ph (σ = SIGMA) + isotope, or model_gamma
    for a model without FC3."""
    from aiida_wigner.physics.kappa import KappaSettings, compute_kappa

    if fc.fc3 is None:
        return None
    res = compute_kappa(
        fc, KappaSettings(tuple(mesh), tuple(temperatures), sigma=SIGMA, isotope=True)
    )
    return res.gamma


def little_group_projectors(qmesh) -> np.ndarray:
    """(n_ir, 3, 3): mean Cartesian rotation of the little group of each irreducible q."""
    from aiida_wigner.physics.mesh import stabilizer_mask

    keep = stabilizer_mask(qmesh.grid_rotations, qmesh.addresses[qmesh.ir_grid], qmesh.mesh)
    mean = np.einsum("rq,rij->qij", keep, qmesh.cartesian_rotations)
    return mean / keep.sum(axis=0)[:, None, None]


def our_terms(fc, mesh, temperatures, gamma=None, projected=False, weight=None):
    """Wigner pair terms (default convention) with the given γ (T, n_ir, B) in THz.

    ``gamma=None``: :func:`model_gamma`; ``projected``: velocity matrix projected as
    anphon does (:func:`little_group_projectors`); ``weight(freqs, cv, temps)``
    replaces C_jj' (T, Q, B, B) for re-weighted comparisons.
    Returns (WignerTerms, QMesh, frequencies (n_ir, B)).
    """
    from aiida_wigner.physics import harmonic, transport
    from aiida_wigner.physics.mesh import QMesh

    qmesh = QMesh.build(fc.primitive, mesh)
    vel = harmonic.velocity_operator(fc, qmesh.ir_qpoints, cutoff_frequency=1e-3)
    freqs = vel.phonons.frequencies
    v = vel.velocity
    if projected:
        v = np.einsum("qab,qbjk->qajk", little_group_projectors(qmesh), v)
    temps = np.asarray(temperatures, float)
    if gamma is None:
        gamma = model_gamma(freqs, temps)
    cv = harmonic.heat_capacity(freqs[None], temps[:, None, None])
    if weight is None:
        return (
            transport.wigner_terms(
                freqs,
                v,
                gamma,
                cv,
                qmesh.weights,
                qmesh.n_q,
                fc.primitive.volume,
                qmesh.symmetrize_tensor,
            ),
            qmesh,
            freqs,
        )
    seed = transport.heat_capacity_matrix(freqs, cv, "aiida-wigner")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(seed > 0, weight(freqs, cv, temps) / seed, 0.0)
    terms = transport.wigner_terms(
        freqs, v, gamma, cv, qmesh.weights, qmesh.n_q, fc.primitive.volume, qmesh.symmetrize_tensor
    )
    reweighted = transport.WignerTerms(terms.weight * ratio, terms.vv, terms.populations)
    return reweighted, qmesh, freqs


def block_sums(pairs_diag, freqs):
    """Sum (T, Q, B, B, 3) pair terms over degenerate blocks → (T, Q, B, B, 3), the
    block-pair (m, n) sums in slot [m, n] (blocks numbered from 0 at each q), and the
    mask of the off-diagonal block pairs."""
    from aiida_wigner.physics.harmonic import DEGENERACY_TOLERANCE, degenerate_block_ids

    blk = degenerate_block_ids(freqs, DEGENERACY_TOLERANCE)
    nb = freqs.shape[1]
    onehot = (blk[:, :, None] == np.arange(nb)[None, None]).astype(float)  # (Q, B, m)
    sums = np.einsum("qjm,tqjka,qkn->tqmna", onehot, pairs_diag, onehot)
    present = onehot.any(axis=1)  # (Q, m)
    mask = present[:, :, None] & present[:, None, :] & ~np.eye(nb, dtype=bool)[None]
    return sums, mask


def diag3(terms):
    """xx, yy, zz of every pair term, (T, Q, B, B, 3) W/(m·K)."""
    return np.stack([terms.diagonal(t) for t in range(terms.n_temperatures)])


# -- ALAMODE anphon -------------------------------------------------------------------
def _anphon_input(path, fc, prefix, mesh, temperatures, restart: bool):
    import alamode_io

    temps = np.asarray(temperatures, float)
    dt = np.diff(temps)
    if len(temps) < 2 or not np.allclose(dt, dt[0]):
        raise SystemExit("anphon needs equally spaced temperatures (TMIN, TMAX, DT)")
    general = {
        "TMIN": temps[0],
        "TMAX": temps[-1],
        "DT": dt[0],
        "RESTART": int(restart),
        "NONANALYTIC": 0,
    }
    alamode_io.write_anphon_input(
        path, fc, "fc.xml", prefix, "RTA", [[0.0, 0.0, 0.0]], general=general
    )
    text = Path(path).read_text()
    head = text[: text.index("&kpoint")]  # the writer's &kpoint list → a uniform mesh
    Path(path).write_text(
        head
        + "&kpoint\n  2\n  "
        + " ".join(str(int(m)) for m in mesh)
        + "\n/\n\n&analysis\n  KAPPA_COHERENT = 2\n/\n"
    )


def _vm_hwm_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of a running process, MiB; 0 once it has exited."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _run(cmd, cwd, env=None) -> dict:
    """Run a subprocess; wall time, peak RSS (MiB) and output.

    The peak is the process's own VmHWM polled every 20 ms (ru_maxrss of a child would
    carry the RSS of this Python process from before the exec)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=dict(os.environ, **THREADS, **(env or {})),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, _vm_hwm_mib(proc.pid))
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        log.seek(0)
        out = log.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}):\n{out[-3000:]}")
    return {"wall_s": wall, "peak_mib": peak, "stdout": out}


def _anphon_header(anphon, workdir: Path, result: Path) -> str:
    """Start anphon (RESTART = 0) and stop it once PREFIX.result holds its header: the
    irreducible k-points with their weights and the mode frequencies.  The damping that
    it would go on to compute is not needed (ours is written instead)."""
    proc = subprocess.Popen(
        [anphon, "kc.in"],
        cwd=workdir,
        env=dict(os.environ, **THREADS),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    marker = "##Phonon Relaxation Time"
    t_end = time.time() + 600
    while proc.poll() is None and time.time() < t_end:
        if result.is_file() and marker in result.read_text():
            break
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    text = result.read_text() if result.is_file() else ""
    if marker not in text:
        raise RuntimeError(f"anphon wrote no {marker!r} header to {result}")
    return text[: text.index(marker) + len(marker)] + "\n"


def _result_kpoints(header: str) -> tuple[np.ndarray, np.ndarray]:
    """Irreducible k-points (reduced) and weights (fractions of the mesh) of PREFIX.result."""
    block = header[header.index("#KPOINT") : header.index("#END KPOINT")].splitlines()[3:]
    rows = np.array([[float(x) for x in line.split(":")[1].split()] for line in block])
    return rows[:, :3], rows[:, 3]


def run_anphon(anphon, fc, mesh, temperatures, gamma, workdir) -> dict:
    """anphon MODE = RTA, KAPPA_COHERENT = 2, fed our γ through its restart file.

    PREFIX.result gets anphon's own header and one #GAMMA_EACH block per (k, band) with
    our γ (cm⁻¹) at anphon's irreducible k-points (mapped to ours through the star;
    γ is star-invariant); the restart run then computes κ from them.
    ``gamma``: (T, n_ir, B) THz on our irreducible points, or None for model_gamma.
    Returns the per-pair κ_C (T, n_k_anphon, B, B, 3) W/(m·K) (star sums, xx/yy/zz),
    the map anphon k → our irreducible index, anphon's κ_C over all j ≠ j' (T, 3) and
    the wall time / peak RSS of the restart run.
    """
    import alamode_io

    from aiida_wigner.physics import harmonic
    from aiida_wigner.physics.mesh import QMesh, grid_index

    workdir = Path(workdir)
    result = workdir / "kc.result"
    alamode_io.write_fcsxml(fc, workdir / "fc.xml", fc3=False, fc4=False)
    _anphon_input(workdir / "kc.in", fc, "kc", mesh, temperatures, restart=False)
    header = _anphon_header(anphon, workdir, result)
    k_al, w_al = _result_kpoints(header)
    qmesh = QMesh.build(fc.primitive, mesh)
    addr = np.rint(k_al * np.asarray(mesh)).astype(np.int64)
    to_ours = qmesh.to_ir[grid_index(addr, np.asarray(mesh))]
    if gamma is None:
        freqs = harmonic.solve(fc, qmesh.ir_qpoints).frequencies
        gamma = model_gamma(freqs, temperatures)
    g = gamma[:, to_ours].transpose(1, 2, 0) / alamode_io.KAYSER_TO_THZ  # (k, band, T)
    n_eq = np.rint(w_al * qmesh.n_q).astype(int)
    blocks = [header]
    for ik in range(len(k_al)):
        for band in range(g.shape[1]):
            blocks.append(
                f"#GAMMA_EACH\n{ik + 1} {band + 1}\n{n_eq[ik]}\n"
                + "0 0 0\n" * n_eq[ik]
                + "".join(f"{x:.15e}\n" for x in g[ik, band])
                + "#END GAMMA_EACH\n"
            )
    result.write_text("".join(blocks))
    _anphon_input(workdir / "kc.in", fc, "kc", mesh, temperatures, restart=True)
    timing = _run([anphon, "kc.in"], workdir)
    n_b = 3 * fc.setup.n_prim
    data = np.loadtxt(workdir / "kc.kc_elem", comments="#")
    temps = np.asarray(temperatures, float)
    it = np.searchsorted(temps, data[:, 0])
    pairs = np.zeros((len(temps), len(k_al), n_b, n_b, 3))
    pairs[
        it,
        data[:, 5].astype(int) - 1,
        data[:, 3].astype(int) - 1,
        data[:, 4].astype(int) - 1,
        data[:, 1].astype(int) - 1,
    ] = data[:, 8]
    total = np.loadtxt(workdir / "kc.kl_coherent", comments="#")
    return {
        "pairs": pairs,
        "to_ours": to_ours,
        "kappa_C_all": total[:, 1:4],
        "wall_s": timing["wall_s"],
        "peak_mib": timing["peak_mib"],
    }


def compare_alamode(fc, mesh, temperatures, al, gamma=None, projected=False) -> dict:
    """ours vs anphon: κ_C over the pairs of different frequency, and per (q, block,
    block) pair (anphon's k-points summed onto our irreducible points: anphon reduces
    by the space group only, we also by time reversal)."""
    terms, qmesh, freqs = our_terms(fc, mesh, temperatures, gamma, projected=projected)
    ours_b, mask = block_sums(diag3(terms) * qmesh.n_q, freqs)
    ref = np.zeros(diag3(terms).shape)
    np.add.at(ref, (slice(None), al["to_ours"]), al["pairs"])
    ref_b, _ = block_sums(ref, freqs)
    kc_ours = np.einsum("tqmna,qmn->ta", ours_b, mask) / qmesh.n_q
    kc_ref = np.einsum("tqmna,qmn->ta", ref_b, mask) / qmesh.n_q
    diff = np.abs(ours_b - ref_b)[:, mask]
    return {
        "kappa_C_ours": kc_ours,
        "kappa_C_alamode": kc_ref,
        "rel": np.abs(kc_ours / kc_ref - 1).max(),
        "pair_max_abs_over_max": diff.max() / np.abs(ref_b[:, mask]).max(),
        "kappa_C_alamode_all_pairs": al["kappa_C_all"],
    }


# -- phono3py SMM19 ---------------------------------------------------------------------
def compare_phono3py(mesh, temperatures) -> dict:
    """Cu3Au: ours (own γ) vs phono3py SMM19 per-pair κ × 4νν'/(ν+ν')², non-degenerate."""
    from reference_models import cu3au_force_constants, cu3au_phono3py_conductivity

    from aiida_wigner.physics.harmonic import DEGENERACY_TOLERANCE, degenerate_block_ids

    fc = cu3au_force_constants()
    t0 = time.perf_counter()
    tc = cu3au_phono3py_conductivity(tuple(mesh), tuple(temperatures), SIGMA)
    t_ref = time.perf_counter() - t0
    t0 = time.perf_counter()
    gamma = our_gamma(fc, mesh, temperatures)
    terms, qmesh, f = our_terms(fc, mesh, temperatures, gamma)
    t_ours = time.perf_counter() - t0
    mkm = tc.mode_kappa_matrix[0][..., :3] / qmesh.n_q  # (T, Q, B, B, 3)
    fi, fj = f[:, :, None], f[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where((fi > 1e-3) & (fj > 1e-3), 4 * fi * fj / (fi + fj) ** 2, 0.0)
    blk = degenerate_block_ids(f, DEGENERACY_TOLERANCE)
    coh = blk[:, :, None] != blk[:, None, :]
    ref = np.einsum("tqjka,qjk->ta", mkm, r * coh)
    smm19_nondeg = np.einsum("tqjka,qjk->ta", mkm, coh.astype(float))
    ours = np.einsum("tqjk,qjkaa->ta", terms.weight * ~terms.populations, terms.vv)
    return {
        "kappa_C_ours": ours,
        "kappa_C_reweighted_smm19": ref,
        "kappa_C_smm19_same_pairs": smm19_nondeg,
        "kappa_C_smm19_all_pairs": tc.kappa_inter[0][:, :3],
        "rel": np.abs(ours / ref - 1).max(),
        "wall_ours_s": t_ours,
        "wall_ref_s": t_ref,
    }


# -- kALDo ------------------------------------------------------------------------------
KALDO_DRIVER = r"""
import json, sys
import numpy as np
from kaldo.forceconstants import ForceConstants
from kaldo.phonons import Phonons
from kaldo.conductivity import Conductivity
p = json.load(open(sys.argv[1]))
fc = ForceConstants.from_folder(p["folder"], supercell=p["supercell"], format="vasp-sheng",
                                only_second=True)
out = []
for T in p["temperatures"]:
    ph = Phonons(forceconstants=fc, kpts=p["mesh"], temperature=T, is_classic=False,
                 folder=p["folder"] + f"/ph{T}", storage="memory", is_unfolding=True)
    c = Conductivity(phonons=ph, method="qhgk", diffusivity_bandwidth=p["bandwidth"],
                     diffusivity_shape="lorentz", storage="memory")
    out.append(np.asarray(c.conductivity).sum(axis=0).tolist())
freqs = np.asarray(ph.frequency).reshape(-1, ph.n_modes)
q = ph._reciprocal_grid.fractional_points
json.dump({"kappa": out, "frequency": freqs.tolist(), "q": q.tolist()}, open(sys.argv[2], "w"))
"""


def qhgk_weight(freqs, cv, temps):
    """ħνν'/T (n − n')/(ν' − ν) (eV/K), the QHGK / IBDB19 weight; c on the diagonal."""
    from aiida_wigner.physics.harmonic import occupation
    from aiida_wigner.physics.units import PLANCK_EV_THZ

    f = np.where(freqs > 0, freqs, 0.0)[None]
    n = occupation(f, temps[:, None, None])
    fi, fj = f[..., :, None], f[..., None, :]
    d = fj - fi
    with np.errstate(divide="ignore", invalid="ignore"):
        w = (
            PLANCK_EV_THZ
            * fi
            * fj
            / temps[:, None, None, None]
            * (n[..., :, None] - n[..., None, :])
            / np.where(d != 0, d, 1.0)
        )
    c = 0.5 * (cv[..., :, None] + cv[..., None, :])
    small = np.abs(d) < 1e-4 * (fi + fj + 1e-300)
    return np.where(small, c, np.where(np.isfinite(w), w, 0.0))


def full_fc2(fc) -> np.ndarray:
    """(N, N, 3, 3) FC2 in the supercell order of ``fc.setup`` (phonopy's)."""
    from phonopy.harmonic.force_constants import compact_fc_to_full_fc
    from phonopy.structure.cells import Primitive, get_supercell

    s = fc.setup
    scell = get_supercell(s.unitcell.to_phonopy(), s.supercell_matrix)
    prim = Primitive(scell, np.linalg.inv(s.supercell_matrix) @ s.primitive_matrix)
    return compact_fc_to_full_fc(prim, fc.fc2)


def run_kaldo(python, fc, mesh, temperatures, gamma_const, workdir) -> dict:
    """kALDo qhgk κ (T, 3, 3) W/(m·K) with half width gamma_const (THz) for every mode."""
    from phonopy.file_IO import write_FORCE_CONSTANTS
    from phonopy.interface.vasp import write_vasp

    workdir = Path(workdir)
    folder = workdir / "kaldo"
    folder.mkdir(exist_ok=True)
    setup = fc.setup
    write_vasp(str(folder / "POSCAR"), fc.primitive.to_phonopy())
    write_FORCE_CONSTANTS(full_fc2(fc), str(folder / "FORCE_CONSTANTS"))
    params = {
        "folder": str(folder),
        "supercell": [int(x) for x in np.diag(setup.supercell_matrix)],
        "mesh": [int(m) for m in mesh],
        "temperatures": [float(t) for t in temperatures],
        "bandwidth": 2 * np.pi * gamma_const,
    }  # kALDo: angular half width, rad/ps
    (workdir / "kaldo.json").write_text(json.dumps(params))
    (workdir / "kaldo_driver.py").write_text(KALDO_DRIVER)
    timing = _run(
        [python, "kaldo_driver.py", "kaldo.json", "kaldo_out.json"],
        workdir,
        env={"TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    out = json.loads((workdir / "kaldo_out.json").read_text())
    return {
        "kappa": np.array(out["kappa"]),
        "frequency": np.array(out["frequency"]),
        "qpoints": np.array(out["q"]),
        "wall_s": timing["wall_s"],
        "peak_mib": timing["peak_mib"],
    }


def compare_kaldo(fc, mesh, temperatures, kaldo, gamma_const) -> dict:
    """ours re-weighted to QHGK (all pairs) vs kALDo's qhgk κ, constant half width."""
    from aiida_wigner.physics import harmonic
    from aiida_wigner.physics.mesh import QMesh

    qmesh = QMesh.build(fc.primitive, mesh)
    freqs = harmonic.solve(fc, kaldo["qpoints"]).frequencies
    gamma = np.full((len(temperatures), len(qmesh.ir_grid), freqs.shape[1]), gamma_const)
    terms, _, _ = our_terms(fc, mesh, temperatures, gamma, weight=qhgk_weight)
    seed, _, _ = our_terms(fc, mesh, temperatures, gamma)
    d = lambda k: np.diagonal(k, axis1=1, axis2=2)  # noqa: E731
    return {
        "kappa_ours_qhgk": d(terms.kappa),
        "kappa_kaldo": d(kaldo["kappa"]),
        "kappa_ours_seed": d(seed.kappa),
        "rel": np.abs(d(terms.kappa) / d(kaldo["kappa"]) - 1).max(),
        "frequency_max_diff": np.abs(np.sort(kaldo["frequency"], axis=1) - freqs).max(),
    }


# -- side by side ---------------------------------------------------------------------
def _ours_worker(path) -> None:
    """Subprocess body: our κ_C from a pickled (fc, mesh, temperatures, gamma, weight)."""
    fc, mesh, temps, gamma, weight = pickle.loads(Path(path).read_bytes())
    weight = {"qhgk": qhgk_weight, None: None}[weight]
    t0 = time.perf_counter()
    terms, _, _ = our_terms(fc, mesh, temps, gamma, weight=weight)
    wall = time.perf_counter() - t0
    Path(path).with_suffix(".json").write_text(
        json.dumps({"wall_s": wall, "kappa_C": terms.kappa_C.tolist()})
    )


def time_ours(fc, mesh, temps, gamma, workdir, weight=None) -> dict:
    """Our κ_C in its own process: wall time of the calculation, peak RSS of the process."""
    path = Path(workdir) / "ours.pkl"
    path.write_bytes(pickle.dumps((fc, tuple(mesh), tuple(temps), gamma, weight)))
    run = _run([sys.executable, str(Path(__file__).resolve()), "--ours-worker", str(path)], workdir)
    out = json.loads(path.with_suffix(".json").read_text())
    return {"wall_s": out["wall_s"], "peak_mib": run["peak_mib"]}


def _row(name, ours, ref, extra=""):
    for t, a, b in zip(TEMPERATURES, ours, ref, strict=False):
        print(
            f"  {name:<34s} T={t:5.0f} K  ours {a[0]:.7f}  peer {b[0]:.7f}  "
            f"rel {abs(a[0] / b[0] - 1):.1e}  (yy, zz rel {abs(a[1] / b[1] - 1):.1e}, "
            f"{abs(a[2] / b[2] - 1):.1e}) {extra}"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="cu3au", choices=["cu3au", "p1"])
    parser.add_argument(
        "--mesh",
        type=int,
        nargs=3,
        default=None,
        help="q-mesh (default 8 8 8 for cu3au, 6 6 6 for p1)",
    )
    parser.add_argument("--peers", nargs="+", default=["alamode", "phono3py", "kaldo"])
    parser.add_argument(
        "--kaldo-gamma",
        type=float,
        default=0.05,
        help="constant half width for the kALDo comparison, THz",
    )
    parser.add_argument("--ours-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ours_worker:
        _ours_worker(args.ours_worker)
        return 0
    mesh = tuple(args.mesh or ((8, 8, 8) if args.model == "cu3au" else (6, 6, 6)))
    fc = build_model(args.model)
    temps = TEMPERATURES
    print(f"model {args.model}, mesh {mesh}, T = {temps} K, load average {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        anphon = os.environ.get("ALAMODE_ANPHON")
        if "alamode" in args.peers and anphon and Path(anphon).is_file():
            gamma = our_gamma(fc, mesh, temps)
            al = run_anphon(anphon, fc, mesh, temps, gamma, tmp)
            ours_t = time_ours(fc, mesh, temps, gamma, tmp)
            label = "our γ_3ph+iso (σ=0.1)" if gamma is not None else "γ(ν,T) model"
            print(f"ALAMODE anphon KAPPA_COHERENT, {label}, pairs of different frequency:")
            for projected in [False, True] if args.model == "cu3au" else [False]:
                c = compare_alamode(fc, mesh, temps, al, gamma, projected=projected)
                name = "ours, anphon's projection" if projected else "ours"
                _row(
                    name,
                    c["kappa_C_ours"],
                    c["kappa_C_alamode"],
                    f"max per-block-pair |Δ|/max {c['pair_max_abs_over_max']:.1e}",
                )
            print(
                f"  anphon κ_C over all j≠j' (degenerate pairs too): "
                f"{np.round(al['kappa_C_all'][:, 0], 7).tolist()}"
            )
            print(
                f"  wall: ours {ours_t['wall_s']:.2f} s, anphon {al['wall_s']:.2f} s "
                f"(ratio {ours_t['wall_s'] / al['wall_s']:.2f}); peak RSS ours "
                f"{ours_t['peak_mib']:.0f} MiB, anphon {al['peak_mib']:.0f} MiB"
            )
        elif "alamode" in args.peers:
            print("ALAMODE: set ALAMODE_ANPHON to the anphon executable; skipped")
        if "phono3py" in args.peers and args.model == "cu3au":
            c = compare_phono3py(mesh, temps)
            print("phono3py SMM19 per pair × 4νν'/(ν+ν')², non-degenerate pairs, own γ:")
            _row("ours", c["kappa_C_ours"], c["kappa_C_reweighted_smm19"])
            print(
                f"  SMM19 weight on the same pairs: "
                f"{np.round(c['kappa_C_smm19_same_pairs'][:, 0], 7).tolist()}; SMM19 κ_C "
                f"(all j≠j'): {np.round(c['kappa_C_smm19_all_pairs'][:, 0], 7).tolist()}"
            )
            print(
                f"  wall (γ + κ): ours {c['wall_ours_s']:.1f} s, phono3py "
                f"{c['wall_ref_s']:.1f} s (ratio {c['wall_ours_s'] / c['wall_ref_s']:.2f})"
            )
        kaldo = os.environ.get("KALDO_PYTHON")
        if "kaldo" in args.peers and kaldo and Path(kaldo).is_file():
            g = args.kaldo_gamma
            kr = run_kaldo(kaldo, fc, mesh, temps, g, tmp)
            c = compare_kaldo(fc, mesh, temps, kr, g)
            from aiida_wigner.physics.mesh import QMesh

            n_ir = len(QMesh.build(fc.primitive, mesh).ir_grid)
            gamma = np.full((len(temps), n_ir, 3 * fc.setup.n_prim), g)
            ours_t = time_ours(fc, mesh, temps, gamma, tmp, weight="qhgk")
            print(
                f"kALDo qhgk, γ = {g} THz every mode, ours re-weighted to QHGK "
                f"(frequencies differ by ≤ {c['frequency_max_diff']:.1e} THz):"
            )
            _row("ours (QHGK weight), κ total", c["kappa_ours_qhgk"], c["kappa_kaldo"])
            print(
                f"  ours with the seed weight: {np.round(c['kappa_ours_seed'][:, 0], 7).tolist()}"
            )
            print(
                f"  wall: ours {ours_t['wall_s']:.2f} s, kALDo {kr['wall_s']:.1f} s (ratio "
                f"{ours_t['wall_s'] / kr['wall_s']:.3f}, kALDo includes TensorFlow start); "
                f"peak RSS ours {ours_t['peak_mib']:.0f} MiB, kALDo {kr['peak_mib']:.0f} MiB"
            )
        elif "kaldo" in args.peers:
            print("kALDo: set KALDO_PYTHON to the python of a venv with kaldo; skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

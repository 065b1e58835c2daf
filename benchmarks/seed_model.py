"""Seed-scale benchmark model: CsCu4Se3 (8 atoms, 24 branches) with synthetic force constants.

The structure is the shipped ``examples/cscu4se3/CsCu4Se3.cif`` (P4/mmm, a = 4.09 Å,
c = 10.07 Å) on the seed's 4×4×2 supercell (256 atoms).  The force constants are
*synthetic* (no fit, no force engine), built analytically and deterministically from the
geometry so that anyone regenerates the same numbers in seconds:

* FC2: central plus transverse springs between all pairs within ``FC2_CUTOFF`` (6 Å),
  k(r) = K2·exp(−(r − R0)/λ) along the bond and 0.15·k(r) across it.  The energy
  ½ Σ k (r̂·u_ij)² + ½ Σ k_t |u_ij,⊥|² is positive semidefinite: no imaginary modes;
  frequencies up to ≈ 7 THz (the seed's CsCu4Se3 reaches ≈ 6 THz).
* FC3: the third derivatives of two cubic polynomials in the displacements,
  pair terms κ(r)/6 (r̂_ij·u_ij)³ (κ = −K3·exp(−(r − R0)/λ)) and three-body terms
  c_ijk (r̂_ij·u_ij)(r̂_jk·u_jk)(r̂_ki·u_ki) (c = D3·exp(−(perimeter − 3R0)/λ)) for every
  atom triplet whose three distances are within ``FC3_CUTOFF``.  That is hiphive's
  cluster rule (all pair distances within the cut-off) with the seed's FC3 cut-off,
  8.46 Å, capped at what a 4×4×2 supercell holds (half its shortest lattice vector minus
  0.01 Å, 8.17 Å, the project's own guard): ≈ 10 % of the (8, 256, 256) atom triplets are
  non-zero, as with a real fit.  Both terms depend on distances and directions only, so
  the force constants have the crystal's symmetry, the index-permutation symmetry and
  the acoustic sum rule exactly (they are not rotationally invariant: irrelevant here).
* FC4 (optional): pair terms λ4(r)/24 (r̂_ij·u_ij)⁴ within ``FC4_CUTOFF`` (4.5 Å), as a
  sparse cluster list, for the four-phonon pair evaluator.

Units: Å, amu, eV/Å^n.  ``write_seed_model(directory)`` writes phono3py's own files
(``phono3py_params.yaml``, ``fc2.hdf5``, compact ``fc3.hdf5`` with ``p2s_map``), read by
phono3py and by ``aiida-wigner kappa --cell phono3py_params.yaml --fc2 ... --fc3 ...``:

    python benchmarks/seed_model.py OUTDIR
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CIF = HERE.parent / "examples" / "cscu4se3" / "CsCu4Se3.cif"
SUPERCELL = (4, 4, 2)

FC2_CUTOFF = 6.0  # Å
FC3_CUTOFF = 8.17  # Å (seed: 8.46 Å, capped at the 4×4×2 supercell's limit)
FC4_CUTOFF = 4.5  # Å
R0 = 2.5  # Å, the reference bond length of the exponentials
DECAY = 1.0  # Å
K2 = 2.0  # eV/Å²
K3 = 8.0  # eV/Å³
D3 = 1.5  # eV/Å³
K4 = 30.0  # eV/Å⁴


def seed_setup():
    """The SupercellSetup of the CIF on the 4×4×2 supercell."""
    from aiida_wigner.physics.cell import SupercellSetup
    from aiida_wigner.physics.io.structure import read_structure

    return SupercellSetup.build(read_structure(CIF), np.diag(SUPERCELL))


def _neighbours(setup, cutoff):
    """Per primitive atom a: supercell indices and Cartesian vectors r_a→j (Å) of every
    atom (any periodic image) with 0 < |r| ≤ cutoff.  The cut-off must be below half the
    supercell's shortest lattice vector, so that each supercell atom appears once."""
    prim, sc = setup.primitive, setup.supercell
    smat = setup.supercell_matrix
    half = 0.5 * np.linalg.norm(sc.lattice, axis=1).min()
    if cutoff >= half:
        raise ValueError(f"cut-off {cutoff} Å must be below {half:.3f} Å for this supercell")
    reach = np.ceil(cutoff / np.linalg.norm(prim.lattice, axis=1)).astype(int) + 1
    shifts = np.array(list(itertools.product(*(range(-r, r + 1) for r in reach))))
    frac = (prim.positions[None] + shifts[:, None]).reshape(-1, 3)  # (n_shift·n, 3)
    cart = frac @ prim.lattice
    # supercell index of each image: match fractional supercell coordinates
    sfrac = np.mod(frac @ prim.lattice @ np.linalg.inv(sc.lattice), 1.0)
    d = sfrac[:, None, :] - sc.positions[None]
    d -= np.rint(d)
    index = np.argmin(np.abs(d).sum(axis=2), axis=1)
    assert np.abs(d[np.arange(len(d)), index]).max() < 1e-8, smat
    out = []
    for a in range(len(prim)):
        vec = cart - prim.positions[a] @ prim.lattice
        r = np.linalg.norm(vec, axis=1)
        keep = (r > 1e-8) & (r <= cutoff)
        out.append((index[keep], vec[keep]))
    return out


def _radial(r, amplitude):
    return amplitude * np.exp(-(r - R0) / DECAY)


def seed_fc2(setup, cutoff: float = FC2_CUTOFF):
    """Compact FC2 (n, N, 3, 3) in eV/Å² (8, 256 for the seed model); any ``setup``."""
    fc2 = np.zeros((setup.n_prim, setup.n_super, 3, 3))
    for a, (j, vec) in enumerate(_neighbours(setup, cutoff)):
        r = np.linalg.norm(vec, axis=1)
        u = vec / r[:, None]
        k = _radial(r, K2)
        rr = u[:, :, None] * u[:, None, :]
        block = k[:, None, None] * (rr + 0.15 * (np.eye(3) - rr))
        np.add.at(fc2, (a, j), -block)
        fc2[a, setup.p2s[a]] += block.sum(axis=0)
    return fc2


def seed_fc3(setup, cutoff: float = FC3_CUTOFF):
    """Compact FC3 (n, N, N, 3, 3, 3) in eV/Å³ (module docstring); any ``setup``."""
    fc3 = np.zeros((setup.n_prim, setup.n_super, setup.n_super, 3, 3, 3))
    for a, (j, vec) in enumerate(_neighbours(setup, cutoff)):
        home = setup.p2s[a]
        r = np.linalg.norm(vec, axis=1)
        u = vec / r[:, None]
        # pair terms: L = r̂·(u_j − u_a), coefficients −r̂ on a, +r̂ on j
        kap = -_radial(r, K3)
        coef = [-u, u]  # slots a, j
        atoms = [np.full(len(j), home), j]
        for s2, s3 in itertools.product(range(2), repeat=2):
            t = kap[:, None, None, None] * np.einsum("ti,tj,tk->tijk", -u, coef[s2], coef[s3])
            np.add.at(fc3, (a, atoms[s2], atoms[s3]), t)
        # three-body terms {a, j, k}, j < k, all three distances within the cut-off
        p, q = np.triu_indices(len(j), 1)
        djk = vec[q] - vec[p]
        rjk = np.linalg.norm(djk, axis=1)
        keep = rjk <= cutoff
        p, q, djk, rjk = p[keep], q[keep], djk[keep], rjk[keep]
        c = _radial(r[p] + r[q] + rjk - 2.0 * R0, D3)
        uaj, ujk, uka = u[p], djk / rjk[:, None], -u[q]
        zero = np.zeros_like(uaj)
        # A_m[slot] for L1 = r̂_aj·(u_j − u_a), L2 = r̂_jk·(u_k − u_j), L3 = r̂_ka·(u_a − u_k)
        forms = [(-uaj, uaj, zero), (zero, -ujk, ujk), (uka, zero, -uka)]
        atoms = [np.full(len(p), home), j[p], j[q]]
        for s2, s3 in itertools.product(range(3), repeat=2):
            t = np.zeros((len(p), 3, 3, 3))
            for f1, f2, f3 in itertools.permutations(range(3)):
                t += np.einsum("ti,tj,tk->tijk", forms[f1][0], forms[f2][s2], forms[f3][s3])
            np.add.at(fc3, (a, atoms[s2], atoms[s3]), c[:, None, None, None] * t)
    return fc3


def seed_fc4(setup, cutoff: float = FC4_CUTOFF):
    """Sparse FC4 (pair terms within ``cutoff``) in eV/Å⁴; any ``setup``."""
    from aiida_wigner.physics.forceconstants import SparseForceConstants

    atoms, values = [], []
    for a, (j, vec) in enumerate(_neighbours(setup, cutoff)):
        r = np.linalg.norm(vec, axis=1)
        u = vec / r[:, None]
        lam = _radial(r, K4)
        coef = [-u, u]
        slots = [np.full(len(j), setup.p2s[a]), j]
        for s in itertools.product(range(2), repeat=3):
            atoms.append(np.stack([slots[0]] + [slots[k] for k in s], axis=1))
            values.append(
                lam[:, None, None, None, None]
                * np.einsum("ti,tj,tk,tl->tijkl", -u, coef[s[0]], coef[s[1]], coef[s[2]])
            )
    return SparseForceConstants(4, np.concatenate(atoms), np.concatenate(values))


def seed_force_constants(fc4: bool = False):
    """ForceConstants of the seed-scale model (FC2, FC3 and optionally FC4)."""
    from aiida_wigner.physics.forceconstants import ForceConstants

    setup = seed_setup()
    return ForceConstants(
        setup,
        seed_fc2(setup),
        seed_fc3(setup),
        seed_fc4(setup) if fc4 else None,
        source={"format": "synthetic (benchmarks/seed_model.py)"},
    )


def write_seed_model(directory) -> dict:
    """Write phono3py_params.yaml, fc2.hdf5 and compact fc3.hdf5; return their paths."""
    from phono3py import Phono3py

    from aiida_wigner.physics.io.phonopy_format import write_fc2_hdf5, write_fc3_hdf5

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    setup = seed_setup()
    paths = {
        "cell": directory / "phono3py_params.yaml",
        "fc2": directory / "fc2.hdf5",
        "fc3": directory / "fc3.hdf5",
    }
    ph3 = Phono3py(
        setup.unitcell.to_phonopy(),
        supercell_matrix=setup.supercell_matrix,
        primitive_matrix=np.eye(3),
        log_level=0,
    )
    ph3.save(str(paths["cell"]), settings={"force_sets": False, "displacements": False})
    write_fc2_hdf5(paths["fc2"], seed_fc2(setup), setup.p2s)
    write_fc3_hdf5(paths["fc3"], seed_fc3(setup), setup.p2s, compression=None)
    return paths


if __name__ == "__main__":
    for name, path in write_seed_model(sys.argv[1] if len(sys.argv) > 1 else "seed_model").items():
        print(f"{name}: {path}")

"""Small crystals with physically meaningful force constants, made inside the tests.

L1₂ Cu₃Au with ASE's EMT calculator: FC2 and FC3 by finite displacements through
phono3py (a test-only reference dependency), cached per session on disk; a pair FC4 of
Morse bonds (``pair_fc4``) for the SCP tests.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

A_CU3AU = 3.75
CU3AU_POSITIONS = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
CU3AU_NUMBERS = [79, 29, 29, 29]


def cu3au_unitcell():
    from aiida_wigner.physics.cell import Cell

    return Cell(np.eye(3) * A_CU3AU, CU3AU_POSITIONS, CU3AU_NUMBERS)


@functools.cache
def cu3au_phono3py(supercell=(2, 2, 2), displacement=0.03):
    """A phono3py object for Cu₃Au with EMT FC2 and FC3 produced (symmetrized)."""
    from ase.calculators.emt import EMT
    from phono3py import Phono3py

    unit = cu3au_unitcell()
    ph3 = Phono3py(
        unit.to_phonopy(),
        supercell_matrix=np.diag(supercell),
        primitive_matrix=np.eye(3),
        log_level=0,
    )
    ph3.generate_displacements(distance=displacement)
    calc = EMT()
    forces = []
    for sc in ph3.supercells_with_displacements:
        atoms = _to_ase(sc)
        atoms.calc = calc
        forces.append(atoms.get_forces())
    ph3.forces = np.array(forces)
    ph3.produce_fc3(symmetrize_fc3r=True)
    ph3.produce_fc2(symmetrize_fc2=True)
    return ph3


def _to_ase(sc):
    from ase import Atoms

    return Atoms(numbers=sc.numbers, cell=sc.cell, scaled_positions=sc.scaled_positions, pbc=True)


def cu3au_force_constants(supercell=(2, 2, 2)):
    """Our ForceConstants for the same Cu₃Au model (compact arrays from phono3py)."""
    from aiida_wigner.physics.cell import SupercellSetup
    from aiida_wigner.physics.forceconstants import ForceConstants

    ph3 = cu3au_phono3py(tuple(supercell))
    setup = SupercellSetup.build(cu3au_unitcell(), np.diag(supercell))
    return ForceConstants(setup, ph3.fc2, ph3.fc3, source={"format": "phono3py (test)"})


def write_cu3au_files(directory: Path, supercell=(2, 2, 2)) -> dict:
    """Write phono3py_params.yaml, fc2.hdf5, fc3.hdf5 for the CLI tests; return paths."""
    from phono3py.file_IO import write_fc2_to_hdf5, write_fc3_to_hdf5

    ph3 = cu3au_phono3py(tuple(supercell))
    directory = Path(directory)
    paths = {
        "cell": directory / "phono3py_params.yaml",
        "fc2": directory / "fc2.hdf5",
        "fc3": directory / "fc3.hdf5",
    }
    ph3.save(str(paths["cell"]), settings={"force_sets": False, "displacements": False})
    write_fc2_to_hdf5(ph3.fc2, filename=str(paths["fc2"]))
    write_fc3_to_hdf5(ph3.fc3, filename=str(paths["fc3"]))
    return paths


def cu3au_phono3py_conductivity(mesh, temperatures, sigma):
    """phono3py's RTA + SMM19 Wigner conductivity of the Cu₃Au model (isotopes on,
    make_r0_average=False: the periodic-image convention of aiida-wigner)."""
    from phono3py import Phono3py

    ph3 = cu3au_phono3py()
    p = Phono3py(
        cu3au_unitcell().to_phonopy(),
        supercell_matrix=np.diag([2, 2, 2]),
        primitive_matrix=np.eye(3),
        make_r0_average=False,
        log_level=0,
    )
    p.mesh_numbers = mesh
    p.fc2, p.fc3 = ph3.fc2, ph3.fc3
    p.sigmas = [sigma]
    p.init_phph_interaction()
    p.run_thermal_conductivity(temperatures=temperatures, is_isotope=True, transport_type="SMM19")
    return p.thermal_conductivity


def morse_derivatives(r, depth=0.3, alpha=1.5, r0=2.652):
    """φ', φ'', φ''', φ'''' of a Morse pair potential (eV/Å^n)."""
    x = np.exp(-alpha * (r - r0))
    return (
        depth * (-2 * alpha * x**2 + 2 * alpha * x),
        depth * (4 * alpha**2 * x**2 - 2 * alpha**2 * x),
        depth * (-8 * alpha**3 * x**2 + 2 * alpha**3 * x),
        depth * (16 * alpha**4 * x**2 - 2 * alpha**4 * x),
    )


def radial_tensor4(rvec, d1, d2, d3, d4):
    """∂⁴φ(|r|)/∂r_α∂r_β∂r_γ∂r_δ for a radial function (analytic, via s = r²/2)."""
    r = np.linalg.norm(rvec)
    g2 = d2 / r**2 - d1 / r**3
    g3 = d3 / r**3 - 3 * d2 / r**4 + 3 * d1 / r**5
    g4 = d4 / r**4 - 6 * d3 / r**5 + 15 * d2 / r**6 - 15 * d1 / r**7
    e = np.eye(3)
    rr = np.einsum("a,b->ab", rvec, rvec)
    t = g2 * (
        np.einsum("ab,cd->abcd", e, e)
        + np.einsum("ac,bd->abcd", e, e)
        + np.einsum("ad,bc->abcd", e, e)
    )
    t += g3 * (
        np.einsum("ab,cd->abcd", e, rr)
        + np.einsum("ac,bd->abcd", e, rr)
        + np.einsum("ad,bc->abcd", e, rr)
        + np.einsum("bc,ad->abcd", e, rr)
        + np.einsum("bd,ac->abcd", e, rr)
        + np.einsum("cd,ab->abcd", e, rr)
    )
    t += g4 * np.einsum("a,b,c,d->abcd", rvec, rvec, rvec, rvec)
    return t


def pair_fc4(setup, cutoff=3.0, scale=1.0, r0_factor=None, **morse):
    """Sparse compact FC4 of Morse bonds between all pairs closer than ``cutoff`` Å.

    With ``r0_factor`` every bond gets its own equilibrium length r0 = factor × distance.
    """
    i, j, vectors, weights = setup.pair_images()
    cart = vectors @ setup.primitive.lattice
    dist = np.linalg.norm(cart, axis=1)
    atoms, values = [], []
    for ii, jj, rv, d in zip(i, j, cart, dist, strict=True):
        if d < 1e-8 or d > cutoff:
            continue
        if r0_factor is not None:
            morse = dict(morse, r0=r0_factor * d)
        t4 = scale * radial_tensor4(rv, *morse_derivatives(d, **morse))
        p = setup.p2s[ii]
        for a in (p, jj):
            for b in (p, jj):
                for c in (p, jj):
                    sign = np.prod([-1 if x == p else 1 for x in (a, b, c)]) * -1
                    atoms.append((p, a, b, c))
                    values.append(sign * t4)
    from aiida_wigner.physics.forceconstants import SparseForceConstants

    return SparseForceConstants(4, np.array(atoms), np.array(values))

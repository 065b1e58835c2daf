"""Small crystals with physically meaningful force constants, made inside the tests.

L1₂ Cu₃Au with ASE's EMT calculator: FC2 and FC3 by finite displacements through
phono3py (a test-only reference dependency), cached per session on disk.
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

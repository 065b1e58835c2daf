"""aiida-phonopy's data types in the harmonic step, and aiida-phonopy nodes as harmonic input.

Cu₃Au (L1₂, a = 3.75 Å, tests/reference_models.py) with EMT in a 2x2x2 supercell: phonopy
needs two displacements, so every workflow here takes seconds.  The independent reference is
phonopy itself driven by hand (displacements, ASE EMT forces, ``produce_force_constants``,
``symmetrize_force_constants``), with no aiida-wigner or AiiDA in between.
"""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from aiida_phonopy.data import ForceConstantsData as PhonopyForceConstantsData
from aiida_phonopy.data import PhonopyData, PreProcessData

from aiida_wigner.calculations.phonopy_nodes import force_constants_from_node
from aiida_wigner.data.force_constants import ForceConstantsData
from aiida_wigner.exit_codes import status
from aiida_wigner.workflows.force_constants import ForceConstantsWorkChain, HarmonicWorkChain

SUPERCELL = [2, 2, 2]
#: FC2 (max |FC2| 7.6 eV/Å²) of two routes from the same force array: phonopy's same
#: arithmetic, 3e-15 eV/Å² measured (this file, HarmonicWorkChain vs its
#: PhonopyData through get_phonopy_instance); 1e-12 leaves room for BLAS order only.
SAME_FORCES_ATOL = 1e-12
#: routes whose supercells and EMT forces are computed separately (phonopy by hand, a user's
#: aiida-phonopy workflow): forces agree to ~3e-13 eV/Å round-off, amplified by 1/(0.01 Å) to
#: 3e-11 eV/Å² measured (0 for the user route); a wrong force, sign or atom order is > 1e-3.
FC2_ATOL = 1e-10

#: the smallest sampling and fit the ForceConstantsWorkChain runs (the tests check its
#: harmonic input, not the fit): 4 snapshots, FC3 to the nearest neighbours (2.65 Å)
SAMPLING = {
    "md": {
        "temperature": 300.0,
        "timestep": 2.0,
        "n_steps": 24,
        "interval": 2,
        "thermostat": "nose-hoover",
        "seed": 1,
    },
    "n_snapshots": 4,
    "discard_steps": 8,
    "amplitude": 0.05,
    "seed": 2,
}
FIT = {
    "cutoffs": {"2": 2.8, "3": 2.8},
    "method": "least-squares",
    "harmonic": "fixed",
    "validation": {"method": "k-fold", "n_splits": 3},
}


def emt():
    return {"calculator": orm.Dict({"name": "emt"})}


def emt_forces(atoms_list):
    from ase.calculators.emt import EMT

    out = []
    for atoms in atoms_list:
        atoms.calc = EMT()
        out.append(atoms.get_forces())
    return np.array(out)


@pytest.fixture(scope="module")
def cu3au():
    from reference_models import cu3au_unitcell

    return orm.StructureData(ase=cu3au_unitcell().to_ase()).store()


@pytest.fixture(scope="module")
def harmonic(cu3au):
    """Our HarmonicWorkChain on Cu₃Au with EMT."""
    results, node = run_get_node(
        HarmonicWorkChain,
        engine=emt(),
        structure=cu3au,
        supercell_matrix=orm.List(SUPERCELL),
        parameters=orm.Dict({"distance": 0.01}),
    )
    assert node.is_finished_ok, node.exit_message
    return results, node


@pytest.fixture(scope="module")
def user_phonopy_data(cu3au):
    """A PhonopyData made the way an aiida-phonopy user makes one, forces from ASE's EMT."""
    from aiida_phonopy.calculations.functions.link_structures import phonopy_atoms_to_structure

    pre = PreProcessData.generate_preprocess_data(cu3au, supercell_matrix=orm.List(SUPERCELL))
    supercells = pre.calcfunctions.get_supercells_with_displacements()
    forces = emt_forces([supercells[k].get_ase() for k in sorted(supercells)])
    kwargs = {}
    for key, f in zip(sorted(supercells), forces, strict=True):
        arr = orm.ArrayData()
        arr.set_array("forces", f)
        kwargs[key.replace("supercell", "forces")] = arr
    ideal = phonopy_atoms_to_structure(pre.get_phonopy_instance().supercell)
    residual = orm.ArrayData()
    residual.set_array("forces", emt_forces([ideal.get_ase()])[0])
    return pre.calcfunctions.generate_phonopy_data(forces_0=residual, **kwargs)


def phonopy_by_hand_fc2(structure):
    """FC2 (N, N, 3, 3) eV/Å² by phonopy directly, residual forces subtracted."""
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    atoms = structure.get_ase()
    ph = Phonopy(
        PhonopyAtoms(
            cell=atoms.cell.array,
            scaled_positions=atoms.get_scaled_positions(),
            numbers=atoms.numbers,
        ),
        supercell_matrix=np.diag(SUPERCELL),
    )
    ph.generate_displacements(distance=0.01)

    def to_ase(cell):
        from ase import Atoms

        return Atoms(numbers=cell.numbers, cell=cell.cell, positions=cell.positions, pbc=True)

    residual = emt_forces([to_ase(ph.supercell)])[0]
    ph.forces = emt_forces([to_ase(s) for s in ph.supercells_with_displacements]) - residual
    ph.produce_force_constants()
    ph.symmetrize_force_constants()
    return np.asarray(ph.force_constants)


def test_harmonic_step_stores_aiida_phonopy_nodes(cu3au, harmonic):
    """PreProcessData/PhonopyData outputs; phonopy's FC2 from the PhonopyData is ours and
    phonopy's by hand; the supercells computed are aiida-phonopy's, atom by atom."""
    results, node = harmonic
    pre, data = results["preprocess_data"], results["phonopy_data"]
    assert type(pre) is PreProcessData and type(data) is PhonopyData
    np.testing.assert_array_equal(pre.supercell_matrix, np.diag(SUPERCELL))
    np.testing.assert_array_equal(pre.primitive_matrix, np.eye(3))
    assert len(pre.displacements) == 2  # Au and Cu, one direction each in L1₂
    assert data.forces.shape == (2, 32, 3) and data.residual_forces.shape == (32, 3)

    ours = results["force_constants"].get_force_constants().full_fc2()
    ph = data.get_phonopy_instance(subtract_residual_forces=True)
    ph.produce_force_constants()
    ph.symmetrize_force_constants()
    assert np.abs(ph.force_constants).max() > 1.0  # eV/Å²: a real FC2, not zeros
    np.testing.assert_allclose(ph.force_constants, ours, rtol=0, atol=SAME_FORCES_ATOL)
    np.testing.assert_allclose(phonopy_by_hand_fc2(cu3au), ours, rtol=0, atol=FC2_ATOL)

    # the displaced supercells the engine saw are aiida-phonopy's own, in the same order
    gen = next(c for c in node.called if c.process_label == "generate_harmonic_displacements")
    theirs = pre.get_supercells_with_displacements()
    for i, key in enumerate(sorted(theirs)):
        np.testing.assert_allclose(
            gen.outputs[f"supercell_{i:04d}"].get_ase().positions,
            theirs[key].get_ase().positions,
            rtol=0,
            atol=1e-12,
        )
    # provenance: PhonopyData -> FC2 by a calcfunction
    creator = results["force_constants"].creator
    assert creator.inputs.node.uuid == data.uuid


def run_with_harmonic_node(structure, harmonic_node, supercell=SUPERCELL):
    """ForceConstantsWorkChain without relaxation, ``harmonic_node`` as harmonic input."""
    builder = ForceConstantsWorkChain.get_builder()
    builder.engine = emt()
    builder.structure = structure
    builder.supercell_matrix = orm.List(supercell)
    builder.run_relax = orm.Bool(False)
    builder.harmonic_phonopy = harmonic_node
    builder.sampling.md = orm.Dict(SAMPLING["md"])
    builder.sampling.parameters = orm.Dict({k: v for k, v in SAMPLING.items() if k != "md"})
    builder.fit.parameters = orm.Dict(FIT)
    return run_get_node(builder)


def test_user_phonopy_data_skips_harmonic_step(cu3au, harmonic, user_phonopy_data):
    """A user's PhonopyData replaces our harmonic step and gives the same FC2."""
    results, node = run_with_harmonic_node(cu3au, user_phonopy_data)
    assert node.is_finished_ok, node.exit_message
    assert not [c for c in node.called if c.process_label == "HarmonicWorkChain"]
    fc2 = results["harmonic_force_constants"].get_force_constants().full_fc2()
    ours = harmonic[0]["force_constants"].get_force_constants().full_fc2()
    np.testing.assert_allclose(fc2, ours, rtol=0, atol=FC2_ATOL)
    # harmonic 'fixed': the fitted model keeps the given FC2
    np.testing.assert_array_equal(
        results["force_constants"].get_force_constants().fc2,
        results["harmonic_force_constants"].get_force_constants().fc2,
    )
    assert results["harmonic_force_constants"].creator.inputs.node.uuid == user_phonopy_data.uuid


def _strained(structure, factor):
    atoms = structure.get_ase()
    atoms.set_cell(atoms.cell * factor, scale_atoms=True)
    return orm.StructureData(ase=atoms)


def _reordered(structure):
    return orm.StructureData(ase=structure.get_ase()[[1, 2, 3, 0]])


@pytest.mark.parametrize(
    "case, expected",
    [
        ("strained", "lattice vectors differ"),
        ("reordered", "same atoms in another order"),
        ("supercell", "supercell matrix"),
    ],
)
def test_mismatched_node_exit_code(cu3au, user_phonopy_data, case, expected):
    structure = {
        "strained": lambda: _strained(cu3au, 1.01),
        "reordered": lambda: _reordered(cu3au),
    }.get(case, lambda: cu3au)()
    _, node = run_with_harmonic_node(
        structure, user_phonopy_data, [3, 3, 3] if case == "supercell" else SUPERCELL
    )
    assert node.exit_status == status("ERROR_HARMONIC_MISMATCH")
    assert expected in node.exit_message and "get_unitcell()" in node.exit_message
    # stopped at the check, before any engine work
    assert [c.process_label for c in node.called] == ["phonopy_force_constants"]


@pytest.fixture(scope="module")
def phonopy_fc_node(harmonic, user_phonopy_data):
    """aiida-phonopy's ForceConstantsData holding our compact FC2 (n_prim, N, 3, 3)."""
    node = PhonopyForceConstantsData(
        structure=user_phonopy_data.get_unitcell(),
        supercell_matrix=SUPERCELL,
        primitive_matrix=np.eye(3),
    )
    node.set_force_constants(harmonic[0]["force_constants"].get_force_constants().fc2)
    return node.store()


def test_force_constants_from_node(harmonic, user_phonopy_data, phonopy_fc_node):
    """The CLI converter: our node as is, aiida-phonopy nodes through a linked calcfunction."""
    ours = harmonic[0]["force_constants"]
    assert force_constants_from_node(ours) is ours
    expected = ours.get_force_constants().full_fc2()

    from_data = force_constants_from_node(user_phonopy_data)
    assert isinstance(from_data, ForceConstantsData)
    assert from_data.creator.inputs.node.uuid == user_phonopy_data.uuid
    np.testing.assert_allclose(
        from_data.get_force_constants().full_fc2(), expected, rtol=0, atol=FC2_ATOL
    )

    out = force_constants_from_node(phonopy_fc_node)
    np.testing.assert_array_equal(out.get_force_constants().full_fc2(), expected)
    assert out.get_force_constants().source["method"] == "aiida-phonopy ForceConstantsData"
    # its harmonic dataset: phonopy's displacements with the forces of that FC2
    hd = out.creator.outputs.harmonic_dataset
    u = hd.get_array("displacements")
    np.testing.assert_allclose(
        hd.get_array("forces"), -np.einsum("ijab,mjb->mia", expected, u), rtol=0, atol=1e-14
    )

    with pytest.raises(ValueError, match="has no forces"):
        force_constants_from_node(PhonopyData(preprocess_data=user_phonopy_data).store())
    with pytest.raises(ValueError, match="is a Dict"):
        force_constants_from_node(orm.Dict({"a": 1}).store())


def test_phonopy_data_without_forces_exit_code(cu3au, user_phonopy_data):
    _, node = run_with_harmonic_node(cu3au, PhonopyData(preprocess_data=user_phonopy_data).store())
    assert node.exit_status == status("ERROR_INVALID_INPUT")
    assert "has no forces" in node.exit_message


def test_phonopy_force_constants_node_as_harmonic_input(cu3au, harmonic, phonopy_fc_node):
    """An FC2-only aiida-phonopy node also replaces the harmonic step (the fit's harmonic
    dataset is then the forces of that FC2 on phonopy's displacements)."""
    results, node = run_with_harmonic_node(cu3au, phonopy_fc_node)
    assert node.is_finished_ok, node.exit_message
    np.testing.assert_array_equal(
        results["harmonic_force_constants"].get_force_constants().fc2,
        harmonic[0]["force_constants"].get_force_constants().fc2,
    )
    np.testing.assert_array_equal(
        results["force_constants"].get_force_constants().fc2,
        results["harmonic_force_constants"].get_force_constants().fc2,
    )

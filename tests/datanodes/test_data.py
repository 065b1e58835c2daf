"""ForceConstantsData: storage round trip and archive export/import."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.common.exceptions import ValidationError
from aiida.engine import calcfunction

from aiida_wigner.data.force_constants import FILENAME, ForceConstantsData


def assert_same_force_constants(a, b):
    """Bit-for-bit equality of two ``ForceConstants`` (cells, matrices, all orders)."""
    for name in ("lattice", "positions", "numbers", "masses"):
        np.testing.assert_array_equal(
            getattr(a.setup.unitcell, name), getattr(b.setup.unitcell, name)
        )
        np.testing.assert_array_equal(getattr(a.supercell, name), getattr(b.supercell, name))
        np.testing.assert_array_equal(getattr(a.primitive, name), getattr(b.primitive, name))
    np.testing.assert_array_equal(a.setup.supercell_matrix, b.setup.supercell_matrix)
    np.testing.assert_array_equal(a.setup.primitive_matrix, b.setup.primitive_matrix)
    np.testing.assert_array_equal(a.setup.p2s, b.setup.p2s)
    np.testing.assert_array_equal(a.fc2, b.fc2)
    assert (a.fc3 is None) == (b.fc3 is None)
    if a.fc3 is not None:
        np.testing.assert_array_equal(a.dense_fc3(), b.dense_fc3())
    assert (a.fc4 is None) == (b.fc4 is None)
    if a.fc4 is not None:
        np.testing.assert_array_equal(a.fc4.atoms, b.fc4.atoms)
        np.testing.assert_array_equal(a.fc4.values, b.fc4.values)
    assert a.orders == b.orders


def test_round_trip_store_load(aiida_profile, cu3au_fc4):
    node = ForceConstantsData.from_force_constants(cu3au_fc4)
    unstored = node.get_force_constants()  # readable before storing, too
    assert_same_force_constants(cu3au_fc4, unstored)

    node.store()
    loaded = orm.load_node(node.uuid)
    assert isinstance(loaded, ForceConstantsData)
    assert loaded.base.repository.list_object_names() == [FILENAME]
    fc = loaded.get_force_constants()
    assert_same_force_constants(cu3au_fc4, fc)
    assert fc.source == cu3au_fc4.source

    attrs = loaded.base.attributes.all
    assert attrs["n_atoms_primitive"] == 4
    assert attrs["n_atoms_supercell"] == 32
    assert attrs["supercell_matrix"] == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    assert attrs["primitive_matrix"] == np.eye(3).tolist()
    assert attrs["orders"] == [2, 3, 4]
    assert attrs["units"] == "eV/Angstrom^n"
    assert attrs["formula"] == "AuCu3"
    assert attrs["source"]["fc4"] == "synthetic"
    assert loaded.orders == [2, 3, 4] and loaded.formula == "AuCu3"


def test_harmonic_only_and_custom_masses(aiida_profile, cu3au_fc):
    from aiida_wigner.physics.forceconstants import ForceConstants

    fc = ForceConstants(cu3au_fc.setup, cu3au_fc.fc2).with_masses([197.0, 63.0, 65.0, 63.5])
    node = ForceConstantsData(force_constants=fc).store()
    back = orm.load_node(node.pk).get_force_constants()
    assert back.fc3 is None and back.fc4 is None
    assert node.base.attributes.get("orders") == [2]
    np.testing.assert_array_equal(back.primitive.masses, fc.primitive.masses)
    assert_same_force_constants(fc, back)


def test_structure_output(aiida_profile, cu3au_fc):
    node = ForceConstantsData.from_force_constants(cu3au_fc)
    structure = node.get_structure()
    assert isinstance(structure, orm.StructureData)
    assert structure.get_formula() == "AuCu3"
    np.testing.assert_allclose(structure.cell, cu3au_fc.setup.unitcell.lattice)
    assert len(node.get_structure("supercell").sites) == 32
    with pytest.raises(ValueError, match="which must be"):
        node.get_structure("conventional")


def test_empty_node_cannot_be_stored(aiida_profile):
    with pytest.raises(ValidationError, match="force_constants.h5"):
        ForceConstantsData().store()
    with pytest.raises(TypeError, match="ForceConstants"):
        ForceConstantsData(force_constants=np.zeros((4, 32, 3, 3)))


@calcfunction
def _scale_fc(force_constants: ForceConstantsData, factor: orm.Float) -> ForceConstantsData:
    """A test-only calcfunction producing a new force-constant node (builds a small graph)."""
    from aiida_wigner.physics.forceconstants import ForceConstants

    fc = force_constants.get_force_constants()
    f = factor.value
    return ForceConstantsData(
        force_constants=ForceConstants(
            fc.setup, fc.fc2 * f, None if fc.fc3 is None else fc.dense_fc3() * f, fc.fc4, fc.source
        )
    )


def test_archive_round_trip(aiida_profile_clean, cu3au_fc4, tmp_path):
    """Export a small provenance graph, wipe the profile, import: nothing is lost."""
    from aiida.tools.archive import create_archive, import_archive

    node = ForceConstantsData.from_force_constants(cu3au_fc4).store()
    scaled, process = _scale_fc.run_get_node(node, orm.Float(2.0))
    uuids = {n.uuid for n in (node, scaled, process, process.inputs.factor)}
    before = orm.QueryBuilder().append(orm.Node).count()
    assert before == 4
    # Python objects of the old storage are unusable after the reset: keep plain values.
    node_uuid, scaled_uuid, process_uuid = node.uuid, scaled.uuid, process.uuid
    node_attributes = node.base.attributes.all

    archive = tmp_path / "fc.aiida"
    create_archive([process], filename=archive)
    aiida_profile_clean.reset_storage()
    assert orm.QueryBuilder().append(orm.Node).count() == 0

    import_archive(archive)
    assert orm.QueryBuilder().append(orm.Node).count() == before
    assert {n.uuid for n in orm.QueryBuilder().append(orm.Node).all(flat=True)} == uuids

    imported = orm.load_node(node_uuid)
    assert_same_force_constants(cu3au_fc4, imported.get_force_constants())
    assert imported.base.attributes.all == node_attributes
    imported_process = orm.load_node(process_uuid)
    assert imported_process.inputs.force_constants.uuid == node_uuid
    assert imported_process.outputs.result.uuid == scaled_uuid
    np.testing.assert_array_equal(
        orm.load_node(scaled_uuid).get_force_constants().dense_fc3(), 2.0 * cu3au_fc4.dense_fc3()
    )

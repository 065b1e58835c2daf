"""ForceConstantsData storage: compressed datasets, bit-for-bit round trip, one node per model.

The FC3 here is the seed's shape in miniature: L1₂ Cu₃Au in a 4×4×2 supercell (128 atoms,
compact FC3 (4, 128, 128, 3, 3, 3) = 14.2 MB dense) with seeded random values on every
(primitive atom, j, k) triple whose three distances are within 4.6 Å (hiphive's cluster
rule), zeros elsewhere, a few −0.0 and subnormal entries (bits the round trip must keep).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from aiida import orm

from aiida_wigner.data.force_constants import FILENAME, ForceConstantsData, content_hash

CUTOFF = 4.6  # Å: ~10 % of the (p, j, k) triples non-zero, like a fit's FC3 cut-off


@pytest.fixture(scope="module")
def fc_442(cu3au_fc):
    from aiida_wigner.physics.cell import SupercellSetup
    from aiida_wigner.physics.forceconstants import ForceConstants

    setup = SupercellSetup.build(cu3au_fc.setup.unitcell, (4, 4, 2))
    sc = setup.supercell
    cart = sc.positions @ sc.lattice
    frac = sc.positions[None] - sc.positions[:, None]  # minimum-image distances (orthogonal cell)
    frac -= np.round(frac)
    dist = np.linalg.norm(frac @ sc.lattice, axis=-1)
    near = dist[setup.p2s] <= CUTOFF  # (n_prim, N)
    triples = near[:, :, None] & near[:, None, :] & (dist[None] <= CUTOFF)
    rng = np.random.default_rng(3)
    fc3 = np.where(triples[..., None, None, None], rng.normal(size=triples.shape + (3, 3, 3)), 0.0)
    fc3[0, 1, 2, 0, 0, 0] = -0.0
    fc3[0, 1, 2, 0, 0, 1] = 5e-324
    assert cart.shape == (128, 3)
    return ForceConstants(setup, np.zeros((4, 128, 3, 3)), fc3, None, {"fc3": "synthetic"})


def _bits(a):
    return np.ascontiguousarray(a).view(np.uint64)


def test_fc3_round_trip_bit_for_bit_and_compressed(aiida_profile, fc_442):
    node = ForceConstantsData.from_force_constants(fc_442).store()
    back = orm.load_node(node.pk).get_force_constants()
    np.testing.assert_array_equal(
        _bits(back.dense_fc3()), _bits(fc_442.dense_fc3())
    )  # −0.0, subnormal kept
    np.testing.assert_array_equal(_bits(back.fc2), _bits(fc_442.fc2))
    with node.base.repository.open(FILENAME, mode="rb") as handle:
        data = handle.read()
    with node.base.repository.open(FILENAME, mode="rb") as handle, h5py.File(handle) as h5:
        assert h5["fc3"].compression == "gzip" and h5["fc3"].shuffle
    dense = fc_442.dense_fc3().nbytes
    nonzero = 8 * np.count_nonzero(fc_442.dense_fc3())
    # measured: 14.16 MB dense, 0.698 MB of non-zero values (4.9 %), file 0.755 MB (18.7x
    # smaller; random normals keep most of their 8 bytes under shuffle+gzip, the zeros cost
    # almost nothing).  h5py's automatic chunks gave 1.45 MB, no compression 14.16 MB.
    assert nonzero < 0.1 * dense
    assert len(data) < 1.15 * nonzero


def test_content_hash_ignores_source_and_sees_one_bit(fc_442):
    from aiida_wigner.physics.forceconstants import ForceConstants

    same = ForceConstants(
        fc_442.setup, fc_442.fc2, fc_442.dense_fc3().copy(), None, {"fc3": "other.hdf5"}
    )
    assert content_hash(same) == content_hash(fc_442)
    flipped = fc_442.dense_fc3().copy()
    flipped[0, 1, 2, 0, 0, 0] = 0.0  # −0.0 → +0.0: one bit
    other = ForceConstants(fc_442.setup, fc_442.fc2, flipped, None, {})
    assert content_hash(other) != content_hash(fc_442)


def test_get_or_create_stores_once(aiida_profile_clean, cu3au_fc4, cu3au_fc):
    first, created = ForceConstantsData.get_or_create(cu3au_fc4, description="first")
    assert created and first.is_stored and first.label == "AuCu3"
    assert first.base.attributes.get("content_hash") == content_hash(cu3au_fc4)
    again, created = ForceConstantsData.get_or_create(cu3au_fc4, label="copy")
    assert not created and again.pk == first.pk and again.description == "first"
    harmonic_only, created = ForceConstantsData.get_or_create(cu3au_fc)  # no FC4: another model
    assert created and harmonic_only.pk != first.pk
    assert orm.QueryBuilder().append(ForceConstantsData).count() == 2


def test_cli_stores_the_same_files_once(aiida_profile_clean, cu3au_fc):
    from aiida_wigner.cli.options import store_force_constants

    a = store_force_constants(cu3au_fc)
    b = store_force_constants(cu3au_fc)
    assert a.pk == b.pk and a.label == "AuCu3"

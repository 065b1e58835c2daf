"""The ``wigner.kappa`` calcfunction: settings validation, outputs and provenance."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from aiida import orm
from aiida.plugins import CalculationFactory

from aiida_wigner.calculations.kappa import (
    compute_kappa_calcfunction,
    result_from_nodes,
    result_to_nodes,
    settings_from_dict,
)
from aiida_wigner.data.force_constants import ForceConstantsData
from aiida_wigner.physics.kappa import KappaSettings

MODE_DATASETS = (
    "qpoint",
    "weight",
    "frequency",
    "gamma_3ph",
    "gamma_4ph",
    "gamma_isotope",
    "gamma",
    "group_velocity",
    "heat_capacity",
)


def test_entry_point():
    assert CalculationFactory("wigner.kappa") is compute_kappa_calcfunction


def test_settings_from_dict():
    settings = settings_from_dict({"mesh": [4, 4, 4], "temperatures": [100, 300], "sigma": 0.2})
    assert settings == KappaSettings(mesh=(4, 4, 4), temperatures=(100.0, 300.0), sigma=0.2)
    # what the CLI stores round-trips
    assert settings_from_dict(orm.Dict(settings.as_dict()).get_dict()) == settings


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"mesh": [4, 4, 4], "temperatures": [300], "meshh": 1}, r"unknown kappa setting.*meshh"),
        ({"temperatures": [300]}, r"need \['mesh'\]"),
        ({"mesh": [4, 4], "temperatures": [300]}, "mesh must be three positive integers"),
        ({"mesh": [4, 4, 4], "temperatures": [300], "smearing": "lorentz"}, "smearing must be"),
        ({"mesh": [4, 4, 4], "temperatures": [-1]}, "temperatures must be non-negative"),
    ],
)
def test_settings_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        settings_from_dict(bad)


def test_bad_settings_rejected_before_any_process_node(aiida_profile_clean, cu3au_fc):
    node = ForceConstantsData.from_force_constants(cu3au_fc).store()
    with pytest.raises(ValueError, match="unknown kappa setting"):
        compute_kappa_calcfunction(
            force_constants=node,
            settings=orm.Dict({"mesh": [4, 4, 4], "temperatures": [300], "sigmaa": 0.1}),
        )
    assert orm.QueryBuilder().append(orm.ProcessNode).count() == 0


def test_nodes_round_trip(cu3au_fc, fake_compute_kappa):
    settings = KappaSettings(mesh=(2, 2, 2), temperatures=(100, 300), frequency_bins=10)
    result = fake_compute_kappa(cu3au_fc, settings)
    nodes = result_to_nodes(result)
    back = result_from_nodes(orm.Dict(settings.as_dict()), nodes["kappa"], nodes["modes"])
    for name in (
        "temperatures",
        "kappa_P",
        "kappa_C",
        "kappa",
        "qpoints",
        "weights",
        "frequencies",
        "group_velocities",
        "heat_capacities",
        "gamma_3ph",
        "gamma_4ph",
        "gamma_isotope",
        "gamma",
        "kappa_P_modes",
    ):
        np.testing.assert_array_equal(getattr(back, name), getattr(result, name))
    assert back.spectra.keys() == result.spectra.keys()
    assert back.settings == settings
    assert nodes["kappa"].base.attributes.get("units")["kappa_C"] == "W/(m K)"
    assert nodes["modes"].base.attributes.get("units")["gamma"] == "THz (half width)"


def _check_provenance(node, outputs, process, settings):
    assert process.is_finished_ok
    assert process.process_type == "aiida.calculations:wigner.kappa"
    assert set(outputs) == {"kappa", "modes", "summary"}
    assert process.inputs.force_constants.uuid == node.uuid
    assert process.inputs.settings.get_dict()["mesh"] == list(settings.mesh)
    for label in ("kappa", "modes", "summary"):
        assert process.outputs[label].uuid == outputs[label].uuid
        assert outputs[label].creator.uuid == process.uuid
    links = node.base.links.get_outgoing(link_label_filter="force_constants").all()
    assert [link.node.uuid for link in links] == [process.uuid]

    n_t = len(settings.temperatures)
    kappa = outputs["kappa"]
    assert set(kappa.get_arraynames()) == {"temperatures", "kappa_P", "kappa_C", "kappa"}
    for name in ("kappa_P", "kappa_C", "kappa"):
        assert kappa.get_array(name).shape == (n_t, 3, 3)
    np.testing.assert_allclose(
        kappa.get_array("kappa"), kappa.get_array("kappa_P") + kappa.get_array("kappa_C")
    )
    modes = outputs["modes"]
    n_q, n_b = modes.get_array("frequency").shape
    assert n_b == 12
    assert modes.get_array("gamma").shape == (n_t, n_q, n_b)
    assert modes.get_array("group_velocity").shape == (n_q, n_b, 3)
    assert modes.get_array("kappa_P_mode").shape == (n_t, n_q, n_b, 3, 3)
    summary = outputs["summary"].get_dict()
    assert {"temperatures", "kappa_P", "kappa_C", "kappa", "units", "field_units"} <= set(summary)
    assert summary["units"] == "W/(m K)"
    assert summary["field_units"]["temperatures"] == "K"
    assert np.array(summary["kappa"]).shape == (n_t, 3, 3)


def test_provenance_with_fake_physics(aiida_profile_clean, cu3au_fc, fake_compute_kappa):
    """The AiiDA layer alone: inputs and outputs linked (compute_kappa replaced)."""
    node = ForceConstantsData.from_force_constants(cu3au_fc).store()
    settings = KappaSettings(mesh=(2, 2, 2), temperatures=(100, 300), frequency_bins=10)
    outputs, process = compute_kappa_calcfunction.run_get_node(
        force_constants=node, settings=orm.Dict(settings.as_dict())
    )
    _check_provenance(node, outputs, process, settings)


def test_provenance_cu3au(aiida_profile_clean, cu3au_fc, tmp_path):
    """End to end on the real physics: tiny Cu₃Au run, outputs linked, modes file written."""
    node = ForceConstantsData.from_force_constants(cu3au_fc).store()
    settings = KappaSettings(mesh=(4, 4, 4), temperatures=(300,), sigma=0.1, isotope=True)
    outputs, process = compute_kappa_calcfunction.run_get_node(
        force_constants=node, settings=orm.Dict(settings.as_dict())
    )
    _check_provenance(node, outputs, process, settings)
    kappa = outputs["kappa"].get_array("kappa")
    assert np.all(np.isfinite(kappa)) and np.all(np.diag(kappa[0]) > 0)

    result = result_from_nodes(process.inputs.settings, outputs["kappa"], outputs["modes"])
    result.write_modes(tmp_path / "modes.h5")
    with h5py.File(tmp_path / "modes.h5") as h5:
        for name in MODE_DATASETS:
            assert name in h5
        np.testing.assert_array_equal(h5["gamma"][()], outputs["modes"].get_array("gamma"))


def test_unstable_phonons_exit_code(aiida_profile_clean, cu3au_fc):
    """Imaginary modes: the process finishes with exit status 340 and the physics message."""
    from aiida_wigner.physics.forceconstants import ForceConstants

    unstable = ForceConstants(cu3au_fc.setup, -cu3au_fc.fc2, cu3au_fc.fc3)
    node = ForceConstantsData.from_force_constants(unstable).store()
    settings = KappaSettings(mesh=(2, 2, 2), temperatures=(300,))
    outputs, process = compute_kappa_calcfunction.run_get_node(
        force_constants=node, settings=orm.Dict(settings.as_dict())
    )
    assert process.is_finished and process.exit_status == 340
    assert "imaginary" in process.exit_message
    assert outputs == {}

"""``wigner.renormalize`` and ``aiida-wigner renormalize``; κ on renormalized phonons and with
four-phonon scattering through ``wigner.kappa`` and ``aiida-wigner kappa``.

The reference of every check is the physics layer called directly on the same force
constants read from the same files (the AiiDA/CLI layer must add nothing but provenance),
plus physical consistency: renormalized frequencies differ from the harmonic ones, the
effective FC2 reproduces them at commensurate points, 4ph lowers κ_P.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from aiida import orm
from click.testing import CliRunner

from aiida_wigner.cli import cmd_root

MESH, INNER, TEMPS = (2, 2, 2), (4, 4, 4), (100.0, 300.0)


def invoke(*args):
    return CliRunner().invoke(cmd_root, [str(a) for a in args])


@pytest.fixture(scope="module")
def scp_files(tmp_path_factory):
    """Cu₃Au (EMT FC2/FC3 from phono3py) plus Morse-bond FC4 as FORCE_CONSTANTS_4TH."""
    from reference_models import pair_fc4, write_cu3au_files

    from aiida_wigner.physics.io import load_force_constants
    from aiida_wigner.physics.io.shengbte import write_fourphonon_fc4

    directory = tmp_path_factory.mktemp("cu3au_scp")
    files = write_cu3au_files(directory)
    fc = load_force_constants(**files)
    files["fc4"] = directory / "FORCE_CONSTANTS_4TH"
    write_fourphonon_fc4(files["fc4"], pair_fc4(fc.setup), fc.setup)
    return files


@pytest.fixture(scope="module")
def scp_fc(scp_files):
    from aiida_wigner.physics.io import load_force_constants

    return load_force_constants(**scp_files)


def _file_args(files):
    return [
        "--cell",
        files["cell"],
        "--fc2",
        files["fc2"],
        "--fc3",
        files["fc3"],
        "--fc4",
        files["fc4"],
    ]


def test_renormalize_cli_matches_physics(aiida_profile_clean, scp_files, scp_fc, tmp_path):
    from aiida_wigner.physics.harmonic import solve
    from aiida_wigner.physics.io import load_force_constants
    from aiida_wigner.physics.renormalization import (
        RenormalizationSettings,
        SCPSettings,
        renormalize,
    )

    out = tmp_path / "scp.json"
    result = invoke(
        "renormalize",
        *_file_args(scp_files),
        "--mesh",
        *MESH,
        "--inner-mesh",
        *INNER,
        "--temperatures",
        *TEMPS,
        "--bubble",
        "qp",
        "--output",
        out,
        "--write-fc2",
        tmp_path / "fc2",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    for key in (
        "temperatures",
        "qpoints",
        "frequencies_harmonic",
        "frequencies",
        "converged",
        "iterations",
        "units",
        "node",
    ):
        assert key in data
    assert data["units"] == "THz" and data["kind"] == "scpb-qp" and all(data["converged"])

    direct = renormalize(
        scp_fc,
        RenormalizationSettings(
            SCPSettings(mesh=MESH, inner_mesh=INNER, temperatures=TEMPS), bubble="qp"
        ),
    )
    ir = direct.ir_grid
    np.testing.assert_allclose(data["frequencies"], direct.frequencies[:, ir], atol=1e-9)
    np.testing.assert_allclose(data["frequencies_scp"], direct.frequencies_scp[:, ir], atol=1e-9)
    # anharmonicity is not negligible here: the test would not see a no-op renormalization
    shift = np.abs(np.array(data["frequencies"]) - np.array(data["frequencies_harmonic"]))
    assert shift.max() > 0.05

    # the effective FC2 files give the renormalized frequencies at the commensurate points
    node = orm.load_node(data["node"])
    assert node.base.attributes.get("kind") == "scpb-qp"
    for it, t in enumerate(TEMPS):
        eff = load_force_constants(
            cell=scp_files["cell"], fc2=tmp_path / "fc2" / f"FORCE_CONSTANTS_{t:g}K"
        )
        ph = solve(eff, direct.qpoints)
        # (bubble-corrected bands keep the SCP order, so they may cross: compare sorted)
        np.testing.assert_allclose(ph.frequencies, np.sort(direct.frequencies[it]), atol=1e-6)


def test_kappa_on_renormalized_phonons(aiida_profile_clean, scp_files, scp_fc, tmp_path):
    from aiida_wigner.physics.kappa import KappaSettings, compute_kappa
    from aiida_wigner.physics.renormalization import (
        RenormalizationSettings,
        SCPSettings,
        renormalize,
    )

    out, modes = tmp_path / "k.json", tmp_path / "modes.h5"
    result = invoke(
        "kappa",
        *_file_args(scp_files),
        "--mesh",
        4,
        4,
        4,
        "--temperatures",
        *TEMPS,
        "--sigma",
        0.2,
        "--renormalize",
        "scp",
        "--scp-mesh",
        *MESH,
        "--scp-inner-mesh",
        *INNER,
        "--output",
        out,
        "--modes",
        modes,
    )
    assert result.exit_code == 0, result.output
    assert "converged" in result.output
    ren = renormalize(
        scp_fc,
        RenormalizationSettings(SCPSettings(mesh=MESH, inner_mesh=INNER, temperatures=TEMPS)),
    )
    settings = KappaSettings(mesh=(4, 4, 4), temperatures=TEMPS, sigma=0.2)
    direct = compute_kappa(scp_fc, settings, ren.models(scp_fc, TEMPS))
    harmonic = compute_kappa(scp_fc, settings)
    data = json.loads(out.read_text())
    np.testing.assert_allclose(data["kappa"], direct.kappa, rtol=1e-10)
    assert not np.allclose(direct.kappa, harmonic.kappa, rtol=1e-2)
    with h5py.File(modes) as h5:
        freqs = h5["frequency"][()]
        assert freqs.shape == (2,) + harmonic.frequencies.shape  # one set per temperature
        assert not np.allclose(freqs[0], freqs[1], atol=1e-3)
        np.testing.assert_allclose(freqs, direct.frequencies, atol=1e-10)


def test_kappa_with_four_phonon(aiida_profile_clean, scp_files, scp_fc, tmp_path):
    from aiida_wigner.physics.harmonic import solve
    from aiida_wigner.physics.mesh import QMesh
    from aiida_wigner.physics.scattering.four_phonon import four_phonon_linewidths

    modes3, modes4 = tmp_path / "m3.h5", tmp_path / "m4.h5"
    args = [*_file_args(scp_files), "--mesh", 3, 3, 3, "--temperatures", 300, "--sigma", 0.2]
    assert invoke("kappa", *args, "--modes", modes3).exit_code == 0
    result = invoke("kappa", *args, "--four-phonon", "exhaustive", "--modes", modes4)
    assert result.exit_code == 0, result.output
    qmesh = QMesh.build(scp_fc.primitive, (3, 3, 3))
    phonons = solve(scp_fc, qmesh.qpoints)
    gamma, _ = four_phonon_linewidths(scp_fc, qmesh, phonons, qmesh.ir_grid, [300.0], 0.2)
    with h5py.File(modes3) as h3, h5py.File(modes4) as h4:
        np.testing.assert_allclose(h4["gamma_4ph"][()], gamma, rtol=1e-10, atol=1e-14)
        assert gamma.max() > 0 and not np.any(h3["gamma_4ph"][()])
        np.testing.assert_allclose(h4["gamma"][()], h4["gamma_3ph"][()] + gamma, rtol=1e-12)
        kp3 = h3["kappa_P_mode"][()].sum(axis=(1, 2))
        kp4 = h4["kappa_P_mode"][()].sum(axis=(1, 2))
    assert np.all(np.diagonal(kp4, axis1=-2, axis2=-1) < np.diagonal(kp3, axis1=-2, axis2=-1))

    result = invoke(
        "kappa", *args, "--four-phonon", "sampled", "--samples", 40, "--seed", 3, "--modes", modes4
    )
    assert result.exit_code == 0, result.output
    with h5py.File(modes4) as h4:
        sampled, err = h4["gamma_4ph"][()], h4["gamma_4ph_stderr"][()]
    assert err.max() > 0
    big = gamma > 0.05 * gamma.max()
    z = np.abs(sampled - gamma)[big] / np.maximum(err[big], 1e-30)
    assert np.median(z) < 3


def test_exit_codes(aiida_profile_clean, scp_fc, cu3au_fc):
    from aiida_wigner.calculations.kappa import compute_kappa_calcfunction
    from aiida_wigner.calculations.renormalize import renormalize_calcfunction
    from aiida_wigner.data.force_constants import ForceConstantsData

    node = ForceConstantsData.from_force_constants(scp_fc).store()
    settings = {
        "mesh": list(MESH),
        "inner_mesh": list(INNER),
        "temperatures": [300.0],
        "max_iterations": 1,
        "mixing_scheme": "linear",
        "mixing": 0.1,
    }
    outputs, process = renormalize_calcfunction.run_get_node(
        force_constants=node, settings=orm.Dict(settings)
    )
    assert process.is_finished_ok and not outputs["summary"]["converged"][0]
    kappa_settings = orm.Dict({"mesh": [2, 2, 2], "temperatures": [300.0]})
    _, kproc = compute_kappa_calcfunction.run_get_node(
        force_constants=node, settings=kappa_settings, renormalization=outputs["renormalization"]
    )
    assert kproc.exit_status == 350 and "max_iterations" in kproc.exit_message
    _, kproc = compute_kappa_calcfunction.run_get_node(
        force_constants=node,
        settings=orm.Dict({"mesh": [2, 2, 2], "temperatures": [500.0]}),
        renormalization=outputs["renormalization"],
    )
    assert kproc.exit_status == 300 and "500" in kproc.exit_message

    bare = ForceConstantsData.from_force_constants(cu3au_fc).store()
    _, rproc = renormalize_calcfunction.run_get_node(
        force_constants=bare, settings=orm.Dict(settings)
    )
    assert rproc.exit_status == 300 and "fourth-order" in rproc.exit_message
    _, kproc = compute_kappa_calcfunction.run_get_node(
        force_constants=bare,
        settings=orm.Dict(
            {"mesh": [2, 2, 2], "temperatures": [300.0], "four_phonon": "exhaustive"}
        ),
    )
    assert kproc.exit_status == 300 and "fourth-order" in kproc.exit_message
    with pytest.raises(ValueError, match="bubble"):
        renormalize_calcfunction.run_get_node(
            force_constants=node, settings=orm.Dict({**settings, "bubble": "full"})
        )


def test_renormalize_vocabulary():
    """``kappa --renormalize`` names = the stored kinds; the old names map to them with a note."""
    from aiida_wigner.cli import options
    from aiida_wigner.physics.renormalization import BUBBLE_CHOICES, RENORMALIZATION_KINDS

    assert options.BUBBLE_CHOICES == BUBBLE_CHOICES
    assert options.RENORMALIZE_CHOICES == ("none",) + RENORMALIZATION_KINDS
    assert [options.bubble_of(kind) for kind in RENORMALIZATION_KINDS] == list(BUBBLE_CHOICES)
    assert set(options.DEPRECATED_RENORMALIZE.values()) <= set(RENORMALIZATION_KINDS)
    for old, current in (("loop", "scp"), ("loop+bubble", "scpb-qp"), ("scp", "scp")):
        assert options.renormalize_choice(None, None, old) == current


def test_cli_usage_errors(aiida_profile_clean, scp_files, cu3au_files):
    result = invoke("kappa", *_file_args(scp_files), "--mesh", 2, 2, 2, "--renormalize", "scp")
    assert result.exit_code == 2 and "--scp-mesh" in result.output
    assert "deprecated" not in result.output
    result = invoke("kappa", *_file_args(scp_files), "--mesh", 2, 2, 2, "--renormalize", "loop")
    assert result.exit_code == 2 and "--scp-mesh" in result.output
    assert "--renormalize loop is deprecated; use --renormalize scp" in result.output
    result = invoke("kappa", *_file_args(scp_files), "--mesh", 2, 2, 2, "--renormalize", "bubble")
    assert result.exit_code == 2 and "scpb-qp" in result.output
    result = invoke("kappa", *_file_args(scp_files), "--mesh", 2, 2, 2, "--samples", 10)
    assert result.exit_code == 2 and "sampled" in result.output
    files = {k: str(v) for k, v in cu3au_files.items()}
    result = invoke(
        "kappa",
        "--cell",
        files["cell"],
        "--fc2",
        files["fc2"],
        "--fc3",
        files["fc3"],
        "--mesh",
        2,
        2,
        2,
        "--four-phonon",
        "exhaustive",
    )
    assert result.exit_code == 2 and "fourth-order" in result.output
    result = invoke(
        "renormalize", "--cell", files["cell"], "--fc2", files["fc2"], "--mesh", 2, 2, 2
    )
    assert result.exit_code == 2 and "fourth-order" in result.output
    result = invoke(
        "renormalize", *_file_args(scp_files), "--mesh", 2, 2, 2, "--inner-mesh", 3, 3, 3
    )
    assert result.exit_code != 0 and "multiple" in result.output


def test_four_phonon_on_renormalized_phonons(scp_fc):
    """γ_4ph of a renormalized run = the 4ph linewidths of that temperature's model phonons."""
    from aiida_wigner.physics.harmonic import solve
    from aiida_wigner.physics.kappa import KappaSettings, compute_kappa
    from aiida_wigner.physics.mesh import QMesh
    from aiida_wigner.physics.renormalization import (
        RenormalizationSettings,
        SCPSettings,
        renormalize,
    )
    from aiida_wigner.physics.scattering.four_phonon import four_phonon_linewidths

    ren = renormalize(
        scp_fc,
        RenormalizationSettings(SCPSettings(mesh=MESH, inner_mesh=MESH, temperatures=(300.0,))),
    )
    model = ren.models(scp_fc, [300.0])[0]
    settings = KappaSettings(
        mesh=(2, 2, 2), temperatures=(300.0,), sigma=0.2, four_phonon="exhaustive"
    )
    result = compute_kappa(scp_fc, settings, [model])
    qmesh = QMesh.build(scp_fc.primitive, (2, 2, 2))
    renormalized = solve(scp_fc, qmesh.qpoints, builder=model)
    harmonic = solve(scp_fc, qmesh.qpoints)
    expected, _ = four_phonon_linewidths(scp_fc, qmesh, renormalized, qmesh.ir_grid, [300.0], 0.2)
    bare, _ = four_phonon_linewidths(scp_fc, qmesh, harmonic, qmesh.ir_grid, [300.0], 0.2)
    np.testing.assert_allclose(result.gamma_4ph, expected, rtol=1e-8, atol=1e-12)
    assert not np.allclose(expected, bare, rtol=1e-2)


def test_renormalized_kappa_archive_round_trip(aiida_profile_clean, scp_fc, tmp_path):
    """renormalize → kappa exported and re-imported: every node back, arrays bit-identical."""
    from aiida.tools.archive import create_archive, import_archive

    from aiida_wigner.calculations.kappa import compute_kappa_calcfunction
    from aiida_wigner.calculations.renormalize import (
        renormalization_from_node,
        renormalize_calcfunction,
    )
    from aiida_wigner.data.force_constants import ForceConstantsData

    node = ForceConstantsData.from_force_constants(scp_fc).store()
    scp_out, scp_proc = renormalize_calcfunction.run_get_node(
        force_constants=node,
        settings=orm.Dict({"mesh": list(MESH), "inner_mesh": list(MESH), "temperatures": [300.0]}),
    )
    k_out, k_proc = compute_kappa_calcfunction.run_get_node(
        force_constants=node,
        settings=orm.Dict({"mesh": [2, 2, 2], "temperatures": [300.0]}),
        renormalization=scp_out["renormalization"],
    )
    assert k_proc.is_finished_ok, k_proc.exit_message
    uuids = {n.uuid for n in orm.QueryBuilder().append(orm.Node).all(flat=True)}
    arrays = renormalization_from_node(scp_out["renormalization"]).arrays()
    kappa = k_out["kappa"].get_array("kappa")
    ren_uuid, kappa_uuid = scp_out["renormalization"].uuid, k_out["kappa"].uuid

    archive = tmp_path / "scp_kappa.aiida"
    create_archive([scp_proc, k_proc], filename=archive)
    aiida_profile_clean.reset_storage()
    import_archive(archive)
    assert {n.uuid for n in orm.QueryBuilder().append(orm.Node).all(flat=True)} == uuids
    restored = renormalization_from_node(orm.load_node(ren_uuid)).arrays()
    for name, value in arrays.items():
        np.testing.assert_array_equal(restored[name], value)
    np.testing.assert_array_equal(orm.load_node(kappa_uuid).get_array("kappa"), kappa)
    assert orm.load_node(kappa_uuid).creator.inputs.renormalization.uuid == ren_uuid

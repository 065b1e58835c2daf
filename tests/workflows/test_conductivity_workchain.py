"""The whole pipeline, ``wigner.conductivity``: EMT Cu3Au structure → fit → SCPB → κ(T).

One end-to-end run (module scope, ~1 min on 2 quiet cores) is checked against the same
calcfunctions run by hand through the CLI on its own force-constant node (bit-identical:
same code, same inputs, sampled 4ph with the same seed), and its force constants feed the
bad-input runs, each of which must end with its named exit code.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from click.testing import CliRunner

from aiida_wigner.cli import cmd_root
from aiida_wigner.exit_codes import status
from aiida_wigner.workflows.conductivity import WignerConductivityWorkChain

TEMPERATURES = [300.0, 600.0]
#: Small but complete: the fast protocol with a short MD, cutoffs inside half the 7.5 Å
#: supercell, SCPB on the supercell's mesh, κ with 3ph + sampled 4ph + isotope.
OVERRIDES = {
    "fitting": {
        "fit": {"parameters": {"cutoffs": {"2": 3.5, "3": 3.5, "4": 3.0}}},
        "sampling": {"md": {"n_steps": 60}, "parameters": {"n_snapshots": 6, "discard_steps": 10}},
    },
    "renormalization": {"mesh": [2, 2, 2], "inner_mesh": [4, 4, 4], "bubble": "qp"},
    "kappa": {
        "mesh": [4, 4, 4],
        "smearing": "gaussian",
        "sigma": 0.1,
        "isotope": True,
        "four_phonon": "sampled",
        "four_phonon_samples": 4,
        "four_phonon_seed": 3,
    },
}


def cu3au():
    from ase import Atoms

    return orm.StructureData(
        ase=Atoms(
            "AuCu3",
            scaled_positions=[[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]],
            cell=np.eye(3) * 3.75,
            pbc=True,
        )
    )


@pytest.fixture(scope="module")
def pipeline(aiida_profile):
    builder = WignerConductivityWorkChain.get_builder_from_protocol(
        cu3au(), engine="emt", protocol="fast", temperatures=TEMPERATURES, overrides=OVERRIDES
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    return results, node


def invoke(*args):
    return CliRunner().invoke(cmd_root, [str(a) for a in args])


def test_outputs_and_summary(pipeline):
    results, node = pipeline
    assert set(results) >= {
        "force_constants",
        "renormalization",
        "kappa",
        "modes",
        "summary",
        "fitting",
    }
    assert "scores" in results["fitting"]  # exposed outputs of ForceConstantsWorkChain
    summary = results["summary"].get_dict()
    assert summary["formula"] == "AuCu3" and summary["spacegroup"] == "Pm-3m (221)"
    assert summary["engine"] == "emt" and summary["protocol"] == "fast"
    assert summary["renormalization"] == "scpb-qp"
    assert summary["scattering"] == {
        "three_phonon": True,
        "four_phonon": "sampled",
        "isotope": True,
    }
    assert summary["temperatures"] == TEMPERATURES and "aiida-core" in summary["versions"]
    kappa = results["kappa"]
    k, kp, kc = (kappa.get_array(n) for n in ("kappa", "kappa_P", "kappa_C"))
    np.testing.assert_allclose(k, kp + kc, rtol=1e-12)
    for row, tensor, tensor_c in zip(summary["rows"], k, kc, strict=True):
        assert row["kappa_avg"] == pytest.approx(np.trace(tensor) / 3, rel=1e-12)
        assert row["kappa_C_share"] == pytest.approx(np.trace(tensor_c) / np.trace(tensor))
    # cubic: isotropic tensors; hotter is less conductive; both channels positive
    assert np.allclose(k, k[:, :1, :1] * np.eye(3), rtol=1e-8)
    assert k[1, 0, 0] < k[0, 0, 0] and np.all(np.diagonal(kc, axis1=1, axis2=2) > 0)
    # provenance: the κ calcfunction ran on the workflow's own force constants and SCP nodes
    kappa_calc = kappa.creator
    assert kappa_calc.inputs.force_constants.uuid == results["force_constants"].uuid
    assert kappa_calc.inputs.renormalization.uuid == results["renormalization"].uuid
    assert results["force_constants"].uuid == results["fitting"]["force_constants"].uuid


def test_equals_the_steps_run_by_hand(pipeline, tmp_path):
    """`renormalize` and `kappa --force-constants PK` on the workflow's node: identical numbers."""
    results, _ = pipeline
    pk = results["force_constants"].pk
    out = invoke(
        "renormalize",
        "--force-constants",
        pk,
        "--mesh",
        2,
        2,
        2,
        "--inner-mesh",
        4,
        4,
        4,
        "--temperatures",
        *TEMPERATURES,
        "--bubble",
        "qp",
        "--output",
        tmp_path / "scp.json",
    )
    assert out.exit_code == 0, out.output
    scp = json.loads((tmp_path / "scp.json").read_text())
    ren = results["renormalization"]
    np.testing.assert_allclose(
        scp["frequencies"],  # scp.json: irreducible outer points
        ren.get_array("frequencies")[:, ren.get_array("ir_grid")],
        rtol=0,
        atol=1e-10,
    )
    out = invoke(
        "kappa",
        "--force-constants",
        pk,
        "--mesh",
        4,
        4,
        4,
        "--temperatures",
        *TEMPERATURES,
        "--isotope",
        "--sigma",
        0.1,
        "--four-phonon",
        "sampled",
        "--samples",
        4,
        "--seed",
        3,
        "--renormalize",
        "scpb-qp",
        "--scp-mesh",
        2,
        2,
        2,
        "--scp-inner-mesh",
        4,
        4,
        4,
        "--output",
        tmp_path / "k.json",
    )
    assert out.exit_code == 0, out.output
    by_hand = json.loads((tmp_path / "k.json").read_text())
    for name in ("kappa_P", "kappa_C", "kappa"):
        np.testing.assert_allclose(
            by_hand[name], results["kappa"].get_array(name), rtol=1e-10, atol=0
        )
    calc = orm.load_node(by_hand["process"])
    assert calc.inputs.force_constants.pk == pk  # linked to the node, not a re-stored copy


def _from_force_constants(fc, **overrides):
    over = {
        "kappa": {"mesh": [2, 2, 2]},
        "renormalization": {"mesh": [2, 2, 2], "inner_mesh": [2, 2, 2]},
    }
    over.update(overrides)
    builder = WignerConductivityWorkChain.get_builder_from_protocol(
        force_constants=fc, protocol="fast", temperatures=[300.0], overrides=over
    )
    return run_get_node(builder)[1]


def test_exit_codes_of_the_steps(pipeline, cu3au_fc):
    """Each failing step ends the workflow with its own code and a message naming the step."""
    from aiida_wigner.data.force_constants import ForceConstantsData

    fc = pipeline[0]["force_constants"]
    node = _from_force_constants(
        fc, renormalization={"mesh": [2, 2, 2], "inner_mesh": [2, 2, 2], "max_iterations": 1}
    )
    assert node.exit_status == status("ERROR_SCP_NOT_CONVERGED")
    assert "wigner.kappa" in node.exit_message or "compute_kappa" in node.exit_message
    # no FC4: SCP cannot run (bad input of the renormalization step)
    no_fc4 = ForceConstantsData.from_force_constants(cu3au_fc).store()
    node = _from_force_constants(no_fc4)
    assert node.exit_status == status("ERROR_INVALID_INPUT")
    assert "fourth-order" in node.exit_message
    # harmonic κ on force constants with imaginary modes
    unstable = cu3au_fc.__class__(
        cu3au_fc.setup, -cu3au_fc.fc2, cu3au_fc.fc3, None, cu3au_fc.source
    )
    node = _from_force_constants(
        ForceConstantsData.from_force_constants(unstable).store(),
        renormalization=None,
        kappa={"mesh": [2, 2, 2], "four_phonon": None},
    )
    assert node.exit_status == status("ERROR_UNSTABLE_PHONONS")
    assert "imaginary" in node.exit_message


def test_fitting_failure_keeps_its_code():
    """An unknown calculator: the fitting's engine code (311) comes up through two levels."""
    builder = WignerConductivityWorkChain.get_builder_from_protocol(
        cu3au(), engine="emt", protocol="fast", temperatures=[300.0], overrides=OVERRIDES
    )
    builder.fitting.engine.calculator = orm.Dict({"name": "no-such-engine"})
    node = run_get_node(builder)[1]
    assert node.exit_status == status("ERROR_BAD_CALCULATOR"), node.exit_message
    assert "ForceConstantsWorkChain" in node.exit_message


def test_bad_builds_are_clear_errors(pipeline):
    fc = pipeline[0]["force_constants"]
    with pytest.raises(ValueError, match="structure to fit force constants for"):
        WignerConductivityWorkChain.get_builder_from_protocol(engine="emt")
    with pytest.raises(ValueError, match="unknown protocol"):
        WignerConductivityWorkChain.get_builder_from_protocol(force_constants=fc, protocol="x")
    with pytest.raises(ValueError, match="unknown kappa setting"):
        WignerConductivityWorkChain.get_builder_from_protocol(
            force_constants=fc, overrides={"kappa": {"mesh": [2, 2, 2], "meshh": 1}}
        )
    with pytest.raises(ValueError, match="inner mesh"):
        WignerConductivityWorkChain.get_builder_from_protocol(
            force_constants=fc,
            overrides={"renormalization": {"mesh": [2, 2, 2], "inner_mesh": [3, 3, 3]}},
        )
    # two sources of force constants: refused by the input validator before anything runs
    builder = WignerConductivityWorkChain.get_builder_from_protocol(force_constants=fc)
    builder.fcp = orm.SinglefileData.from_string("x", filename="x.fcp")
    with pytest.raises(ValueError, match="exactly one source"):
        run_get_node(builder)


def test_run_command_from_force_constants(pipeline, tmp_path):
    """`aiida-wigner run --force-constants PK`: progress lines, the κ table, the JSON summary."""
    import yaml

    fc = pipeline[0]["force_constants"]
    overrides = tmp_path / "small.yaml"
    overrides.write_text(
        yaml.safe_dump(
            {
                "kappa": {"mesh": [2, 2, 2], "sigma": 0.2},
                "renormalization": {"mesh": [2, 2, 2], "inner_mesh": [2, 2, 2]},
            }
        )
    )
    out = invoke(
        "run",
        "--force-constants",
        fc.pk,
        "--temperatures",
        "300:500:200",
        "--overrides",
        overrides,
        "-o",
        tmp_path / "run.json",
    )
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    steps = [line for line in lines if line.startswith("[") and " s] " in line]
    assert any("step renormalization" in line for line in steps)
    assert any("step kappa" in line for line in steps)
    assert "renormalization scpb-qp" in out.output and "kP xx" in out.output
    summary = json.loads((tmp_path / "run.json").read_text())
    assert summary["temperatures"] == [300.0, 500.0] and summary["engine"] is None
    node = orm.load_node(summary["process"])
    assert node.inputs.force_constants.uuid == fc.uuid  # no re-stored copy
    printed = [ln for ln in lines if ln.split()[:1] in (["300"], ["500"])]
    for row, line in zip(summary["rows"], printed, strict=True):
        assert float(line.split()[1]) == pytest.approx(row["kappa_P_xx"], rel=1e-3)


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "give a STRUCTURE file"),
        (("--force-constants", "1", "CIF"), "STRUCTURE and --force-constants"),
        (("--force-constants", "999999"), "no unique node"),
        (("--temperatures", "300", "-100", "--force-constants", "1"), "negative"),
        (("--daemon", "CIF"), "daemon"),
    ],
)
def test_run_usage_errors(args, message):
    cif = pathlib.Path(__file__).resolve().parents[2] / "examples" / "cscu4se3" / "CsCu4Se3.cif"
    args = tuple(str(cif) if a == "CIF" else a for a in args)
    out = invoke("run", *args)
    assert out.exit_code != 0 and message in out.output, out.output
    assert "Traceback" not in out.output


def test_fcp_source_gives_the_fitted_anharmonic_orders(pipeline):
    """The `.fcp` route: orders 3 and 4 equal those of the fitted node (same potential)."""
    from aiida_wigner.calculations.conductivity import force_constants_from_fcp

    fitting = pipeline[0]["fitting"]
    node = force_constants_from_fcp(fitting["fcp"], orm.List([2, 2, 2]))
    from_fcp, fitted = node.get_force_constants(), fitting["force_constants"].get_force_constants()
    np.testing.assert_allclose(from_fcp.dense_fc3(), fitted.dense_fc3(), rtol=0, atol=1e-12)
    assert len(from_fcp.fc4) == len(fitted.fc4)
    assert node.creator.inputs.fcp.uuid == fitting["fcp"].uuid

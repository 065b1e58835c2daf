"""Small finished conductivity runs in the test profile, for ``results``, ``plot``, ``reproduce``.

Cu₃Au (EMT FC2/FC3 of tests/reference_models.py) plus the Morse-bond FC4 of
tests/physics/test_renormalization.py, on 2x2x2 meshes so that each run takes seconds.
"""

from __future__ import annotations

from aiida import orm

MESH = (2, 2, 2)
SCP_TEMPERATURES = (100.0, 300.0)


def store_fc4_model(cu3au_fc):
    """The Cu₃Au model with the pair FC4, stored as a ``ForceConstantsData``."""
    from reference_models import pair_fc4

    from aiida_wigner.data.force_constants import ForceConstantsData
    from aiida_wigner.physics.forceconstants import ForceConstants

    fc = ForceConstants(
        cu3au_fc.setup,
        cu3au_fc.fc2,
        cu3au_fc.fc3,
        pair_fc4(cu3au_fc.setup),
        source={"fc2/fc3": "phono3py EMT (test)", "fc4": "Morse pairs (test)"},
    )
    return ForceConstantsData.from_force_constants(fc).store()


def kappa_run(node, renormalization=None, **settings):
    """A finished ``wigner.kappa`` process on ``node`` (2x2x2 mesh, σ = 0.2 THz by default)."""
    from aiida_wigner.calculations.kappa import compute_kappa_calcfunction

    settings = {"mesh": list(MESH), "sigma": 0.2, **settings}
    inputs = {"force_constants": node, "settings": orm.Dict(settings)}
    if renormalization is not None:
        inputs["renormalization"] = renormalization
    _, process = compute_kappa_calcfunction.run_get_node(**inputs)
    assert process.is_finished_ok, process.exit_message
    return process


def renormalize_run(node, bubble="qp", temperatures=SCP_TEMPERATURES):
    """A finished ``wigner.renormalize`` process on ``node`` (2x2x2 outer and inner mesh)."""
    from aiida_wigner.calculations.renormalize import renormalize_calcfunction

    _, process = renormalize_calcfunction.run_get_node(
        force_constants=node,
        settings=orm.Dict(
            {
                "mesh": list(MESH),
                "inner_mesh": list(MESH),
                "temperatures": list(temperatures),
                "bubble": bubble,
            }
        ),
    )
    assert process.is_finished_ok, process.exit_message
    return process


def conductivity_workflow(node, seed=3):
    """A finished ``wigner.conductivity`` workflow on the stored force constants ``node``: the
    ``fast`` protocol shrunk to 2x2x2 meshes, SCPB-qp, 3ph + sampled 4ph (``seed``)."""
    from aiida.engine import run_get_node

    from aiida_wigner.workflows.conductivity import WignerConductivityWorkChain

    builder = WignerConductivityWorkChain.get_builder_from_protocol(
        force_constants=node,
        protocol="fast",
        temperatures=list(SCP_TEMPERATURES),
        overrides={
            "renormalization": {"mesh": list(MESH), "inner_mesh": list(MESH), "bubble": "qp"},
            "kappa": {
                "mesh": list(MESH),
                "sigma": 0.2,
                "isotope": False,
                "four_phonon": "sampled",
                "four_phonon_samples": 8,
                "four_phonon_seed": seed,
            },
        },
    )
    _, process = run_get_node(builder)
    assert process.is_finished_ok, (process.exit_status, process.exit_message)
    return process

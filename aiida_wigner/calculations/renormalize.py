"""The ``wigner.renormalize`` calcfunction: self-consistent phonons (+ bubble).

It renormalizes the phonons of a ``ForceConstantsData``.

A thin wrapper around :func:`aiida_wigner.physics.renormalization.renormalize`.  Outputs:

``renormalization`` (``ArrayData``)
    The arrays of :class:`~aiida_wigner.physics.renormalization.Renormalization`
    (frequencies per temperature on the outer mesh in THz, convergence, ΔD in THz²,
    bubble shifts, mean-square displacements in Å²); attributes ``kind`` and ``units``.
    ``wigner.kappa`` takes it to compute κ on the renormalized phonons.
``summary`` (``Dict``)
    The JSON contract of ``aiida-wigner renormalize --output``.
``effective_fc2_T<temperature>`` (``ForceConstantsData``, one per temperature)
    The temperature-dependent effective FC2 (eV/Å²; ``T300`` for 300 K, ``T300p5`` for
    300.5 K; FC2 only) on the smallest supercell that holds both the input supercell and
    the SCP mesh (the input supercell when the mesh divides it, e.g. the same 2×2×2;
    diag(4, 4, 2) of the primitive cell for a 2×2×2 supercell and a 4×4×2 mesh): it gives
    the phonons ``wigner.kappa`` uses at every q (docs/scp.md §4).

Non-converged temperatures are recorded (``converged`` false), not an error here:
``wigner.kappa`` refuses them with exit status 350.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from aiida_wigner.data.force_constants import ForceConstantsData
from aiida_wigner.exit_codes import exit_code

from .validators import settings_validator

__all__ = [
    "renormalize_calcfunction",
    "renormalization_from_node",
    "settings_from_dict",
    "effective_fc2_label",
]


def settings_from_dict(settings: dict):
    """Validate a flat settings dictionary into ``RenormalizationSettings`` (ValueError)."""
    from aiida_wigner.physics.renormalization import RenormalizationSettings

    if not isinstance(settings, dict):
        raise ValueError(
            f"renormalization settings must be a dictionary, got {type(settings).__name__}"
        )
    try:
        return RenormalizationSettings.from_dict(settings)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"invalid renormalization settings: {exc}") from exc


def effective_fc2_label(temperature: float) -> str:
    """Output link label of the effective FC2 at ``temperature`` K: T300, T300p5, ..."""
    return "effective_fc2_T" + f"{float(temperature):g}".replace(".", "p").replace("-", "m")


def renormalization_to_node(result) -> orm.ArrayData:
    node = orm.ArrayData()
    for name, value in result.arrays().items():
        node.set_array(name, value)
    node.base.attributes.set("kind", result.kind)
    node.base.attributes.set("units", dict(result.UNITS))
    return node


def renormalization_from_node(node: orm.ArrayData):
    """The :class:`~aiida_wigner.physics.renormalization.Renormalization` stored in ``node``."""
    from aiida_wigner.physics.renormalization import Renormalization

    missing = [name for name in Renormalization.ARRAYS if name not in node.get_arraynames()]
    if missing or node.base.attributes.get("kind", None) is None:
        raise ValueError(
            f"node <{node.pk}> is not the `renormalization` output of "
            f"wigner.renormalize (missing arrays {missing})"
        )
    arrays = {name: node.get_array(name) for name in Renormalization.ARRAYS}
    return Renormalization.from_arrays(node.base.attributes.get("kind"), arrays)


@calcfunction
def renormalize_calcfunction(force_constants: ForceConstantsData, settings: orm.Dict):
    """Self-consistent phonons (quartic loop, seed Eq. 1) and optionally the bubble (Eqs. 2–4).

    :param force_constants: bare force constants with FC4 (and FC3 for the bubble), eV/Å^n.
    :param settings: a ``Dict`` with the fields of
        :class:`~aiida_wigner.physics.renormalization.SCPSettings` (``mesh``,
        ``inner_mesh``, ``temperatures`` in K required) plus ``bubble``
        ("none"|"static"|"onshell"|"qp") and ``bubble_epsilon`` (THz).
    :returns: ``renormalization`` (ArrayData), ``summary`` (Dict), ``effective_fc2_T*``
        (ForceConstantsData); exit status 300 when the force constants lack the orders
        needed or do not fit their cells.
    """
    from aiida_wigner.physics.forceconstants import ForceConstantsError
    from aiida_wigner.physics.renormalization import renormalize

    fc = force_constants.get_force_constants()
    try:
        result = renormalize(fc, settings_from_dict(settings.get_dict()))
    except ForceConstantsError as exc:
        return exit_code("ERROR_INVALID_INPUT", str(exc))
    return renormalization_outputs(fc, result)


def renormalization_outputs(fc, result) -> dict:
    """The unstored output nodes of a ``Renormalization`` of ``fc``: ``renormalization``,
    ``summary`` and one ``effective_fc2_T*`` per temperature."""
    outputs = {
        "renormalization": renormalization_to_node(result),
        "summary": orm.Dict(result.to_dict()),
    }
    for i, t in enumerate(result.temperatures):
        effective = result.model(fc, i).force_constants()
        outputs[effective_fc2_label(t)] = ForceConstantsData.from_force_constants(effective)
    return outputs


renormalize_calcfunction.spec().inputs["settings"].validator = settings_validator(
    settings_from_dict
)

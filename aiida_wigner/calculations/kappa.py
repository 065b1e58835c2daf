"""The ``wigner.kappa`` calcfunction: Wigner thermal conductivity of a ``ForceConstantsData``.

A thin wrapper around :func:`aiida_wigner.physics.kappa.compute_kappa`: the settings
``Dict`` becomes a :class:`~aiida_wigner.physics.kappa.KappaSettings`, the node a
:class:`~aiida_wigner.physics.forceconstants.ForceConstants`, and the
:class:`~aiida_wigner.physics.kappa.KappaResult` three output nodes:

``kappa`` (``ArrayData``)
    ``temperatures`` (T,) K; ``kappa_P``, ``kappa_C``, ``kappa`` (T, 3, 3) W/(m·K).
``modes`` (``ArrayData``)
    The mode-resolved arrays, named as in the ``--modes`` HDF5 file of the CLI:
    ``qpoint`` (Q, 3) reduced, ``weight`` (Q,), ``frequency`` (Q, B) THz,
    ``group_velocity`` (Q, B, 3) THz·Å, ``heat_capacity`` (T, Q, B) eV/K,
    ``gamma_3ph``, ``gamma_4ph``, ``gamma_isotope``, ``gamma`` (T, Q, B) THz half
    widths, ``kappa_P_mode`` (T, Q, B, 3, 3) W/(m·K), ``temperature`` (T,) K, and each
    entry ``name`` of ``KappaResult.spectra`` as ``spectra__name``.
``summary`` (``Dict``)
    ``KappaResult.summary()`` (the JSON contract of ``aiida-wigner kappa --output``)
    plus ``field_units``, the units of every field.

Both ``ArrayData`` carry a ``units`` attribute (array name → units).  No physics here.

Inputs that cannot give a conductivity (unstable harmonic phonons, force constants that
do not fit their cells) finish the process with a non-zero exit status and the physics
message (codes of :mod:`aiida_wigner.exit_codes`) rather than an exception; invalid settings
are rejected by the port validator before any node is stored.
"""

import dataclasses

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from aiida_wigner.data.force_constants import ForceConstantsData
from aiida_wigner.exit_codes import exit_code
from aiida_wigner.physics.kappa import settings_from_dict

from .validators import settings_validator

__all__ = [
    "compute_kappa_calcfunction",
    "settings_from_dict",
    "result_to_nodes",
    "result_from_nodes",
]

#: (array name in the ``kappa`` node, KappaResult field, units)
KAPPA_ARRAYS = (
    ("temperatures", "temperatures", "K"),
    ("kappa_P", "kappa_P", "W/(m K)"),
    ("kappa_C", "kappa_C", "W/(m K)"),
    ("kappa", "kappa", "W/(m K)"),
)

#: (array name in the ``modes`` node and the ``--modes`` HDF5 file, KappaResult field, units)
MODE_ARRAYS = (
    ("qpoint", "qpoints", "reduced"),
    ("weight", "weights", "1"),
    ("frequency", "frequencies", "THz"),
    ("group_velocity", "group_velocities", "THz*Angstrom"),
    ("heat_capacity", "heat_capacities", "eV/K"),
    ("gamma_3ph", "gamma_3ph", "THz (half width)"),
    ("gamma_4ph", "gamma_4ph", "THz (half width)"),
    ("gamma_isotope", "gamma_isotope", "THz (half width)"),
    ("gamma", "gamma", "THz (half width)"),
    ("gamma_4ph_stderr", "gamma_4ph_stderr", "THz (standard error of sampled gamma_4ph)"),
    ("kappa_P_mode", "kappa_P_modes", "W/(m K)"),
    ("temperature", "temperatures", "K"),
)

#: Units of the fields of ``KappaResult.summary()`` (stored as ``field_units``).
SUMMARY_UNITS = {
    "temperatures": "K",
    "kappa_P": "W/(m K)",
    "kappa_C": "W/(m K)",
    "kappa": "W/(m K)",
    "units": "-",
}

SPECTRA_PREFIX = "spectra__"


def _extra_array_fields(result) -> list[str]:
    """KappaResult array fields beyond the ones named in the tables (kept, under their own name)."""
    named = {field for _, field, _ in KAPPA_ARRAYS + MODE_ARRAYS}
    return [
        f.name
        for f in dataclasses.fields(result)
        if f.name not in named
        and f.name not in ("settings", "spectra")
        and isinstance(getattr(result, f.name), np.ndarray)
    ]


def result_to_nodes(result) -> dict:
    """The unstored output nodes ``kappa``, ``modes`` and ``summary`` of a ``KappaResult``."""
    kappa = orm.ArrayData()
    for name, field, _ in KAPPA_ARRAYS:
        kappa.set_array(name, np.asarray(getattr(result, field)))
    kappa.base.attributes.set("units", {name: units for name, _, units in KAPPA_ARRAYS})

    modes = orm.ArrayData()
    mode_units = {}
    for name, field, units in MODE_ARRAYS:
        modes.set_array(name, np.asarray(getattr(result, field)))
        mode_units[name] = units
    for field in _extra_array_fields(result):
        modes.set_array(field, np.asarray(getattr(result, field)))
    for name, value in (result.spectra or {}).items():
        modes.set_array(f"{SPECTRA_PREFIX}{name}", np.asarray(value))
    modes.base.attributes.set("units", mode_units)

    data = dict(result.summary())
    data["field_units"] = {key: SUMMARY_UNITS.get(key, "see docs") for key in data}
    summary = orm.Dict(data)
    return {"kappa": kappa, "modes": modes, "summary": summary}


def result_from_nodes(settings: orm.Dict, kappa: orm.ArrayData, modes: orm.ArrayData):
    """Rebuild the :class:`KappaResult` of a finished calculation from its nodes.

    Used by the CLI to write ``--modes`` with :meth:`KappaResult.write_modes`, so the file
    is made from exactly what is stored in the provenance graph.
    """
    from aiida_wigner.physics.kappa import KappaResult

    kwargs = {"settings": settings_from_dict(settings.get_dict())}
    for name, field, _ in KAPPA_ARRAYS:
        kwargs[field] = kappa.get_array(name)
    for name, field, _ in MODE_ARRAYS:
        if name in modes.get_arraynames():
            kwargs.setdefault(field, modes.get_array(name))
    spectra = {}
    for name in modes.get_arraynames():
        if name.startswith(SPECTRA_PREFIX):
            spectra[name[len(SPECTRA_PREFIX) :]] = modes.get_array(name)
    kwargs["spectra"] = spectra
    accepted = {f.name for f in dataclasses.fields(KappaResult)}
    for name in modes.get_arraynames():
        if name in accepted and name not in kwargs:
            kwargs[name] = modes.get_array(name)
    return KappaResult(**kwargs)


def renormalization_models(renormalization: orm.ArrayData | None, fc, kappa_settings):
    """One renormalized model per temperature of ``kappa_settings`` from a ``renormalization``
    node (None: harmonic phonons, None)."""
    from aiida_wigner.calculations.renormalize import renormalization_from_node

    if renormalization is None:
        return None
    return renormalization_from_node(renormalization).models(fc, kappa_settings.temperatures)


def _input_failures() -> tuple[type[Exception], ...]:
    """Physics exceptions that mean "these inputs cannot give κ", not "a bug"."""
    from aiida_wigner.physics.cell import CellError
    from aiida_wigner.physics.forceconstants import ForceConstantsError
    from aiida_wigner.physics.harmonic import UnstablePhononsError
    from aiida_wigner.physics.mesh import MeshError
    from aiida_wigner.physics.renormalization import MissingTemperatureError, SCPNotConvergedError

    return (
        UnstablePhononsError,
        ForceConstantsError,
        CellError,
        MeshError,
        SCPNotConvergedError,
        MissingTemperatureError,
    )


def _failure_label(exc: Exception) -> str:
    """The exit-code label (aiida_wigner.exit_codes) of an input failure."""
    from aiida_wigner.physics.harmonic import UnstablePhononsError
    from aiida_wigner.physics.renormalization import SCPNotConvergedError

    if isinstance(exc, UnstablePhononsError):
        return "ERROR_UNSTABLE_PHONONS"
    if isinstance(exc, SCPNotConvergedError):
        return "ERROR_SCP_NOT_CONVERGED"
    return "ERROR_INVALID_INPUT"


@calcfunction
def compute_kappa_calcfunction(
    force_constants: ForceConstantsData,
    settings: orm.Dict,
    renormalization: orm.ArrayData | None = None,
):
    """Wigner thermal conductivity (κ_P, κ_C, κ in W/(m·K)) of ``force_constants``.

    :param force_constants: the force-constant model (eV/Å^n).
    :param settings: a ``Dict`` with the fields of
        :class:`~aiida_wigner.physics.kappa.KappaSettings` (``mesh`` and
        ``temperatures`` in K required; ``sigma`` in THz, ...).
    :param renormalization: optional ``renormalization`` output of ``wigner.renormalize``
        on the same force constants: every temperature then runs on its renormalized
        phonons (bare FC3/FC4 for the linewidths).
    :returns: ``kappa`` and ``modes`` (``ArrayData``) and ``summary`` (``Dict``); see the
        module docstring for names, shapes and units.  Exit status 340 when the phonons
        are unstable (imaginary frequencies on the mesh), 300 when the force constants do
        not fit their cells or the q-mesh, lack an order the settings need, or a
        temperature was not renormalized, 350 when SCP did not converge at a requested
        temperature; the exit message carries the physics message.
    """
    from aiida_wigner.physics.kappa import compute_kappa

    kappa_settings = settings_from_dict(settings.get_dict())
    try:
        fc = force_constants.get_force_constants()
        models = renormalization_models(renormalization, fc, kappa_settings)
        result = compute_kappa(fc, kappa_settings, models)
    except _input_failures() as exc:
        return exit_code(_failure_label(exc), str(exc))
    return result_to_nodes(result)


# Invalid settings are rejected when the inputs are validated, before any node is stored.
compute_kappa_calcfunction.spec().inputs["settings"].validator = settings_validator(
    settings_from_dict
)

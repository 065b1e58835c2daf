"""The ``wigner.analysis`` and ``wigner.mode_removal`` calcfunctions: the analyses behind the
seed's figures, computed from the nodes of a conductivity run so every figure has its node.

Thin wrappers around :mod:`aiida_wigner.physics.analysis` (docs/analysis.md).  Both take the
run's ``ForceConstantsData``, its kappa ``settings`` ``Dict`` (the node given to
``wigner.kappa``), its ``modes`` ``ArrayData`` and, for a run on renormalized phonons, the
``renormalization`` ``ArrayData`` of ``wigner.renormalize``.

``wigner.analysis`` (cheap: the velocity operator again, no scattering) returns four
``ArrayData``, each with a ``units`` attribute (array name → units):

``participation``
    PR (T, Q, B), APR per atom (T, Q, B, N) and per species (T, Q, B, S) at the run's
    irreducible q-points (seed Eqs. 10–11); attribute ``species``.
``lifetimes``
    τ, τ_3ph (ps), mean free paths (Å), group velocities (THz·Å) per mode, the Wigner limit
    τ_W (ps) per temperature and the Ioffe–Regel length (Å).
``spectra``
    spectral/cumulative κ_P(ν), κ_C(ν) per direction, the κ_C(ν_j, ν_j') map, the
    interband velocity map (Fig. 7), the κ_C pairs on the (|Δν|, Γ) plane with the
    Lorentzian weight grid (Fig. 6).
``dispersion`` (with ``path_points`` > 0; needs ase)
    harmonic and run frequencies, group velocities and PR/APR along the band path;
    attribute ``labels``.

``wigner.mode_removal`` (one three-phonon calculation per temperature) returns
``mode_removal`` (``ArrayData``): κ_P with the selected modes switched off in the
three-phonon sums (Fig. S7), the original κ_P, which modes were removed and the new half
widths.  The ``removal`` ``Dict`` holds ``window`` ([ν_lo, ν_hi] THz), ``species`` (an
element) and ``own`` ("keep" | "exclude"), as :class:`~aiida_wigner.physics.analysis.ModeRemoval`.

Mean-square displacements (Fig. S4) are the ``msd`` array of the ``renormalization`` node
itself (Å², (T, N)); they are not copied.

Inputs that do not belong together (modes of other force constants or another mesh, a
species the crystal lacks, a run without three-phonon scattering for mode removal) finish
with exit status 300 and a message saying what to give; renormalized temperatures that are
missing or did not converge give 300 / 350 as in ``wigner.kappa``.
"""

from __future__ import annotations

import importlib.util

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from aiida_wigner.data.force_constants import ForceConstantsData
from aiida_wigner.exit_codes import exit_code

from .kappa import _failure_label, _input_failures, settings_from_dict
from .validators import settings_validator

__all__ = [
    "analysis_calcfunction",
    "mode_removal_calcfunction",
    "analysis_inputs",
    "parameters_from_dict",
    "removal_from_dict",
    "ANALYSIS_UNITS",
]

#: Units of every array of the ``wigner.analysis`` outputs.
ANALYSIS_UNITS = {
    "temperature": "K",
    "weight": "1",
    "frequency": "THz",
    "pr": "1",
    "apr": "1",
    "apr_species": "1",
    "tau": "ps",
    "tau_3ph": "ps",
    "mean_free_path": "Angstrom",
    "group_velocity": "THz*Angstrom",
    "tau_wigner": "ps",
    "ioffe_regel_length": "Angstrom",
    "frequency_bin_edges": "THz",
    "kappa_P_spectral": "W/(m K THz)",
    "kappa_C_spectral": "W/(m K THz)",
    "kappa_P_cumulative": "W/(m K)",
    "kappa_C_cumulative": "W/(m K)",
    "kappa_C_map": "W/(m K) per bin",
    "kappa_C_pairs": "W/(m K) per bin",
    "kappa_C_rising": "W/(m K)",
    "kappa_C_falling": "W/(m K)",
    "kappa_P": "W/(m K)",
    "kappa_C": "W/(m K)",
    "velocity_map": "(Angstrom/ps)^2",
    "velocity_map_weight": "1 (q multiplicity)",
    "pair_delta_edges": "THz",
    "pair_gamma_edges": "THz (half width sum)",
    "lorentzian_delta": "THz",
    "lorentzian_gamma": "THz (half width sum)",
    "lorentzian_weight": "1/THz",
    "qpoints": "reduced",
    "distances": "1/Angstrom (2 pi incl.)",
    "ticks": "1/Angstrom (2 pi incl.)",
    "frequency_harmonic": "THz",
}

#: Units of the arrays of the ``mode_removal`` output.
REMOVAL_UNITS = {
    "temperature": "K",
    "frequency": "THz",
    "kappa_P": "W/(m K)",
    "kappa_P_original": "W/(m K)",
    "removed": "1",
    "gamma_3ph": "THz (half width)",
    "gamma": "THz (half width)",
}


def parameters_from_dict(values: dict):
    """Validate the ``parameters`` of ``wigner.analysis`` (ValueError with the accepted keys)."""
    from aiida_wigner.physics.analysis.options import from_dict
    from aiida_wigner.physics.analysis.run import AnalysisParameters

    return from_dict(AnalysisParameters, values, "analysis parameters")


def removal_from_dict(values: dict):
    """Validate the ``removal`` of ``wigner.mode_removal`` into a ``ModeRemoval``."""
    from aiida_wigner.physics.analysis import ModeRemoval
    from aiida_wigner.physics.analysis.options import from_dict

    return from_dict(ModeRemoval, values, "mode removal")


def analysis_inputs(kappa_process: orm.ProcessNode) -> dict:
    """The inputs of both calcfunctions taken from a finished ``wigner.kappa`` process."""
    inputs = {
        "force_constants": kappa_process.inputs.force_constants,
        "settings": kappa_process.inputs.settings,
        "modes": kappa_process.outputs.modes,
    }
    if "renormalization" in kappa_process.inputs:
        inputs["renormalization"] = kappa_process.inputs.renormalization
    return inputs


def _arrays_node(arrays: dict, units: dict) -> orm.ArrayData:
    """ArrayData of the array entries; list entries (names) become attributes."""
    node = orm.ArrayData()
    for name, value in arrays.items():
        if isinstance(value, list):
            node.base.attributes.set(name, value)
        else:
            node.set_array(name, np.asarray(value))
    node.base.attributes.set("units", {name: units[name] for name in node.get_arraynames()})
    return node


def _run(force_constants, settings, modes, renormalization):
    """(ForceConstants, KappaSettings, modes as a dict, models or None) of a run's nodes."""
    from aiida_wigner.calculations.renormalize import renormalization_from_node

    kappa_settings = settings_from_dict(settings.get_dict())
    fc = force_constants.get_force_constants()
    arrays = {name: modes.get_array(name) for name in modes.get_arraynames()}
    models = None
    if renormalization is not None:
        models = renormalization_from_node(renormalization).models(fc, arrays["temperature"])
    return fc, kappa_settings, arrays, models


def _bad_inputs() -> tuple[type[Exception], ...]:
    from aiida_wigner.physics.analysis.mode_removal import ModeRemovalError
    from aiida_wigner.physics.analysis.pairs import ModesMismatchError

    return _input_failures() + (ModesMismatchError, ModeRemovalError)


@calcfunction
def analysis_calcfunction(
    force_constants: ForceConstantsData,
    settings: orm.Dict,
    modes: orm.ArrayData,
    renormalization: orm.ArrayData | None = None,
    parameters: orm.Dict | None = None,
):
    """PR/APR, lifetimes and limits, spectra and pair maps, dispersion of a conductivity run.

    :param force_constants, settings, modes, renormalization: the run's nodes (the inputs
        and the ``modes`` output of ``wigner.kappa``; :func:`analysis_inputs` collects them).
    :param parameters: optional ``Dict`` with ``bins`` (100), ``lorentzian_bins`` (60),
        ``path_points`` (200; 0 for no ``dispersion``).
    :returns: ``participation``, ``lifetimes``, ``spectra`` and ``dispersion``
        (``ArrayData``, module docstring); exit status 300 for inputs that do not belong
        together, 350 for a renormalized temperature where SCP did not converge.
    """
    from aiida_wigner.physics.analysis.run import analyse

    params = parameters_from_dict(parameters.get_dict() if parameters is not None else {})
    if params.path_points and importlib.util.find_spec("ase") is None:
        return exit_code(
            "ERROR_INVALID_INPUT",
            "the dispersion needs ase: pip install "
            "aiida-wigner[plot], or set parameters.path_points 0",
        )
    try:
        fc, kappa_settings, arrays, models = _run(force_constants, settings, modes, renormalization)
        groups = analyse(fc, kappa_settings, arrays, models, params)
    except _bad_inputs() as exc:
        return exit_code(_failure_label(exc), str(exc))
    return {name: _arrays_node(arrays, ANALYSIS_UNITS) for name, arrays in groups.items()}


@calcfunction
def mode_removal_calcfunction(
    force_constants: ForceConstantsData,
    settings: orm.Dict,
    modes: orm.ArrayData,
    removal: orm.Dict,
    renormalization: orm.ArrayData | None = None,
):
    """κ_P with the modes of ``removal`` switched off in the three-phonon sums (seed Fig. S7).

    :param force_constants, settings, modes, renormalization: the run's nodes.
    :param removal: ``Dict`` with ``window`` ([ν_lo, ν_hi] THz), ``species`` (element) and
        ``own`` ("keep" | "exclude"); docs/analysis.md §mode removal.
    :returns: ``mode_removal`` (``ArrayData``: ``kappa_P``, ``kappa_P_original`` (T, 3, 3)
        W/(m·K), ``removed`` (T, Q, B), ``gamma_3ph``, ``gamma`` (T, Q, B) THz,
        ``frequency`` (T, Q, B) THz, ``temperature`` (T,) K); exit status 300 for inputs
        that do not belong together or a run without three-phonon scattering.
    """
    from aiida_wigner.physics.analysis import kappa_P_with_modes_removed
    from aiida_wigner.physics.analysis.run import per_temperature

    selection = removal_from_dict(removal.get_dict())
    try:
        fc, kappa_settings, arrays, models = _run(force_constants, settings, modes, renormalization)
        temps = arrays["temperature"]
        builders = models if models is not None else [None] * len(temps)
        results = [
            kappa_P_with_modes_removed(
                fc, kappa_settings, selection, t, arrays["gamma"][i], arrays["gamma_3ph"][i], b
            )
            for i, (t, b) in enumerate(zip(temps, builders, strict=False))
        ]
    except _bad_inputs() as exc:
        return exit_code(_failure_label(exc), str(exc))
    out = {
        "temperature": temps,
        "frequency": per_temperature(arrays, "frequency", len(temps)),
        "kappa_P": np.stack([r.kappa_P for r in results]),
        "kappa_P_original": arrays["kappa_P_mode"].sum(axis=(1, 2)),
        "removed": np.stack([r.removed for r in results]),
        "gamma_3ph": np.stack([r.gamma_3ph for r in results]),
        "gamma": np.stack([r.gamma for r in results]),
    }
    node = _arrays_node(out, REMOVAL_UNITS)
    node.base.attributes.set("removal", removal.get_dict())
    return {"mode_removal": node}


analysis_calcfunction.spec().inputs["parameters"].validator = settings_validator(
    parameters_from_dict
)
mode_removal_calcfunction.spec().inputs["removal"].validator = settings_validator(removal_from_dict)

"""Frozen-phonon potential-energy surface of one mode (seed Sec. II.B, Fig. 2, Eq. 9).

:func:`compute_pes` is plain Python (ASE engines + numpy); :func:`pes_scan` is the
calcfunction that records it.  Conventions (see :mod:`aiida_wigner.physics.pes`): the
mass-weighted real pattern ε is normalized to Σ|ε|² = 1 over the supercell,
u = Q ε/√m with Q in Å·√amu, energies in eV per supercell relative to the undisplaced
supercell, Taylor coefficients c_n and fitted coefficients a_p in eV/(Å·√amu)^n.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
from aiida import orm
from aiida.engine import ExitCode, calcfunction

from ..data.force_constants import ForceConstantsData
from ..engines.ase_engine import EngineError, compute_static
from ..engines.calculators import CalculatorSpecError, atoms_to_dict
from ..exit_codes import exit_code
from ..physics import pes as pes_physics
from ..physics.cell import Cell, SupercellSetup

#: Units of every output field
UNITS = {
    "amplitudes": pes_physics.Q_UNIT,
    "energies": "eV per supercell, relative to Q = 0",
    "taylor": "eV per supercell",
    "coefficients": f"eV/({pes_physics.Q_UNIT})^n",
    "frequency": "THz (negative = imaginary)",
    "omega2": "eV/(Å²·amu)",
    "epsilon": "dimensionless, Σ|ε|² = 1 over the supercell",
    "displacements": "Å",
}

NORMALIZATION = (
    "u = Q ε/√m (Å), Q in Å·√amu, ε = Re[exp(iφ) e(κ;q j) exp(2πi q·r)] "
    "normalized to Σ|ε|² = 1 over the supercell; harmonic E = ω² Q²/2"
)


def check_same_lattice(structure: Cell, fcp_primitive: Cell, tol: float = 1e-3) -> None:
    """The unit cell's volume per atom must match the potential's primitive cell (relative
    ``tol``): a frozen-phonon scan around an unrelaxed geometry has a linear term."""
    v1 = structure.volume / len(structure)
    v2 = fcp_primitive.volume / len(fcp_primitive)
    if abs(v1 - v2) > tol * v2:
        raise pes_physics.PESError(
            f"the structure ({v1:.4f} Å³/atom) is not the one the force-constant potential was "
            f"fitted on ({v2:.4f} Å³/atom, e.g. the relaxed cell): omit the structure to use the "
            f"potential's own primitive cell, or pass the relaxed structure"
        )


def compute_pes(
    setup: SupercellSetup,
    engine: dict,
    qpoint,
    band: int = 0,
    amplitudes=None,
    fcp=None,
    force_constants=None,
    phase: float = 0.0,
    powers=(2, 4, 6),
    truncations=(2, 4, 6),
    fcp_path: str | None = None,
) -> dict:
    """Run the scan; return plain arrays and numbers (see the module docstring for units).

    Exactly one of ``fcp`` (hiphive ForceConstantPotential, evaluated on ``setup``'s
    supercell, all its orders) and ``force_constants`` (a physics ForceConstants on the same
    ``setup``, orders 2-4) gives the normal mode and the Taylor expansion.  ``engine`` is a
    calculator spec; ``{"name": "fcp"}`` without a file uses ``fcp_path`` on this supercell.
    """
    if (fcp is None) == (force_constants is None):
        raise pes_physics.PESError(
            "give exactly one of a force-constant potential (.fcp) and force constants"
        )
    amplitudes = np.asarray(amplitudes, dtype=float).reshape(-1)
    if len(amplitudes) < 1 or not np.all(np.isfinite(amplitudes)):
        raise pes_physics.PESError("amplitudes must be a non-empty list of finite numbers")
    if fcp is not None:
        from ..fitting.pes import FCPSupercellForceConstants

        evaluated = FCPSupercellForceConstants(fcp, setup)
        pattern = pes_physics.mode_pattern(evaluated.harmonic, qpoint, band, phase)
        coeffs = evaluated.taylor_coefficients(pattern.u_per_q)
    else:
        if not force_constants.supercell.same_as(setup.supercell):
            raise pes_physics.PESError(
                "the force constants live on another supercell than the scan's"
            )
        pattern = pes_physics.mode_pattern(force_constants, qpoint, band, phase)
        coeffs = pes_physics.taylor_coefficients(force_constants, pattern.u_per_q)

    spec = dict(engine)
    ideal = setup.supercell.to_ase()
    if str(spec.get("name", "")).lower() == "fcp":
        if "fcp" not in spec:
            if fcp_path is None:
                raise CalculatorSpecError("engine 'fcp' needs a potential file")
            spec["fcp"] = fcp_path
        spec.setdefault("reference", atoms_to_dict(ideal))
    structures = [ideal]
    for d in pattern.displacements(amplitudes):
        a = ideal.copy()
        a.positions = a.positions + d
        structures.append(a)
    res = compute_static(spec, structures)
    e0 = float(res["energies"][0])
    energies = res["energies"][1:] - e0
    residual_force = float(np.abs(res["forces"][0]).max())

    taylor = pes_physics.truncated_energies(coeffs, amplitudes, truncations)
    n_distinct = len(np.unique(np.round(amplitudes, 12)))
    use_powers = [int(p) for p in powers][: max(1, n_distinct)]
    fit = pes_physics.fit_polynomial(amplitudes, energies, use_powers)
    return {
        "amplitudes": amplitudes,
        "energies": energies,
        "energy_reference": e0,
        "residual_force": residual_force,
        "taylor_per_order": taylor["per_order"],
        "taylor_truncated": taylor["truncated"],
        "taylor_coefficients": {int(k): float(v) for k, v in coeffs.items()},
        "fit": fit,
        "double_well_fit": pes_physics.double_well(fit["coefficients"]),
        "pattern": pattern,
        "n_atoms": setup.n_super,
    }


def result_to_node(result: dict, engine: dict) -> orm.ArrayData:
    """ArrayData with the scan's arrays; scalars and units as attributes."""
    pat = result["pattern"]
    node = orm.ArrayData()
    node.set_array("amplitudes", result["amplitudes"])
    node.set_array("energies", result["energies"])
    node.set_array("epsilon", pat.epsilon)
    node.set_array("displacement_per_amplitude", pat.u_per_q)
    for n, e in result["taylor_per_order"].items():
        node.set_array(f"taylor_order_{n}", np.asarray(e))
    for k, e in result["taylor_truncated"].items():
        node.set_array(f"taylor_truncated_{k}", np.asarray(e))
    fit = result["fit"]
    node.set_array("fit_powers", np.array(fit["powers"], dtype=np.int64))
    node.set_array("fit_coefficients", np.array([fit["coefficients"][p] for p in fit["powers"]]))
    attrs = node.base.attributes
    attrs.set("qpoint", [float(x) for x in pat.qpoint])
    attrs.set("band", pat.band)
    attrs.set("frequency", pat.frequency)
    attrs.set("omega2", pat.omega2)
    attrs.set("degeneracy", pat.degeneracy)
    attrs.set("phase", pat.phase)
    attrs.set("n_atoms", int(result["n_atoms"]))
    attrs.set("energy_reference", result["energy_reference"])
    attrs.set("residual_force", result["residual_force"])
    attrs.set("taylor_coefficients", {str(k): v for k, v in result["taylor_coefficients"].items()})
    attrs.set("fit_coefficients", {str(k): v for k, v in fit["coefficients"].items()})
    attrs.set("fit_rmse", fit["rmse"])
    attrs.set("double_well_fit", result["double_well_fit"])
    attrs.set("engine", {k: v for k, v in engine.items() if k != "reference"})
    attrs.set("normalization", NORMALIZATION)
    attrs.set("units", UNITS)
    return node


def summary(result: dict) -> dict:
    """JSON-ready summary (the CLI's --output)."""
    pat = result["pattern"]
    fit = result["fit"]
    return {
        "qpoint": [float(x) for x in pat.qpoint],
        "band": pat.band,
        "frequency": pat.frequency,
        "omega2": pat.omega2,
        "degeneracy": pat.degeneracy,
        "phase": pat.phase,
        "n_atoms": int(result["n_atoms"]),
        "amplitudes": result["amplitudes"].tolist(),
        "energies": result["energies"].tolist(),
        "energy_reference": result["energy_reference"],
        "residual_force": result["residual_force"],
        "taylor_coefficients": {str(k): v for k, v in result["taylor_coefficients"].items()},
        "taylor_per_order": {
            str(k): np.asarray(v).tolist() for k, v in result["taylor_per_order"].items()
        },
        "taylor_truncated": {
            str(k): np.asarray(v).tolist() for k, v in result["taylor_truncated"].items()
        },
        "fit_coefficients": {str(k): v for k, v in fit["coefficients"].items()},
        "fit_rmse": fit["rmse"],
        "double_well_fit": result["double_well_fit"],
        "normalization": NORMALIZATION,
        "units": UNITS,
    }


def _fail(exc: Exception) -> ExitCode:
    if isinstance(exc, CalculatorSpecError):
        return exit_code("ERROR_BAD_CALCULATOR", str(exc))
    if isinstance(exc, EngineError):
        return exit_code("ERROR_ENGINE_FAILED", str(exc))
    return exit_code("ERROR_INVALID_INPUT", str(exc))


def setup_for_scan(
    structure: orm.StructureData | None, parameters: dict, fcp=None, force_constants=None
) -> SupercellSetup:
    """The supercell of the scan: the force constants' own (ForceConstantsData) or the
    unit cell (``structure``, default the potential's primitive cell) times ``supercell``."""
    if force_constants is not None:
        smat = parameters.get("supercell")
        if smat is not None:
            smat = np.array(smat, dtype=np.int64)
            smat = np.diag(smat) if smat.shape == (3,) else smat
            if not np.array_equal(smat, force_constants.setup.supercell_matrix):
                raise pes_physics.PESError(
                    f"supercell {smat.tolist()} differs from the force constants' supercell "
                    f"{force_constants.setup.supercell_matrix.tolist()}"
                )
        return force_constants.setup
    if fcp is None:
        raise pes_physics.PESError("give a force-constant potential (.fcp) or force constants")
    prim_cell = Cell.from_ase(fcp.primitive_structure)
    unit = Cell.from_ase(structure.get_ase()) if structure is not None else prim_cell
    check_same_lattice(unit, prim_cell)
    if "supercell" not in parameters:
        raise pes_physics.PESError("parameters need 'supercell' (3 integers or a 3x3 matrix)")
    return SupercellSetup.build(
        unit,
        parameters["supercell"],
        parameters.get("primitive_matrix"),
        symprec=parameters.get("symprec", 1e-5),
    )


@calcfunction
def pes_scan(
    parameters: orm.Dict,
    calculator: orm.Dict,
    structure: orm.StructureData = None,
    fcp: orm.SinglefileData = None,
    force_constants: ForceConstantsData = None,
):
    """Frozen-phonon scan along one normal mode: engine energies vs Taylor expansion.

    ``parameters``: ``qpoint`` (reduced, commensurate with the supercell), ``band`` (0-based,
    default 0 = lowest), ``amplitudes`` (list, Å·√amu), ``supercell`` (with ``fcp``),
    optional ``primitive_matrix``, ``phase`` (rad, default 0), ``powers`` (default [2, 4, 6]),
    ``truncations`` (default [2, 4, 6]).  ``calculator``: engine spec (sevennet, emt, lj,
    fcp; ``{"name": "fcp"}`` uses the ``fcp`` input as the engine).  Give ``fcp`` (hiphive
    .fcp file; ``structure`` optional, default its primitive cell) or ``force_constants``.

    Output ``pes``: ArrayData (amplitudes, energies, epsilon, displacement_per_amplitude,
    taylor_order_n, taylor_truncated_k, fit_powers, fit_coefficients; units and scalars in
    the attributes).
    """
    p = parameters.get_dict()
    engine = calculator.get_dict()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            fcp_obj = path = fc = None
            if fcp is not None:
                from hiphive import ForceConstantPotential

                path = os.path.join(tmp, fcp.filename or "potential.fcp")
                with fcp.open(mode="rb") as src, open(path, "wb") as dst:
                    dst.write(src.read())
                fcp_obj = ForceConstantPotential.read(path)
            if force_constants is not None:
                fc = force_constants.get_force_constants()
            setup = setup_for_scan(structure, p, fcp_obj, fc)
            result = compute_pes(
                setup,
                engine,
                p["qpoint"],
                int(p.get("band", 0)),
                p["amplitudes"],
                fcp=fcp_obj,
                force_constants=fc,
                phase=float(p.get("phase", 0.0)),
                powers=p.get("powers", (2, 4, 6)),
                truncations=p.get("truncations", (2, 4, 6)),
                fcp_path=path,
            )
        except (EngineError, CalculatorSpecError, ValueError, KeyError) as exc:
            return _fail(exc)
    return {"pes": result_to_node(result, engine)}

"""The VASP engine: aiida-vasp 5.1 ``vasp.vasp`` CalcJob inputs, and its outputs as plain arrays.

Choice: every task runs as one ``vasp.vasp`` CalcJob (``VaspCalculation``) inside
aiida-wigner's own restart workchain (:class:`aiida_wigner.workflows.vasp_base.VaspBaseWorkChain`,
``wigner.vasp_base``), not through aiida-vasp's ``vasp.vasp`` / ``vasp.relax`` workchains.
Those workchains' error handlers treat any run with NSW > 0 as a relaxation (they would
restart an MD run from its CONTCAR as an "unfinished relaxation"); ``wigner.vasp_base`` reads
the task from IBRION and its handlers act on walltime, electronic and ionic failures.
The relaxation is one VASP run with ``IBRION = 2`` (conjugate gradient), ``ISIF = 3`` (ions and
cell; ``ISIF = 2`` with ``relax_cell = False``), ``NSW = max_steps``, ``EDIFFG = -fmax`` and
VASP's default ``ISYM``, which keeps the space group.

The calculator spec (``engine.calculator``) of the VASP engine::

    {"name": "vasp",
     "incar": {"encut": 600, "ediff": 1e-8, ...},      # INCAR tags (any case), all tasks
     "kpoints_mesh": [4, 4, 3],                        # Γ-centred mesh of the supercells
     "kpoints_mesh_relax": [12, 12, 10],               # ... of the unit cell (relaxation)
     "kpoints_spacing": 0.25,                          # 1/Å (AiiDA's convention, with 2π),
                                                       #   used where no mesh is given
     "potential_family": "PBE.54",                     # an uploaded aiida-vasp POTCAR family
     "potential_mapping": {"Cs": "Cs_sv", "Cu": "Cu"}, # element (or kind) -> POTCAR name
     "options": {"resources": {...}, "max_wallclock_seconds": 3600, ...},  # CalcJob options
     "parser_settings": {...},                         # merged into aiida-vasp's parser settings
     "restart": {"max_iterations": 5,                  # wigner.vasp_base's restart handlers
                 "walltime_factor": 2.0, "max_walltime": 86400, "max_nelm": 300}}

The task tags (IBRION, NSW, ISIF, POTIM, TEBEG, TEEND, MDALGO, EDIFFG) are set here and
override ``incar``; ``SMASS`` (Nosé mass, default 0: a thermostat period of about 40 steps)
and ``ISYM`` may be given in ``incar``.

Pitfalls of aiida-vasp 5.1 handled here:

* its trajectory holds FRACTIONAL positions (vasprun.xml's); :func:`md_frames` converts them
  to Cartesian Å with each frame's cell;
* a finished MD run has as many ionic steps as NSW, which the parser flags as "ionic
  relaxation not converged" (exit 702); MD and relaxation runs get
  ``parser_settings.check_ionic_convergence = False`` (relaxation convergence is read from
  ``misc.run_status`` instead and reported by ``RelaxWorkChain``'s own exit code);
* the ``trajectory`` output node is excluded by default: MD asks for it with
  ``parser_settings.include_node = ["trajectory"]``; forces, stress and energies of the last
  ionic step come in ``misc`` by default;
* stresses are in kB with VASP's sign (positive = compressive); converted to eV/Å³ with ASE's
  sign (``-0.1 GPa × kB``);
* VASP's first ionic step is the initial configuration, so MD runs ``NSW = n_steps + 1``
  steps and frame k is time k × POTIM, which reproduces the ASE engine's frames
  (every ``interval`` steps, step 0 excluded); temperatures come from OSZICAR (retrieved).

Units: Å, eV, eV/Å, eV/Å³, K, fs.
"""

from __future__ import annotations

import re

import numpy as np

#: keys of the VASP calculator spec
SPEC_KEYS = (
    "name",
    "incar",
    "kpoints_mesh",
    "kpoints_mesh_relax",
    "kpoints_spacing",
    "potential_family",
    "potential_mapping",
    "options",
    "parser_settings",
    "restart",
)

#: settings of the restart handlers (``restart`` in the spec): runs at most, walltime factor
#: per restart, walltime cap (s), NELM cap
RESTART_DEFAULTS = {
    "max_iterations": 5,
    "walltime_factor": 2.0,
    "max_walltime": 86400,
    "max_nelm": 300,
}

DEFAULTS = {
    "kpoints_spacing": 0.25,
    "potential_family": "PBE.54",
    "options": {"resources": {"num_machines": 1}, "max_wallclock_seconds": 3600},
}

#: INCAR tags that the tasks set themselves
TASK_TAGS = (
    "ibrion",
    "nsw",
    "isif",
    "potim",
    "tebeg",
    "teend",
    "mdalgo",
    "ediffg",
    "langevin_gamma",
)


class VaspSetupError(ValueError):
    """The VASP engine cannot build the inputs (spec, code or POTCAR family missing)."""


# -- inputs ------------------------------------------------------------------------------------


def vasp_spec(calculator: dict) -> dict:
    """The calculator spec with defaults filled in; unknown keys are an error (typos)."""
    spec = dict(calculator or {})
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise VaspSetupError(
            f"unknown key(s) {unknown} in the VASP calculator spec; known: "
            f"{', '.join(SPEC_KEYS[1:])}"
        )
    for key, value in DEFAULTS.items():
        spec.setdefault(key, value)
    spec["options"] = {**DEFAULTS["options"], **(spec.get("options") or {})}
    spec["incar"] = {str(k).lower(): v for k, v in (spec.get("incar") or {}).items()}
    return spec


def restart_settings(spec: dict) -> dict:
    """The ``restart`` section of the spec with :data:`RESTART_DEFAULTS` filled in."""
    given = dict(spec.get("restart") or {})
    unknown = sorted(set(given) - set(RESTART_DEFAULTS))
    if unknown:
        raise VaspSetupError(
            f"unknown key(s) {unknown} in engine.calculator restart; known: "
            f"{', '.join(RESTART_DEFAULTS)}"
        )
    out = {**RESTART_DEFAULTS, **given}
    if out["max_iterations"] < 1 or out["walltime_factor"] <= 1 or out["max_nelm"] < 1:
        raise VaspSetupError(
            f"engine.calculator restart {given}: max_iterations and max_nelm "
            "must be at least 1 and walltime_factor above 1"
        )
    return out


def _kpoints(spec: dict, structure, relax: bool):
    from aiida import orm

    mesh = spec.get("kpoints_mesh_relax") if relax else None
    mesh = mesh or spec.get("kpoints_mesh")
    kpoints = orm.KpointsData()
    if mesh:
        kpoints.set_kpoints_mesh([int(n) for n in mesh], offset=[0.0, 0.0, 0.0])
    else:
        kpoints.set_cell_from_structure(structure)
        kpoints.set_kpoints_mesh_from_density(
            float(spec["kpoints_spacing"]), offset=[0.0, 0.0, 0.0]
        )
    return kpoints


def potentials(spec: dict, structure) -> dict:
    """``{kind name: PotcarData}`` from the family and the element/kind -> POTCAR mapping."""
    from aiida.common.exceptions import NotExistent
    from aiida_vasp.data.potcar import PotcarData

    mapping = dict(spec.get("potential_mapping") or {})
    by_kind = {
        kind.name: str(mapping.get(kind.name, mapping.get(kind.symbol, kind.symbol)))
        for kind in structure.kinds
    }
    family = str(spec["potential_family"])
    try:
        return PotcarData.get_potcars_from_structure(structure, family, mapping=by_kind)
    except (NotExistent, ValueError, KeyError) as exc:
        raise VaspSetupError(
            f"no POTCAR for {by_kind} in the POTCAR family {family!r} ({exc}); upload the family "
            f"with `aiida-vasp potcar uploadfamily` or fix engine.calculator potential_family / "
            f"potential_mapping"
        ) from exc


def _base_inputs(
    engine_inputs,
    structure,
    task: str,
    incar: dict,
    parser_settings: dict,
    retrieve: list[str] | None = None,
    relax_kpoints: bool = False,
) -> tuple:
    from aiida import orm
    from aiida.plugins import CalculationFactory

    if "code" not in engine_inputs:
        raise VaspSetupError(
            "the VASP engine needs engine.code: the AiiDA code of the VASP "
            "executable (`verdi code create core.code.installed ...`)"
        )
    spec = vasp_spec(engine_inputs["calculator"].get_dict())
    tags = {k: v for k, v in spec["incar"].items() if k not in TASK_TAGS}
    tags.update(incar)
    settings = {"parser_settings": {**parser_settings, **(spec.get("parser_settings") or {})}}
    if retrieve:
        settings["ADDITIONAL_RETRIEVE_LIST"] = list(retrieve)
    inputs = {
        "code": engine_inputs["code"],
        "structure": structure,
        "parameters": orm.Dict({k.upper(): v for k, v in tags.items()}),
        "kpoints": _kpoints(spec, structure, relax_kpoints),
        "potential": potentials(spec, structure),
        "settings": orm.Dict(settings),
        "metadata": {
            "options": dict(spec["options"]),
            "label": f"wigner {task} {structure.get_formula()}",
            "call_link_label": f"vasp_{task}",
        },
    }
    return CalculationFactory("vasp.vasp"), inputs


def static_builder(engine_inputs, structure, stress: bool = False):
    """``(VaspCalculation, inputs)``: single point (NSW = 0) forces, energy and stress."""
    incar = {"ibrion": -1, "nsw": 0, "isif": 2}
    return _base_inputs(engine_inputs, structure, "static", incar, {})


def md_builder(engine_inputs, structure, parameters: dict):
    """``(VaspCalculation, inputs)``: NVT MD (IBRION = 0) with the ASE engine's parameters.

    ``parameters``: temperature (K), timestep (fs), n_steps, interval (used when the
    trajectory is read back), thermostat ``nose-hoover`` (MDALGO = 2, Nosé mass SMASS from
    ``incar``, default 0) or ``langevin`` (MDALGO = 3, LANGEVIN_GAMMA = friction in 1/ps).
    ``seed`` and ``tdamp`` have no VASP counterpart here and are ignored.
    """
    p = dict(parameters)
    temperature = float(p.get("temperature", 300.0))
    incar = {
        "ibrion": 0,
        "nsw": int(p.get("n_steps", 1000)) + 1,
        "potim": float(p.get("timestep", 2.0)),
        "tebeg": temperature,
        "teend": temperature,
        "isif": 2,
    }
    thermostat = str(p.get("thermostat", "nose-hoover")).lower().replace("_", "-")
    spec_incar = vasp_spec(engine_inputs["calculator"].get_dict())["incar"]
    if thermostat in ("nose-hoover", "nosehoover", "nh"):
        incar["mdalgo"] = 2
        incar["smass"] = spec_incar.get("smass", 0)
    elif thermostat == "langevin":
        n_species = len({site.kind_name for site in structure.sites})
        incar["mdalgo"] = 3
        incar["langevin_gamma"] = [float(p.get("friction", 0.01)) * 1000.0] * n_species
    else:
        raise VaspSetupError(f"unknown thermostat {thermostat!r}: use 'nose-hoover' or 'langevin'")
    incar.setdefault("isym", spec_incar.get("isym", 0))  # no symmetry in MD (VASP's advice)
    parser = {"include_node": ["trajectory"], "check_ionic_convergence": False}
    return _base_inputs(engine_inputs, structure, "md", incar, parser, retrieve=["OSZICAR"])


def relax_builder(engine_inputs, structure, parameters: dict):
    """``(VaspCalculation, inputs)``: ions + cell relaxation keeping the space group.

    ``parameters``: fmax (eV/Å) -> EDIFFG = -fmax, max_steps -> NSW, relax_cell (ISIF 3 or 2),
    keep_symmetry (False -> ISYM = 0).  Uses ``kpoints_mesh_relax`` when given.
    """
    p = dict(parameters)
    incar = {
        "ibrion": 2,
        "isif": 3 if p.get("relax_cell", True) else 2,
        "nsw": int(p.get("max_steps", 300)),
        "ediffg": -abs(float(p.get("fmax", 1e-3))),
    }
    if not p.get("keep_symmetry", True):
        incar["isym"] = 0
    parser = {"check_ionic_convergence": False}
    return _base_inputs(engine_inputs, structure, "relax", incar, parser, relax_kpoints=True)


def builder(engine_inputs, task: str, structure, **kwargs):
    """Dispatch to :func:`static_builder` / :func:`md_builder` / :func:`relax_builder`."""
    return {"static": static_builder, "md": md_builder, "relax": relax_builder}[task](
        engine_inputs, structure, **kwargs
    )


# -- outputs -----------------------------------------------------------------------------------


def stress_to_ev_a3(stress_kbar) -> np.ndarray:
    """VASP stress (kB, positive = compressive) -> ASE's sign convention in eV/Å³."""
    from ase.units import GPa

    return -0.1 * GPa * np.asarray(stress_kbar, dtype=float)


def _energy(misc: dict) -> float:
    energies = misc.get("total_energies") or {}
    for key in ("energy_extrapolated", "energy_free", "energy_no_entropy"):
        if key in energies:
            return float(energies[key])
    return float("nan")


def static_arrays(misc: dict) -> dict:
    """``energy`` eV, ``forces`` (N, 3) eV/Å, ``stress`` (3, 3) eV/Å³ from the ``misc`` dict."""
    if misc.get("forces") is None:
        raise VaspSetupError("the VASP run has no forces in its misc output")
    out = {"energy": _energy(misc), "forces": np.asarray(misc["forces"], dtype=float)}
    out["stress"] = stress_to_ev_a3(misc["stress"]) if misc.get("stress") is not None else None
    return out


def static_results(node) -> dict:
    """:func:`static_arrays` of a finished ``vasp.vasp`` CalcJob node."""
    return static_arrays(node.outputs.misc.get_dict())


def oszicar_temperatures(text: str) -> np.ndarray:
    """``T=`` of each ionic step in an OSZICAR of an MD run (K)."""
    return np.array(
        [
            float(m.group(1))
            for m in re.finditer(r"^\s*\d+\s+T=\s*([-+0-9.Ee]+)", text, flags=re.MULTILINE)
        ]
    )


def md_frames(arrays: dict, parameters: dict, temperatures=None) -> dict:
    """Frames like :func:`aiida_wigner.engines.run_md`'s from aiida-vasp's trajectory arrays.

    ``arrays``: ``cells`` (n, 3, 3) Å, ``positions`` (n, N, 3) FRACTIONAL (aiida-vasp 5.1),
    ``forces`` (n, N, 3) eV/Å, energies ``energy_extrapolated`` (n,) eV.  Ionic step k
    (0-based) is the configuration at time k × timestep; frames are kept at k = interval,
    2 interval, ... as the ASE engine does.  Positions are returned Cartesian in Å.
    """
    cells = np.asarray(arrays["cells"], dtype=float)
    frac = np.asarray(arrays["positions"], dtype=float)
    cart = np.einsum("kni,kij->knj", frac, cells)
    n = len(cells)
    steps = np.arange(n)
    interval = int(parameters.get("interval", 1))
    keep = (steps > 0) & (steps % interval == 0)
    energies = arrays.get("energy_extrapolated")
    energies = np.full(n, np.nan) if energies is None else np.asarray(energies, dtype=float)[-n:]
    temps = np.full(n, np.nan)
    if temperatures is not None and len(temperatures) >= n:
        temps = np.asarray(temperatures, dtype=float)[:n]
    return {
        "positions": cart[keep],
        "cells": cells[keep],
        "energies": energies[keep],
        "forces": np.asarray(arrays["forces"], dtype=float)[keep],
        "temperatures": temps[keep],
        "steps": steps[keep],
        "times": steps[keep] * float(parameters.get("timestep", 2.0)),
    }


def relax_info(misc: dict, max_force: float | None = None) -> dict:
    """Relaxation summary: ``energy`` eV, ``converged``, ``n_steps``, ``max_force`` eV/Å,
    ``stress`` eV/Å³."""
    status = misc.get("run_status") or {}
    forces = np.asarray(misc.get("forces") or [[np.nan] * 3], dtype=float)
    info = {
        "energy": _energy(misc),
        # None: VASP could not tell (NSW <= 1); treated as converged
        "converged": status.get("ionic_converged") is not False,
        "n_steps": int((status.get("last_iteration_index") or [0])[0]),
        "max_force": float(np.abs(forces).max()) if max_force is None else max_force,
        "units": {"energy": "eV", "max_force": "eV/Å", "stress": "eV/Å^3"},
    }
    if misc.get("stress") is not None:
        info["stress"] = stress_to_ev_a3(misc["stress"]).tolist()
    return info


#: what to change when a VASP CalcJob fails in a way no restart handler of
#: ``wigner.vasp_base`` acts on, by its exit status (700 did not finish, 701 electronic and
#: 702 ionic non-convergence have handlers)
FAILURE_HINTS = {
    333: "VASP did not start or wrote nothing: check the code (executable, modules in "
    "prepend_text, MPI) and the job's output `vasp_output`",
    350: "nothing was retrieved: check the computer and the scheduler",
    352: "VASP stopped before writing vasprun.xml/OUTCAR (crash, walltime or memory): read "
    "`vasp_output` and the scheduler output, raise options.max_wallclock_seconds or the "
    "resources in engine.calculator",
    703: "VASP reported a critical error: see the message and `vasp_output`; adjust the INCAR "
    "tags in engine.calculator.incar",
    1002: "the parser missed a required quantity: check that vasprun.xml and OUTCAR are complete",
}


def failure_message(node) -> str:
    """The exit message of a failed ``vasp.vasp`` CalcJob plus what to change."""
    status = node.exit_status
    msg = node.exit_message or f"exit status {status}"
    hint = FAILURE_HINTS.get(
        status,
        "inspect it with `verdi process report` and `verdi calcjob outputcat <PK> vasp_output`",
    )
    return f"VASP calculation <{node.pk}> failed [{status}]: {msg}; {hint}"


def is_vasp_node(node) -> bool:
    return str(getattr(node, "process_type", "") or "").endswith("vasp.vasp")

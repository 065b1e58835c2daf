"""Calcfunctions around the ASE engine: each call is one node in the provenance graph.

Choice (documented in docs/fitting.md): the ASE engine runs *in-process* through these
calcfunctions by default -- no computer or code has to be configured, and the inputs
(calculator spec, structures) and outputs (forces, trajectory) are recorded.  To run
the same functions on a remote computer, give the workflows a Python ``code``: they then
launch :func:`aiida_wigner.engines.compute_static` etc. through aiida-pythonjob's
``PythonJob`` (see :mod:`aiida_wigner.workflows.engine`).

Engine failures become the exit code ``ERROR_ENGINE_FAILED`` (310) with the engine's
message, so that calling workflows can report them instead of excepting.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
from aiida import orm
from aiida.engine import ExitCode, calcfunction

from ..engines.ase_engine import EngineError, compute_static, relax, run_md
from ..engines.calculators import CalculatorSpecError
from ..exit_codes import exit_code, status

EXIT_ENGINE_FAILED = status("ERROR_ENGINE_FAILED")
EXIT_BAD_SPEC = status("ERROR_BAD_CALCULATOR")


def _spec(calculator: orm.Dict, potential: orm.SinglefileData | None, tmpdir: str) -> dict:
    spec = calculator.get_dict()
    if potential is not None:
        path = os.path.join(tmpdir, potential.filename or "potential.fcp")
        with potential.open(mode="rb") as src, open(path, "wb") as dst:
            dst.write(src.read())
        spec["fcp"] = path
    return spec


def _fail(exc: Exception) -> ExitCode:
    if isinstance(exc, CalculatorSpecError):
        return exit_code("ERROR_BAD_CALCULATOR", str(exc))
    return exit_code("ERROR_ENGINE_FAILED", str(exc))


def sorted_labels(structures: dict) -> list[str]:
    return sorted(structures)


@calcfunction
def ase_static(
    calculator: orm.Dict, settings: orm.Dict, potential: orm.SinglefileData = None, **structures
):
    """Energies and forces of the given structures with an ASE calculator.

    Outputs ``forces``: ArrayData with ``energies`` (n,) eV, ``forces`` (n, N, 3) eV/Å and,
    if ``settings['stress']``, ``stresses`` (n, 3, 3) eV/Å³; the order is that of the
    sorted input labels (attribute ``labels``).
    """
    labels = sorted_labels(structures)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            res = compute_static(
                _spec(calculator, potential, tmp),
                [structures[k].get_ase() for k in labels],
                stress=bool(settings.get("stress", False)),
            )
        except (EngineError, CalculatorSpecError) as exc:
            return _fail(exc)
    out = orm.ArrayData()
    for k, v in res.items():
        out.set_array(k, v)
    out.base.attributes.set("labels", labels)
    out.base.attributes.set("units", {"energies": "eV", "forces": "eV/Å", "stresses": "eV/Å^3"})
    return {"forces": out}


def trajectory_from_frames(frames: dict, symbols) -> orm.TrajectoryData:
    """TrajectoryData (Cartesian positions Å) from the dict returned by ``run_md``."""
    traj = orm.TrajectoryData()
    traj.set_trajectory(
        symbols=list(symbols),
        positions=np.asarray(frames["positions"]),
        stepids=np.asarray(frames["steps"], dtype=int),
        cells=np.asarray(frames["cells"]),
        times=np.asarray(frames["times"], dtype=float),
        pbc=[True, True, True],
    )
    for key in ("energies", "forces", "temperatures"):
        traj.set_array(key, np.asarray(frames[key], dtype=float))
    traj.base.attributes.set(
        "units",
        {
            "positions": "Å (Cartesian)",
            "times": "fs",
            "energies": "eV",
            "forces": "eV/Å",
            "temperatures": "K",
        },
    )
    return traj


@calcfunction
def ase_md(
    calculator: orm.Dict,
    structure: orm.StructureData,
    parameters: orm.Dict,
    potential: orm.SinglefileData = None,
):
    """NVT molecular dynamics; output ``trajectory`` (every ``interval`` steps).

    ``parameters``: temperature (K), timestep (fs), n_steps, interval, thermostat
    ('nose-hoover' | 'langevin'), tdamp (fs), friction (1/fs), seed.
    """
    atoms = structure.get_ase()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            frames = run_md(_spec(calculator, potential, tmp), atoms, **parameters.get_dict())
        except (EngineError, CalculatorSpecError) as exc:
            return _fail(exc)
    if len(frames["steps"]) == 0:
        return exit_code(
            "ERROR_ENGINE_FAILED",
            "the MD run recorded no frame; n_steps must be at least 'interval'",
        )
    return {"trajectory": trajectory_from_frames(frames, atoms.get_chemical_symbols())}


@calcfunction
def ase_relax(
    calculator: orm.Dict,
    structure: orm.StructureData,
    parameters: orm.Dict,
    potential: orm.SinglefileData = None,
):
    """Relax ions and cell keeping the space group; outputs ``relaxed_structure`` and ``info``.

    ``parameters``: fmax (eV/Å), max_steps, relax_cell, keep_symmetry, symprec (Å).
    """
    with tempfile.TemporaryDirectory() as tmp:
        try:
            res = relax(
                _spec(calculator, potential, tmp), structure.get_ase(), **parameters.get_dict()
            )
        except (EngineError, CalculatorSpecError) as exc:
            return _fail(exc)
    from ..engines.calculators import atoms_from_dict

    relaxed = orm.StructureData(ase=atoms_from_dict(res["structure"]))
    info = {
        k: res[k]
        for k in ("energy", "converged", "n_steps", "spacegroup_initial", "spacegroup_final")
    }
    info["max_force"] = float(np.abs(res["forces"]).max())
    info["stress"] = np.asarray(res["stress"]).tolist()
    info["units"] = {"energy": "eV", "max_force": "eV/Å", "stress": "eV/Å^3"}
    return {"relaxed_structure": relaxed, "info": orm.Dict(info)}

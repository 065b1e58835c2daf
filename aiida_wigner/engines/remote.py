"""The ASE engine's tasks as run inside an aiida-pythonjob ``PythonJob`` on another computer.

aiida-pythonjob pickles these module-level functions *by reference* (module path and name),
so the remote Python must be able to import ``aiida_wigner.engines.remote``: aiida-wigner (and
the calculator's own package, e.g. sevenn) installed in the interpreter of the PythonJob code.
This module imports only numpy and the ASE engine, not AiiDA's workflow machinery.

Each function takes plain Python values (each structure arrives as an ``ase.Atoms``
deserialized from the workchain's StructureData) and returns a dict of JSON-friendly lists,
stored by the PythonJob parser as one ``Dict`` output ``result``.  Engine failures do not
raise: they return aiida-pythonjob's inline ``exit_code``, so the PythonJob ends with
status 310 (engine failed) or 311 (bad calculator spec) and the engine's message, the same
exit statuses as the in-process calcfunctions.

Units: Å, eV, eV/Å, eV/Å³, K, fs.
"""

from __future__ import annotations

import numpy as np

from ..exit_codes import status

EXIT_ENGINE_FAILED = status("ERROR_ENGINE_FAILED")
EXIT_BAD_SPEC = status("ERROR_BAD_CALCULATOR")


def _plain(value):
    """JSON-friendly copy: arrays to lists, non-finite floats (e.g. the temperature of a
    one-atom cell after removing the centre-of-mass motion) to None (NaN when read back with
    ``np.asarray(..., dtype=float)``), as AiiDA's database refuses NaN and inf."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            obj = value.astype(object)
            obj[~np.isfinite(value)] = None
            return obj.tolist()
        return value.tolist()
    if isinstance(value, (float, np.floating)) and not np.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _failure(exc: Exception) -> dict:
    from .ase_engine import EngineError
    from .calculators import CalculatorSpecError

    if isinstance(exc, CalculatorSpecError):
        return {"exit_code": {"status": EXIT_BAD_SPEC, "message": f"ERROR_BAD_CALCULATOR: {exc}"}}
    if isinstance(exc, EngineError):
        return {
            "exit_code": {"status": EXIT_ENGINE_FAILED, "message": f"ERROR_ENGINE_FAILED: {exc}"}
        }
    raise exc


def remote_static_batch(spec: dict, structures: dict, stress: bool = False, first_index: int = 0):
    """Energies (n,) eV, forces (n, N, 3) eV/Å and optionally stresses (n, 3, 3) eV/Å³ of a
    batch of structures, with one calculator for the whole batch (a machine-learned model is
    loaded once), as the in-process ``ase_static`` calcfunction does.

    ``structures`` maps labels to ``ase.Atoms``; they are computed in the sorted order of the
    labels, returned as ``labels``.  ``first_index``: the batch's offset in the workchain's
    sorted structures, so that an engine failure names the structure by the same index as
    in-process.
    """
    from .ase_engine import compute_static

    labels = sorted(structures)
    try:
        res = compute_static(
            spec,
            [structures[k] for k in labels],
            stress=bool(stress),
            first_index=int(first_index),
        )
    except Exception as exc:  # noqa: BLE001 - engine errors become exit codes, others re-raise
        return _failure(exc)
    return {"labels": labels, **{k: _plain(v) for k, v in res.items()}}


def remote_md(spec: dict, structure, parameters: dict) -> dict:
    """NVT MD frames (see :func:`aiida_wigner.engines.ase_engine.run_md`) as lists."""
    from .ase_engine import run_md

    try:
        frames = run_md(spec, structure, **parameters)
    except Exception as exc:  # noqa: BLE001
        return _failure(exc)
    if len(frames["steps"]) == 0:
        return {
            "exit_code": {
                "status": EXIT_ENGINE_FAILED,
                "message": "ERROR_ENGINE_FAILED: the MD run recorded no frame; "
                "n_steps must be at least 'interval'",
            }
        }
    return {k: _plain(v) for k, v in frames.items()}


def remote_relax(spec: dict, structure, parameters: dict) -> dict:
    """Relaxation result (see :func:`aiida_wigner.engines.ase_engine.relax`) as lists."""
    from .ase_engine import relax

    try:
        res = relax(spec, structure, **parameters)
    except Exception as exc:  # noqa: BLE001
        return _failure(exc)
    return {k: _plain(v) for k, v in res.items()}

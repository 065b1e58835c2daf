"""Command line of ``aiida-wigner-worker`` (plain argparse; physics functions only).

::

    aiida-wigner-worker linewidths --force-constants force_constants.h5 --job job.json \\
        [--renormalization renormalization.npz] [--previous previous_linewidths.npz] \\
        --output linewidths.npz
    aiida-wigner-worker renormalize --force-constants force_constants.h5 --job job.json \\
        --output renormalization.npz
    aiida-wigner-worker fit --training training.npz --job job.json \\
        [--force-constants harmonic_force_constants.h5] --output fit.npz

``fit``: ``job.json`` ``{"settings": {...}}`` holds the parameters of the ``wigner.fit_hiphive``
calcfunction (supercell_matrix, cutoffs, method, ...); ``training.npz`` the unit cell
(``lattice`` Å, fractional ``positions``, ``numbers``, ``masses`` amu), the training set
(``displacements`` (m, N, 3) Å, ``forces`` eV/Å) and optionally the finite-displacement
dataset (``harmonic_displacements``, ``harmonic_forces``); ``--force-constants`` the
finite-displacement FC2 (kept fixed with harmonic 'fixed').  Writes ``potential.fcp`` (the
hiphive potential) next to ``fit.npz`` (``fc2``, ``fc3``, ``fc4_atoms``, ``fc4_values`` in
eV/Å^n on the supercell of the parameters; ``meta``: scores, source).

``--force-constants`` is the ``force_constants.h5`` of a ``ForceConstantsData`` node; instead
of it, ``--cell/--structure/--supercell/--fc2/--fc3/--fc4/--fcp`` read any format of
:func:`aiida_wigner.physics.io.load_force_constants`.  ``job.json``: ``{"settings": {...}}``
with the fields of ``KappaSettings`` (linewidths) or ``RenormalizationSettings``
(renormalize); for linewidths also ``"grid_points"`` (mesh indices of the chunk's irreducible
q-points; null: all) and ``"parts"`` (of "3ph", "isotope", "4ph"; default all).
Outputs are ``.npz`` files whose ``units`` entry (JSON) gives every array's units.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from . import EXIT_REFUSED, FCP_FILE, STATUS_FILE


def _force_constants(args):
    from aiida_wigner.physics.io import load_force_constants
    from aiida_wigner.physics.io.native import read_native_force_constants

    if args.force_constants:
        return read_native_force_constants(args.force_constants)
    return load_force_constants(
        cell=args.cell,
        structure=args.structure,
        supercell=args.supercell,
        fc2=args.fc2,
        fc3=args.fc3,
        fc4=args.fc4,
        fcp=args.fcp,
    )


def write_npz(path, arrays: dict, **meta) -> None:
    """``arrays`` plus a JSON ``meta`` entry (units, kind), written atomically (a partial file
    never carries the final name)."""
    tmp = f"{path}.part.npz"
    np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
    os.replace(tmp, path)


def read_npz(path) -> tuple[dict, dict]:
    """The arrays and the ``meta`` dictionary (units, kind) of a file of :func:`write_npz`."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files if name != "meta"}
        meta = json.loads(str(data["meta"])) if "meta" in data.files else {}
    return arrays, meta


def _job(path) -> dict:
    with open(path) as fh:
        job = json.load(fh)
    if not isinstance(job, dict) or not isinstance(job.get("settings"), dict):
        raise ValueError(f"{path}: expected a JSON object with a 'settings' object")
    return job


def run_linewidths(args) -> None:
    from aiida_wigner.physics.kappa import Linewidths, compute_linewidths, settings_from_dict
    from aiida_wigner.physics.renormalization import Renormalization

    job = _job(args.job)
    settings = settings_from_dict(job["settings"])
    fc = _force_constants(args)
    models = None
    if args.renormalization:
        arrays, meta = read_npz(args.renormalization)
        models = Renormalization.from_arrays(meta["kind"], arrays).models(fc, settings.temperatures)
    previous = Linewidths.from_arrays(read_npz(args.previous)[0]) if args.previous else None
    kwargs = {"parts": tuple(job["parts"])} if job.get("parts") else {}
    result = compute_linewidths(
        fc, settings, job.get("grid_points"), models, previous=previous, **kwargs
    )
    write_npz(args.output, result.arrays(), units=Linewidths.UNITS)


def run_renormalize(args) -> None:
    from aiida_wigner.physics.renormalization import (
        Renormalization,
        RenormalizationSettings,
        renormalize,
    )

    settings = RenormalizationSettings.from_dict(_job(args.job)["settings"])
    result = renormalize(_force_constants(args), settings)
    write_npz(args.output, result.arrays(), kind=result.kind, units=Renormalization.UNITS)


def _json_default(value):
    """JSON for the numpy scalars and arrays of a fit's scores."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def run_fit(args) -> None:
    from aiida_wigner.fitting.ensemble import member_label
    from aiida_wigner.fitting.hiphive_fit import fit_step
    from aiida_wigner.physics.cell import Cell, SupercellSetup

    parameters = _job(args.job)["settings"]
    training, _ = read_npz(args.training)
    cell = Cell(training["lattice"], training["positions"], training["numbers"], training["masses"])
    setup = SupercellSetup.build(
        cell,
        parameters["supercell_matrix"],
        parameters.get("primitive_matrix"),
        symprec=parameters.get("symprec", 1e-5),
    )
    harmonic_fc2 = None
    if args.force_constants:
        from aiida_wigner.physics.io.native import read_native_force_constants

        harmonic_fc2 = read_native_force_constants(args.force_constants)
    result, fc, members = fit_step(
        setup,
        parameters,
        training["displacements"],
        training["forces"],
        training.get("harmonic_displacements"),
        training.get("harmonic_forces"),
        harmonic_fc2,
    )
    result.fcp.write(os.path.join(os.path.dirname(os.path.abspath(args.output)), FCP_FILE))
    arrays = fit_arrays(fc)
    for b, member in enumerate(members):
        arrays.update(fit_arrays(member, f"{member_label(b)}_"))
    meta = json.loads(
        json.dumps(
            {
                "scores": result.scores,
                "source": fc.source,
                "ensemble_sources": [m.source for m in members],
            },
            default=_json_default,
        )
    )
    write_npz(args.output, arrays, units="eV/Angstrom^n", **meta)


def fit_arrays(fc, prefix: str = "") -> dict:
    """The arrays of one fitted ``ForceConstants`` in ``fit.npz`` (eV/Å^n): ``fc2``,
    ``fc3`` (dense compact), ``fc4_atoms`` / ``fc4_values`` (sparse), each name prefixed."""
    arrays = {"fc2": fc.fc2}
    if fc.fc3 is not None:
        arrays["fc3"] = fc.dense_fc3()
    if fc.fc4 is not None:
        arrays.update(fc4_atoms=fc.fc4.atoms, fc4_values=fc.fc4.values)
    return {prefix + name: value for name, value in arrays.items()}


def _refusal(exc: Exception) -> str | None:
    """The exit-code label for an exception that means "these inputs cannot give a result"."""
    from aiida_wigner.fitting.hiphive_fit import FitError, TooManyParametersError
    from aiida_wigner.physics.cell import CellError
    from aiida_wigner.physics.forceconstants import ForceConstantsError
    from aiida_wigner.physics.harmonic import UnstablePhononsError
    from aiida_wigner.physics.mesh import MeshError
    from aiida_wigner.physics.renormalization import MissingTemperatureError, SCPNotConvergedError

    if isinstance(exc, UnstablePhononsError):
        return "ERROR_UNSTABLE_PHONONS"
    if isinstance(exc, SCPNotConvergedError):
        return "ERROR_SCP_NOT_CONVERGED"
    if isinstance(exc, TooManyParametersError):
        return "ERROR_TOO_MANY_PARAMETERS"
    if isinstance(exc, FitError):
        return "ERROR_FIT_SETUP"
    if isinstance(
        exc,
        (ForceConstantsError, CellError, MeshError, MissingTemperatureError, ValueError, OSError),
    ):
        return "ERROR_INVALID_INPUT"
    return None


def _write_status(label: str | None, message: str) -> None:
    from aiida_wigner.exit_codes import status

    with open(STATUS_FILE, "w") as fh:
        json.dump(
            {
                "exit_status": 0 if label is None else status(label),
                "label": label,
                "message": message,
            },
            fh,
        )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="aiida-wigner-worker", description=__doc__.split("\n")[0])
    sub = top.add_subparsers(dest="step", required=True)
    for name, func, text in (
        ("linewidths", run_linewidths, "3ph/4ph/isotope half widths (THz) at a chunk of q-points"),
        ("renormalize", run_renormalize, "SCP (+ bubble) renormalization"),
        ("fit", run_fit, "hiphive fit of the force constants to a training set"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(func=func)
        p.add_argument("--job", required=True, help="job.json with the settings (see above)")
        p.add_argument("--output", required=True, help="output .npz")
        if name == "fit":
            p.add_argument("--training", required=True, help="training.npz (see above)")
            p.add_argument("--force-constants", help="finite-displacement FC2 (.h5), optional")
            continue
        source = p.add_argument_group("force constants")
        source.add_argument("--force-constants", help="force_constants.h5 of a ForceConstantsData")
        for option in ("--cell", "--structure", "--fc2", "--fc3", "--fc4", "--fcp"):
            source.add_argument(option, help="as in `aiida-wigner kappa`")
        source.add_argument("--supercell", type=int, nargs=3)
        if name == "linewidths":
            p.add_argument("--renormalization", help="renormalization .npz (worker renormalize)")
            p.add_argument("--previous", help="linewidths .npz whose 3ph + isotope are kept")
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.step != "fit" and not (args.force_constants or args.fc2 or args.fcp):
        parser().error("give --force-constants FILE (or --fc2/--fcp with --cell or --structure)")
    try:
        args.func(args)
    except Exception as exc:  # noqa: BLE001 - refusals become a status file, the rest a traceback
        label = _refusal(exc)
        if label is None:
            raise
        _write_status(label, str(exc))
        print(f"aiida-wigner-worker {args.step}: {label}: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    _write_status(None, "")
    return 0


if __name__ == "__main__":
    sys.exit(main())

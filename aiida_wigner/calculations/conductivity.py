"""Calcfunctions of the structure → κ(T) pipeline (``wigner.conductivity``), not physics steps.

``summarize_conductivity`` turns the ``kappa`` output of ``wigner.kappa`` and the force-constant
node it ran on into the pipeline's ``summary`` Dict: formula, space group, engine, protocol,
renormalization, scattering, κ_P / κ_C / κ per temperature (full tensors and the diagonal with
its average), the κ_C share and the code versions.  Units: K, W/(m K).
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from aiida_wigner.data.force_constants import ForceConstantsData

__all__ = ["summarize_conductivity", "force_constants_from_fcp", "code_versions", "kappa_rows"]

#: Packages whose versions the summary records (those installed).
VERSIONED = (
    "aiida-wigner",
    "aiida-core",
    "numpy",
    "scipy",
    "numba",
    "spglib",
    "phonopy",
    "hiphive",
    "ase",
    "sevenn",
    "torch",
    "aiida-vasp",
    "aiida-phonopy",
)


def code_versions() -> dict:
    """``{package: version}`` of the installed packages of :data:`VERSIONED`."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in VERSIONED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def kappa_rows(temperatures, kappa_P, kappa_C, kappa) -> list[dict]:
    """One dict per temperature: T and the xx, yy, zz components and their average (W/(m K))
    of κ_P, κ_C and κ, plus the coherence share κ_C/κ of the average (None when κ = 0)."""
    rows = []
    for i, t in enumerate(np.asarray(temperatures, dtype=float)):
        row = {"T": float(t)}
        for name, tensor in (("kappa_P", kappa_P), ("kappa_C", kappa_C), ("kappa", kappa)):
            diag = np.diag(np.asarray(tensor[i], dtype=float))
            for axis, value in zip(("xx", "yy", "zz"), diag, strict=True):
                row[f"{name}_{axis}"] = float(value)
            row[f"{name}_avg"] = float(diag.mean())
        row["kappa_C_share"] = (
            row["kappa_C_avg"] / row["kappa_avg"]  # None: κ = 0 (a Dict
            if row["kappa_avg"]
            else None
        )  # cannot store NaN)
        rows.append(row)
    return rows


def _spacegroup(fc) -> str:
    import spglib

    cell = fc.setup.unitcell
    data = spglib.get_symmetry_dataset((cell.lattice, cell.positions, cell.numbers), symprec=1e-3)
    return f"{data.international} ({data.number})" if data is not None else "unknown"


@calcfunction
def summarize_conductivity(
    kappa: orm.ArrayData, force_constants: ForceConstantsData, run: orm.Dict
) -> orm.Dict:
    """The ``summary`` of a pipeline run.

    :param kappa: the ``kappa`` output of ``wigner.kappa`` (temperatures K, tensors W/(m K)).
    :param force_constants: the force constants κ was computed from.
    :param run: ``engine``, ``protocol``, ``renormalization`` ("none" | "scp" |
        "scpb-<bubble>") and ``scattering`` (three_phonon, four_phonon, isotope).
    """
    fc = force_constants.get_force_constants()
    t = kappa.get_array("temperatures")
    tensors = {name: kappa.get_array(name) for name in ("kappa_P", "kappa_C", "kappa")}
    data = dict(run.get_dict())
    data.update(
        formula=force_constants.formula,
        spacegroup=_spacegroup(fc),
        temperatures=t.tolist(),
        units="W/(m K)",
        rows=kappa_rows(t, tensors["kappa_P"], tensors["kappa_C"], tensors["kappa"]),
        versions=code_versions(),
    )
    data.update({name: value.tolist() for name, value in tensors.items()})
    return orm.Dict(data)


@calcfunction
def force_constants_from_fcp(
    fcp: orm.SinglefileData, supercell_matrix: orm.List
) -> ForceConstantsData:
    """Orders 2–4 of a hiphive ``.fcp`` evaluated on its primitive cell × ``supercell_matrix``.

    The FC2 of an ``.fcp`` is the cutoff-limited one of the cluster space; the
    ``force_constants`` output of ``wigner.fit`` / ``wigner.force_constants`` carries the full
    finite-displacement FC2 and is the better input when it exists.
    """
    import os
    import tempfile

    from aiida_wigner.physics.io import load_force_constants

    fd, path = tempfile.mkstemp(suffix=".fcp")
    os.close(fd)
    try:
        with fcp.open(mode="rb") as src, open(path, "wb") as dst:
            dst.write(src.read())
        fc = load_force_constants(fcp=path, supercell=supercell_matrix.get_list())
    finally:
        os.unlink(path)
    fc.source["fcp_node"] = fcp.uuid
    return ForceConstantsData.from_force_constants(fc)

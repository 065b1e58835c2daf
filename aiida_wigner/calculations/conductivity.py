"""Calcfunctions of the structure → κ(T) pipeline (``wigner.conductivity``), not physics steps.

``summarize_conductivity`` turns the ``kappa`` output of ``wigner.kappa`` and the force-constant
node it ran on into the pipeline's ``summary`` Dict: formula, space group, engine, protocol,
renormalization, scattering, κ_P / κ_C / κ per temperature (full tensors and the diagonal with
its average), the κ_C share and the code versions.  ``kappa_ensemble_statistics`` gathers the
κ of the bootstrap members of a fit ensemble (:mod:`aiida_wigner.fitting.ensemble`) into their
spread, which the summary reports beside each number as ``..._std``.  Units: K, W/(m K).
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from aiida_wigner.data.force_constants import ForceConstantsData

__all__ = [
    "summarize_conductivity",
    "kappa_ensemble_statistics",
    "force_constants_from_fcp",
    "code_versions",
    "kappa_rows",
]

#: the κ tensors of a ``kappa`` node, W/(m K)
KAPPA_NAMES = ("kappa_P", "kappa_C", "kappa")

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


def _diagonal_and_average(tensors) -> np.ndarray:
    """(..., 4): the xx, yy, zz components and their average of tensors (..., 3, 3)."""
    diag = np.diagonal(np.asarray(tensors, dtype=float), axis1=-2, axis2=-1)
    return np.concatenate([diag, diag.mean(axis=-1, keepdims=True)], axis=-1)


def kappa_rows(temperatures, kappa_P, kappa_C, kappa, members: dict | None = None) -> list[dict]:
    """One dict per temperature: T and the xx, yy, zz components and their average (W/(m K))
    of κ_P, κ_C and κ, plus the coherence share κ_C/κ of the average (None when κ = 0).

    ``members``: ``{name: (n_members, T, 3, 3)}`` κ of a bootstrap ensemble; each value
    then gets ``<key>_std``, the members' standard deviation (ddof = 1) of that same
    component or average, W/(m K).
    """
    from aiida_wigner.fitting.ensemble import ensemble_spread

    spreads = {
        name: ensemble_spread(_diagonal_and_average(values))[1]
        for name, values in (members or {}).items()
    }
    rows = []
    for i, t in enumerate(np.asarray(temperatures, dtype=float)):
        row = {"T": float(t)}
        for name, tensor in (("kappa_P", kappa_P), ("kappa_C", kappa_C), ("kappa", kappa)):
            values = _diagonal_and_average(tensor[i])
            for k, (key, value) in enumerate(zip(("xx", "yy", "zz", "avg"), values, strict=True)):
                row[f"{name}_{key}"] = float(value)
                if name in spreads:
                    row[f"{name}_{key}_std"] = float(spreads[name][i, k])
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
    kappa: orm.ArrayData,
    force_constants: ForceConstantsData,
    run: orm.Dict,
    kappa_ensemble: orm.ArrayData | None = None,
) -> orm.Dict:
    """The ``summary`` of a pipeline run.

    :param kappa: the ``kappa`` output of ``wigner.kappa`` (temperatures K, tensors W/(m K)).
    :param force_constants: the force constants κ was computed from.
    :param run: ``engine``, ``protocol``, ``renormalization`` ("none" | "scp" |
        "scpb-<bubble>") and ``scattering`` (three_phonon, four_phonon, isotope).
    :param kappa_ensemble: the output of :func:`kappa_ensemble_statistics`: each row then
        carries the members' standard deviations (``..._std``) and ``ensemble`` the size.
    """
    fc = force_constants.get_force_constants()
    t = kappa.get_array("temperatures")
    tensors = {name: kappa.get_array(name) for name in KAPPA_NAMES}
    members = None
    data = dict(run.get_dict())
    if kappa_ensemble is not None:
        members = {name: kappa_ensemble.get_array(f"{name}_members") for name in KAPPA_NAMES}
        data["ensemble"] = {
            "size": int(members["kappa"].shape[0]),
            "method": kappa_ensemble.base.attributes.get("method"),
        }
    data.update(
        formula=force_constants.formula,
        spacegroup=_spacegroup(fc),
        temperatures=t.tolist(),
        units="W/(m K)",
        rows=kappa_rows(t, *(tensors[name] for name in KAPPA_NAMES), members=members),
        versions=code_versions(),
    )
    data.update({name: value.tolist() for name, value in tensors.items()})
    return orm.Dict(data)


@calcfunction
def kappa_ensemble_statistics(**members: orm.ArrayData) -> orm.ArrayData:
    """The κ of the bootstrap members of a fit ensemble and their spread.

    ``members``: the ``kappa`` outputs of the members' runs (``member_000``, ...; the same
    temperatures).  Output ``ArrayData``: ``temperatures`` (T,) K; ``<name>_members``
    (n, T, 3, 3) and ``<name>_mean``, ``<name>_std`` (T, 3, 3), for κ_P, κ_C and κ, W/(m K);
    ``std`` has ddof = 1 (the bootstrap standard error of the full-data κ).  Exit 300 when
    fewer than two members are given or their temperatures differ.
    """
    from aiida_wigner.exit_codes import exit_code
    from aiida_wigner.fitting.ensemble import BOOTSTRAP_METHOD, ensemble_spread

    nodes = [members[label] for label in sorted(members)]
    if len(nodes) < 2:
        return exit_code("ERROR_INVALID_INPUT", "an ensemble's spread needs at least 2 members")
    temperatures = nodes[0].get_array("temperatures")
    if any(not np.array_equal(n.get_array("temperatures"), temperatures) for n in nodes):
        return exit_code("ERROR_INVALID_INPUT", "the members' κ are at different temperatures")
    out = orm.ArrayData()
    out.set_array("temperatures", temperatures)
    for name in KAPPA_NAMES:
        values = np.array([n.get_array(name) for n in nodes])
        mean, std = ensemble_spread(values)
        out.set_array(f"{name}_members", values)
        out.set_array(f"{name}_mean", mean)
        out.set_array(f"{name}_std", std)
    out.base.attributes.set("units", {"temperatures": "K", "kappa": "W/(m K)"})
    out.base.attributes.set("method", BOOTSTRAP_METHOD)
    out.base.attributes.set("members", sorted(members))
    return out


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

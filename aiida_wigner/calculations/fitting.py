"""Calcfunctions for displacements, training sets and hiphive fits (thin wrappers).

Each turns nodes into arrays, calls :mod:`aiida_wigner.fitting`, and turns the result
back into nodes.  ``parameters`` Dicts carry plain values (units in the docstrings of
the functions called: Å, eV, eV/Å).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from ..data.force_constants import ForceConstantsData
from ..exit_codes import exit_code
from ..fitting import harmonic as harm
from ..fitting.ensemble import member_label
from ..fitting.hiphive_fit import (
    FitError,
    TooManyParametersError,
    fit_step,
    rattle_fixed_amplitude,
    select_snapshots,
)
from .phonopy_nodes import new_preprocess_data


def label(i: int) -> str:
    return f"supercell_{i:04d}"


def _setup(structure: orm.StructureData, parameters: dict):
    return harm.build_setup(
        structure.get_ase(),
        parameters["supercell_matrix"],
        parameters.get("primitive_matrix"),
        parameters.get("symprec", 1e-5),
    )


def _structure(setup, displacement=None) -> orm.StructureData:
    atoms = setup.supercell.to_ase()
    if displacement is not None:
        atoms.positions = atoms.positions + displacement
    return orm.StructureData(ase=atoms)


@calcfunction
def generate_harmonic_displacements(structure: orm.StructureData, parameters: orm.Dict):
    """Phonopy's symmetry-reduced displacements of the supercell, as aiida-phonopy data.

    ``parameters``: supercell_matrix, primitive_matrix (optional), distance (Å, default
    0.01), plusminus ('auto' | true | false), symprec (Å).  Outputs ``preprocess_data``
    (aiida-phonopy ``PreProcessData``: unit cell, supercell and primitive matrices, symprec,
    displacement dataset), ``ideal_supercell`` and ``supercell_0000``... (the displaced
    supercells in the dataset's order, phonopy's atom order).
    """
    p = parameters.get_dict()
    setup = _setup(structure, p)
    symprec = float(p.get("symprec", 1e-5))
    data = harm.generate_displacements(
        setup, p.get("distance", 0.01), p.get("plusminus", "auto"), symprec
    )
    pre = new_preprocess_data(structure, setup, symprec, data["dataset"])
    out = {"ideal_supercell": _structure(setup), "preprocess_data": pre}
    for i, u in enumerate(data["displacements"]):
        out[label(i)] = _structure(setup, u)
    return out


@calcfunction
def select_training_structures(
    trajectory: orm.TrajectoryData, ideal_supercell: orm.StructureData, parameters: orm.Dict
):
    """MD snapshots at regular intervals, each given a random displacement of fixed length.

    ``parameters``: n_snapshots, discard_steps (MD steps excluded at the start),
    amplitude (Å, default 0.1; every atom moved by exactly this length in a random
    direction), seed.  Outputs ``supercell_0000``... and ``displacements`` (ArrayData
    ``displacements`` (m, N, 3) Å from the ideal supercell, ``steps`` of the MD frames).
    """
    p = parameters.get_dict()
    ideal = ideal_supercell.get_ase()
    steps = trajectory.get_stepids()
    pos = trajectory.get_positions()
    first = int(np.searchsorted(steps, int(p.get("discard_steps", 0)), side="right"))
    try:
        pick = select_snapshots(len(steps), int(p["n_snapshots"]), first)
    except FitError as exc:
        return exit_code("ERROR_TOO_FEW_FRAMES", str(exc))
    rng = np.random.default_rng(int(p.get("seed", 0)))
    amp = float(p.get("amplitude", 0.1))
    cell = np.asarray(ideal.cell)
    inv = np.linalg.inv(cell)
    out, disps = {}, []
    for i, k in enumerate(pick):
        d = pos[k] - ideal.positions
        d -= np.rint(d @ inv) @ cell  # minimum image: MD positions may have wrapped
        d += rattle_fixed_amplitude(len(ideal), amp, rng) if amp > 0 else 0.0
        disps.append(d)
        atoms = ideal.copy()
        atoms.positions = ideal.positions + d
        out[label(i)] = orm.StructureData(ase=atoms)
    arr = orm.ArrayData()
    arr.set_array("displacements", np.array(disps))
    arr.set_array("steps", np.asarray(steps[pick], dtype=int))
    out["displacements"] = arr
    return out


@calcfunction
def fit_hiphive(
    structure: orm.StructureData,
    parameters: orm.Dict,
    displacements: orm.ArrayData,
    forces: orm.ArrayData,
    harmonic_dataset: orm.ArrayData = None,
    harmonic_force_constants: ForceConstantsData = None,
):
    """hiphive fit; outputs ``fcp`` (SinglefileData), ``scores`` (Dict), ``force_constants``
    and, with ``ensemble``, the namespace ``ensemble`` (``member_000``, ...: the bootstrap
    members' ``ForceConstantsData``).

    ``parameters``: supercell_matrix, primitive_matrix, cutoffs ({order: Å}), method,
    harmonic ('fixed' | 'joint'), validation, rotational_sum_rules, fit_kwargs, seed,
    fc_orders (orders written to the ForceConstantsData, default [2, 3, 4]), cap_cutoffs
    (default False: a cutoff above the supercell's limit is an ERROR_FIT_SETUP; True, as the
    protocols set it: lowered to the limit, recorded in ``scores.cutoffs_capped``),
    max_parameter_ratio (default 1: more free parameters than force components is an
    ERROR_TOO_MANY_PARAMETERS, before the fit matrix is built), ensemble (``{"size": n,
    "seed": s}``: n bootstrap refits over the training structures,
    :mod:`aiida_wigner.fitting.ensemble`; default none).
    With harmonic 'fixed' and ``harmonic_force_constants`` (the finite-displacement FC2 of
    the same supercell), that FC2, without cutoff, is the harmonic part of the fit and of
    the output ``force_constants``; the ``.fcp`` keeps its cutoff-limited order-2 terms.
    """
    p = parameters.get_dict()
    hu = hf = None
    if harmonic_dataset is not None:
        hu, hf = harmonic_dataset.get_array("displacements"), harmonic_dataset.get_array("forces")
    try:
        res, fc, members = fit_step(
            _setup(structure, p),
            p,
            displacements.get_array("displacements"),
            forces.get_array("forces"),
            hu,
            hf,
            None
            if harmonic_force_constants is None
            else harmonic_force_constants.get_force_constants(),
        )
    except TooManyParametersError as exc:
        return exit_code("ERROR_TOO_MANY_PARAMETERS", str(exc))
    except FitError as exc:
        return exit_code("ERROR_FIT_SETUP", str(exc))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "potential.fcp")
        res.fcp.write(path)
        fcp_node = orm.SinglefileData(path)
    out = {
        "fcp": fcp_node,
        "scores": orm.Dict(res.scores),
        "force_constants": ForceConstantsData.from_force_constants(fc),
    }
    if members:
        out["ensemble"] = {
            member_label(b): ForceConstantsData.from_force_constants(m)
            for b, m in enumerate(members)
        }
    return out


def define_ensemble_output(spec) -> None:
    """Declare the ``ensemble`` output namespace (the fit's bootstrap members) on ``spec``:
    the fit job and the fit / force-constant workflows give the calcfunction's outputs."""
    spec.output_namespace(
        "ensemble",
        valid_type=ForceConstantsData,
        dynamic=True,
        required=False,
        help="With fit parameters 'ensemble' {size, seed}: the bootstrap members' force "
        "constants (member_000, ...; aiida_wigner.fitting.ensemble), eV/Å^n.",
    )


def ensemble_members(node: orm.ProcessNode) -> dict:
    """The bootstrap members a process returned in its ``ensemble`` namespace, by label
    (``member_000``, ...), sorted; empty when it has none."""
    from aiida.common.links import LinkType

    links = node.base.links.get_outgoing(
        link_type=(LinkType.CREATE, LinkType.RETURN), link_label_filter="ensemble__%"
    ).all()
    return {
        link.link_label.split("__", 1)[1]: link.node
        for link in sorted(links, key=lambda link: link.link_label)
    }


def fit_ensemble_members(force_constants: ForceConstantsData) -> dict:
    """The bootstrap members fitted beside ``force_constants`` (by the calcfunction or job
    that created it), empty when it has none or was not fitted."""
    creator = force_constants.creator
    return {} if creator is None else ensemble_members(creator)

"""Calcfunctions that turn aiida-vasp ``vasp.vasp`` outputs into the ASE engine's nodes.

The conversions themselves are plain functions in :mod:`aiida_wigner.engines.vasp`; these
wrappers record them in the provenance graph (VASP trajectory -> Cartesian trajectory,
VASP relaxed structure + ``misc`` -> relaxed structure + ``info``).

Units: Å, eV, eV/Å, eV/Å³, K, fs.
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from ..engines import vasp
from ..exit_codes import exit_code
from .engines import trajectory_from_frames


@calcfunction
def vasp_md_trajectory(
    trajectory: orm.TrajectoryData, parameters: orm.Dict, retrieved: orm.FolderData = None
):
    """The MD trajectory with Cartesian positions (Å), every ``interval`` steps.

    ``trajectory`` is aiida-vasp's (fractional positions, every ionic step); temperatures (K)
    are read from the retrieved OSZICAR when present (NaN otherwise).
    """
    arrays = {name: trajectory.get_array(name) for name in trajectory.get_arraynames()}
    temperatures = None
    if retrieved is not None and "OSZICAR" in retrieved.base.repository.list_object_names():
        oszicar = retrieved.base.repository.get_object_content("OSZICAR")
        temperatures = vasp.oszicar_temperatures(oszicar)
    frames = vasp.md_frames(arrays, parameters.get_dict(), temperatures)
    if len(frames["steps"]) == 0:
        return exit_code(
            "ERROR_ENGINE_FAILED",
            "the VASP MD run recorded no frame; n_steps must be at least 'interval'",
        )
    symbols = trajectory.base.attributes.get("symbols")
    return trajectory_from_frames(frames, symbols)


@calcfunction
def vasp_relax_outputs(
    structure: orm.StructureData, relaxed: orm.StructureData, misc: orm.Dict, parameters: orm.Dict
):
    """``relaxed_structure`` (copy of VASP's) and ``info`` (energy, converged, space groups)."""
    import spglib

    symprec = float(parameters.get("symprec", 1e-3))

    def sg(node):
        atoms = node.get_ase()
        return (
            spglib.get_spacegroup(
                (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers), symprec=symprec
            )
            or "unknown"
        )

    info = vasp.relax_info(misc.get_dict())
    info["spacegroup_initial"] = sg(structure)
    info["spacegroup_final"] = sg(relaxed)
    info = {
        k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in info.items()
    }
    return {"relaxed_structure": relaxed.clone(), "info": orm.Dict(info)}

"""Numerical core of aiida-wigner: plain numpy / scipy / numba, no AiiDA import.

The public API is importable from here (``from aiida_wigner.physics import compute_kappa``);
the names are loaded on first use, so ``import aiida_wigner.physics`` itself stays cheap (no
numba, phonopy or spglib until a function needs them).  :class:`Wigner` keeps one
force-constant model and caches its meshes, phonons and linewidths for interactive and
notebook use (docs/api.md).

Units everywhere (see ``docs/conventions.md``): length Å, mass amu, energy eV,
force constants eV/Å^n, frequency THz (ordinary, ν = ω/2π), linewidth ``gamma`` as
half width at half maximum in THz, κ in W/(m·K), temperature K.
"""

from __future__ import annotations

import importlib

#: Public name -> submodule (relative to this package) that defines it.
_EXPORTS = {
    # force constants: files, models, structures
    "load_force_constants": ".io",
    "detect_format": ".io",
    "read_structure": ".io",
    "write_force_constants": ".io",
    "write_fc2_hdf5": ".io",
    "write_fc3_hdf5": ".io",
    "write_shengbte_fc3": ".io",
    "write_fourphonon_fc4": ".io",
    "ForceConstantsFileError": ".io",
    "ForceConstants": ".forceconstants",
    "SparseForceConstants": ".forceconstants",
    "ForceConstantsError": ".forceconstants",
    "Cell": ".cell",
    "SupercellSetup": ".cell",
    "CellError": ".cell",
    # harmonic phonons and q-meshes
    "QMesh": ".mesh",
    "MeshError": ".mesh",
    "Phonons": ".harmonic",
    "DynamicalMatrixBuilder": ".harmonic",
    "solve": ".harmonic",
    "velocity_operator": ".harmonic",
    "heat_capacity": ".harmonic",
    "occupation": ".harmonic",
    "UnstablePhononsError": ".harmonic",
    "BandPath": ".bandpath",
    "band_path": ".bandpath",
    # conductivity
    "KappaSettings": ".kappa",
    "KappaResult": ".kappa",
    "compute_kappa": ".kappa",
    "Linewidths": ".kappa",
    "compute_linewidths": ".kappa",
    "kappa_from_linewidths": ".kappa",
    "Wigner": ".facade",
    # renormalization
    "renormalize": ".renormalization",
    "Renormalization": ".renormalization",
    "RenormalizationSettings": ".renormalization",
    "SCPSettings": ".renormalization",
    "run_scp": ".renormalization",
    "run_bubble": ".renormalization",
    "SCPNotConvergedError": ".renormalization",
    "MissingTemperatureError": ".renormalization",
    # analyses behind the seed's figures
    "participation_ratios": ".analysis",
    "lifetimes": ".analysis",
    "mean_free_paths": ".analysis",
    "wigner_time_limit": ".analysis",
    "ioffe_regel_time": ".analysis",
    "ioffe_regel_length": ".analysis",
    "lorentzian_map": ".analysis",
    "kappa_P_with_modes_removed": ".analysis",
    "ModeRemoval": ".analysis",
    "mean_square_displacements": ".analysis",
    "analyse": ".analysis.run",
    "AnalysisParameters": ".analysis.run",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    """Load a public name from its submodule on first access (PEP 562)."""
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

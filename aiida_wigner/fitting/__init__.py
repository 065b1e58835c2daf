"""Fitting force constants with hiphive (cluster spaces, training sets, fits, scores).

Plain functions, no AiiDA import; the calcfunctions that record them are in
:mod:`aiida_wigner.calculations.fitting`.
"""

from .hiphive_fit import (
    FIT_METHODS,
    FitError,
    FitResult,
    build_cluster_space,
    fcp_to_force_constants,
    fit_force_constants,
    rattle_fixed_amplitude,
    select_snapshots,
)

__all__ = [
    "FIT_METHODS",
    "FitError",
    "FitResult",
    "build_cluster_space",
    "fcp_to_force_constants",
    "fit_force_constants",
    "rattle_fixed_amplitude",
    "select_snapshots",
]

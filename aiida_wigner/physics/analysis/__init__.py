"""Analyses of a conductivity run behind the seed's figures (plain numpy, no AiiDA).

* :mod:`.participation` — participation ratio PR and atomic participation ratio APR per
  mode, per atom and per species (seed Eqs. 10–11; Fig. 3)
* :mod:`.lifetimes` — lifetimes τ = 1/(4πγ), mean free paths, the Wigner limit in time
  τ_W = 3 N_at/ω_max and the Ioffe–Regel limits τ = 1/ω and λ = a (Fig. 4c)
* :mod:`.pairs` — the Wigner pair terms of a finished run, rebuilt from its modes:
  spectral/cumulative κ_P(ν), κ_C(ν) and the binned κ_C(ν_j, ν_j') map per direction
  (Figs. 4d, 4f, 5; through :func:`aiida_wigner.physics.transport.spectral_kappa`)
* :mod:`.lorentzian` — the Lorentzian weight Γ/((Δν)² + Γ²) of a pair (Fig. 6) and where
  the κ_C pairs of a run lie on that map
* :mod:`.dispersion` — frequencies, group-velocity components and PR/APR along a path
  (Figs. 1c, 3, 4e)
* :mod:`.mode_removal` — κ_P with chosen modes switched off in the three-phonon sums
  (Fig. S7)

Mean-square displacements per atom (Fig. S4) are computed with the renormalization
(:func:`aiida_wigner.physics.renormalization.mean_square_displacements`) and stored in its
``msd`` array; they are re-exported here, not recomputed.

Units: THz (ordinary frequency ν; angular ω = 2πν in rad/ps where stated), half widths γ in
THz, ps, Å, amu, W/(m·K), K.
"""

from ..renormalization.msd import displacement_tensors, mean_square_displacements
from .lifetimes import (
    ioffe_regel_length,
    ioffe_regel_time,
    lifetimes,
    mean_free_paths,
    wigner_time_limit,
)
from .lorentzian import lorentzian_map, lorentzian_weight, pair_distribution
from .mode_removal import ModeRemoval, RemovalResult, kappa_P_with_modes_removed
from .participation import dominant_species, participation_ratios, species_sums

__all__ = [
    "ModeRemoval",
    "RemovalResult",
    "displacement_tensors",
    "dominant_species",
    "ioffe_regel_length",
    "ioffe_regel_time",
    "kappa_P_with_modes_removed",
    "lifetimes",
    "lorentzian_map",
    "lorentzian_weight",
    "mean_free_paths",
    "mean_square_displacements",
    "pair_distribution",
    "participation_ratios",
    "species_sums",
    "wigner_time_limit",
]

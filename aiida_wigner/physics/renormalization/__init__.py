"""Anharmonic phonon renormalization: self-consistent phonons and the bubble correction.

* :mod:`.loop` — the quartic loop self-energy, Φ4(q, −q, q', −q') (seed Eq. 1)
* :mod:`.scp` — the self-consistent phonon solver per temperature
* :mod:`.bubble` — the cubic bubble correction on top of SCP (seed Eqs. 2–4, SCPB)
* :mod:`.effective_fc2` — Fourier interpolation of renormalized D(q), effective FC2
* :mod:`.msd` — mean-square displacements from (renormalized) phonons

Units: THz (ordinary frequency), eV/Å^n, amu, Å, K.  See docs/scp.md.
"""

from .effective_fc2 import (
    EffectiveHarmonicModel,
    EffectiveModelError,
    common_supercell_setup,
    fc2_from_dynamical_matrices,
    mesh_supercell_setup,
    transfer_fc2,
)
from .loop import QuarticLoop, StoredLoopKernel, correlation_matrices, loop_kernel
from .scp import SCPError, SCPResult, SCPSettings, SCPSolver, run_scp

__all__ = [
    "EffectiveHarmonicModel",
    "EffectiveModelError",
    "QuarticLoop",
    "SCPError",
    "SCPResult",
    "SCPSettings",
    "SCPSolver",
    "StoredLoopKernel",
    "common_supercell_setup",
    "correlation_matrices",
    "fc2_from_dynamical_matrices",
    "loop_kernel",
    "mesh_supercell_setup",
    "run_scp",
    "transfer_fc2",
]

from .bubble import BubbleCorrection, SCPBResult, run_bubble  # noqa: E402
from .msd import displacement_tensors, mean_square_displacements  # noqa: E402

__all__ += [
    "BubbleCorrection",
    "SCPBResult",
    "run_bubble",
    "displacement_tensors",
    "mean_square_displacements",
]

from .renormalize import (  # noqa: E402
    BUBBLE_CHOICES,
    RENORMALIZATION_KINDS,
    MissingTemperatureError,
    Renormalization,
    RenormalizationSettings,
    SCPNotConvergedError,
    renormalization_kind,
    renormalize,
)

__all__ += [
    "BUBBLE_CHOICES",
    "RENORMALIZATION_KINDS",
    "MissingTemperatureError",
    "Renormalization",
    "RenormalizationSettings",
    "SCPNotConvergedError",
    "renormalization_kind",
    "renormalize",
]

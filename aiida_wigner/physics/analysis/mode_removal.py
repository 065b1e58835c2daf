"""κ_P with chosen modes switched off in the three-phonon scattering (seed Fig. S7).

What "switched off" means here.  A set S of modes (q, j) of the full q-mesh is selected by
a frequency window ν_lo ≤ ν < ν_hi (THz) and/or by dominant species (the species with the
largest APR_s, :mod:`.participation`); both criteria must hold when both are given, and an
empty selection removes nothing.  S is closed under degeneracy (a degenerate subspace is in
or out as a whole, by majority).  Then every three-phonon process that involves a mode of S
is dropped from the sum of seed Eq. 6, so the half widths γ_3ph of the other modes contain
only processes among themselves — the seed's "excluding the contribution of branches
within 1.0–1.5 THz in the 3ph scattering calculations".

How, without changing the three-phonon kernel: |V3(q0j0, q1j1, q2j2)|² is multilinear in
the three eigenvectors, so the eigenvectors of the modes of S are set to zero in the
``Phonons`` given to :func:`..scattering.three_phonon.three_phonon_linewidths`; every
process with a mode of S then has V3 = 0 exactly, while frequencies, occupations,
smearing widths, triplets and the degenerate averaging are those of the original run.

The removed modes themselves (``own``):

* ``"keep"`` (default): they keep their original half width and still carry heat; only
  their role as scatterers is gone.  κ_P can then only rise as S grows (each remaining
  γ_3ph loses non-negative terms, up to the tails of the smearing Gaussians).
* ``"exclude"``: they carry no heat either (their κ_P terms are left out).

The isotope and four-phonon half widths are kept as computed in the original run (they are
not re-computed without S): the seed's Fig. S7 is a three-phonon comparison (SCPB+3ph).
Cost: one three-phonon linewidth calculation per temperature, as in the original run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ..harmonic import (
    DynamicalMatrixBuilder,
    Phonons,
    average_degenerate,
    heat_capacity,
    solve,
)
from ..mesh import QMesh
from ..scattering.smearing import ModeVelocities, Smearing, mode_velocities
from ..scattering.three_phonon import three_phonon_linewidths
from .pairs import wigner_pairs
from .participation import dominant_species, participation_ratios, species_sums

#: Accepted values of ``ModeRemoval.own``.
OWN_CHOICES = ("keep", "exclude")


class ModeRemovalError(ValueError):
    """The removal does not fit the run (a species the crystal lacks, no 3ph scattering)."""


@dataclass(frozen=True)
class ModeRemoval:
    """Which modes to switch off (module docstring).

    Parameters
    ----------
    window : tuple of 2 float, optional
        (ν_lo, ν_hi) in THz: modes with ν_lo ≤ ν < ν_hi.
    species : str, optional
        Element symbol: modes whose dominant species it is.
    own : {"keep", "exclude"}
        Whether the removed modes keep their own half width and κ_P terms, or carry no
        heat either.
    """

    window: tuple[float, float] | None = None
    species: str | None = None
    own: Literal["keep", "exclude"] = "keep"

    def __post_init__(self):
        """Normalize the window to floats and check it and ``own``."""
        if self.window is not None:
            window = tuple(float(v) for v in self.window)
            if len(window) != 2 or not window[0] < window[1]:
                raise ValueError(
                    f"window must be two frequencies low < high in THz, got {self.window!r}"
                )
            object.__setattr__(self, "window", window)
        if self.own not in OWN_CHOICES:
            raise ValueError(f"own must be one of {OWN_CHOICES}, got {self.own!r}")

    def select(self, phonons: Phonons, primitive) -> NDArray[np.bool_]:
        """Select the removed modes among ``phonons`` of the crystal ``primitive``.

        Parameters
        ----------
        phonons : Phonons
            Frequencies (n_q, B) THz and eigenvectors of the full q-mesh.
        primitive : Cell
            The primitive cell (masses and symbols for the dominant species).

        Returns
        -------
        ndarray of bool, shape (n_q, B)
            True for a removed mode, closed under degeneracy.

        Raises
        ------
        ModeRemovalError
            If ``species`` is not in the crystal.
        """
        freqs = phonons.frequencies
        if self.window is None and self.species is None:
            return np.zeros(freqs.shape, dtype=bool)
        chosen = np.ones(freqs.shape, dtype=bool)
        if self.window is not None:
            chosen &= (freqs >= self.window[0]) & (freqs < self.window[1])
        if self.species is not None:
            _, apr = participation_ratios(phonons.eigenvectors, primitive.masses, freqs)
            names, per_species = species_sums(apr, primitive.symbols)
            if self.species not in names:
                raise ModeRemovalError(
                    f"species {self.species!r} is not in the crystal; choose one of {list(names)}"
                )
            chosen &= dominant_species(per_species) == names.index(self.species)
        return average_degenerate(chosen.astype(float), freqs) > 0.5


@dataclass(frozen=True)
class RemovalResult:
    """Result of a mode removal at one temperature; Q irreducible points, B bands.

    Attributes
    ----------
    kappa_P : ndarray of float64, shape (3, 3)
        W/(m·K), with the modes removed.
    removed : ndarray of bool, shape (Q, B)
        The removed modes at the irreducible points.
    gamma_3ph : ndarray of float64, shape (Q, B)
        THz, the three-phonon half widths without them (the removed modes' own original
        values with own="keep", 0 with "exclude").
    gamma : ndarray of float64, shape (Q, B)
        THz, the total half widths used for κ_P.
    """

    kappa_P: NDArray[np.float64]
    removed: NDArray[np.bool_]
    gamma_3ph: NDArray[np.float64]
    gamma: NDArray[np.float64]


def kappa_P_with_modes_removed(
    fc, settings, removal: ModeRemoval, temperature: float, gamma, gamma_3ph, builder=None
) -> RemovalResult:
    """Compute κ_P with the modes of ``removal`` switched off (module docstring).

    Parameters
    ----------
    fc : ForceConstants
        The run's force constants (with FC3).
    settings : KappaSettings
        The run's settings (three_phonon on).
    removal : ModeRemoval
        Which modes to switch off.
    temperature : float
        K.
    gamma, gamma_3ph : array_like of float, shape (Q, B)
        The run's total and three-phonon half widths at this temperature at the
        irreducible points, THz.
    builder : EffectiveHarmonicModel, optional
        The run's phonons at this temperature (None: harmonic ``fc.fc2``).

    Returns
    -------
    RemovalResult
        κ_P in W/(m·K), the removed modes and the new half widths (THz).

    Raises
    ------
    ModeRemovalError
        If the run has no three-phonon scattering, or a species the crystal lacks.
    """
    s = settings
    if not s.three_phonon:
        raise ModeRemovalError(
            "mode removal switches modes off in the three-phonon scattering: "
            "use a run with three_phonon on"
        )
    prim = fc.primitive
    qmesh = QMesh.build(prim, s.mesh, symmetry=s.use_symmetry)
    builder = DynamicalMatrixBuilder(fc) if builder is None else builder
    smearing, phonons, velocities = _smearing(fc, s, qmesh, builder)
    removed = removal.select(phonons, prim)
    masked = Phonons(
        phonons.qpoints, phonons.frequencies, phonons.eigenvectors * ~removed[:, None, :]
    )
    temps = np.array([float(temperature)])
    g3 = three_phonon_linewidths(
        fc,
        qmesh,
        masked,
        qmesh.ir_grid,
        temps,
        smearing,
        group_velocities=velocities,
        cutoff_frequency=s.cutoff_frequency,
    )[0]
    gamma = np.asarray(gamma, dtype=float)
    gone = removed[qmesh.ir_grid]
    if removal.own == "keep":
        g3 = np.where(gone, gamma_3ph, g3)
    new_gamma = gamma - np.asarray(gamma_3ph, dtype=float) + g3
    freqs = phonons.frequencies[qmesh.ir_grid]
    cv = heat_capacity(freqs[None], temps[:, None, None])
    terms = wigner_pairs(fc, s, new_gamma[None], cv, builder=builder).terms
    kappa_P = np.einsum(
        "qjab,qj->ab",
        terms.kappa_P_modes[0],
        ~gone if removal.own == "exclude" else np.ones_like(gone),
    )
    return RemovalResult(kappa_P, gone, g3, new_gamma)


def _smearing(fc, s, qmesh: QMesh, builder) -> tuple[Smearing, Phonons, ModeVelocities | None]:
    """Rebuild the run's smearing, mesh phonons and (adaptive widths) their velocities.

    The velocities come from the same velocity operator as the phonons: one eigenvector
    basis.
    """
    if s.smearing == "gaussian":
        return Smearing(sigma=s.sigma), solve(fc, qmesh.qpoints, builder), None
    phonons, velocities = mode_velocities(
        fc, qmesh.qpoints, cutoff_frequency=s.cutoff_frequency, builder=builder
    )
    smearing = Smearing(
        scale=s.scale,
        reciprocal_lattice=fc.primitive.reciprocal_lattice,
        mesh=qmesh.mesh,
        kind=s.smearing,
    )
    return smearing, phonons, velocities

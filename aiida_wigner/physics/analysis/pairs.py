"""The Wigner pair terms of a finished conductivity run, rebuilt from its stored modes.

A run stores per mode its frequency, half width γ and heat capacity (the ``modes`` of
``wigner.kappa``) but not the velocity operator v_jj'(q).  :func:`wigner_pairs` recomputes
v_jj'(q) at the run's irreducible q-points with the same phonons (harmonic FC2 or the
renormalized model of that temperature; same degenerate-subspace rotation) and calls
:func:`aiida_wigner.physics.transport.wigner_terms` with the stored γ and c, so the pair
terms sum to the run's κ to round-off.  From them:

* spectral and cumulative κ_P(ν), κ_C(ν) per direction and the binned κ_C(ν_j, ν_j') map
  (seed Figs. 4d, 4f, 5): :func:`aiida_wigner.physics.transport.spectral_kappa`, with any
  number of bins;
* where the κ_C pairs lie on the Lorentzian-weight map (Fig. 6): :mod:`.lorentzian`.
"""

from __future__ import annotations

import numpy as np

from ..harmonic import VelocityOperator, velocity_operator
from ..mesh import QMesh
from ..transport import WignerTerms, wigner_terms


class ModesMismatchError(ValueError):
    """The stored modes were not computed from the given force constants and settings."""


def wigner_pairs(fc, settings, gamma, heat_capacities, frequencies=None, builder=None,
                 tolerance: float = 1e-8) -> tuple[VelocityOperator, WignerTerms]:
    """Velocity operator and pair terms at the irreducible points of ``settings.mesh``.

    fc : the run's ``ForceConstants``; settings : its ``KappaSettings``; gamma,
    heat_capacities (T, Q, B): the stored half widths (THz) and heat capacities (eV/K);
    builder : the phonons of the run (None: harmonic ``fc.fc2``; a renormalized
    ``EffectiveHarmonicModel`` of one temperature, T = 1 then).  With ``frequencies``
    (Q, B) THz, the recomputed frequencies must equal them within ``tolerance`` THz
    (the same phonons give them to round-off), else :class:`ModesMismatchError`.
    """
    qmesh = QMesh.build(fc.primitive, settings.mesh, symmetry=settings.use_symmetry)
    vel = velocity_operator(fc, qmesh.ir_qpoints, cutoff_frequency=settings.cutoff_frequency,
                            builder=builder)
    freqs = vel.phonons.frequencies
    if frequencies is not None:
        frequencies = np.asarray(frequencies, dtype=float)
        dev = (np.abs(freqs - frequencies).max() if frequencies.shape == freqs.shape
               else np.inf)
        if dev > tolerance:
            raise ModesMismatchError(
                f"the stored modes ({frequencies.shape}) are not the phonons of these force "
                f"constants on mesh {list(settings.mesh)} ({freqs.shape}, frequencies differ by "
                f"{dev:.2g} THz): give the force constants, settings and renormalization of "
                f"the run that made them")
    terms = wigner_terms(freqs, vel.velocity, np.asarray(gamma), np.asarray(heat_capacities),
                         qmesh.weights, qmesh.n_q, fc.primitive.volume, qmesh.symmetrize_tensor,
                         convention=settings.convention,
                         cutoff_frequency=settings.cutoff_frequency)
    return vel, terms

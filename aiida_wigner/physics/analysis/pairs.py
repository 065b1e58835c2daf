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
* where the κ_C pairs lie on the Lorentzian-weight map (Fig. 6): :mod:`.lorentzian`;
* the interband velocity map (Fig. 7): :func:`interband_velocity_map`, the q-weighted mean
  of |v^α_jj'(q)|² (point-group averaged, j ≠ j') over the pairs in each (ν_j, ν_j') bin.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..harmonic import VelocityOperator, velocity_operator
from ..mesh import QMesh
from ..transport import WignerTerms, wigner_terms


class ModesMismatchError(ValueError):
    """The stored modes were not computed from the given force constants and settings."""


class Pairs(NamedTuple):
    """The Wigner pair terms of a run with what they were built from.

    Attributes
    ----------
    velocity : VelocityOperator
        The velocity operator and phonons at the irreducible points.
    terms : WignerTerms
        The Wigner pair terms.
    qmesh : QMesh
        The run's q-mesh (weights, point-group symmetrization).
    """

    velocity: VelocityOperator
    terms: WignerTerms
    qmesh: QMesh


def wigner_pairs(
    fc, settings, gamma, heat_capacities, frequencies=None, builder=None, tolerance: float = 1e-8
) -> Pairs:
    """Velocity operator and pair terms at the irreducible points of ``settings.mesh``.

    fc : the run's ``ForceConstants``; settings : its ``KappaSettings``; gamma,
    heat_capacities (T, Q, B): the stored half widths (THz) and heat capacities (eV/K);
    builder : the phonons of the run (None: harmonic ``fc.fc2``; a renormalized
    ``EffectiveHarmonicModel`` of one temperature, T = 1 then).  With ``frequencies``
    (Q, B) THz, the recomputed frequencies must equal them within ``tolerance`` THz
    (the same phonons give them to round-off), else :class:`ModesMismatchError`.
    """
    qmesh = QMesh.build(fc.primitive, settings.mesh, symmetry=settings.use_symmetry)
    vel = velocity_operator(
        fc, qmesh.ir_qpoints, cutoff_frequency=settings.cutoff_frequency, builder=builder
    )
    freqs = vel.phonons.frequencies
    if frequencies is not None:
        frequencies = np.asarray(frequencies, dtype=float)
        dev = np.abs(freqs - frequencies).max() if frequencies.shape == freqs.shape else np.inf
        if dev > tolerance:
            raise ModesMismatchError(
                f"the stored modes ({frequencies.shape}) are not the phonons of these force "
                f"constants on mesh {list(settings.mesh)} ({freqs.shape}, frequencies differ by "
                f"{dev:.2g} THz): give the force constants, settings and renormalization of "
                f"the run that made them"
            )
    terms = wigner_terms(
        freqs,
        vel.velocity,
        np.asarray(gamma),
        np.asarray(heat_capacities),
        qmesh.weights,
        qmesh.n_q,
        fc.primitive.volume,
        qmesh.symmetrize_tensor,
        convention=settings.convention,
        cutoff_frequency=settings.cutoff_frequency,
    )
    return Pairs(vel, terms, qmesh)


def interband_velocity_map(pairs: Pairs, edges) -> dict:
    """Interband velocities binned on (ν_j, ν_j') (seed Fig. 7), j ≠ j'.

    edges (bins + 1,) THz.  Returns ``velocity_map`` (bins, bins, 3): the mean of
    |v^α_jj'|² ((Å/ps)², xx, yy, zz of the point-group averaged Re v^α v^β*) over the
    pairs in each bin, weighted by q-point multiplicity (0 in empty bins), and
    ``velocity_map_weight`` (bins, bins), the summed multiplicities.
    """
    v = pairs.velocity.velocity
    freqs = pairs.velocity.phonons.frequencies
    vv = pairs.qmesh.symmetrize_tensor(np.einsum("qajk,qbjk->qjkab", v, v.conj()).real)
    vv = np.einsum("qjkaa->qjka", vv)
    n = len(edges) - 1
    idx = np.clip(np.digitize(freqs, edges) - 1, 0, n - 1)  # (Q, B)
    off = ~np.eye(freqs.shape[1], dtype=bool)
    cell = (idx[:, :, None] * n + idx[:, None, :])[:, off]  # (Q, P)
    w = np.broadcast_to(pairs.qmesh.weights[:, None].astype(float), cell.shape)
    weight = np.bincount(cell.ravel(), w.ravel(), minlength=n * n)
    total = np.stack(
        [np.bincount(cell.ravel(), (w * vv[:, off, a]).ravel(), minlength=n * n) for a in range(3)],
        axis=-1,
    )
    mean = np.divide(total, weight[:, None], out=np.zeros_like(total), where=weight[:, None] > 0)
    return {"velocity_map": mean.reshape(n, n, 3), "velocity_map_weight": weight.reshape(n, n)}

"""The renormalization step of the pipeline: SCP (Eq. 1), optionally the bubble on top.

:func:`renormalize` runs :func:`.scp.run_scp` and, when asked, :func:`.bubble.run_bubble`,
and collects what later steps and the provenance graph need in a :class:`Renormalization`:
frequencies on the outer mesh, convergence per temperature, ΔD = D_ren − D_harm (THz²)
for Fourier interpolation to any q, and the mean-square displacements (Å²).  It
round-trips through plain arrays (:meth:`Renormalization.arrays` /
:meth:`Renormalization.from_arrays`) so the AiiDA layer can store it as an ``ArrayData``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ..forceconstants import ForceConstants
from .bubble import KINDS as BUBBLE_KINDS
from .bubble import run_bubble
from .common import renormalization_kind
from .effective_fc2 import EffectiveHarmonicModel, EffectiveModelError
from .msd import mean_square_displacements
from .scp import SCPError, SCPSettings, not_converged_advice, run_scp

#: Accepted values of ``RenormalizationSettings.bubble``.
BUBBLE_CHOICES = ("none",) + BUBBLE_KINDS
#: Names of the renormalized phonons, one per bubble choice: "scp", "scpb-static", ...
RENORMALIZATION_KINDS = tuple(renormalization_kind(bubble) for bubble in BUBBLE_CHOICES)


class SCPNotConvergedError(RuntimeError):
    """Renormalized phonons were asked for at a temperature where SCP did not converge."""


class MissingTemperatureError(ValueError):
    """Renormalized phonons were asked for at a temperature that was not renormalized."""


@dataclass(frozen=True)
class RenormalizationSettings:
    """SCP settings (:class:`.scp.SCPSettings`) plus the bubble correction.

    Parameters
    ----------
    scp : SCPSettings
        Meshes, temperatures and solver settings of the self-consistent phonons.
    bubble : {"none", "static", "onshell", "qp"}
        The bubble correction on top of SCP ("qp" is the seed's SCPB); needs FC3.
    bubble_epsilon : float
        The ε of Eq. 4, THz.
    """

    scp: SCPSettings
    bubble: Literal["none", "static", "onshell", "qp"] = "none"
    bubble_epsilon: float = 0.05

    def __post_init__(self):
        """Check the bubble kind and ε."""
        if self.bubble not in BUBBLE_CHOICES:
            raise SCPError(f"bubble must be one of {BUBBLE_CHOICES}, got {self.bubble!r}")
        if not self.bubble_epsilon > 0:
            raise SCPError(
                f"bubble_epsilon must be a positive width in THz, got {self.bubble_epsilon!r}"
            )

    @classmethod
    def from_dict(cls, values: dict) -> RenormalizationSettings:
        """Build from a flat dictionary: the SCPSettings fields, ``bubble``, ``bubble_epsilon``."""
        values = dict(values)
        own = {key: values.pop(key) for key in ("bubble", "bubble_epsilon") if key in values}
        names = {f.name for f in dataclasses.fields(SCPSettings)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise SCPError(
                f"unknown renormalization setting(s) {unknown}; accepted keys: "
                f"{sorted(names | {'bubble', 'bubble_epsilon'})}"
            )
        missing = sorted({"mesh", "inner_mesh", "temperatures"} - set(values))
        if missing:
            raise SCPError(
                f"renormalization settings need {missing} (e.g. mesh=[4, 4, 2], "
                f"inner_mesh=[8, 8, 4], temperatures=[300])"
            )
        scp = SCPSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
        return cls(scp, **own)

    def as_dict(self) -> dict:
        """Return the flat dictionary (inverse of :meth:`from_dict`)."""
        out = dataclasses.asdict(self.scp)
        out.update(bubble=self.bubble, bubble_epsilon=self.bubble_epsilon)
        return out


@dataclass
class Renormalization:
    """Renormalized phonons on the outer mesh, per temperature.

    Shapes: T temperatures, Q outer-mesh points (all of them, :func:`.mesh.grid_addresses`
    order), B bands.  Frequencies in THz, negative = imaginary.

    Attributes
    ----------
    kind : str
        ``"scp"`` or ``"scpb-<bubble kind>"`` (:func:`.common.renormalization_kind`).
    temperatures : ndarray of float64, shape (T,)
        K.
    mesh : ndarray of int64, shape (3,)
        The outer mesh.
    qpoints : ndarray of float64, shape (Q, 3)
        Reduced coordinates.
    ir_grid, weights : ndarray of int64, shape (n_ir,)
        Irreducible points (indices into ``qpoints``) and their multiplicities.
    frequencies_harmonic : ndarray of float64, shape (Q, B)
        Harmonic frequencies, THz.
    frequencies_scp : ndarray of float64, shape (T, Q, B)
        SCP frequencies, THz.
    frequencies : ndarray of float64, shape (T, Q, B)
        The final ones, THz: bubble-corrected with a bubble (they keep the SCP band order,
        so corrected bands may cross).
    converged, iterations, residual : ndarray, shape (T,)
        SCP convergence per temperature (bool, int64, THz).
    delta_dynmat : ndarray of complex128, shape (T, Q, B, B)
        Final D − D_harm on the outer mesh, THz².
    bubble_shifts : ndarray of float64, shape (T, Q, B)
        THz (zeros without bubble).
    msd : ndarray of float64, shape (T, n_prim)
        Mean-square displacements on the inner mesh, Å².
    """

    kind: str
    temperatures: NDArray[np.float64]
    mesh: NDArray[np.int64]
    qpoints: NDArray[np.float64]
    ir_grid: NDArray[np.int64]
    weights: NDArray[np.int64]
    frequencies_harmonic: NDArray[np.float64]
    frequencies_scp: NDArray[np.float64]
    frequencies: NDArray[np.float64]
    converged: NDArray[np.bool_]
    iterations: NDArray[np.int64]
    residual: NDArray[np.float64]
    delta_dynmat: NDArray[np.complex128]
    bubble_shifts: NDArray[np.float64]
    msd: NDArray[np.float64]

    #: Array fields, in the order :meth:`arrays` writes them.
    ARRAYS = (
        "temperatures",
        "mesh",
        "qpoints",
        "ir_grid",
        "weights",
        "frequencies_harmonic",
        "frequencies_scp",
        "frequencies",
        "converged",
        "iterations",
        "residual",
        "delta_dynmat",
        "bubble_shifts",
        "msd",
    )
    UNITS = {
        "temperatures": "K",
        "mesh": "1",
        "qpoints": "reduced",
        "ir_grid": "1",
        "weights": "1",
        "frequencies_harmonic": "THz",
        "frequencies_scp": "THz",
        "frequencies": "THz",
        "converged": "1",
        "iterations": "1",
        "residual": "THz",
        "delta_dynmat": "THz^2",
        "bubble_shifts": "THz",
        "msd": "Angstrom^2",
    }

    def model(self, fc: ForceConstants, index: int) -> EffectiveHarmonicModel:
        """Return the effective harmonic model of temperature ``index`` (bare model ``fc``)."""
        return EffectiveHarmonicModel(
            fc, self.mesh, self.delta_dynmat[index], float(self.temperatures[index]), self.kind
        )

    def models(self, fc: ForceConstants, temperatures) -> list[EffectiveHarmonicModel]:
        """Return one effective model per requested temperature, each a converged SCP one.

        Parameters
        ----------
        fc : ForceConstants
            The bare model that was renormalized.
        temperatures : array_like of float
            K; each must be one of :attr:`temperatures` (to 1e-6 K).

        Returns
        -------
        list of EffectiveHarmonicModel
            In the order of ``temperatures``.

        Raises
        ------
        MissingTemperatureError
            For a temperature that was not renormalized.
        SCPNotConvergedError
            For one where SCP did not converge.
        EffectiveModelError
            When ``fc`` is not the model that was renormalized (:meth:`check_force_constants`).
        """
        self.check_force_constants(fc)
        out = []
        for t in np.atleast_1d(np.asarray(temperatures, dtype=float)):
            hits = np.nonzero(np.isclose(self.temperatures, t, rtol=0, atol=1e-6))[0]
            if not len(hits):
                raise MissingTemperatureError(
                    f"no renormalized phonons at {t:g} K "
                    "(renormalized at "
                    f"{self.temperatures.tolist()} K): add it to the SCP "
                    f"temperatures"
                )
            i = int(hits[0])
            if not self.converged[i]:
                raise SCPNotConvergedError(
                    not_converged_advice(
                        t,
                        self.temperatures,
                        self.converged,
                        self.frequencies_scp[i],
                        self.qpoints,
                        int(self.iterations[i]),
                        float(self.residual[i]),
                    )
                )
            out.append(self.model(fc, i))
        return out

    def check_force_constants(self, fc: ForceConstants) -> None:
        """Raise :class:`.effective_fc2.EffectiveModelError` unless ``fc`` was renormalized here.

        The harmonic frequencies of ``fc`` on the outer mesh must be the stored ones
        (1e-5 THz: the same force constants give them to round-off, ~1e-7 THz at the
        Γ translations; other force constants differ by far more).
        """
        from ..harmonic import solve

        bands = 3 * fc.setup.n_prim
        if self.frequencies_harmonic.shape[-1] != bands:
            raise EffectiveModelError(
                f"the renormalized phonons have {self.frequencies_harmonic.shape[-1]} bands, the "
                f"force constants {bands}: renormalize these force constants"
            )
        dev = np.abs(solve(fc, self.qpoints).frequencies - self.frequencies_harmonic).max()
        if dev > 1e-5:
            raise EffectiveModelError(
                f"the renormalized phonons were not computed from these force constants (their "
                f"harmonic frequencies on the SCP mesh differ by {dev:.2g} THz): renormalize "
                f"these force constants, or give the ones that were renormalized"
            )

    def to_dict(self) -> dict:
        """Return the JSON of ``aiida-wigner renormalize --output`` (irreducible points)."""
        ir = self.ir_grid
        return {
            "temperatures": self.temperatures.tolist(),
            "kind": self.kind,
            "qpoints": self.qpoints[ir].tolist(),
            "weights": self.weights.tolist(),
            "frequencies_harmonic": self.frequencies_harmonic[ir].tolist(),
            "frequencies_scp": self.frequencies_scp[:, ir].tolist(),
            "frequencies": self.frequencies[:, ir].tolist(),
            "converged": [bool(c) for c in self.converged],
            "iterations": [int(i) for i in self.iterations],
            "residual": [float(r) for r in self.residual],
            "msd": self.msd.tolist(),
            "units": "THz",
            "field_units": {
                "temperatures": "K",
                "residual": "THz",
                "msd": "Angstrom^2",
                "frequencies": "THz (negative = imaginary)",
            },
        }

    def arrays(self) -> dict[str, NDArray]:
        """Return the array fields by name (:attr:`ARRAYS`; units in :attr:`UNITS`)."""
        return {name: np.asarray(getattr(self, name)) for name in self.ARRAYS}

    @classmethod
    def from_arrays(cls, kind: str, arrays: dict) -> Renormalization:
        """Build from ``kind`` and the arrays of :meth:`arrays` (inverse of it)."""
        return cls(kind=kind, **{name: np.asarray(arrays[name]) for name in cls.ARRAYS})


def renormalize(fc: ForceConstants, settings: RenormalizationSettings) -> Renormalization:
    """Renormalize the phonons: SCP at every temperature, then the bubble correction if asked.

    Parameters
    ----------
    fc : ForceConstants
        The bare model, with FC4 (and FC3 for the bubble).
    settings : RenormalizationSettings
        SCP and bubble settings.

    Returns
    -------
    Renormalization
        Frequencies, ΔD (THz²), convergence and mean-square displacements per temperature.

    Raises
    ------
    ForceConstantsError
        If FC4 (or, for the bubble, FC3) is missing.
    """
    from ..forceconstants import ForceConstantsError

    if fc.fc4 is None:
        raise ForceConstantsError(
            "self-consistent phonons need fourth-order force constants: "
            "give --fc4 FORCE_CONSTANTS_4TH or an fcp with order 4"
        )
    if settings.bubble != "none" and fc.fc3 is None:
        raise ForceConstantsError(
            "the bubble correction needs third-order force constants: "
            "give --fc3 (or an fcp with order 3), or --bubble none"
        )
    s = settings.scp
    scp = run_scp(fc, s)
    delta, freqs = scp.delta_dynmat, scp.frequencies
    shifts = np.zeros_like(freqs)
    if settings.bubble != "none":
        scpb = run_bubble(fc, scp, kind=settings.bubble, epsilon=settings.bubble_epsilon)
        delta, freqs, shifts = scpb.delta_dynmat, scpb.frequencies, scpb.shifts
    kind = renormalization_kind(settings.bubble)
    temps = np.asarray(s.temperatures, dtype=float)
    msd = np.array(
        [
            mean_square_displacements(
                EffectiveHarmonicModel(fc, np.array(s.mesh), delta[i], t, kind),
                s.inner_mesh,
                [t],
                s.classical,
                s.frequency_floor,
            )[0]
            for i, t in enumerate(temps)
        ]
    )
    return Renormalization(
        kind=kind,
        temperatures=temps,
        mesh=np.array(s.mesh),
        qpoints=scp.qpoints,
        ir_grid=scp.ir_grid,
        weights=scp.weights,
        frequencies_harmonic=scp.frequencies_harmonic,
        frequencies_scp=scp.frequencies,
        frequencies=freqs,
        converged=scp.converged,
        iterations=scp.iterations,
        residual=scp.residual,
        delta_dynmat=delta,
        bubble_shifts=shifts,
        msd=msd,
    )

"""One call from force constants to the Wigner conductivity: the physics pipeline.

``compute_kappa(fc, settings)`` runs, on a Γ-centred q-mesh: harmonic phonons →
three-phonon (Eq. 6), four-phonon (Eq. 7) and isotope (Eq. 8) half widths → Wigner
conductivity (Eq. 5), and returns a :class:`KappaResult`.  With ``models`` (one
renormalized :class:`~.renormalization.EffectiveHarmonicModel` per temperature) each
temperature runs on its own renormalized phonons with the bare Φ3/Φ4, as in the seed.
Units: THz, W/(m·K), K.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

#: Accepted ``KappaSettings.smearing`` values.
SMEARINGS = ("gaussian", "adaptive", "adaptive-shengbte")


@dataclass(frozen=True)
class KappaSettings:
    """Settings of a conductivity run.

    Parameters
    ----------
    mesh : tuple of 3 int
        Γ-centred q-mesh.
    temperatures : tuple of float
        K.
    smearing : {"gaussian", "adaptive", "adaptive-shengbte"}
        Fixed ``sigma``; a width per process from the velocities of the modes that vary,
        times ``scale``, with a curvature floor; or ShengBTE/FourPhonon's scalebroad
        definition, number for number (scattering/smearing.py, docs/conventions.md).
    sigma : float
        Gaussian width of ``smearing="gaussian"``, THz.
    scale : float
        Factor of the adaptive widths.
    isotope : bool
        Include isotope scattering with natural-abundance mass variances, or with
        ``mass_variances`` when given.
    mass_variances : tuple of float, optional
        One g2 per primitive atom (dimensionless).
    three_phonon : bool
        Include three-phonon scattering (needs FC3).
    convention : {"aiida-wigner", "phono3py"}
        Split of degenerate pairs between κ_P and κ_C ("phono3py": its SMM19 split);
        see docs/conventions.md.
    frequency_bins : int
        Number of bins for spectral κ(ω) and the (ω, ω') κ_C map.
    cutoff_frequency : float
        THz; modes at or below it are left out of κ and of the scattering sums.
    use_symmetry : bool
        Reduce q-points and triplets by the point group (off: full-mesh sums).
    four_phonon : {None, "exhaustive", "sampled"}
        Four-phonon linewidths (needs FC4; docs/four_phonon.md), off with None; same
        smearing as the three-phonon ones.
    four_phonon_samples : int
        Sampled mode: (q1, q2) pairs drawn per q-point (the starting number with
        ``four_phonon_target_error``).
    four_phonon_seed : int
        Sampled mode: random seed (results reproducible).
    four_phonon_target_error : float, optional
        Sampled mode: add samples until the relative standard error of every γ_4ph is
        below this (None: fixed ``four_phonon_samples``); needs the "uniform" allocation.
    four_phonon_allocation : {"kappa", "uniform"}
        Sampled mode: a pilot at every q-point, then the budget ``four_phonon_samples`` ×
        n_q spread by each q-point's share of the statistical error of κ_P; or
        ``four_phonon_samples`` at every q-point (docs/four_phonon.md §4).
    """

    mesh: tuple[int, int, int]
    temperatures: tuple[float, ...]
    smearing: Literal["gaussian", "adaptive", "adaptive-shengbte"] = "gaussian"
    sigma: float = 0.1
    scale: float = 1.0
    isotope: bool = False
    mass_variances: tuple[float, ...] | None = None
    three_phonon: bool = True
    convention: Literal["aiida-wigner", "phono3py"] = "aiida-wigner"
    frequency_bins: int = 100
    cutoff_frequency: float = 1e-3
    use_symmetry: bool = True
    four_phonon: Literal["exhaustive", "sampled"] | None = None
    four_phonon_samples: int = 256
    four_phonon_seed: int = 0
    four_phonon_target_error: float | None = None
    four_phonon_allocation: Literal["kappa", "uniform"] = "kappa"

    def __post_init__(self):
        """Normalize mesh and temperatures to tuples and check every setting.

        Raises
        ------
        ValueError
            With a one-line message for the first setting that is out of range.
        """
        mesh = tuple(int(m) for m in self.mesh)
        if len(mesh) != 3 or min(mesh) < 1:
            raise ValueError(f"mesh must be three positive integers, got {self.mesh!r}")
        object.__setattr__(self, "mesh", mesh)
        temps = tuple(float(t) for t in np.atleast_1d(self.temperatures))
        if not temps or min(temps) < 0:
            raise ValueError(f"temperatures must be non-negative kelvin, got {self.temperatures!r}")
        object.__setattr__(self, "temperatures", temps)
        if self.smearing not in SMEARINGS:
            raise ValueError(
                f"smearing must be one of {', '.join(SMEARINGS)}, got {self.smearing!r}"
            )
        if self.smearing == "gaussian" and not self.sigma > 0:
            raise ValueError(f"sigma must be a positive width in THz, got {self.sigma!r}")
        if self.smearing != "gaussian" and not self.scale > 0:
            raise ValueError(f"scale must be positive, got {self.scale!r}")
        if self.convention not in ("aiida-wigner", "phono3py"):
            raise ValueError(
                f"convention must be 'aiida-wigner' or 'phono3py', got {self.convention!r}"
            )
        if self.four_phonon not in (None, "exhaustive", "sampled"):
            raise ValueError(
                f"four_phonon must be None, 'exhaustive' or 'sampled', got {self.four_phonon!r}"
            )
        if self.four_phonon_samples < 2:
            raise ValueError(
                f"four_phonon_samples must be at least 2, got {self.four_phonon_samples!r}"
            )
        if self.four_phonon_target_error is not None and not self.four_phonon_target_error > 0:
            raise ValueError(
                f"four_phonon_target_error must be a positive relative error, "
                f"got {self.four_phonon_target_error!r}"
            )
        if self.four_phonon_allocation not in ("kappa", "uniform"):
            raise ValueError(
                f"four_phonon_allocation must be 'kappa' or 'uniform', "
                f"got {self.four_phonon_allocation!r}"
            )
        if self.four_phonon_target_error is not None and self.four_phonon_allocation != "uniform":
            raise ValueError("four_phonon_target_error needs four_phonon_allocation='uniform'")

    def as_dict(self) -> dict:
        """Return the settings as a plain dict (field name -> value), e.g. to store them."""
        return asdict(self)


def settings_from_dict(settings: dict):
    """Validate a plain settings dictionary into a :class:`KappaSettings`.

    Lists become tuples; unknown or missing keys and invalid values raise ``ValueError``
    with a message naming the key and the accepted keys.
    """
    if not isinstance(settings, dict):
        raise ValueError(f"kappa settings must be a dictionary, got {type(settings).__name__}")
    fields = {f.name: f for f in dataclasses.fields(KappaSettings)}
    unknown = sorted(set(settings) - set(fields))
    if unknown:
        raise ValueError(f"unknown kappa setting(s) {unknown}; accepted keys: {sorted(fields)}")
    required = [
        name
        for name, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if name not in settings]
    if missing:
        raise ValueError(
            f"kappa settings need {missing} (e.g. mesh=[10, 10, 10], temperatures=[300])"
        )
    kwargs = {
        key: tuple(value) if isinstance(value, list) else value for key, value in settings.items()
    }
    try:
        return KappaSettings(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"invalid kappa settings: {exc}") from exc


@dataclass
class KappaResult:
    """Result of :func:`compute_kappa`.

    Shapes: T temperatures, Q irreducible q-points, B bands.

    Attributes
    ----------
    settings : KappaSettings
        The settings of the run.
    temperatures : ndarray of float, shape (T,)
        Temperatures in K.
    kappa_P, kappa_C, kappa : ndarray of float, shape (T, 3, 3)
        Populations, coherences and total conductivity, W/(m·K).
    qpoints : ndarray of float, shape (Q, 3)
        Irreducible q-points, reduced coordinates.
    weights : ndarray of int, shape (Q,)
        Number of mesh points each represents (sum = mesh size).
    frequencies : ndarray of float, shape (Q, B) or (T, Q, B)
        Frequencies in THz; the leading T axis with renormalized phonons (one model per
        temperature).
    group_velocities : ndarray of float, shape (Q, B, 3) or (T, Q, B, 3)
        Group velocities in THz·Å, leading T axis as for ``frequencies``.
    heat_capacities : ndarray of float, shape (T, Q, B)
        Mode heat capacities, eV/K per mode.
    gamma_3ph, gamma_4ph, gamma_isotope, gamma : ndarray of float, shape (T, Q, B)
        Half widths in THz (gamma_isotope is T-independent on harmonic phonons but
        broadcast; gamma_4ph zeros unless computed); gamma is their sum.
    kappa_P_modes : ndarray of float, shape (T, Q, B, 3, 3)
        Mode contributions to kappa_P, W/(m·K), weight included (they sum to kappa_P).
    gamma_4ph_stderr : ndarray of float, shape (T, Q, B)
        Statistical error of sampled γ_4ph in THz (zeros when exhaustive or off).
    spectra : dict
        Spectral and cumulative κ_P(ω), κ_C(ω) and the binned (ω, ω') κ_C map.
    """

    settings: KappaSettings
    temperatures: NDArray
    kappa_P: NDArray
    kappa_C: NDArray
    kappa: NDArray
    qpoints: NDArray
    weights: NDArray
    frequencies: NDArray
    group_velocities: NDArray
    heat_capacities: NDArray
    gamma_3ph: NDArray
    gamma_4ph: NDArray
    gamma_isotope: NDArray
    gamma: NDArray
    kappa_P_modes: NDArray
    gamma_4ph_stderr: NDArray | None = None
    spectra: dict = field(default_factory=dict)

    def __post_init__(self):
        """Fill a missing ``gamma_4ph_stderr`` with zeros of the shape of ``gamma_4ph``."""
        if self.gamma_4ph_stderr is None:
            self.gamma_4ph_stderr = np.zeros_like(self.gamma_4ph)

    @classmethod
    def stack(cls, settings: KappaSettings, results: list[KappaResult]) -> KappaResult:
        """One result from single-temperature results (renormalized phonons per T).

        Per-temperature arrays are concatenated; frequencies, group velocities and the
        spectra's bin edges get a leading T axis.
        """
        first = results[0]
        joined = {
            name: np.concatenate([getattr(r, name) for r in results])
            for name in (
                "temperatures",
                "kappa_P",
                "kappa_C",
                "kappa",
                "heat_capacities",
                "gamma_3ph",
                "gamma_4ph",
                "gamma_isotope",
                "gamma",
                "kappa_P_modes",
                "gamma_4ph_stderr",
            )
        }
        per_t = {
            name: np.stack([getattr(r, name) for r in results])
            for name in ("frequencies", "group_velocities")
        }
        spectra = {
            key: (
                np.stack([r.spectra[key] for r in results])
                if key == "frequency_bin_edges"
                else np.concatenate([r.spectra[key] for r in results])
            )
            for key in first.spectra
        }
        return cls(
            settings=settings,
            qpoints=first.qpoints,
            weights=first.weights,
            spectra=spectra,
            **joined,
            **per_t,
        )

    def summary(self) -> dict:
        """Return the JSON output of ``aiida-wigner kappa --output`` (without ``node``).

        Returns
        -------
        dict
            ``temperatures`` (K), ``kappa_P``, ``kappa_C``, ``kappa`` (nested lists, T x 3 x 3,
            W/(m K)) and ``units``.
        """
        return {
            "temperatures": self.temperatures.tolist(),
            "kappa_P": self.kappa_P.tolist(),
            "kappa_C": self.kappa_C.tolist(),
            "kappa": self.kappa.tolist(),
            "units": "W/(m K)",
        }

    def write_modes(self, path) -> None:
        """Write the mode-resolved datasets of the output contract to an HDF5 file."""
        import h5py

        units = {
            "qpoint": "reduced",
            "weight": "1",
            "frequency": "THz",
            "gamma_3ph": "THz (half width)",
            "gamma_4ph": "THz (half width)",
            "gamma_isotope": "THz (half width)",
            "gamma": "THz (half width)",
            "gamma_4ph_stderr": "THz (standard error of the sampled gamma_4ph)",
            "group_velocity": "THz*Angstrom",
            "heat_capacity": "eV/K",
            "kappa_P_mode": "W/(m K)",
            "temperature": "K",
        }
        data = {
            "qpoint": self.qpoints,
            "weight": self.weights,
            "frequency": self.frequencies,
            "gamma_3ph": self.gamma_3ph,
            "gamma_4ph": self.gamma_4ph,
            "gamma_isotope": self.gamma_isotope,
            "gamma": self.gamma,
            "gamma_4ph_stderr": self.gamma_4ph_stderr,
            "group_velocity": self.group_velocities,
            "heat_capacity": self.heat_capacities,
            "kappa_P_mode": self.kappa_P_modes,
            "temperature": self.temperatures,
        }
        with h5py.File(path, "w") as h5:
            for name, value in data.items():
                h5.create_dataset(name, data=value)
                h5[name].attrs["units"] = units[name]
            for name, value in self.spectra.items():
                h5.create_dataset(f"spectra/{name}", data=value)


def compute_kappa(fc, settings: KappaSettings, models=None) -> KappaResult:
    """Compute the Wigner thermal conductivity (Eq. 5) of the force-constant model ``fc``.

    The same numbers, bit for bit, as :func:`compute_linewidths` on chunks of the
    irreducible points followed by :func:`kappa_from_linewidths` on the gathered chunks.

    Parameters
    ----------
    fc : ForceConstants
        Force constants (eV/Å^n) with the orders the settings need (FC3 for three-phonon,
        FC4 for four-phonon scattering).
    settings : KappaSettings
        Mesh, temperatures (K), smearing and scattering channels.
    models : sequence of EffectiveHarmonicModel, optional
        None: the harmonic phonons of ``fc.fc2``.  Else one renormalized model per
        temperature of ``settings`` (same order); each temperature then runs on its
        model's phonons: D(q) and ∂D/∂q of the model at every κ q-point (the harmonic
        part from ``fc``'s supercell, ΔD Fourier-interpolated from the SCP mesh,
        docs/scp.md §4), with the bare FC3/FC4 for the linewidths.

    Returns
    -------
    KappaResult
        κ_P, κ_C and κ (T, 3, 3) in W/(m·K), with the mode-resolved data.

    Raises
    ------
    UnstablePhononsError
        When the mesh has imaginary modes (renormalize first).
    ForceConstantsError
        When FC3 (FC4) is missing but three-phonon (four-phonon) scattering is asked for.
    """
    _check_orders(fc, settings)

    def one(s, builder, _index):
        phonons = _MeshPhonons.build(fc, s, builder)
        return _assemble(fc, s, phonons, _linewidths(fc, s, phonons, phonons.qmesh.ir_grid))

    return _per_temperature(settings, models, one, KappaResult.stack)


#: Scattering channels of :func:`compute_linewidths` (``parts``).
LINEWIDTH_PARTS = ("3ph", "isotope", "4ph")


@dataclass
class Linewidths:
    """Half widths γ in THz at some irreducible q-points, at every temperature of a run.

    Attributes
    ----------
    grid_points : ndarray of int64, shape (G,)
        Indices of the points in the Γ-centred mesh (``QMesh.addresses`` order), a subset
        of its irreducible grid.
    temperatures : ndarray of float64, shape (T,)
        K.
    gamma_3ph, gamma_isotope, gamma_4ph : ndarray of float64, shape (T, G, B)
        Half widths per channel, THz (zeros for a channel that was not computed).
    gamma_4ph_stderr : ndarray of float64, shape (T, G, B)
        THz, the standard error of sampled γ_4ph (zeros otherwise).
    """

    grid_points: NDArray
    temperatures: NDArray
    gamma_3ph: NDArray
    gamma_isotope: NDArray
    gamma_4ph: NDArray
    gamma_4ph_stderr: NDArray

    ARRAYS = (
        "grid_points",
        "temperatures",
        "gamma_3ph",
        "gamma_isotope",
        "gamma_4ph",
        "gamma_4ph_stderr",
    )
    UNITS = {
        "grid_points": "1",
        "temperatures": "K",
        "gamma_3ph": "THz (half width)",
        "gamma_isotope": "THz (half width)",
        "gamma_4ph": "THz (half width)",
        "gamma_4ph_stderr": "THz (standard error of the sampled gamma_4ph)",
    }

    @property
    def gamma(self) -> NDArray:
        """Total half width (T, G, B) THz."""
        return self.gamma_3ph + self.gamma_isotope + self.gamma_4ph

    def arrays(self) -> dict[str, NDArray]:
        """Return the arrays named in ``ARRAYS`` (units in ``UNITS``), e.g. to store them."""
        return {name: np.asarray(getattr(self, name)) for name in self.ARRAYS}

    @classmethod
    def from_arrays(cls, arrays: dict) -> Linewidths:
        """From :meth:`arrays` (ValueError when an array is missing or the shapes disagree)."""
        missing = [name for name in cls.ARRAYS if name not in arrays]
        if missing:
            raise ValueError(f"linewidths without the arrays {missing}")
        out = cls(**{name: np.asarray(arrays[name]) for name in cls.ARRAYS})
        shape = (len(out.temperatures), len(out.grid_points))
        bad = [
            name
            for name in cls.ARRAYS[2:]
            if getattr(out, name).ndim != 3 or getattr(out, name).shape[:2] != shape
        ]
        if bad or len({getattr(out, name).shape for name in cls.ARRAYS[2:]}) != 1:
            raise ValueError(
                f"linewidth arrays {bad or list(cls.ARRAYS[2:])} do not have the "
                f"shape (T, G, B) = {shape} + (B,)"
            )
        return out

    @classmethod
    def gather(cls, chunks, grid_points) -> Linewidths:
        """Join chunks of linewidths into one, in the order of ``grid_points``.

        Parameters
        ----------
        chunks : sequence of Linewidths
            Linewidths at disjoint sets of points, all at the same temperatures (K).
        grid_points : array_like of int, shape (G,)
            Mesh indices wanted; each must be in exactly one chunk.

        Returns
        -------
        Linewidths
            Half widths (T, G, B) in THz at ``grid_points``.

        Raises
        ------
        ValueError
            If a point is missing, given twice or not asked for, or the chunks have other
            temperatures.
        """
        grid_points = np.asarray(grid_points, dtype=np.int64)
        have = np.concatenate([np.asarray(c.grid_points, dtype=np.int64) for c in chunks])
        if len(have) != len(grid_points) or not np.array_equal(np.sort(have), np.sort(grid_points)):
            missing = np.setdiff1d(grid_points, have)
            raise ValueError(
                f"the linewidth chunks hold {len(have)} points ({len(np.unique(have))}"
                f" distinct) for {len(grid_points)} irreducible points (missing "
                f"{missing[:10].tolist()}): give every point exactly once"
            )
        temps = chunks[0].temperatures
        if any(not np.array_equal(c.temperatures, temps) for c in chunks):
            raise ValueError("the linewidth chunks are at different temperatures")
        order = np.argsort(have)[np.searchsorted(np.sort(have), grid_points)]
        joined = {
            name: np.concatenate([getattr(c, name) for c in chunks], axis=1)[:, order]
            for name in cls.ARRAYS[2:]
        }
        return cls(grid_points=grid_points, temperatures=np.asarray(temps), **joined)

    def at_temperature(self, index: int) -> Linewidths:
        """Return the linewidths of temperature ``index`` alone (leading axis of length 1)."""
        sl = slice(index, index + 1)
        return Linewidths(
            self.grid_points,
            self.temperatures[sl],
            **{name: getattr(self, name)[sl] for name in self.ARRAYS[2:]},
        )


def irreducible_grid_points(fc, settings: KappaSettings) -> NDArray:
    """Mesh indices (int) of the irreducible q-points of the κ run (the ones that get γ)."""
    from .mesh import QMesh

    return QMesh.build(fc.primitive, settings.mesh, symmetry=settings.use_symmetry).ir_grid


def four_phonon_couples_points(settings: KappaSettings) -> bool:
    """Tell whether γ_4ph at one q-point depends on the other q-points.

    It does for sampled γ_4ph with the "kappa" allocation (the sample budget is spread
    over all points after a pilot): then γ_4ph must be computed for all irreducible points
    at once (``parts=("4ph",)`` with ``previous``).

    Parameters
    ----------
    settings : KappaSettings
        The settings of the run.

    Returns
    -------
    bool
        True when the points are coupled.
    """
    return settings.four_phonon == "sampled" and settings.four_phonon_allocation == "kappa"


def compute_linewidths(
    fc,
    settings: KappaSettings,
    grid_points=None,
    models=None,
    parts=LINEWIDTH_PARTS,
    previous: Linewidths | None = None,
) -> Linewidths:
    """Compute half widths γ (THz) at some q-points exactly as :func:`compute_kappa` does.

    Parameters
    ----------
    fc : ForceConstants
        Force constants (eV/Å^n) with the orders the settings need.
    settings : KappaSettings
        The settings of the run; all its temperatures (K) are computed.
    grid_points : array_like of int, shape (G,), optional
        Mesh indices, a subset of :func:`irreducible_grid_points` (default: all of them).
        Each point's γ_3ph, γ_isotope and (exhaustive or "uniform" sampled) γ_4ph depend
        on that point only, so chunks of points can run in separate jobs.
    models : sequence, optional
        As in :func:`compute_kappa`.
    parts : tuple of str
        The channels to compute, of ``LINEWIDTH_PARTS`` (those the settings switch on);
        the others are zeros, or taken from ``previous``.
    previous : Linewidths, optional
        Linewidths at the same points (e.g. the gathered 3ph + isotope chunks): kept for
        the channels not in ``parts``, and their γ_3ph + γ_isotope are the κ weights of
        sampled γ_4ph with the "kappa" allocation (:func:`four_phonon_couples_points`;
        then ``grid_points`` must be all irreducible points).

    Returns
    -------
    Linewidths
        Half widths (T, G, B) in THz per channel, with the 4ph standard error.
    """
    _check_orders(fc, settings)
    unknown = sorted(set(parts) - set(LINEWIDTH_PARTS))
    if unknown:
        raise ValueError(f"unknown linewidth parts {unknown}; choose from {LINEWIDTH_PARTS}")

    def one(s, builder, index):
        phonons = _MeshPhonons.build(fc, s, builder)
        ir = phonons.qmesh.ir_grid
        points = ir if grid_points is None else np.asarray(grid_points, dtype=np.int64)
        outside = np.setdiff1d(points, ir)
        if len(outside) or len(np.unique(points)) != len(points):
            from .mesh import MeshError

            raise MeshError(
                f"grid points {outside[:10].tolist()} are not irreducible points of "
                f"the {s.mesh} mesh (or a point is given twice): take them from "
                f"irreducible_grid_points"
            )
        prev = previous
        if prev is not None:
            if not np.array_equal(prev.grid_points, points):
                raise ValueError("'previous' linewidths are at other grid points")
            prev = prev if index is None else prev.at_temperature(index)
        return _linewidths(fc, s, phonons, points, parts, prev)

    return _per_temperature(settings, models, one, _stack_linewidths)


def kappa_from_linewidths(
    fc, settings: KappaSettings, linewidths: Linewidths, models=None
) -> KappaResult:
    """Compute the Wigner κ (Eq. 5) with given half widths.

    This is :func:`compute_kappa` with its linewidth step replaced by ``linewidths``.

    Parameters
    ----------
    fc : ForceConstants
        Force constants (eV/Å^n).
    settings : KappaSettings
        The settings of the run.
    linewidths : Linewidths
        Half widths (T, Q, B) in THz at all irreducible points, e.g. gathered chunks of
        :func:`compute_linewidths`, at the temperatures (K) of ``settings``.
    models : sequence, optional
        As in :func:`compute_kappa`.

    Returns
    -------
    KappaResult
        κ_P, κ_C and κ in W/(m K) with the mode data.

    Raises
    ------
    ValueError
        If the linewidths are at other temperatures or not at the irreducible points
        in mesh order.
    """
    lw_temps = np.asarray(linewidths.temperatures, dtype=float)
    if not np.array_equal(lw_temps, np.asarray(settings.temperatures, dtype=float)):
        raise ValueError(
            f"the linewidths are at {lw_temps.tolist()} K, the run at "
            f"{list(settings.temperatures)} K"
        )

    def one(s, builder, index):
        phonons = _MeshPhonons.build(fc, s, builder)
        if not np.array_equal(linewidths.grid_points, phonons.qmesh.ir_grid):
            raise ValueError(
                f"the linewidths are at {len(linewidths.grid_points)} points, not "
                f"the {len(phonons.qmesh.ir_grid)} irreducible points of the "
                f"{s.mesh} mesh in order: gather the chunks first"
            )
        lw = linewidths if index is None else linewidths.at_temperature(index)
        return _assemble(fc, s, phonons, lw)

    return _per_temperature(settings, models, one, KappaResult.stack)


def _per_temperature(settings: KappaSettings, models, one, stack):
    """Run ``one`` on harmonic phonons or once per temperature on its model.

    ``one(settings, builder, index)`` runs with builder and index None on harmonic
    phonons; otherwise once per temperature, the results joined with
    ``stack(settings, list)``.
    """
    if models is None:
        return one(settings, None, None)
    temps = settings.temperatures
    if len(models) != len(temps):
        raise ValueError(
            f"one renormalized model per temperature is needed: {len(temps)} "
            f"temperatures, {len(models)} models"
        )
    return stack(
        settings,
        [
            one(dataclasses.replace(settings, temperatures=(t,)), model, i)
            for i, (t, model) in enumerate(zip(temps, models, strict=True))
        ],
    )


def _stack_linewidths(_settings, parts: list[Linewidths]) -> Linewidths:
    first = parts[0]
    return Linewidths(
        first.grid_points,
        np.concatenate([p.temperatures for p in parts]),
        **{
            name: np.concatenate([getattr(p, name) for p in parts])
            for name in Linewidths.ARRAYS[2:]
        },
    )


def _check_orders(fc, settings: KappaSettings) -> None:
    from .forceconstants import ForceConstantsError

    if settings.three_phonon and fc.fc3 is None:
        raise ForceConstantsError(
            "three-phonon scattering needs third-order force constants: give "
            "--fc3 (or an fcp with order 3), or switch three_phonon off"
        )
    if settings.four_phonon and fc.fc4 is None:
        raise ForceConstantsError(
            "four-phonon scattering needs fourth-order force constants: give "
            "--fc4 FORCE_CONSTANTS_4TH (or an fcp with order 4), or switch "
            "four_phonon off"
        )


@dataclass
class _MeshPhonons:
    """Hold the phonons of one κ run on its whole mesh.

    ``builder`` is a ``DynamicalMatrixBuilder`` or an ``EffectiveHarmonicModel``; the
    full-mesh velocities (``ModeVelocities``) are kept where the linewidths need them
    (adaptive widths, κ weights of sampled 4ph), with the smearing, and then the
    phonons are those of the same velocity operator (one eigenvector basis for both).
    """

    qmesh: object
    builder: object
    phonons: object
    velocities_full: object | None
    smearing: object
    #: (phonons, ModeVelocities) of the full mesh once computed (kept for :meth:`for_settings`)
    known_velocities: tuple | None = None
    #: shared by the copies :meth:`for_settings` makes: the ``eigh`` phonons of the mesh
    #: and the velocity operator at the irreducible points (:meth:`ir_velocity`)
    store: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def build(cls, fc, s: KappaSettings, builder=None) -> _MeshPhonons:
        from .harmonic import DynamicalMatrixBuilder, check_stable, solve
        from .mesh import QMesh

        qmesh = QMesh.build(fc.primitive, s.mesh, symmetry=s.use_symmetry)
        builder = DynamicalMatrixBuilder(fc) if builder is None else builder
        phonons = solve(fc, qmesh.qpoints, builder)
        check_stable(phonons, model=builder)
        mp = cls(qmesh, builder, phonons, None, None)
        mp.store["phonons"] = phonons  # what runs without velocities use, whatever ran before
        return mp.for_settings(fc, s)

    def for_settings(self, fc, s: KappaSettings) -> _MeshPhonons:
        """Return these phonons with the smearing of ``s``.

        Same mesh, symmetry, ``cutoff_frequency`` and phonon model; where the linewidths of
        ``s`` need them, the full-mesh velocities with the phonons of the same velocity
        operator (computed once; :class:`~.facade.Wigner` reuses them across settings).
        """
        from .scattering.smearing import mode_velocities
        from .scattering.three_phonon import Smearing

        needed = s.smearing != "gaussian" or four_phonon_couples_points(s)
        if needed and self.known_velocities is None:
            self.known_velocities = mode_velocities(
                fc, self.qmesh.qpoints, cutoff_frequency=s.cutoff_frequency, builder=self.builder
            )
        if s.smearing != "gaussian":
            smearing = Smearing(
                scale=s.scale,
                reciprocal_lattice=fc.primitive.reciprocal_lattice,
                mesh=self.qmesh.mesh,
                kind=s.smearing,
            )
        else:
            smearing = Smearing(sigma=s.sigma)
        phonons, velocities = self.known_velocities if needed else (self.store["phonons"], None)
        return dataclasses.replace(
            self, smearing=smearing, phonons=phonons, velocities_full=velocities
        )

    def ir_velocity(self, fc, cutoff_frequency: float):
        """Return the velocity operator (and phonons) at the irreducible points, computed once."""
        from .harmonic import velocity_operator

        if "ir_velocity" not in self.store:
            self.store["ir_velocity"] = velocity_operator(
                fc,
                self.qmesh.qpoints[self.qmesh.ir_grid],
                cutoff_frequency=cutoff_frequency,
                builder=self.builder,
            )
        return self.store["ir_velocity"]


def _linewidths(
    fc,
    s: KappaSettings,
    mp: _MeshPhonons,
    points,
    parts=LINEWIDTH_PARTS,
    previous: Linewidths | None = None,
) -> Linewidths:
    """γ at the mesh indices ``points`` on the phonons ``mp`` (channels ``parts``)."""
    from .scattering.four_phonon import four_phonon_linewidths
    from .scattering.isotope import isotope_linewidths, natural_mass_variances
    from .scattering.three_phonon import three_phonon_linewidths

    prim = fc.primitive
    temps = np.asarray(s.temperatures, dtype=float)
    shape = (len(temps), len(points), mp.phonons.frequencies.shape[1])
    zeros = Linewidths(points, temps, *(np.zeros(shape) for _ in Linewidths.ARRAYS[2:]))
    out = previous if previous is not None else zeros
    gamma_3ph, gamma_iso = out.gamma_3ph, out.gamma_isotope
    if s.three_phonon and "3ph" in parts:
        gamma_3ph = three_phonon_linewidths(
            fc,
            mp.qmesh,
            mp.phonons,
            points,
            temps,
            mp.smearing,
            group_velocities=mp.velocities_full,
            cutoff_frequency=s.cutoff_frequency,
        )
    if s.isotope and "isotope" in parts:
        g2 = (
            np.asarray(s.mass_variances, dtype=float)
            if s.mass_variances is not None
            else natural_mass_variances(prim.symbols)
        )
        if g2.shape != (len(prim),):
            raise ValueError(
                f"mass_variances needs one value per atom of the primitive cell "
                f"({len(prim)}), got {g2.shape}"
            )
        gamma_iso = np.broadcast_to(
            isotope_linewidths(
                mp.phonons,
                points,
                g2,
                mp.smearing,
                group_velocities=mp.velocities_full,
                cutoff_frequency=s.cutoff_frequency,
                qmesh=mp.qmesh,
            ),
            shape,
        ).copy()
    gamma_4ph, stderr_4ph = out.gamma_4ph, out.gamma_4ph_stderr
    if s.four_phonon and "4ph" in parts:
        gamma_4ph, err = four_phonon_linewidths(
            fc,
            mp.qmesh,
            mp.phonons,
            points,
            temps,
            mp.smearing,
            mode=s.four_phonon,
            samples=s.four_phonon_samples,
            seed=s.four_phonon_seed,
            target_rel_error=s.four_phonon_target_error,
            group_velocities=mp.velocities_full,
            cutoff_frequency=s.cutoff_frequency,
            symmetry=s.use_symmetry,
            allocation=s.four_phonon_allocation,
            gamma_other=gamma_3ph + gamma_iso,
        )
        stderr_4ph = err if err is not None else np.zeros(shape)
    return Linewidths(
        np.asarray(points, dtype=np.int64), temps, gamma_3ph, gamma_iso, gamma_4ph, stderr_4ph
    )


def _assemble(fc, s: KappaSettings, mp: _MeshPhonons, lw: Linewidths) -> KappaResult:
    """κ_P, κ_C (Eq. 5) from the phonons ``mp`` and the half widths ``lw`` (all ir points)."""
    from .harmonic import heat_capacity
    from .transport import spectral_kappa, wigner_terms

    qmesh, ir = mp.qmesh, mp.qmesh.ir_grid
    vel = mp.ir_velocity(fc, s.cutoff_frequency)
    freqs = vel.phonons.frequencies
    temps = np.asarray(s.temperatures, dtype=float)
    gamma = lw.gamma
    cv = heat_capacity(freqs[None], temps[:, None, None])
    terms = wigner_terms(
        freqs,
        vel.velocity,
        gamma,
        cv,
        qmesh.weights,
        qmesh.n_q,
        fc.primitive.volume,
        qmesh.symmetrize_tensor,
        convention=s.convention,
        cutoff_frequency=s.cutoff_frequency,
    )
    return KappaResult(
        settings=s,
        temperatures=temps,
        kappa_P=terms.kappa_P,
        kappa_C=terms.kappa_C,
        kappa=terms.kappa,
        qpoints=qmesh.qpoints[ir],
        weights=qmesh.weights,
        frequencies=freqs,
        group_velocities=vel.group_velocities,
        heat_capacities=cv,
        gamma_3ph=lw.gamma_3ph,
        gamma_4ph=lw.gamma_4ph,
        gamma_isotope=lw.gamma_isotope,
        gamma=gamma,
        kappa_P_modes=terms.kappa_P_modes,
        gamma_4ph_stderr=lw.gamma_4ph_stderr,
        spectra=spectral_kappa(terms, freqs, s.frequency_bins),
    )

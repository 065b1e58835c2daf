"""Every analysis of one finished conductivity run, as named arrays.

This is the contract of the ``wigner.analysis`` calcfunction; docs/analysis.md lists names,
shapes and units.

Input: the run's force constants and ``KappaSettings``, its stored modes (the arrays of the
``modes`` output of ``wigner.kappa``: ``temperature``, ``weight``, ``frequency``, ``gamma``,
``gamma_3ph``, ``heat_capacity``, ``group_velocity``), and the renormalized models of its
temperatures (None for harmonic phonons).  Output: four groups of arrays —
``participation``, ``lifetimes``, ``spectra``, ``dispersion`` (the last only with a path);
lists of names (``species``, the path ``labels``) ride along with the arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..harmonic import solve
from ..transport import spectral_kappa
from .dispersion import path_phonons
from .lifetimes import ioffe_regel_length, lifetimes, mean_free_paths, wigner_time_limit
from .lorentzian import lorentzian_map, pair_distribution
from .pairs import interband_velocity_map, wigner_pairs
from .participation import participation_ratios, species_sums


@dataclass(frozen=True)
class AnalysisParameters:
    """Resolution of the analyses.

    Attributes
    ----------
    bins : int
        Frequency bins of the spectra and the κ_C(ν_j, ν_j') map.
    lorentzian_bins : int
        Bins per axis of the (|Δν|, Γ) pair map and the weight grid.
    path_points : int
        Points along the band path (0: no ``dispersion`` group).
    """

    bins: int = 100
    lorentzian_bins: int = 60
    path_points: int = 200

    def __post_init__(self):
        """Check that the bin counts are positive and ``path_points`` is not negative.

        Raises
        ------
        ValueError
            With a one-line message naming the bad parameter.
        """
        for name in ("bins", "lorentzian_bins"):
            if int(getattr(self, name)) < 1:
                raise ValueError(
                    f"{name} must be a positive number of bins, got {getattr(self, name)!r}"
                )
        if int(self.path_points) < 0:
            raise ValueError(
                f"path_points must be 0 (no dispersion) or positive, got {self.path_points!r}"
            )


def per_temperature(modes: dict, name: str, n_t: int) -> np.ndarray:
    """Return a mode array with a leading temperature axis.

    Harmonic runs store frequencies and group velocities without one; they are repeated
    over the temperatures.

    Parameters
    ----------
    modes : dict
        The stored mode arrays of the run.
    name : str
        ``"frequency"`` (THz, (T, Q, B) or (Q, B)) or ``"group_velocity"`` (THz·Å,
        (T, Q, B, 3) or (Q, B, 3)).
    n_t : int
        Number of temperatures T.

    Returns
    -------
    ndarray of float
        The array with a leading axis of length ``n_t`` (a copy when it was broadcast).
    """
    value = np.asarray(modes[name])
    extra = {"frequency": 2, "group_velocity": 3}[name]
    return (
        np.broadcast_to(value, (n_t,) + value.shape[-extra:]).copy()
        if value.ndim == extra
        else value
    )


def analyse(fc, settings, modes: dict, models=None, parameters=AnalysisParameters()) -> dict:
    """Run every analysis of one finished conductivity run (module docstring).

    Parameters
    ----------
    fc : ForceConstants
        The run's force constants.
    settings : KappaSettings
        The run's settings.
    modes : dict of str to ndarray
        The run's stored modes (``temperature``, ``weight``, ``frequency``, ``gamma``,
        ``gamma_3ph``, ``heat_capacity``, ``group_velocity``; THz, K, eV/K, THz·Å).
    models : sequence of EffectiveHarmonicModel, optional
        The renormalized model of each temperature (None: harmonic phonons).
    parameters : AnalysisParameters
        Resolution of the analyses.

    Returns
    -------
    dict
        {group: {array name: array}}, groups ``participation``, ``lifetimes``,
        ``spectra`` and (with ``parameters.path_points``) ``dispersion``; names, shapes and
        units in docs/analysis.md.

    Raises
    ------
    ModesMismatchError
        When the modes are not the phonons of ``fc`` (and ``models``) on ``settings.mesh``.
    """
    temps = np.asarray(modes["temperature"], dtype=float)
    n_t = len(temps)
    freqs = per_temperature(modes, "frequency", n_t)
    velocities = per_temperature(modes, "group_velocity", n_t)
    gamma = np.asarray(modes["gamma"])
    cv = np.asarray(modes["heat_capacity"])
    prim = fc.primitive
    builders = [None] if models is None else list(models)
    # harmonic: one set of phonons for every temperature; renormalized: one per temperature
    slices = [slice(None)] if models is None else [slice(i, i + 1) for i in range(n_t)]
    pieces = []
    for builder, sl in zip(builders, slices, strict=False):
        pairs = wigner_pairs(fc, settings, gamma[sl], cv[sl], freqs[sl][0], builder)
        phonons = pairs.velocity.phonons
        pr, apr = participation_ratios(phonons.eigenvectors, prim.masses, phonons.frequencies)
        pieces.append((sl, pairs, pr, apr))

    species, _ = species_sums(pieces[0][3], prim.symbols)
    pr = np.concatenate([np.broadcast_to(p[2], (len(temps[p[0]]),) + p[2].shape) for p in pieces])
    apr = np.concatenate([np.broadcast_to(p[3], (len(temps[p[0]]),) + p[3].shape) for p in pieces])
    participation = {
        "temperature": temps,
        "weight": np.asarray(modes["weight"]),
        "frequency": freqs,
        "pr": pr,
        "apr": apr,
        "apr_species": species_sums(apr, prim.symbols)[1],
        "species": list(species),
    }

    tau = lifetimes(gamma)
    g3 = np.asarray(modes["gamma_3ph"])
    life = {
        "temperature": temps,
        "frequency": freqs,
        "tau": tau,
        "tau_3ph": lifetimes(g3),
        "mean_free_path": mean_free_paths(velocities, tau),
        "group_velocity": velocities,
        "tau_wigner": np.array([wigner_time_limit(len(prim), f.max()) for f in freqs]),
        "ioffe_regel_length": np.array(ioffe_regel_length(prim.volume, len(prim))),
    }

    spectra = _spectra(pieces, freqs, gamma, temps, parameters)
    out = {"participation": participation, "lifetimes": life, "spectra": spectra}
    if parameters.path_points:
        out["dispersion"] = _dispersion(
            fc, builders, n_t, settings.cutoff_frequency, parameters.path_points
        )
    return out


def _spectra(pieces, freqs, gamma, temps, parameters: AnalysisParameters) -> dict:
    """spectral_kappa per set of phonons, and the κ_C pairs on the Lorentzian map.

    The (|Δν|, Γ) plane spans Γ up to the largest γ_j + γ_j' and |Δν| up to four times that
    (at most ν_max), where W ≥ 1/(17 Γ): pairs further apart are in the totals
    ``kappa_C_rising`` but not in the binned ``kappa_C_pairs``.  The weight grid has four
    times the bins of the pair map per axis.
    """
    n = parameters.lorentzian_bins
    gamma_max = float(2 * gamma.max()) if gamma.max() > 0 else 1.0
    delta_max = min(float(freqs.max()), 4 * gamma_max)
    d_edges = np.linspace(0.0, delta_max, n + 1)
    g_edges = np.linspace(0.0, gamma_max * (1 + 1e-9), n + 1)
    parts = []
    for sl, pairs, _, _ in pieces:
        terms, f = pairs.terms, pairs.velocity.phonons.frequencies
        spec = spectral_kappa(terms, f, parameters.bins)
        n_sl = terms.n_temperatures
        velocity = interband_velocity_map(pairs, spec["frequency_bin_edges"])
        for name, value in velocity.items():
            spec[name] = np.broadcast_to(value, (n_sl,) + value.shape)
        spec["frequency_bin_edges"] = np.broadcast_to(
            spec["frequency_bin_edges"], (n_sl, parameters.bins + 1)
        )
        spec.update(pair_distribution(terms, f, gamma[sl], d_edges, g_edges))
        spec["kappa_P"], spec["kappa_C"] = terms.kappa_P, terms.kappa_C
        parts.append(spec)
    out = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    grid = lorentzian_map(delta_max, gamma_max, 4 * n)
    out.update(
        temperature=temps,
        pair_delta_edges=d_edges,
        pair_gamma_edges=g_edges,
        lorentzian_delta=grid["delta"],
        lorentzian_gamma=grid["gamma_sum"],
        lorentzian_weight=grid["weight"],
    )
    return out


def _dispersion(fc, builders, n_t: int, cutoff: float, npoints: int) -> dict:
    """Harmonic and (per temperature) run phonons along the band path of the crystal."""
    from ..bandpath import band_path

    path = band_path(fc.primitive, npoints)
    runs = [path_phonons(fc, path.qpoints, b, cutoff) for b in builders]
    runs = runs * n_t if len(runs) == 1 else runs
    return {
        "qpoints": path.qpoints,
        "distances": path.distances,
        "ticks": path.ticks,
        "frequency_harmonic": solve(fc, path.qpoints).frequencies,
        "frequency": np.stack([r.frequencies for r in runs]),
        "group_velocity": np.stack([r.group_velocities for r in runs]),
        "pr": np.stack([r.pr for r in runs]),
        "apr": np.stack([r.apr for r in runs]),
        "apr_species": np.stack([r.apr_species for r in runs]),
        "labels": list(path.labels),
    }

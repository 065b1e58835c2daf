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

import numpy as np
from numpy.typing import NDArray


#: Accepted ``KappaSettings.smearing`` values.
SMEARINGS = ("gaussian", "adaptive", "adaptive-shengbte")


@dataclass(frozen=True)
class KappaSettings:
    """Settings of a conductivity run.

    mesh : Γ-centred q-mesh, three integers.
    temperatures : K.
    smearing : "gaussian" (fixed ``sigma`` in THz), "adaptive" (a width per process from
        the velocities of the modes that vary, times ``scale``, with a curvature floor)
        or "adaptive-shengbte" (ShengBTE/FourPhonon's scalebroad definition, number for
        number); scattering/smearing.py and docs/conventions.md.
    isotope : include isotope scattering with natural-abundance mass variances, or
        with ``mass_variances`` (one g2 per primitive atom) when given.
    three_phonon : include three-phonon scattering (needs FC3).
    convention : "aiida-wigner" or "phono3py" (phono3py's SMM19 split of degenerate
        pairs between κ_P and κ_C); see docs/conventions.md.
    frequency_bins : number of bins for spectral κ(ω) and the (ω, ω') κ_C map.
    use_symmetry : reduce q-points and triplets by the point group (off: full-mesh sums).
    four_phonon : None (off), "exhaustive" or "sampled" four-phonon linewidths (needs FC4;
        docs/four_phonon.md); same smearing as the three-phonon ones.
    four_phonon_samples : sampled mode: (q1, q2) pairs drawn per q-point (the starting
        number with ``four_phonon_target_error``).
    four_phonon_seed : sampled mode: random seed (results reproducible).
    four_phonon_target_error : sampled mode: add samples until the relative standard error
        of every γ_4ph is below this (None: fixed ``four_phonon_samples``); needs the
        "uniform" allocation.
    four_phonon_allocation : sampled mode: "kappa" (default: a pilot at every q-point, then
        the budget ``four_phonon_samples`` × n_q spread by each q-point's share of the
        statistical error of κ_P) or "uniform" (``four_phonon_samples`` at every q-point);
        docs/four_phonon.md §4.
    """

    mesh: tuple[int, int, int]
    temperatures: tuple[float, ...]
    smearing: str = "gaussian"
    sigma: float = 0.1
    scale: float = 1.0
    isotope: bool = False
    mass_variances: tuple[float, ...] | None = None
    three_phonon: bool = True
    convention: str = "aiida-wigner"
    frequency_bins: int = 100
    cutoff_frequency: float = 1e-3
    use_symmetry: bool = True
    four_phonon: str | None = None
    four_phonon_samples: int = 256
    four_phonon_seed: int = 0
    four_phonon_target_error: float | None = None
    four_phonon_allocation: str = "kappa"

    def __post_init__(self):
        mesh = tuple(int(m) for m in self.mesh)
        if len(mesh) != 3 or min(mesh) < 1:
            raise ValueError(f"mesh must be three positive integers, got {self.mesh!r}")
        object.__setattr__(self, "mesh", mesh)
        temps = tuple(float(t) for t in np.atleast_1d(self.temperatures))
        if not temps or min(temps) < 0:
            raise ValueError(f"temperatures must be non-negative kelvin, got {self.temperatures!r}")
        object.__setattr__(self, "temperatures", temps)
        if self.smearing not in SMEARINGS:
            raise ValueError(f"smearing must be one of {', '.join(SMEARINGS)}, "
                             f"got {self.smearing!r}")
        if self.smearing == "gaussian" and not self.sigma > 0:
            raise ValueError(f"sigma must be a positive width in THz, got {self.sigma!r}")
        if self.smearing != "gaussian" and not self.scale > 0:
            raise ValueError(f"scale must be positive, got {self.scale!r}")
        if self.convention not in ("aiida-wigner", "phono3py"):
            raise ValueError(f"convention must be 'aiida-wigner' or 'phono3py', "
                             f"got {self.convention!r}")
        if self.four_phonon not in (None, "exhaustive", "sampled"):
            raise ValueError(f"four_phonon must be None, 'exhaustive' or 'sampled', "
                             f"got {self.four_phonon!r}")
        if self.four_phonon_samples < 2:
            raise ValueError(f"four_phonon_samples must be at least 2, "
                             f"got {self.four_phonon_samples!r}")
        if self.four_phonon_target_error is not None and not self.four_phonon_target_error > 0:
            raise ValueError(f"four_phonon_target_error must be a positive relative error, "
                             f"got {self.four_phonon_target_error!r}")
        if self.four_phonon_allocation not in ("kappa", "uniform"):
            raise ValueError(f"four_phonon_allocation must be 'kappa' or 'uniform', "
                             f"got {self.four_phonon_allocation!r}")
        if self.four_phonon_target_error is not None and self.four_phonon_allocation != "uniform":
            raise ValueError("four_phonon_target_error needs four_phonon_allocation='uniform'")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class KappaResult:
    """Result of :func:`compute_kappa`.  Shapes: T temperatures, Q irreducible q-points,
    B bands.

    temperatures (T,) K; kappa_P, kappa_C, kappa (T, 3, 3) W/(m·K);
    qpoints (Q, 3) reduced; weights (Q,) int (sum = mesh size);
    frequencies (Q, B) THz; group_velocities (Q, B, 3) THz·Å — with renormalized
    phonons (one model per temperature) both get a leading T axis: (T, Q, B), (T, Q, B, 3);
    heat_capacities (T, Q, B) eV/K per mode;
    gamma_3ph, gamma_4ph, gamma_isotope, gamma (T, Q, B) THz half widths
    (gamma_isotope is T-independent on harmonic phonons but broadcast; gamma_4ph zeros
    unless computed); gamma_4ph_stderr (T, Q, B) THz, the statistical error of sampled
    γ_4ph (zeros when exhaustive or off);
    kappa_P_modes (T, Q, B, 3, 3) W/(m·K), weight included, summing to kappa_P;
    spectra: dict of spectral/cumulative κ_P(ω), κ_C(ω) and the binned (ω, ω') κ_C map.
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
        if self.gamma_4ph_stderr is None:
            self.gamma_4ph_stderr = np.zeros_like(self.gamma_4ph)

    @classmethod
    def stack(cls, settings: KappaSettings, results: list[KappaResult]) -> KappaResult:
        """One result from single-temperature results (renormalized phonons per T).

        Per-temperature arrays are concatenated; frequencies, group velocities and the
        spectra's bin edges get a leading T axis.
        """
        first = results[0]
        joined = {name: np.concatenate([getattr(r, name) for r in results])
                  for name in ("temperatures", "kappa_P", "kappa_C", "kappa", "heat_capacities",
                               "gamma_3ph", "gamma_4ph", "gamma_isotope", "gamma",
                               "kappa_P_modes", "gamma_4ph_stderr")}
        per_t = {name: np.stack([getattr(r, name) for r in results])
                 for name in ("frequencies", "group_velocities")}
        spectra = {key: (np.stack([r.spectra[key] for r in results])
                         if key == "frequency_bin_edges"
                         else np.concatenate([r.spectra[key] for r in results]))
                   for key in first.spectra}
        return cls(settings=settings, qpoints=first.qpoints, weights=first.weights,
                   spectra=spectra, **joined, **per_t)

    def summary(self) -> dict:
        """The JSON output contract of ``aiida-wigner kappa --output`` (without ``node``)."""
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

        units = {"qpoint": "reduced", "weight": "1", "frequency": "THz",
                 "gamma_3ph": "THz (half width)", "gamma_4ph": "THz (half width)",
                 "gamma_isotope": "THz (half width)", "gamma": "THz (half width)",
                 "gamma_4ph_stderr": "THz (standard error of the sampled gamma_4ph)",
                 "group_velocity": "THz*Angstrom", "heat_capacity": "eV/K",
                 "kappa_P_mode": "W/(m K)", "temperature": "K"}
        data = {"qpoint": self.qpoints, "weight": self.weights, "frequency": self.frequencies,
                "gamma_3ph": self.gamma_3ph, "gamma_4ph": self.gamma_4ph,
                "gamma_isotope": self.gamma_isotope, "gamma": self.gamma,
                "gamma_4ph_stderr": self.gamma_4ph_stderr,
                "group_velocity": self.group_velocities, "heat_capacity": self.heat_capacities,
                "kappa_P_mode": self.kappa_P_modes, "temperature": self.temperatures}
        with h5py.File(path, "w") as h5:
            for name, value in data.items():
                h5.create_dataset(name, data=value)
                h5[name].attrs["units"] = units[name]
            for name, value in self.spectra.items():
                h5.create_dataset(f"spectra/{name}", data=value)


def compute_kappa(fc, settings: KappaSettings, models=None) -> KappaResult:
    """Wigner thermal conductivity (Eq. 5) of the force-constant model ``fc``.

    models : None (harmonic phonons of ``fc.fc2``) or one renormalized
        :class:`~.renormalization.EffectiveHarmonicModel` per temperature of
        ``settings`` (same order); each temperature then runs on its model's phonons:
        D(q) and ∂D/∂q of the model at every κ q-point (the harmonic part from ``fc``'s
        supercell, ΔD Fourier-interpolated from the SCP mesh, docs/scp.md §4), with the
        bare FC3/FC4 for the linewidths.

    Raises :class:`~aiida_wigner.physics.harmonic.UnstablePhononsError` when the mesh
    has imaginary modes (renormalize first) and ``ForceConstantsError`` when FC3 (FC4) is
    missing but three-phonon (four-phonon) scattering is asked for.
    """
    _check_orders(fc, settings)
    if models is None:
        return _compute_kappa(fc, settings)
    temps = settings.temperatures
    if len(models) != len(temps):
        raise ValueError(f"one renormalized model per temperature is needed: {len(temps)} "
                         f"temperatures, {len(models)} models")
    results = [_compute_kappa(fc, dataclasses.replace(settings, temperatures=(t,)), model)
               for t, model in zip(temps, models)]
    return KappaResult.stack(settings, results)


def _check_orders(fc, settings: KappaSettings) -> None:
    from .forceconstants import ForceConstantsError

    if settings.three_phonon and fc.fc3 is None:
        raise ForceConstantsError("three-phonon scattering needs third-order force constants: give "
                         "--fc3 (or an fcp with order 3), or switch three_phonon off")
    if settings.four_phonon and fc.fc4 is None:
        raise ForceConstantsError("four-phonon scattering needs fourth-order force constants: give "
                         "--fc4 FORCE_CONSTANTS_4TH (or an fcp with order 4), or switch "
                         "four_phonon off")


def _compute_kappa(fc, settings: KappaSettings, builder=None) -> KappaResult:
    """κ on the phonons of ``builder`` (D(q), ∂D/∂q: a ``DynamicalMatrixBuilder`` or an
    ``EffectiveHarmonicModel``; default the harmonic ``fc.fc2``), linewidths from ``fc``."""
    from .harmonic import DynamicalMatrixBuilder, check_stable, heat_capacity, solve, velocity_operator
    from .mesh import QMesh
    from .scattering.four_phonon import four_phonon_linewidths
    from .scattering.isotope import isotope_linewidths, natural_mass_variances
    from .scattering.three_phonon import Smearing, three_phonon_linewidths
    from .transport import spectral_kappa, wigner_terms

    s = settings
    prim = fc.primitive
    qmesh = QMesh.build(prim, s.mesh, symmetry=s.use_symmetry)
    builder = DynamicalMatrixBuilder(fc) if builder is None else builder
    phonons = solve(fc, qmesh.qpoints, builder)
    check_stable(phonons)
    ir = qmesh.ir_grid
    vel = velocity_operator(fc, qmesh.qpoints[ir], cutoff_frequency=s.cutoff_frequency,
                            builder=builder)
    freqs = vel.phonons.frequencies
    temps = np.asarray(s.temperatures, dtype=float)
    n_t, n_b = len(temps), freqs.shape[1]

    # full-mesh velocities of *these* phonons: adaptive widths, κ weights of sampled 4ph
    velocities_full = None
    if s.smearing != "gaussian" or (s.four_phonon == "sampled"
                                    and s.four_phonon_allocation == "kappa"):
        velocities_full = velocity_operator(fc, qmesh.qpoints, cutoff_frequency=s.cutoff_frequency,
                                            builder=builder).group_velocities
    if s.smearing != "gaussian":
        smearing = Smearing(scale=s.scale, reciprocal_lattice=prim.reciprocal_lattice,
                            mesh=qmesh.mesh, kind=s.smearing)
    else:
        smearing = Smearing(sigma=s.sigma)

    gamma_3ph = np.zeros((n_t, len(ir), n_b))
    if s.three_phonon:
        gamma_3ph = three_phonon_linewidths(fc, qmesh, phonons, ir, temps, smearing,
                                            group_velocities=velocities_full,
                                            cutoff_frequency=s.cutoff_frequency)
    gamma_iso = np.zeros((len(ir), n_b))
    if s.isotope:
        g2 = (np.asarray(s.mass_variances, dtype=float) if s.mass_variances is not None
              else natural_mass_variances(prim.symbols))
        if g2.shape != (len(prim),):
            raise ValueError(f"mass_variances needs one value per atom of the primitive cell "
                             f"({len(prim)}), got {g2.shape}")
        gamma_iso = isotope_linewidths(phonons, ir, g2, smearing, group_velocities=velocities_full,
                                       cutoff_frequency=s.cutoff_frequency, qmesh=qmesh)
    gamma_4ph = np.zeros_like(gamma_3ph)
    stderr_4ph = np.zeros_like(gamma_3ph)
    if s.four_phonon:
        gamma_4ph, err = four_phonon_linewidths(
            fc, qmesh, phonons, ir, temps, smearing, mode=s.four_phonon,
            samples=s.four_phonon_samples, seed=s.four_phonon_seed,
            target_rel_error=s.four_phonon_target_error, group_velocities=velocities_full,
            cutoff_frequency=s.cutoff_frequency, symmetry=s.use_symmetry,
            allocation=s.four_phonon_allocation, gamma_other=gamma_3ph + gamma_iso[None])
        if err is not None:
            stderr_4ph = err
    gamma = gamma_3ph + gamma_iso[None] + gamma_4ph
    cv = heat_capacity(freqs[None], temps[:, None, None])
    terms = wigner_terms(freqs, vel.velocity, gamma, cv, qmesh.weights, qmesh.n_q, prim.volume,
                         qmesh.symmetrize_tensor, convention=s.convention,
                         cutoff_frequency=s.cutoff_frequency)
    return KappaResult(
        settings=s, temperatures=temps, kappa_P=terms.kappa_P, kappa_C=terms.kappa_C,
        kappa=terms.kappa, qpoints=qmesh.qpoints[ir], weights=qmesh.weights, frequencies=freqs,
        group_velocities=vel.group_velocities, heat_capacities=cv, gamma_3ph=gamma_3ph,
        gamma_4ph=gamma_4ph, gamma_isotope=np.broadcast_to(gamma_iso, gamma_3ph.shape).copy(),
        gamma=gamma, kappa_P_modes=terms.kappa_P_modes, gamma_4ph_stderr=stderr_4ph,
        spectra=spectral_kappa(terms, freqs, s.frequency_bins))

"""One call from force constants to the Wigner conductivity: the physics pipeline.

``compute_kappa(fc, settings)`` runs, on a Γ-centred q-mesh: harmonic phonons →
three-phonon (Eq. 6) and isotope (Eq. 8) half widths → Wigner conductivity (Eq. 5),
and returns a :class:`KappaResult`.  Units: THz, W/(m·K), K.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class KappaSettings:
    """Settings of a conductivity run.

    mesh : Γ-centred q-mesh, three integers.
    temperatures : K.
    smearing : "gaussian" (fixed ``sigma`` in THz) or "adaptive" (mode-dependent width
        from group-velocity differences times ``scale``, as ShengBTE's scalebroad).
    isotope : include isotope scattering with natural-abundance mass variances, or
        with ``mass_variances`` (one g2 per primitive atom) when given.
    three_phonon : include three-phonon scattering (needs FC3).
    convention : "aiida-wigner" or "phono3py" (phono3py's SMM19 split of degenerate
        pairs between κ_P and κ_C); see docs/conventions.md.
    frequency_bins : number of bins for spectral κ(ω) and the (ω, ω') κ_C map.
    use_symmetry : reduce q-points and triplets by the point group (off: full-mesh sums).
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

    def __post_init__(self):
        mesh = tuple(int(m) for m in self.mesh)
        if len(mesh) != 3 or min(mesh) < 1:
            raise ValueError(f"mesh must be three positive integers, got {self.mesh!r}")
        object.__setattr__(self, "mesh", mesh)
        temps = tuple(float(t) for t in np.atleast_1d(self.temperatures))
        if not temps or min(temps) < 0:
            raise ValueError(f"temperatures must be non-negative kelvin, got {self.temperatures!r}")
        object.__setattr__(self, "temperatures", temps)
        if self.smearing not in ("gaussian", "adaptive"):
            raise ValueError(f"smearing must be 'gaussian' or 'adaptive', got {self.smearing!r}")
        if self.smearing == "gaussian" and not self.sigma > 0:
            raise ValueError(f"sigma must be a positive width in THz, got {self.sigma!r}")
        if self.smearing == "adaptive" and not self.scale > 0:
            raise ValueError(f"scale must be positive, got {self.scale!r}")
        if self.convention not in ("aiida-wigner", "phono3py"):
            raise ValueError(f"convention must be 'aiida-wigner' or 'phono3py', "
                             f"got {self.convention!r}")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class KappaResult:
    """Result of :func:`compute_kappa`.  Shapes: T temperatures, Q irreducible q-points,
    B bands.

    temperatures (T,) K; kappa_P, kappa_C, kappa (T, 3, 3) W/(m·K);
    qpoints (Q, 3) reduced; weights (Q,) int (sum = mesh size);
    frequencies (Q, B) THz; group_velocities (Q, B, 3) THz·Å;
    heat_capacities (T, Q, B) eV/K per mode;
    gamma_3ph, gamma_4ph, gamma_isotope, gamma (T, Q, B) THz half widths
    (gamma_isotope is T-independent but broadcast; gamma_4ph zeros unless computed);
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
    spectra: dict = field(default_factory=dict)

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
                 "group_velocity": "THz*Angstrom", "heat_capacity": "eV/K",
                 "kappa_P_mode": "W/(m K)", "temperature": "K"}
        data = {"qpoint": self.qpoints, "weight": self.weights, "frequency": self.frequencies,
                "gamma_3ph": self.gamma_3ph, "gamma_4ph": self.gamma_4ph,
                "gamma_isotope": self.gamma_isotope, "gamma": self.gamma,
                "group_velocity": self.group_velocities, "heat_capacity": self.heat_capacities,
                "kappa_P_mode": self.kappa_P_modes, "temperature": self.temperatures}
        with h5py.File(path, "w") as h5:
            for name, value in data.items():
                h5.create_dataset(name, data=value)
                h5[name].attrs["units"] = units[name]
            for name, value in self.spectra.items():
                h5.create_dataset(f"spectra/{name}", data=value)


def compute_kappa(fc, settings: KappaSettings) -> KappaResult:
    """Wigner thermal conductivity (Eq. 5) of the force-constant model ``fc``.

    Raises :class:`~aiida_wigner.physics.harmonic.UnstablePhononsError` when the mesh
    has imaginary modes (renormalize first) and ``ValueError`` when FC3 is missing
    but three-phonon scattering is asked for.
    """
    from .harmonic import DynamicalMatrixBuilder, check_stable, heat_capacity, solve, velocity_operator
    from .mesh import QMesh
    from .scattering.isotope import isotope_linewidths, natural_mass_variances
    from .scattering.three_phonon import Smearing, three_phonon_linewidths
    from .transport import spectral_kappa, wigner_terms

    s = settings
    prim = fc.primitive
    qmesh = QMesh.build(prim, s.mesh, symmetry=s.use_symmetry)
    builder = DynamicalMatrixBuilder(fc)
    phonons = solve(fc, qmesh.qpoints, builder)
    check_stable(phonons)
    ir = qmesh.ir_grid
    vel = velocity_operator(fc, qmesh.qpoints[ir], cutoff_frequency=s.cutoff_frequency,
                            builder=builder)
    freqs = vel.phonons.frequencies
    temps = np.asarray(s.temperatures, dtype=float)
    n_t, n_b = len(temps), freqs.shape[1]

    velocities_full = None
    if s.smearing == "adaptive":
        smearing = Smearing(scale=s.scale, reciprocal_lattice=prim.reciprocal_lattice,
                            mesh=qmesh.mesh)
        velocities_full = velocity_operator(fc, qmesh.qpoints, cutoff_frequency=s.cutoff_frequency,
                                            builder=builder).group_velocities
    else:
        smearing = Smearing(sigma=s.sigma)

    gamma_3ph = np.zeros((n_t, len(ir), n_b))
    if s.three_phonon and fc.fc3 is None:
        raise ValueError("three-phonon scattering needs third-order force constants: give "
                         "--fc3 (or an fcp with order 3), or switch three_phonon off")
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
                                       cutoff_frequency=s.cutoff_frequency)
    gamma_4ph = np.zeros_like(gamma_3ph)
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
        gamma=gamma, kappa_P_modes=terms.kappa_P_modes,
        spectra=spectral_kappa(terms, freqs, s.frequency_bins))

"""Physical constants and unit conversions (CODATA via scipy.constants).

Internal unit system: Å, amu, eV, THz (ordinary frequency), K.
"""

from scipy import constants as _c

EV = _c.electron_volt  # J
AMU = _c.atomic_mass  # kg
ANGSTROM = 1e-10  # m
THZ = 1e12  # Hz
HBAR = _c.hbar  # J s
KB = _c.Boltzmann  # J/K
KB_EV = _c.Boltzmann / _c.electron_volt  # eV/K
PLANCK_EV_THZ = _c.h / _c.electron_volt * THZ  # h in eV/THz: E[eV] = PLANCK_EV_THZ * nu[THz]

#: sqrt(eV / (Å² amu)) expressed as an ordinary frequency in THz: ν = sqrt(λ) * FREQ_TO_THZ / ...
#: eigenvalue λ of D(q) in eV/(Å² amu) gives angular frequency
#: ω = sqrt(λ * EV/(ANGSTROM² AMU)) rad/s, ν[THz] = ω / (2π 1e12).
#: This factor is ≈ 15.633302 (phonopy's VaspToTHz).
EIGENVALUE_TO_THZ = (EV / (ANGSTROM**2 * AMU)) ** 0.5 / (2 * _c.pi) / THZ

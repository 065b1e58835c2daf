"""Numerical core of aiida-wigner: plain numpy / scipy / numba, no AiiDA import.

Units everywhere (see ``docs/conventions.md``): length Å, mass amu, energy eV,
force constants eV/Å^n, frequency THz (ordinary, ν = ω/2π), linewidth ``gamma`` as
half width at half maximum in THz, κ in W/(m·K), temperature K.
"""

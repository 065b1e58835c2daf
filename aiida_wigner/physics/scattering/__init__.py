"""Phonon scattering rates as half widths γ (THz): three-phonon, isotope (and four-phonon)."""

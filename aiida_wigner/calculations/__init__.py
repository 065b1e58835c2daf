"""Calcfunctions of aiida-wigner: thin wrappers that turn nodes into arrays and back."""

from .kappa import compute_kappa_calcfunction

__all__ = ["compute_kappa_calcfunction"]

"""AiiDA data node types of aiida-wigner."""

from .force_constants import ForceConstantsData

__all__ = ["ForceConstantsData"]

"""The ``aiida-wigner`` command line (click, in the style of aiida-quantumespresso)."""

# Sub-commands register themselves on ``cmd_root`` when imported (each imports ``.root``).
from . import fit, kappa, pes, plot, renormalize, reproduce, results, run  # noqa: F401
from .root import cmd_root

__all__ = ["cmd_root"]

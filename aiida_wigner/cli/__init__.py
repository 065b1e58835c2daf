"""The ``aiida-wigner`` command line (click, in the style of aiida-quantumespresso)."""

from .root import cmd_root

# Sub-commands register themselves on ``cmd_root`` when imported.
from . import kappa  # noqa: E402,F401
from . import fit  # noqa: E402,F401
from . import pes  # noqa: E402,F401
from . import renormalize  # noqa: E402,F401
from . import run  # noqa: E402,F401
from . import results  # noqa: E402,F401
from . import plot  # noqa: E402,F401
from . import reproduce  # noqa: E402,F401

__all__ = ["cmd_root"]

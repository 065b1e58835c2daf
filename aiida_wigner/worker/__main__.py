"""``python -m aiida_wigner.worker``: the same as the ``aiida-wigner-worker`` script."""

import sys

from .cli import main

sys.exit(main())

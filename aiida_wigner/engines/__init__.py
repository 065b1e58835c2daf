"""Force engines behind one interface.

Every engine answers three questions about a crystal, in Å / eV / eV/Å / eV/Å³:

* :func:`compute_static` -- energies, forces (and stresses) of a list of structures;
* :func:`run_md` -- an NVT trajectory at a temperature (K) with a time step (fs);
* :func:`relax` -- a relaxed structure (ions and cell, space group kept).

The ASE-calculator engine (:mod:`.ase_engine`) does this in-process for SevenNet, EMT,
Lennard-Jones or a hiphive force-constant potential; the VASP engine
(:mod:`.vasp`) builds aiida-vasp inputs and converts its outputs to the same arrays.
The functions here are plain Python (numpy + ASE): the AiiDA wrappers live in
:mod:`aiida_wigner.calculations.engines` and :mod:`aiida_wigner.workflows.engine`.
"""

from .ase_engine import EngineError, compute_static, relax, run_md
from .calculators import CALCULATORS, make_calculator

__all__ = ["CALCULATORS", "EngineError", "compute_static", "make_calculator", "relax", "run_md"]

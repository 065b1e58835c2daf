"""aiida-wigner: lattice thermal conductivity with the unified (Wigner) transport theory.

An AiiDA plugin.
"""

__version__ = "0.1.0"

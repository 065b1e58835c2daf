"""aiida-wigner: lattice thermal conductivity with the unified (Wigner) transport theory, in AiiDA."""

__version__ = "0.1.0"

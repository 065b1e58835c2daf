"""AiiDA WorkChains of aiida-wigner (orchestration, exit codes, protocols)."""

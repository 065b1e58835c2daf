"""VASP engine through aiida-vasp -- not implemented yet (issue 5, item 3).

Planned interface (used by :mod:`aiida_wigner.workflows.engine`): ``static_builder``,
``md_builder``, ``relax_builder`` return ``(process class, inputs)`` for aiida-vasp's
``vasp.vasp`` / ``vasp.relax``; ``static_results``, ``relax_results`` and
``trajectory_to_cartesian`` convert its outputs (aiida-vasp 5.1 trajectories hold
fractional positions; MD runs need ``parser_settings.check_ionic_convergence = False``).
"""

from __future__ import annotations

MESSAGE = ("the VASP engine (aiida-vasp) is not implemented yet in this version of "
           "aiida-wigner; use --engine sevennet (or emt/lj for tests)")


class VaspEngineNotAvailable(NotImplementedError):
    pass


def _missing(*_args, **_kwargs):
    raise VaspEngineNotAvailable(MESSAGE)


static_builder = md_builder = relax_builder = _missing
static_results = relax_results = trajectory_to_cartesian = _missing

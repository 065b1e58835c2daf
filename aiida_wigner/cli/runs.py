"""Finished conductivity runs in the provenance graph, for ``results``, ``plot`` and ``reproduce``.

A *run* is either a finished ``WignerConductivityWorkChain`` (``wigner.conductivity``) or a
finished standalone ``wigner.kappa`` calcfunction (one not called, directly or through
sub-workflows, by a conductivity workflow).  Either way its numbers are those of one
``wigner.kappa`` process node: for a workflow, the creator of its ``kappa`` output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

CONDUCTIVITY = "aiida.workflows:wigner.conductivity"
KAPPA = "aiida.calculations:wigner.kappa"


@dataclass
class Run:
    """One finished run: ``node`` is the workflow or the standalone kappa calcfunction."""

    node: object

    @property
    def kind(self) -> str:
        """``"workflow"`` or ``"kappa"``."""
        return "workflow" if self.node.process_type == CONDUCTIVITY else "kappa"

    @cached_property
    def kappa_process(self):
        """The ``wigner.kappa`` calcfunction node whose outputs are this run's numbers."""
        if self.kind == "workflow":
            return self.node.outputs.kappa.creator
        return self.node

    @property
    def kappa(self):
        """``kappa`` ArrayData: temperatures (K); kappa_P, kappa_C, kappa (T, 3, 3) W/(m K)."""
        return self.kappa_process.outputs.kappa

    @property
    def modes(self):
        """``modes`` ArrayData of the kappa calcfunction (frequencies, linewidths, spectra)."""
        return self.kappa_process.outputs.modes

    @property
    def force_constants(self):
        """The ``ForceConstantsData`` the conductivity was computed from."""
        return self.kappa_process.inputs.force_constants

    @property
    def renormalization(self):
        """The ``renormalization`` ArrayData the phonons came from, or None (harmonic)."""
        return _input(self.kappa_process, "renormalization")

    @cached_property
    def summary(self) -> dict:
        """The workflow's ``summary`` Dict (engine, protocol, ...); {} for a kappa run."""
        if self.kind != "workflow":
            return {}
        return self.node.outputs.summary.get_dict()

    @cached_property
    def settings(self):
        """The kappa calcfunction's settings as a ``KappaSettings`` (defaults filled in)."""
        from aiida_wigner.calculations.kappa import settings_from_dict

        return settings_from_dict(self.kappa_process.inputs.settings.get_dict())


def _input(process, label: str):
    """The input node ``label`` of ``process``, or None."""
    from aiida.common.links import LinkType

    links = process.base.links.get_incoming(link_type=LinkType.INPUT_CALC, link_label_filter=label)
    nodes = links.all_nodes()
    return nodes[0] if nodes else None


def called_by_conductivity(process) -> bool:
    """True if ``process`` was called, directly or through sub-workflows, by a conductivity one."""
    caller = process.caller
    while caller is not None:
        if caller.process_type == CONDUCTIVITY:
            return True
        caller = caller.caller
    return False


def find_runs() -> list[Run]:
    """Every finished-ok conductivity workflow and standalone kappa calcfunction, by PK;
    not the runs of a workflow's bootstrap members (its ``kappa_ensemble`` holds them)."""
    from aiida import orm

    qb = orm.QueryBuilder().append(
        orm.ProcessNode,
        project="*",
        filters={
            "process_type": {"in": [CONDUCTIVITY, KAPPA]},
            "attributes.process_state": "finished",
            "attributes.exit_status": 0,
        },
    )
    runs = [Run(node) for node in qb.all(flat=True)]
    runs = [run for run in runs if not called_by_conductivity(run.node)]
    return sorted(runs, key=lambda run: run.node.pk)


def load_run(identifier) -> Run:
    """The run with this PK or UUID; ``ValueError`` (one line, what to do) otherwise."""
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    try:
        node = orm.load_node(identifier)
    except (NotExistent, MultipleObjectsError) as exc:
        raise ValueError(
            f"no single node {identifier!r} in this profile ({exc}); list the runs "
            f"with `aiida-wigner results`"
        ) from exc
    if getattr(node, "process_type", None) not in (CONDUCTIVITY, KAPPA):
        raise ValueError(
            f"node <{node.pk}> is a {type(node).__name__}, not a conductivity "
            f"workflow (wigner.conductivity) or a wigner.kappa run; list the runs "
            f"with `aiida-wigner results`"
        )
    if not node.is_finished_ok:
        raise ValueError(
            f"process <{node.pk}> did not finish successfully (state "
            f"{node.process_state.value}, exit status {node.exit_status}): it has no "
            f"results"
        )
    return Run(node)


_ELEMENT = re.compile(r"([A-Z][a-z]?)(\d*)")


def composition(formula: str) -> dict[str, int]:
    """Reduced composition of a formula (``"Cu3Au"`` and ``"AuCu3"`` give the same); ValueError."""
    from math import gcd

    text = formula.replace(" ", "")
    parts = _ELEMENT.findall(text)
    if not text or "".join(e + n for e, n in parts) != text:
        raise ValueError(
            f"cannot read the formula {formula!r}: write element symbols with counts, e.g. CsCu4Se3"
        )
    counts: dict[str, int] = {}
    for element, number in parts:
        counts[element] = counts.get(element, 0) + int(number or 1)
    divisor = 0
    for value in counts.values():
        divisor = gcd(divisor, value)
    return {element: value // divisor for element, value in counts.items()}

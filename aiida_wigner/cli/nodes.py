"""``--force-constants PK|UUID``: force constants already in the database as a command's input.

Accepted: this package's ``ForceConstantsData`` (e.g. from ``aiida-wigner fit``), a finished
workflow with a ``force_constants`` output (``fit``, ``run``), and aiida-phonopy's
``PhonopyData`` (with forces) or ``ForceConstantsData``, converted by a calcfunction so the
result stays linked to the node it came from.
"""

from __future__ import annotations

import click

FORCE_CONSTANTS_NODE = click.option(
    "--force-constants",
    "force_constants",
    default=None,
    metavar="PK|UUID",
    help="Force constants already in the database: a node (or a finished workflow with a "
    "force_constants output) from `aiida-wigner fit`/`run`, or an aiida-phonopy "
    "PhonopyData/ForceConstantsData.",
)


def load_force_constants_node(identifier: str):
    """The stored ``ForceConstantsData`` named by ``identifier``; a ``BadParameter`` otherwise."""
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    from aiida_wigner.data.force_constants import ForceConstantsData

    hint = "'--force-constants'"
    try:
        node = orm.load_node(identifier)
    except (NotExistent, MultipleObjectsError, ValueError) as exc:
        raise click.BadParameter(
            f"no unique node {identifier!r} in this profile ({exc}); list "
            "candidates with `verdi node list` or `aiida-wigner results`",
            param_hint=hint,
        ) from exc
    if isinstance(node, orm.WorkflowNode):
        if "force_constants" not in node.outputs:
            raise click.BadParameter(
                f"workflow <{node.pk}> ({node.process_label}) has no "
                "force_constants output (did it finish?)",
                param_hint=hint,
            )
        node = node.outputs.force_constants
    if isinstance(node, ForceConstantsData):
        return node
    from aiida_wigner.calculations.phonopy_nodes import force_constants_from_node

    try:
        return force_constants_from_node(node)
    except ValueError as exc:
        raise click.BadParameter(
            f"node <{node.pk}> ({type(node).__name__}): {exc}", param_hint=hint
        ) from exc


def resolve_force_constants(ctx, identifier: str | None, files: dict):
    """``(ForceConstants, node)`` from ``--force-constants`` or from the file options.

    ``files`` are the keyword arguments of ``load_force_constants`` that were given (see
    ``options.file_arguments``).  A node from the database is used as it is, so the
    calculation links to it; files are only read (node None): the caller stores them with
    ``options.store_force_constants`` once its checks have passed.
    """
    from .options import load_files
    from .utils import ensure_profile, input_errors

    if identifier is not None:
        if files:
            raise click.UsageError(
                "--force-constants takes the crystal and force constants from "
                "the database: leave out "
                + ", ".join(f"--{key.replace('_', '-')}" for key in sorted(files))
            )
        ensure_profile(ctx)
        node = load_force_constants_node(identifier)
        return node.get_force_constants(), node
    with input_errors("reading the force constants"):
        fc = load_files(**files)
    return fc, None

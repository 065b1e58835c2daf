"""``aiida-wigner reproduce``: re-run the calcfunctions of a finished run, compare every output.

Re-run: the calcfunctions of this package that are deterministic functions of their stored
inputs -- ``wigner.renormalize``, ``wigner.kappa`` (sampled four-phonon included: its seed is
an input), the pipeline's summary and .fcp conversion, the analyses (``wigner.analysis``,
``wigner.mode_removal``), the displacement / training-set / hiphive-fit / aiida-phonopy
conversion steps of the force-constant workflows.  Not re-run: the force-engine steps (ASE
static, MD, relaxation, VASP, and their parsing/report steps), whose cost is the whole sampling
and whose results need the engine (a GPU MLIP, an external code), and calcfunctions of other
packages; they are listed as skipped.

Each re-run calls the stored process's own function on its stored input nodes with
``store_provenance=False`` and caching off, so nothing is added to the database.  Outputs are
compared array by array: ``ArrayData`` arrays, ``ForceConstantsData`` arrays (cells, FC2, FC3,
FC4), attribute numbers (``Dict`` contents) after aiida's own storage rounding
(``clean_value``: 14 significant digits, what a stored node would hold), other attributes and
repository files for equality (tar archives such as hiphive's .fcp member by member, so that
time stamps do not count).  The code versions a summary records and the .fcp's metadata member
(creation date) are shown when they differ but are not a failure.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import click
import numpy as np

from .root import cmd_root
from .utils import ensure_profile, input_errors

#: Modules whose calcfunctions are re-run (deterministic, no force engine).
REPRODUCED_MODULES = (
    "aiida_wigner.calculations.kappa",
    "aiida_wigner.calculations.renormalize",
    "aiida_wigner.calculations.conductivity",
    "aiida_wigner.calculations.analysis",
    "aiida_wigner.calculations.fitting",
    "aiida_wigner.calculations.phonopy_nodes",
)

#: Values that record the environment, not a result: shown when they differ, never a failure.
#: The code versions of a summary, and the pickled metadata member of a hiphive .fcp (it holds
#: the creation date; the fitted numbers are in its other members and in ``force_constants``).
INFORMATIONAL_PREFIXES = ("attribute versions/",)
INFORMATIONAL_SUFFIXES = (".fcp:attributes",)


@cmd_root.command("reproduce")
@click.argument("identifier", metavar="PK")
@click.option(
    "--rtol",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Largest accepted deviation relative to the largest stored value of each "
    "output array (0: bit-identical; e.g. 1e-12 across machines or thread "
    "counts).",
)
@click.pass_context
def cmd_reproduce(ctx, identifier, rtol):
    """Re-run the calcfunctions of a finished workflow (or one calcfunction) and compare.

    For every re-run calcfunction, prints the largest absolute and relative deviation of every
    output array between the stored outputs and the re-run; exits with status 1 if any
    exceeds --rtol or an output is missing.  Nothing is stored.  Works on an imported archive:

    \b
        verdi archive import cscu4se3.aiida
        aiida-wigner reproduce <PK of the workflow>

    Relative deviation = max |stored - re-run| / max |stored| per array.
    """
    ensure_profile(ctx)
    with input_errors("reproduce"):
        processes, skipped = select_processes(identifier)
    failures = []
    for process in processes:
        rows = reproduce_process(process)
        bad = [row for row in rows if not row.within(rtol)]
        failures.extend((process, row) for row in bad)
        click.echo(
            f"{process_name(process)} <{process.pk}>: {len(rows)} values compared, "
            f"{'all within' if not bad else f'{len(bad)} beyond'} rtol={rtol:g}"
        )
        click.echo(format_rows(rows))
    for process, reason in skipped:
        click.echo(f"not re-run: {process_name(process)} <{process.pk}> ({reason})")
    if failures:
        names = ", ".join(
            f"{process_name(p)}<{p.pk}> {row.output}/{row.name}" for p, row in failures[:4]
        )
        more = f" and {len(failures) - 4} more" if len(failures) > 4 else ""
        raise click.ClickException(
            f"{len(failures)} outputs differ beyond rtol={rtol:g}: {names}{more}"
        )
    click.echo(f"Reproduced {len(processes)} calculation(s) within rtol={rtol:g}.")


def process_name(process) -> str:
    """``wigner.kappa`` for an entry-point calcfunction, else the function's name."""
    process_type = process.process_type or ""
    return process_type.split(":", 1)[1] if ":" in process_type else process.process_label


@dataclass(frozen=True)
class Deviation:
    """One compared value: output link label, value name, shape ("" for non-arrays), largest
    absolute and relative deviation (inf: a non-numeric value differs; None: missing on one
    side)."""

    output: str
    name: str
    shape: str
    absolute: float | None
    relative: float | None

    @property
    def informational(self) -> bool:
        return self.name.startswith(INFORMATIONAL_PREFIXES) or self.name.endswith(
            INFORMATIONAL_SUFFIXES
        )

    def within(self, rtol: float) -> bool:
        return self.informational or (self.relative is not None and self.relative <= rtol)


def format_rows(rows) -> str:
    """The arrays (and any differing non-array value) as a table."""
    from tabulate import tabulate

    def number(value):
        if value is None:
            return "missing"
        return "differs" if np.isinf(value) else f"{value:.3g}"

    shown = [row for row in rows if row.shape not in ("", "scalar") or row.relative != 0.0]
    return tabulate(
        [
            [
                row.output,
                row.name,
                row.shape,
                number(row.absolute),
                number(row.relative) + (" (not checked)" if row.informational else ""),
            ]
            for row in shown
        ],
        headers=["output", "value", "shape", "max |Δ|", "max rel"],
        disable_numparse=True,
    )


def select_processes(identifier):
    """(calcfunctions to re-run, [(process, reason not re-run)]) for a PK or UUID.

    A workflow gives all the calcfunctions it called, through sub-workflows too, in creation
    order; a calcfunction gives itself.  ``ValueError`` (one line) for anything else.
    """
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    try:
        node = orm.load_node(identifier)
    except (NotExistent, MultipleObjectsError) as exc:
        raise ValueError(f"no single node {identifier!r} in this profile ({exc})") from exc
    if isinstance(node, orm.WorkflowNode):
        if not node.is_finished_ok:
            raise ValueError(
                f"workflow <{node.pk}> did not finish successfully (exit status "
                f"{node.exit_status}): only finished runs can be reproduced"
            )
        candidates = sorted(
            (p for p in node.called_descendants if isinstance(p, orm.CalcFunctionNode)),
            key=lambda p: p.ctime,
        )
    elif isinstance(node, orm.CalcFunctionNode):
        candidates = [node]
    else:
        raise ValueError(
            f"node <{node.pk}> is a {type(node).__name__}: give the PK of a "
            f"finished workflow or calcfunction"
        )
    chosen, skipped = [], []
    for process in candidates:
        reason = _not_reproduced(process)
        if reason is None:
            chosen.append(process)
        else:
            skipped.append((process, reason))
    if not chosen:
        raise ValueError(
            f"<{node.pk}> has no calcfunction that can be re-run ("
            + "; ".join(f"{p.process_label}: {r}" for p, r in skipped)
            + ")"
        )
    return chosen, skipped


def _not_reproduced(process) -> str | None:
    """Why ``process`` is not re-run, or None when it is."""
    if not process.is_finished_ok:
        return f"it did not finish successfully (exit status {process.exit_status})"
    try:
        function = process.process_class
    except Exception as exc:  # noqa: BLE001 - a missing plugin or package, reported as such
        return f"its function cannot be loaded: {exc}"
    module = getattr(function, "__module__", "")
    if module in REPRODUCED_MODULES:
        return None
    if module.startswith("aiida_wigner."):
        return (
            f"a force-engine step or its bookkeeping ({module}): its outputs are the stored "
            f"inputs of the re-run steps"
        )
    return f"not an aiida-wigner step ({module})"


def rerun(process):
    """(outputs, process node) of ``process``'s function re-run on its stored inputs; nothing
    is stored."""
    from aiida import orm
    from aiida.common.links import LinkType
    from aiida.engine import Process
    from aiida.manage.caching import disable_caching

    inputs = {
        link.link_label: link.node
        for link in process.base.links.get_incoming(link_type=LinkType.INPUT_CALC).all()
    }
    with disable_caching():
        outputs, node = process.process_class.run_get_node(
            **inputs, metadata={"store_provenance": False}
        )
    if isinstance(outputs, orm.Data):  # a function that returns one node
        outputs = {Process.SINGLE_OUTPUT_LINKNAME: outputs}
    return flat_outputs(outputs), node


def flat_outputs(outputs, prefix: str = "") -> dict:
    """Nested output namespaces (e.g. a fit's ``ensemble``) as the link labels they are
    stored under: ``{"ensemble": {"member_000": n}}`` → ``{"ensemble__member_000": n}``."""
    flat = {}
    for label, value in outputs.items():
        if isinstance(value, dict):
            flat.update(flat_outputs(value, f"{prefix}{label}__"))
        else:
            flat[f"{prefix}{label}"] = value
    return flat


def reproduce_process(process) -> list[Deviation]:
    """Stored and re-run outputs of ``process`` compared value by value (see module docstring)."""
    from aiida.common.links import LinkType

    stored = {
        link.link_label: link.node
        for link in process.base.links.get_outgoing(link_type=LinkType.CREATE).all()
    }
    fresh, node = rerun(process)
    rows = [
        Deviation("(process)", "exit status", "", *deviation(process.exit_status, node.exit_status))
    ]
    for label in sorted(set(stored) | set(fresh)):
        if label not in stored or label not in fresh:
            rows.append(Deviation(label, "(output node)", "", None, None))
            continue
        a, b = node_values(stored[label]), node_values(fresh[label])
        for name in sorted(set(a) | set(b)):
            if name not in a or name not in b:
                rows.append(Deviation(label, name, "", None, None))
                continue
            shape = (
                "x".join(map(str, a[name].shape)) or "scalar"
                if isinstance(a[name], np.ndarray)
                else ""
            )
            rows.append(Deviation(label, name, shape, *deviation(a[name], b[name])))
    return rows


def deviation(stored, fresh) -> tuple[float, float]:
    """(max |Δ|, max |Δ| / max |stored|) of two arrays; (inf, inf) when they cannot be
    compared (shape, or non-numeric values that differ)."""
    if not (isinstance(stored, np.ndarray) and isinstance(fresh, np.ndarray)):
        return (0.0, 0.0) if stored == fresh else (np.inf, np.inf)
    if stored.shape != fresh.shape:
        return np.inf, np.inf
    if stored.size == 0:
        return 0.0, 0.0
    a, b = stored.astype(complex if np.iscomplexobj(stored) else float), fresh
    same_nan = np.isnan(a) & np.isnan(b)
    diff = np.where(same_nan, 0.0, np.abs(a - b))
    if np.isnan(diff).any():
        return np.inf, np.inf
    largest_diff, scale = float(diff.max()), float(np.nanmax(np.abs(a)))
    if largest_diff == 0:
        return 0.0, 0.0
    return largest_diff, (largest_diff / scale if scale > 0 else np.inf)


def node_values(node) -> dict:
    """Named values of a node to compare: arrays (numpy) and other values (plain, for ==)."""
    from aiida import orm
    from aiida.orm.implementation.utils import clean_value

    from aiida_wigner.data.force_constants import ForceConstantsData

    values = {}
    attributes = dict(node.base.attributes.all)
    if isinstance(node, ForceConstantsData):
        fc = node.get_force_constants()
        unit = fc.setup.unitcell
        arrays = {
            "fc2": fc.fc2,
            "fc3": fc.dense_fc3(),
            "lattice": unit.lattice,
            "positions": unit.positions,
            "numbers": unit.numbers,
            "masses": unit.masses,
            "supercell_matrix": fc.setup.supercell_matrix,
            "primitive_matrix": fc.setup.primitive_matrix,
        }
        if fc.fc4 is not None:
            arrays.update({"fc4_atoms": fc.fc4.atoms, "fc4_values": fc.fc4.values})
        values.update({name: np.asarray(v) for name, v in arrays.items() if v is not None})
    elif isinstance(node, orm.ArrayData):
        values.update({name: node.get_array(name) for name in node.get_arraynames()})
        attributes = {k: v for k, v in attributes.items() if not k.startswith("array|")}
    else:
        for name in node.base.repository.list_object_names():
            values.update(
                _file_digests(
                    f"file {name}", node.base.repository.get_object_content(name, mode="rb")
                )
            )
    _flatten(clean_value(attributes), "attribute ", values)
    return values


def _file_digests(label: str, content: bytes) -> dict:
    """SHA-256 of a file; of each member of a tar archive, nested ones too (a hiphive .fcp), so
    that the members' time stamps do not count."""
    import io
    import tarfile

    buffer = io.BytesIO(content)
    if not tarfile.is_tarfile(buffer):
        return {label: hashlib.sha256(content).hexdigest()}
    buffer.seek(0)
    digests = {}
    with tarfile.open(fileobj=buffer) as archive:
        for member in archive.getmembers():
            if member.isfile():
                digests.update(
                    _file_digests(f"{label}:{member.name}", archive.extractfile(member).read())
                )
    return digests


def _flatten(value, path: str, out: dict) -> None:
    """Numbers (nested lists of them) as arrays, dicts by key, a list of dicts with the same
    keys (a table) by column, anything else as it is."""
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{path}{key}/" if isinstance(item, dict) else f"{path}{key}", out)
        return
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, dict) for v in value)
        and all(v.keys() == value[0].keys() for v in value)
    ):
        for key in value[0]:
            _flatten([v[key] for v in value], f"{path}[]/{key}", out)
        return
    if isinstance(value, (int, float)) or isinstance(value, list):
        try:
            array = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            array = None
        if array is not None:
            out[path] = array
            return
    out[path] = value

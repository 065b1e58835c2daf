"""``aiida-wigner results``: κ_P, κ_C, κ of the finished runs in the database, per T."""

from __future__ import annotations

import csv
import io
import json

import click
import numpy as np
from aiida.cmdline.params.options.multivalue import MultipleValueOption

from .root import cmd_root
from .runs import composition, find_runs
from .utils import ensure_profile, input_errors

#: Row fields in output order, with their units ("" for labels and flags).
KAPPA_FIELDS = tuple(
    f"{name}_{axis}"
    for name in ("kappa_P", "kappa_C", "kappa")
    for axis in ("xx", "yy", "zz", "avg")
)
#: The standard deviations over a fit ensemble's members (None without one), W/(m K).
STD_FIELDS = tuple(f"{key}_std" for key in KAPPA_FIELDS)
FIELDS = (
    ("pk", ""),
    ("uuid", ""),
    ("kind", ""),
    ("formula", ""),
    ("engine", ""),
    ("protocol", ""),
    ("temperature", "K"),
    ("phonons", ""),
    ("three_phonon", ""),
    ("four_phonon", ""),
    ("isotope", ""),
    ("ensemble_size", ""),
) + tuple((key, "W/(m K)") for key in KAPPA_FIELDS + STD_FIELDS)
UNITS = {key: unit for key, unit in FIELDS if unit}
#: The standard deviations the text table shows (the others are in json and csv).
STD_COLUMNS = tuple(f"{name}_avg_std" for name in ("kappa_P", "kappa_C", "kappa"))


@cmd_root.command("results")
@click.option(
    "--formula",
    default=None,
    help="Only this compound; any order and multiple of the formula units matches "
    "(Cu3Au finds AuCu3).",
)
@click.option(
    "--engine",
    default=None,
    help="Only workflows run with this force engine (sevennet, emt, lj, vasp).",
)
@click.option("--protocol", default=None, help="Only workflows run with this protocol.")
@click.option(
    "--pk",
    "pks",
    cls=MultipleValueOption,
    type=click.INT,
    default=(),
    metavar="PK [PK ...]",
    help="Only these runs (workflow or kappa calculation PKs).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv", "markdown"]),
    default="table",
    show_default=True,
    help="Output format; json and csv carry every digit; markdown is a report table (runs "
    "named by UUID, so it reads the same after an archive import).",
)
@click.pass_context
def cmd_results(ctx, formula, engine, protocol, pks, fmt):
    """κ_P, κ_C and κ of every finished run, one row per (run, temperature).

    Runs are the finished `wigner.conductivity` workflows (`aiida-wigner run`) and the
    standalone `wigner.kappa` calculations (`aiida-wigner kappa`); a kappa calculation made
    by a workflow is shown once, as the workflow's row.  Columns: PK, kind, formula,
    engine, protocol, T (K), phonons (harmonic, or the renormalization: scp, scpb-qp, ...),
    scattering included, and the xx, yy, zz components and the average (trace/3) of
    κ_P, κ_C, κ in W/(m K); for a run with a fit ensemble, the standard deviation over its
    bootstrap members (`σ`; json and csv: every component, `..._std`).  Example:

    \b
        aiida-wigner results --formula CsCu4Se3 --format csv > kappa.csv
    """
    wanted = None
    if formula is not None:
        with input_errors("--formula"):
            wanted = composition(formula)
    ensure_profile(ctx)
    runs = find_runs()
    missing = sorted(set(pks) - {run.node.pk for run in runs})
    if missing:
        raise click.ClickException(
            f"no finished conductivity workflow or standalone kappa run "
            f"with PK {', '.join(map(str, missing))}; run `aiida-wigner "
            f"results` to list them"
        )
    rows = [row for run in runs if not pks or run.node.pk in pks for row in run_rows(run)]
    rows = [
        row
        for row in rows
        if (wanted is None or _same_compound(row["formula"], wanted))
        and (engine is None or row["engine"] == engine)
        and (protocol is None or row["protocol"] == protocol)
    ]
    if fmt == "json":
        click.echo(json.dumps({"units": UNITS, "rows": rows}, indent=2))
    elif fmt == "csv":
        click.echo(format_csv(rows), nl=False)
    elif fmt == "markdown":
        click.echo(format_markdown(rows))
    elif rows:
        click.echo(format_table(rows))
    else:
        click.echo("No finished run matches.")


def run_rows(run) -> list[dict]:
    """One row per temperature of ``run`` (a :class:`~.runs.Run`); numbers from its ``kappa``
    ArrayData, exactly as stored."""
    kappa = run.kappa
    temperatures = kappa.get_array("temperatures")
    tensors = {name: kappa.get_array(name) for name in ("kappa_P", "kappa_C", "kappa")}
    settings = run.settings
    renormalization = run.renormalization
    summary = run.summary
    common = {
        "pk": run.node.pk,
        "uuid": run.node.uuid,
        "kind": run.kind,
        "formula": run.force_constants.formula or summary.get("formula"),
        "engine": summary.get("engine"),
        "protocol": summary.get("protocol"),
        "phonons": (
            "harmonic" if renormalization is None else renormalization.base.attributes.get("kind")
        ),
        "three_phonon": bool(settings.three_phonon),
        "four_phonon": settings.four_phonon,
        "isotope": bool(settings.isotope),
    }
    summary_rows = summary.get("rows", [])
    common["ensemble_size"] = summary.get("ensemble", {}).get("size")
    rows = []
    for i, temperature in enumerate(temperatures):
        row = dict(common, temperature=float(temperature))
        for name, tensor in tensors.items():
            t = tensor[i]
            for a, axis in enumerate(("xx", "yy", "zz")):
                row[f"{name}_{axis}"] = float(t[a, a])
            row[f"{name}_avg"] = float(np.trace(t) / 3.0)
        for key in STD_FIELDS:  # the summary's, computed from the members' kappa nodes
            row[key] = summary_rows[i].get(key) if summary_rows else None
        rows.append({key: row[key] for key, _ in FIELDS})
    return rows


def _same_compound(formula, wanted: dict) -> bool:
    try:
        return formula is not None and composition(formula) == wanted
    except ValueError:
        return False


def _scattering(row: dict) -> str:
    parts = (
        (["3ph"] if row["three_phonon"] else [])
        + ([f"4ph:{row['four_phonon']}"] if row["four_phonon"] else [])
        + (["iso"] if row["isotope"] else [])
    )
    return "+".join(parts) or "none"


def format_table(rows: list[dict]) -> str:
    """A text table (4 significant digits) with the units in a header line."""
    from tabulate import tabulate

    headers = ["PK", "kind", "formula", "engine", "protocol", "T (K)", "phonons", "scattering"]
    headers += [
        f"{label} {axis}" for label in ("kP", "kC", "k") for axis in ("xx", "yy", "zz", "avg")
    ]
    with_std = any(row["ensemble_size"] for row in rows)
    if with_std:
        headers += [f"σ {label} avg" for label in ("kP", "kC", "k")]
    table = [
        [
            row["pk"],
            row["kind"],
            row["formula"],
            row["engine"] or "-",
            row["protocol"] or "-",
            row["temperature"],
            row["phonons"],
            _scattering(row),
        ]
        + [row[key] for key in KAPPA_FIELDS]
        + ([row[key] if row[key] is not None else "-" for key in STD_COLUMNS] if with_std else [])
        for row in rows
    ]
    note = "kP, kC, k = kappa_P, kappa_C, kappa in W/(m K); avg = trace/3"
    if with_std:
        note += "; σ = standard deviation over the bootstrap members of the fit"
    return note + "\n" + tabulate(table, headers=headers, floatfmt=".4g")


def format_markdown(rows: list[dict]) -> str:
    """A Markdown table for reports: run (first 8 characters of the UUID), phonons,
    scattering, T and the xx, zz, average of κ_P, κ_C, κ (4 significant digits), with
    ``± σ`` (the bootstrap members' standard deviation) where the run has a fit ensemble."""
    headers = ["run", "phonons", "scattering", "T (K)"] + [
        f"{label} {axis}" for label in ("κ_P", "κ_C", "κ") for axis in ("xx", "zz", "avg")
    ]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        cells = [row["uuid"][:8], row["phonons"], _scattering(row), f"{row['temperature']:g}"]
        for name in ("kappa_P", "kappa_C", "kappa"):
            for axis in ("xx", "zz", "avg"):
                key = f"{name}_{axis}"
                std = row[f"{key}_std"]
                cells.append(f"{row[key]:.4g}" + ("" if std is None else f" ± {std:.2g}"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_csv(rows: list[dict]) -> str:
    """CSV with a header row ``name`` or ``name (unit)``; floats written with every digit."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f"{key} ({unit})" if unit else key for key, unit in FIELDS])
    for row in rows:
        writer.writerow(
            [
                ""
                if row[key] is None
                else repr(row[key])
                if isinstance(row[key], float)
                else row[key]
                for key, _ in FIELDS
            ]
        )
    return out.getvalue()

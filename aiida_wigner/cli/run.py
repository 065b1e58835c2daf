"""``aiida-wigner run``: the whole pipeline, structure → κ_P, κ_C, κ (T), as one workflow."""

from __future__ import annotations

import contextlib
import json
import logging
import time

import click

from .fit import (
    check_structures_per_job,
    engine_off_the_daemon,
    engine_options,
    load_code_option,
    read_overrides,
    size_force_jobs,
)
from .nodes import FORCE_CONSTANTS_NODE, load_force_constants_node
from .options import NEW_FILE, STRUCTURE_FILE, temperatures_option
from .root import cmd_root
from .utils import (
    check_daemon_running,
    ensure_profile,
    format_kappa_table,
    input_errors,
    load_code,
)


@cmd_root.command("run")
@click.argument("structure", type=STRUCTURE_FILE, required=False)
@engine_options
@click.option(
    "--protocol",
    type=click.Choice(("fast", "balanced", "paper")),
    default="fast",
    show_default=True,
    help="Parameter set of every step (aiida_wigner/workflows/protocols/"
    "conductivity.yaml and force_constants.yaml).",
)
@temperatures_option(
    default=None,
    help="Temperatures in K (values and/or START:STOP:STEP ranges) [default: the protocol's].",
)
@click.option(
    "--supercell",
    type=click.IntRange(min=1),
    nargs=3,
    default=None,
    metavar="N1 N2 N3",
    help="Supercell multiples (default: the protocol's).",
)
@click.option("--no-relax", is_flag=True, help="Use the structure as given (already relaxed).")
@click.option(
    "--harmonic",
    is_flag=True,
    help="κ on the harmonic phonons (no self-consistent renormalization).",
)
@click.option(
    "--overrides",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="YAML file merged into the protocol, shaped like its inputs (keys "
    "temperatures, renormalization, kappa, and fitting: {relax, harmonic, "
    "sampling, fit, engines, ...}).",
)
@FORCE_CONSTANTS_NODE
@click.option(
    "--daemon",
    is_flag=True,
    help="Submit to the AiiDA daemon (`verdi daemon start`) instead of running in the "
    "foreground; the heavy steps then run as jobs on localhost: see --worker-code, and the "
    "ASE engine (without --code) as PythonJobs on aiida-wigner-python@localhost.",
)
@click.option(
    "--worker-code",
    default=None,
    metavar="LABEL",
    help="aiida-wigner-worker code (`verdi code create core.code.installed`, e.g. on "
    "a SLURM computer) that runs the fit, the renormalization and the linewidths as "
    "CalcJobs; with --daemon the "
    "default is aiida-wigner-worker@localhost, set up like the profile "
    "(docs/cluster.md).",
)
@click.option(
    "--chunks",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="With --worker-code or --daemon: number of linewidth jobs (the irreducible "
    "q-points split evenly), run concurrently.",
)
@click.option(
    "--target-chunk-walltime",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="With --worker-code or --daemon: choose the number of linewidth jobs so that each "
    "takes about SECONDS (cost model, or --seconds-per-point); replaces --chunks.",
)
@click.option(
    "--seconds-per-point",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="With --target-chunk-walltime: measured seconds per irreducible q-point (a finished "
    "chunk's walltime / its points) instead of the cost model.",
)
@click.option(
    "--job-options",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="YAML file of the worker jobs' metadata.options (resources, "
    "max_wallclock_seconds, max_memory_kb, queue_name, account, ...; "
    "docs/cluster.md).",
)
@click.option(
    "--no-ensemble",
    is_flag=True,
    help="With --force-constants: leave out the bootstrap members fitted beside them "
    "(no error bars, one SCP + kappa run instead of one per member).",
)
@click.option(
    "--output",
    "-o",
    type=NEW_FILE,
    default=None,
    help="Write the run's summary (κ tables per T, W/(m K)) to this JSON file.",
)
@click.pass_context
def cmd_run(
    ctx,
    structure,
    engine,
    code_label,
    model,
    structures_per_job,
    protocol,
    temperatures,
    supercell,
    no_relax,
    harmonic,
    overrides,
    force_constants,
    daemon,
    worker_code,
    chunks,
    target_chunk_walltime,
    seconds_per_point,
    job_options,
    no_ensemble,
    output,
):
    """Structure → force constants → renormalized phonons → κ_P + κ_C per temperature.

    Runs the `wigner.conductivity` workflow on STRUCTURE (CIF, POSCAR, ...) with the chosen
    engine and protocol, printing one line per step, then the κ table (W/(m K)).  With
    --force-constants PK the fitting is skipped (STRUCTURE not needed).  Example:

    \b
        aiida-wigner run examples/cscu4se3/CsCu4Se3.cif --engine sevennet --protocol fast

    Query later runs with `aiida-wigner results`, plot them with `aiida-wigner plot PK`.
    """
    if structure is None and force_constants is None:
        raise click.UsageError(
            "give a STRUCTURE file to start from, or --force-constants PK "
            "of existing force constants"
        )
    if structure is not None and force_constants is not None:
        raise click.UsageError("STRUCTURE and --force-constants both give the crystal: use one")
    if engine == "vasp" and not code_label and force_constants is None:
        raise click.UsageError("--engine vasp needs --code LABEL of a configured VASP code")
    if structures_per_job is not None and force_constants is not None:
        raise click.UsageError(
            "--structures-per-job sizes the fitting's force jobs, which --force-constants skips"
        )
    check_structures_per_job(structures_per_job, engine, code_label, daemon)
    if job_options and not (daemon or worker_code):
        raise click.UsageError(
            "--job-options are for the worker jobs: give --worker-code or --daemon too"
        )
    if target_chunk_walltime and not (daemon or worker_code):
        raise click.UsageError(
            "--target-chunk-walltime sizes the worker jobs: give --worker-code or --daemon too"
        )
    if seconds_per_point and not target_chunk_walltime:
        raise click.UsageError("--seconds-per-point sizes --target-chunk-walltime: give both")
    from ..workflows.conductivity import WignerConductivityWorkChain

    over = read_overrides(overrides, WignerConductivityWorkChain, protocol) if overrides else {}
    if no_relax:
        over.setdefault("fitting", {})["run_relax"] = False
    if harmonic:
        over["renormalization"] = None

    ensure_profile(ctx)
    from aiida import orm

    if daemon:
        check_daemon_running()
    fc_node = load_force_constants_node(force_constants) if force_constants else None
    code = load_code_option(code_label, engine) if code_label else None
    with input_errors(f"building the {protocol} protocol inputs"):
        builder = WignerConductivityWorkChain.get_builder_from_protocol(
            orm.StructureData(ase=structure) if structure is not None else None,
            engine=engine,
            protocol=protocol,
            temperatures=temperatures,
            force_constants=fc_node,
            code=code,
            model=model,
            supercell=list(supercell) if supercell else None,
            overrides=over,
            ensemble=not no_ensemble,
        )
    if fc_node is None:  # a fit runs (a builder lists its empty namespaces too)
        if daemon:
            engine_off_the_daemon(builder.fitting.engine)
        size_force_jobs(builder.fitting.engine, structures_per_job)
    if daemon or worker_code:
        _heavy_steps_to_worker(builder, worker_code, chunks, job_options)
        if target_chunk_walltime:
            builder.target_chunk_walltime = orm.Float(target_chunk_walltime)
            if seconds_per_point:
                builder.seconds_per_point = orm.Float(seconds_per_point)
    if daemon:
        from aiida.engine import submit

        node = submit(builder)
        click.echo(
            f"Submitted WignerConductivityWorkChain <{node.pk}> to the daemon.\n"
            f"Follow it with `verdi process status {node.pk}`; when it has finished, "
            f"`aiida-wigner results --pk {node.pk}`."
        )
        return
    node = _run_with_progress(builder)
    if not node.is_finished_ok:
        raise click.ClickException(
            f"WignerConductivityWorkChain <{node.pk}> failed "
            f"[{node.exit_status}]: {node.exit_message}"
        )
    summary = node.outputs.summary.get_dict()
    click.echo(format_run_report(node.pk, summary, node.outputs.kappa))
    if output is not None:
        summary.update(node=node.outputs.summary.uuid, process=node.uuid)
        output.write_text(json.dumps(summary, indent=2) + "\n")
        click.echo(f"Wrote {output}")


def _heavy_steps_to_worker(
    builder, worker_label: str | None, chunks: int, job_options: str | None
) -> None:
    """The linewidths as ``chunks`` worker CalcJobs, the fit and the renormalization as one
    each (so that these heavy steps do not run inside a daemon worker): on the code
    ``worker_label``, or on ``aiida-wigner-worker@localhost``, with the ``metadata.options``
    of the YAML file ``job_options``."""
    import yaml
    from aiida import orm

    from ..calculations.jobs import ensure_localhost_computer_and_worker_code

    if worker_label is None:
        code = ensure_localhost_computer_and_worker_code()
    else:
        code = load_code(
            worker_label, "--worker-code", "create the worker code as docs/cluster.md shows"
        )
    builder.codes.linewidths = code
    if "fitting" in builder:
        builder.codes.fit = code  # the hiphive fit as a wigner.fit_job
    if "renormalization" in builder:
        builder.codes.renormalize = code  # SCP (+ bubble) as a wigner.renormalize_job
    builder.chunks = orm.Int(chunks)
    if job_options:
        with open(job_options, encoding="utf-8") as handle:
            options = yaml.safe_load(handle)
        if not isinstance(options, dict):
            raise click.BadParameter(
                f"{job_options} must hold a mapping of metadata.options "
                "(e.g. resources: {num_machines: 1})",
                param_hint="--job-options",
            )
        builder.job_options = orm.Dict(options)


class _ProgressHandler(logging.Handler):
    """Prints each process report (one per workflow step) with the elapsed wall time."""

    def __init__(self, start: float):
        from aiida.common.log import LOG_LEVEL_REPORT

        super().__init__(level=LOG_LEVEL_REPORT)
        self.start = start

    def emit(self, record):
        click.echo(f"[{time.monotonic() - self.start:8.1f} s] {record.getMessage()}")


@contextlib.contextmanager
def _progress_lines():
    """Route AiiDA's process reports to one short line each; keep hiphive's set-up tables quiet."""
    aiida_logger = logging.getLogger("aiida")
    handler = _ProgressHandler(time.monotonic())
    quiet = [(h, h.level) for h in aiida_logger.handlers]
    with contextlib.suppress(ImportError):  # hiphive sets its logger to INFO when imported:
        import hiphive  # noqa: F401           # import it first, so the level below holds
    hiphive = logging.getLogger("hiphive")
    hiphive_level = hiphive.level
    for h, _ in quiet:
        h.setLevel(logging.WARNING)
    hiphive.setLevel(logging.WARNING)
    aiida_logger.addHandler(handler)
    try:
        yield
    finally:
        aiida_logger.removeHandler(handler)
        for h, level in quiet:
            h.setLevel(level)
        hiphive.setLevel(hiphive_level)


def _run_with_progress(builder):
    from aiida.engine import run_get_node

    with _progress_lines():
        _, node = run_get_node(builder)
    return node


def format_run_report(pk: int, summary: dict, kappa) -> str:
    """Header (formula, space group, engine, protocol, renormalization, scattering) and the κ
    table (xx, yy, zz of κ_P, κ_C, κ in W/(m K)) from the ``kappa`` ArrayData (bit-exact)."""
    s = summary["scattering"]
    scattering = " + ".join(
        name
        for name, on in (
            ("3ph", s["three_phonon"]),
            (f"4ph {s['four_phonon']}", s["four_phonon"]),
            ("isotope", s["isotope"]),
        )
        if on
    )
    head = (
        f"WignerConductivityWorkChain <{pk}>: {summary['formula']} "
        f"{summary['spacegroup']}, engine {summary['engine']}, protocol "
        f"{summary['protocol']}, renormalization {summary['renormalization']}, "
        f"scattering {scattering}"
    )
    table = format_kappa_table(
        kappa.get_array("temperatures"),
        kappa.get_array("kappa_P"),
        kappa.get_array("kappa_C"),
        kappa.get_array("kappa"),
    )
    shares = ", ".join(
        f"{r['T']:g} K " + (f"{r['kappa_C_share']:.0%}" if r["kappa_C_share"] is not None else "-")
        for r in summary["rows"]
    )
    report = (
        f"{head}\nThermal conductivity, W/(m K):\n{table}\n"
        f"coherence share κ_C/κ (average of the diagonal): {shares}"
    )
    if summary.get("ensemble"):
        spread = "; ".join(
            f"{r['T']:g} K: κ_P ±{r['kappa_P_avg_std']:.2g}, κ_C ±{r['kappa_C_avg_std']:.2g}, "
            f"κ ±{r['kappa_avg_std']:.2g}"
            for r in summary["rows"]
        )
        report += (
            f"\nfit uncertainty (standard deviation over {summary['ensemble']['size']} "
            f"bootstrap members, average of the diagonal, W/(m K)): {spread}"
        )
    return report

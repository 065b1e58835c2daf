"""``aiida-wigner fit``: structure -> relaxed structure -> FC2 -> training set -> fitted FCs."""

from __future__ import annotations

import click

from .options import STRUCTURE_FILE
from .root import cmd_root
from .utils import load_code

ENGINES = ("sevennet", "emt", "lj", "vasp")

_ENGINE_OPTIONS = [
    click.option(
        "--engine",
        type=click.Choice(ENGINES),
        default="sevennet",
        show_default=True,
        help="Force engine: embedded SevenNet MLIP, EMT / Lennard-Jones (tests), or VASP "
        "through aiida-vasp (needs --code).",
    ),
    click.option(
        "--code",
        "code_label",
        default=None,
        help="AiiDA code label: the VASP code (--engine vasp), or a Python code to run "
        "the ASE engine remotely as an aiida-pythonjob PythonJob.",
    ),
    click.option(
        "--model",
        default=None,
        help="SevenNet model (default: the protocol's, 7net-0 for fast, 7net-l3i5 for "
        "balanced and paper; or 7net-mf-0).",
    ),
    click.option(
        "--structures-per-job",
        type=click.IntRange(min=1),
        default=None,
        help="ASE engine as PythonJobs (--code or --daemon): structures whose forces one job "
        "computes, one model load (default: all of a step's on a computer without a queue, "
        "as --daemon's localhost code; one per job on a batch scheduler).",
    ),
]


def engine_options(command):
    """Decorator adding --engine, --code and --model (``fit`` and ``run``)."""
    for option in reversed(_ENGINE_OPTIONS):
        command = option(command)
    return command


@cmd_root.command("fit")
@click.argument("structure", type=STRUCTURE_FILE)
@engine_options
@click.option(
    "--protocol",
    type=click.Choice(("fast", "balanced", "paper")),
    default="fast",
    show_default=True,
    help="Parameter set (aiida_wigner/workflows/protocols/force_constants.yaml).",
)
@click.option(
    "--supercell",
    type=click.IntRange(min=1),
    nargs=3,
    default=None,
    help="Supercell multiples, e.g. 4 4 2 (default: from the protocol).",
)
@click.option("--no-relax", is_flag=True, help="Use the structure as given (already relaxed).")
@click.option(
    "--overrides",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="YAML file merged into the protocol, shaped like its inputs (keys "
    "supercell_matrix, run_relax, relax, harmonic, sampling, fit, engines; e.g. "
    "fit: {parameters: {cutoffs: {'2': 5.0}}}).",
)
@click.option(
    "--daemon",
    is_flag=True,
    help="Submit to the AiiDA daemon (needs a broker and `verdi daemon start`) instead "
    "of running in the foreground; the fit then runs as a wigner.fit_job on "
    "aiida-wigner-worker@localhost and the ASE engine (without --code) as PythonJobs on "
    "aiida-wigner-python@localhost.",
)
@click.pass_context
def cmd_fit(
    ctx,
    structure,
    engine,
    code_label,
    model,
    structures_per_job,
    protocol,
    supercell,
    no_relax,
    overrides,
    daemon,
):
    """Fit force constants (orders 2..6) of STRUCTURE (CIF, POSCAR, ... read by ASE).

    Prints the fit scores (RMSE in eV/Å, R²) and harmonic frequencies (THz, negative =
    imaginary) at the high-symmetry points; all nodes are in the provenance graph.
    """
    from .utils import check_daemon_running, ensure_profile, input_errors

    if engine == "vasp" and not code_label:
        raise click.UsageError("--engine vasp needs --code LABEL of a configured VASP code")
    check_structures_per_job(structures_per_job, engine, code_label, daemon)
    from ..workflows.force_constants import ForceConstantsWorkChain

    over = read_overrides(overrides, ForceConstantsWorkChain, protocol) if overrides else {}
    if no_relax:
        over["run_relax"] = False

    ensure_profile(ctx)
    if daemon:
        check_daemon_running()
    from aiida import orm
    from aiida.engine import run_get_node, submit

    code = load_code_option(code_label, engine) if code_label else None
    with input_errors(f"building the {engine} inputs"):
        builder = ForceConstantsWorkChain.get_builder_from_protocol(
            orm.StructureData(ase=structure),
            engine=engine,
            protocol=protocol,
            code=code,
            model=model,
            supercell=list(supercell) if supercell else None,
            overrides=over,
        )
    if builder.metadata.get("description"):
        click.echo(f"Note: {builder.metadata.description}")
    if daemon:
        from ..calculations.jobs import ensure_localhost_computer_and_worker_code

        # the engine as PythonJobs and the hiphive fit as a wigner.fit_job on
        # aiida-wigner-worker@localhost, not inside a daemon worker (docs/cluster.md)
        engine_off_the_daemon(builder.engine)
        size_force_jobs(builder.engine, structures_per_job)
        builder.fit.code = ensure_localhost_computer_and_worker_code()
        node = submit(builder)
        click.echo(
            f"Submitted ForceConstantsWorkChain <{node.pk}>; follow it with "
            f"`verdi process status {node.pk}`."
        )
        return
    size_force_jobs(builder.engine, structures_per_job)
    results, node = run_get_node(builder)
    click.echo(format_fit_report(node, results))
    if not node.is_finished_ok:
        raise click.ClickException(
            f"ForceConstantsWorkChain <{node.pk}> failed [{node.exit_status}]: {node.exit_message}"
        )


def read_overrides(path, workchain, protocol: str) -> dict:
    """The ``--overrides`` YAML as a dict; a usage error when it is not a mapping of the
    sections of ``workchain.get_protocol_inputs(protocol)``."""
    import yaml

    try:
        with open(path) as fh:
            over = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError) as exc:
        message = f"{path}: not a readable YAML file: {' '.join(str(exc).split())}"
        raise click.BadParameter(message, param_hint="'--overrides'") from exc
    sections = set(workchain.get_protocol_inputs(protocol))
    if not isinstance(over, dict) or not set(over) <= sections:
        found = sorted(map(str, over)) if isinstance(over, dict) else type(over).__name__
        raise click.BadParameter(
            f"{path}: expected a mapping of the protocol's sections "
            f"({', '.join(sorted(sections))}), found {found}",
            param_hint="'--overrides'",
        )
    return over


def load_code_option(label: str, engine: str):
    """The AiiDA code ``label`` (``code@computer`` or a PK); a clear click error if unknown."""
    code = load_code(
        label,
        "--code",
        "list the codes with `verdi code list`, create one with `verdi code create`",
    )
    plugin = code.default_calc_job_plugin
    if engine == "vasp":
        if plugin not in (None, "vasp.vasp"):
            raise click.BadParameter(
                f"code {label!r} is set up for {plugin!r}, not for VASP (vasp.vasp)",
                param_hint="--code",
            )
        return code
    # ASE engine with a code: a Python interpreter for aiida-pythonjob's PythonJob
    require_pythonjob(f"--code with --engine {engine}")
    if plugin not in (None, "pythonjob.pythonjob"):
        raise click.BadParameter(
            f"code {label!r} is set up for {plugin!r}; --engine {engine} "
            "needs a Python interpreter code (pythonjob.pythonjob) with "
            "aiida-wigner installed",
            param_hint="--code",
        )
    return code


def require_pythonjob(what: str) -> None:
    """A usage error saying ``what`` needs aiida-pythonjob when it is not installed."""
    try:
        import aiida_pythonjob  # noqa: F401
    except ImportError as exc:
        raise click.UsageError(
            f"{what} runs the engine as aiida-pythonjob PythonJobs: pip install "
            "'aiida-wigner[pythonjob]'"
        ) from exc


def engine_off_the_daemon(engine) -> None:
    """``--daemon``: the ASE engine (``engine``, a builder's engine namespace) without a
    ``--code`` runs as aiida-pythonjob PythonJobs on ``aiida-wigner-python@localhost`` (this
    interpreter, created when missing), so that no force call, MD run or relaxation is
    computed inside a daemon worker.  A given code (VASP, or the user's Python) is kept."""
    if "code" in engine:
        return
    from ..calculations.jobs import ensure_localhost_python_code

    require_pythonjob(f"--daemon with --engine {engine.calculator.get('name')}")
    engine.code = ensure_localhost_python_code()


def check_structures_per_job(structures_per_job, engine, code_label, daemon) -> None:
    """A usage error for ``--structures-per-job`` where the engine runs no PythonJob."""
    if structures_per_job is not None and (engine == "vasp" or not (code_label or daemon)):
        raise click.UsageError(
            "--structures-per-job sizes the ASE engine's force PythonJobs: give --code or "
            "--daemon too (VASP runs one job per structure)"
        )


def size_force_jobs(engine, structures_per_job) -> None:
    """``engine.structures_per_job`` of a builder's engine namespace, when given."""
    if structures_per_job is not None:
        from aiida import orm

        engine.structures_per_job = orm.Int(structures_per_job)


def format_fit_report(node, results) -> str:
    lines = [f"ForceConstantsWorkChain <{node.pk}> {node.process_state.value} [{node.exit_status}]"]
    if "lattice" in results:
        lat = results["lattice"].get_dict()
        lines.append(
            f"relaxed: a={lat['a']:.4f} b={lat['b']:.4f} c={lat['c']:.4f} Å, "
            f"{lat['spacegroup_final']}"
        )
    if "frequencies" in results:
        lines.append("harmonic frequencies (THz; negative = imaginary):")
        for label, d in results["frequencies"].get_dict()["points"].items():
            q = " ".join(f"{x:.3f}" for x in d["q"])
            f = " ".join(f"{x:7.3f}" for x in d["frequencies"])
            lines.append(f"  {label:>2} ({q}): {f}")
    if "scores" in results:
        s = results["scores"].get_dict()
        lines.append(
            f"fit ({s['method']}, harmonic {s['harmonic']}, "
            f"{s['n_structures']} structures): "
            f"RMSE train {s['rmse_train']:.4f} eV/Å, "
            f"validation {s['rmse_validation']:.4f} "
            f"eV/Å ({s['relative_rmse_validation']:.1%} of force RMS), "
            f"R² validation {s['r2_validation']:.4f}"
        )
        lines.append(f"parameters per order: {s['n_parameters']} (non-zero {s['n_nonzero']})")
    for key in ("force_constants", "fcp"):
        if key in results:
            lines.append(f"{key}: <{results[key].pk}>")
    return "\n".join(lines)

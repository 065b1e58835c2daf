"""Helpers shared by the ``aiida-wigner`` commands: profile set-up, error reporting, tables."""

from __future__ import annotations

import contextlib

import click


def ensure_profile(ctx: click.Context):
    """Return the loaded AiiDA profile, creating one the way ``verdi presto`` does if needed.

    The root option ``-p/--profile`` loads the requested (or default) profile.  When no
    profile is loaded, because the configuration in ``$AIIDA_PATH`` (default ``~/.aiida``)
    has no profile or its default profile no longer exists, this invokes aiida-core's
    ``verdi presto`` command with its defaults: a new profile with SQLite storage
    (``core.sqlite_dos``), a default user, a ``localhost`` computer and, as broker,
    RabbitMQ if one is running or otherwise the built-in ZeroMQ broker.  The new profile
    becomes the default and is loaded.  Foreground runs of calcfunctions need no broker
    at all.

    Call it only after the command's input has been validated, so that ``--help`` and
    usage errors never create a profile.
    """
    from aiida.cmdline.utils import echo
    from aiida.manage import get_manager

    profile = get_manager().get_profile()
    if profile is not None:
        return profile

    from aiida.cmdline.commands.cmd_presto import verdi_presto

    echo.echo_report("No AiiDA profile is set up yet: creating one as `verdi presto` does.")
    ctx.invoke(verdi_presto)
    profile = get_manager().get_profile()
    if profile is None:  # pragma: no cover - verdi presto exits on failure
        raise click.ClickException(
            "could not create an AiiDA profile; run `verdi presto` and try again"
        )
    return profile


def check_daemon_running() -> None:
    """A one-line usage error when no daemon runs for the loaded profile (``--daemon`` would
    submit a process that nothing runs)."""
    from aiida.engine.daemon.client import get_daemon_client

    try:
        client = get_daemon_client()
        running = client.is_daemon_running
    except Exception as exc:  # e.g. a profile without a broker cannot have a daemon at all
        raise click.UsageError(
            f"this profile cannot run an AiiDA daemon ({exc}); configure a "
            "broker (`verdi profile configure-rabbitmq`) or run in the "
            "foreground without --daemon"
        ) from exc
    if not running:
        raise click.UsageError(
            f"no AiiDA daemon is running for profile {client.profile.name!r}: "
            "start one with `verdi daemon start`, or run in the foreground "
            "without --daemon"
        )


def load_code(label: str, param_hint: str, advice: str):
    """The AiiDA code ``label`` (``code@computer`` or a PK); a one-line click error naming the
    option ``param_hint`` and saying what to do (``advice``) if there is no such code."""
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    try:
        return orm.load_code(label)
    except (NotExistent, MultipleObjectsError, ValueError) as exc:
        raise click.BadParameter(
            f"no unique AiiDA code {label!r} ({exc}); {advice}", param_hint=param_hint
        ) from exc


def _debug_requested() -> bool:
    """True if the user asked for ``--verbosity debug`` (then tracebacks are shown)."""
    from aiida.common import log

    return (log.CLI_LOG_LEVEL or "").upper() == "DEBUG"


def _input_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "bad input", shown without a traceback."""
    errors: list[type[BaseException]] = [
        ValueError,
        FileNotFoundError,
        IsADirectoryError,
        PermissionError,
    ]
    try:  # a ValueError too, listed first for clarity
        from aiida_wigner.physics.io.errors import ForceConstantsFileError
    except ImportError:  # pragma: no cover - the file-format layer is part of the package
        pass
    else:
        errors.insert(0, ForceConstantsFileError)
    return tuple(errors)


@contextlib.contextmanager
def input_errors(what: str):
    """Turn bad-input exceptions raised inside the block into a clean ``click`` error.

    ``what`` says what was being done, e.g. ``"reading the force constants"``.  With
    ``--verbosity debug`` the original exception and traceback are kept.
    """
    try:
        yield
    except click.ClickException:
        raise
    except _input_error_types() as exc:
        if _debug_requested():
            raise
        raise click.ClickException(f"{what}: {exc}") from exc


def format_kappa_table(temperatures, kappa_P, kappa_C, kappa) -> str:
    """A text table of the diagonal of κ_P, κ_C and κ (W/(m K)) per temperature (K)."""
    from tabulate import tabulate

    headers = ["T (K)"] + [
        f"{name} {ax}" for name in ("kP", "kC", "k") for ax in ("xx", "yy", "zz")
    ]
    rows = []
    for i, temperature in enumerate(temperatures):
        row = [temperature]
        for tensor in (kappa_P, kappa_C, kappa):
            row.extend(tensor[i][a][a] for a in range(3))
        rows.append(row)
    return tabulate(rows, headers=headers, floatfmt=".4g")

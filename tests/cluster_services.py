"""The services of the cluster tests (SLURM, PostgreSQL, RabbitMQ): are they running, and why not.

``.ci/services.sh`` installs and starts them on localhost and records, for a service it could
not start, the reason in ``$AIIDA_WIGNER_SERVICES/<service>.unavailable`` (default folder
``/tmp/aiida-wigner-services``).  :func:`require` probes the services a test needs and skips
the test with that recorded reason, or with the probe's own answer and how to start them.

:class:`ServiceProfile` is an AiiDA profile on PostgreSQL (``core.psql_dos``) with RabbitMQ in
its own configuration folder, driven through subprocesses (``verdi``, ``aiida-wigner``, Python
scripts), so that its daemon and the pytest process's own profile never mix.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import sys
import textwrap
import uuid

import pytest

STATE = pathlib.Path(os.environ.get("AIIDA_WIGNER_SERVICES", "/tmp/aiida-wigner-services"))

#: The PostgreSQL role that ``.ci/services.sh`` creates (CREATEDB, password = name).
POSTGRES = {"host": "localhost", "port": 5432, "user": "aiida_wigner", "password": "aiida_wigner"}
RABBITMQ = ("127.0.0.1", 5672)


def _probe_slurm() -> str | None:
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return "sbatch/sinfo not found"
    try:
        states = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, check=False, timeout=10
        )
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 10 s"
    if not any(s in ("idle", "mixed", "allocated") for s in states.stdout.split()):
        return f"no usable node (sinfo: {(states.stdout + states.stderr).strip() or 'nothing'})"
    return None


def _probe_postgres() -> str | None:
    import psycopg

    try:
        psycopg.connect(dbname="postgres", connect_timeout=3, **POSTGRES).close()
    except psycopg.Error as exc:
        return f"cannot connect as {POSTGRES['user']}@{POSTGRES['host']}: {exc}".strip()
    return None


def _probe_rabbitmq() -> str | None:
    try:
        socket.create_connection(RABBITMQ, timeout=3).close()
    except OSError as exc:
        return f"nothing listens on {RABBITMQ[0]}:{RABBITMQ[1]} ({exc})"
    return None


PROBES = {"slurm": _probe_slurm, "postgres": _probe_postgres, "rabbitmq": _probe_rabbitmq}


def unavailable_reason(name: str) -> str | None:
    """None when service ``name`` answers; otherwise why it does not, in one line."""
    problem = PROBES[name]()
    if problem is None:
        return None
    recorded = STATE / f"{name}.unavailable"
    if recorded.exists():
        return f"{name} could not be started by .ci/services.sh: {recorded.read_text().strip()}"
    return (
        f"{name} is not running ({problem}); install and start it with "
        f"`.ci/services.sh {name}` (as root)"
    )


def require(*names: str) -> None:
    """Skip the calling test, with the reasons, unless all the services ``names`` answer."""
    reasons = [r for r in map(unavailable_reason, names) if r]
    if reasons:
        pytest.skip("; ".join(reasons))


class ServiceProfile:
    """An AiiDA profile on PostgreSQL + RabbitMQ in its own ``AIIDA_PATH``, used by subprocess.

    ``verdi``/``cli`` run a command of this profile and return the finished process;
    ``python`` runs a script with the profile loaded (``from aiida import orm`` etc. are the
    script's own business) and returns its standard output.
    """

    def __init__(self, folder: pathlib.Path):
        self.folder = folder
        self.name = f"wigner-{uuid.uuid4().hex[:8]}"
        self.database = f"aiida_wigner_{self.name.split('-')[1]}"
        bin_dir = str(pathlib.Path(sys.executable).parent)
        self.env = {
            **os.environ,
            "AIIDA_PATH": str(folder),
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            "OMP_NUM_THREADS": "1",
            "NUMBA_NUM_THREADS": "1",
        }

    def create(self) -> None:
        import psycopg

        with psycopg.connect(dbname="postgres", autocommit=True, **POSTGRES) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        self.run(
            "verdi",
            "profile",
            "setup",
            "core.psql_dos",
            "-n",
            "--profile-name",
            self.name,
            "--set-as-default",
            "--email",
            "tests@aiida-wigner.invalid",
            "--first-name",
            "Test",
            "--last-name",
            "Runner",
            "--institution",
            "CI",
            "--broker",
            "core.rabbitmq",
            "--database-hostname",
            POSTGRES["host"],
            "--database-port",
            str(POSTGRES["port"]),
            "--database-username",
            POSTGRES["user"],
            "--database-password",
            POSTGRES["password"],
            "--database-name",
            self.database,
            "--repository-uri",
            (self.folder / "repository").as_uri(),
        )
        # .ci/services.sh switches RabbitMQ's consumer timeout off, which the version
        # warning is about
        self.verdi("config", "set", "warnings.rabbitmq_version", "False")
        # verdi's wait for the daemon's controller (default 2 s) is too short on a loaded
        # 2-core CI machine: `verdi daemon start/stop` would fail with a time-out
        self.verdi("config", "set", "daemon.timeout", "30")

    def destroy(self) -> None:
        import psycopg

        if (self.folder / ".aiida" / "daemon" / f"circus-{self.name}.pid").exists():
            self.verdi("daemon", "stop", check=False, timeout=90)
        with psycopg.connect(dbname="postgres", autocommit=True, **POSTGRES) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def run(self, *args, check: bool = True, timeout: float = 300):
        done = subprocess.run(
            [str(a) for a in args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.folder,
            check=False,
        )
        if check and done.returncode:
            raise AssertionError(
                f"{' '.join(map(str, args))} failed [{done.returncode}]:\n"
                f"{done.stdout}\n{done.stderr}"
            )
        return done

    def verdi(self, *args, **kwargs):
        return self.run("verdi", "-p", self.name, *args, **kwargs)

    def cli(self, *args, **kwargs):
        return self.run("aiida-wigner", "-p", self.name, *args, **kwargs)

    def python(self, script: str, *args, timeout: float = 300) -> str:
        code = f"from aiida import load_profile\nload_profile({self.name!r})\n" + textwrap.dedent(
            script
        )
        return self.run(sys.executable, "-c", code, *args, timeout=timeout).stdout


#: The cluster tests' κ run: the fast protocol, harmonic, on a 4x4x4 mesh (8 irreducible
#: q-points of Cu3Au) with 3ph + isotope and no 4ph (the EMT model has no FC4), σ 0.1 THz.
TEMPERATURES = [300.0, 600.0]
KAPPA = {"mesh": [4, 4, 4], "sigma": 0.1, "isotope": True, "four_phonon": None}
RUN_OPTIONS = ["--harmonic", "--temperatures", *map(str, TEMPERATURES)]


def in_process_kappa(force_constants) -> dict:
    """κ_P, κ_C, κ (T, 3, 3) W/(m K) of the cluster tests' run, in-process and uninterrupted:
    what ``aiida-wigner run --force-constants PK`` + RUN_OPTIONS + ``--overrides`` of KAPPA
    computes in the foreground."""
    from aiida.engine import run_get_node

    from aiida_wigner.workflows.conductivity import WignerConductivityWorkChain

    builder = WignerConductivityWorkChain.get_builder_from_protocol(
        force_constants=force_constants,
        protocol="fast",
        temperatures=TEMPERATURES,
        overrides={"renormalization": None, "kappa": KAPPA},
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    return {k: results["kappa"].get_array(k) for k in ("kappa_P", "kappa_C", "kappa")}


def write_overrides(folder: pathlib.Path) -> pathlib.Path:
    """The ``--overrides`` file with KAPPA."""
    import json

    path = folder / "kappa.yaml"
    path.write_text(json.dumps({"kappa": KAPPA}))  # JSON is YAML
    return path

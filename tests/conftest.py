"""Shared pytest set-up: a temporary AiiDA profile and small Cu3Au force-constant models.

The AiiDA fixtures come from ``aiida.tools.pytest_fixtures``.  The session profile is
created in a temporary configuration directory (``aiida_config``) with SQLite storage
(``core.sqlite_dos``) and no broker, so the tests need no PostgreSQL or RabbitMQ service;
calcfunctions run in the foreground without a broker.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest_plugins = ["aiida.tools.pytest_fixtures"]


@pytest.fixture(scope="session", autouse=True)
def aiida_profile(aiida_config, aiida_profile_factory):
    """Session profile: ``core.sqlite_dos`` storage and no broker (no services needed).

    Overrides the fixture of the same name in ``aiida.tools.pytest_fixtures`` only to make
    the storage and broker choice explicit here.
    """
    with aiida_profile_factory(
        aiida_config, storage_backend="core.sqlite_dos", broker_backend=None
    ) as profile:
        # a foreground runner looks for finished CalcJobs every poll interval (default 60 s)
        aiida_config.set_option("runner.poll.interval", 1, scope=profile.name)
        yield profile


@pytest.fixture(autouse=True)
def _restore_cli_logging():
    """In-process CLI calls switch aiida's logging to CLI mode; undo that for later tests."""
    from aiida.common import log

    active, level = log.CLI_ACTIVE, log.CLI_LOG_LEVEL
    yield
    if (log.CLI_ACTIVE, log.CLI_LOG_LEVEL) != (active, level):
        log.CLI_ACTIVE, log.CLI_LOG_LEVEL = active, level
        log.configure_logging(with_orm=True)


@pytest.fixture(scope="session")
def cu3au_fc():
    """``ForceConstants`` of L1₂ Cu₃Au (EMT, 2x2x2 supercell, FC2 + FC3), cached per session."""
    from reference_models import cu3au_force_constants

    return cu3au_force_constants()


@pytest.fixture(scope="session")
def lowsym6():
    """``ForceConstants`` of the 6-atom P1 Stillinger–Weber Si cell (tests/data), cached
    per session: the low-symmetry model the peers' comparisons use."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import fourphonon_io

    return fourphonon_io.load_model("lowsym6", Path(__file__).parent / "data" / "sw_si_lowsym6.fcp")


@pytest.fixture(scope="session")
def cu3au_fc4(cu3au_fc):
    """The Cu₃Au model plus a small synthetic sparse FC4 (eV/Å⁴), for storage tests."""
    from aiida_wigner.physics.forceconstants import ForceConstants, SparseForceConstants

    rng = np.random.default_rng(7)
    setup = cu3au_fc.setup
    n_clusters = 25
    atoms = np.column_stack(
        [rng.choice(setup.p2s, n_clusters), rng.integers(0, setup.n_super, (n_clusters, 3))]
    )
    values = rng.normal(size=(n_clusters, 3, 3, 3, 3))
    fc4 = SparseForceConstants(4, atoms, values)
    return ForceConstants(
        setup,
        cu3au_fc.fc2,
        cu3au_fc.fc3,
        fc4,
        source={"fc2": "fc2.hdf5", "fc3": "fc3.hdf5", "fc4": "synthetic"},
    )


@pytest.fixture(scope="session")
def cu3au_files(tmp_path_factory):
    """phono3py_params.yaml, fc2.hdf5 and fc3.hdf5 of the Cu₃Au model, written once."""
    from reference_models import write_cu3au_files

    return write_cu3au_files(tmp_path_factory.mktemp("cu3au"))


@pytest.fixture
def stand_in(aiida_localhost, tmp_path_factory):
    """The stand-in VASP (tests/stand_in_vasp) as a code on localhost; POTCAR family FAKE.54."""
    from stand_in_vasp import install_code, upload_fake_potcar_family

    upload_fake_potcar_family(tmp_path_factory.mktemp("potcars"), "FAKE.54")
    return install_code(aiida_localhost)


def make_fake_kappa_result(fc, settings, models=None):
    """A ``KappaResult`` with the right shapes and made-up numbers (no physics).

    Lets the AiiDA and CLI layers be tested independently of
    :func:`aiida_wigner.physics.kappa.compute_kappa`.
    """
    from aiida_wigner.physics.kappa import KappaResult

    n_t = len(settings.temperatures)
    mesh = np.array(settings.mesh)
    grid = np.indices(mesh).reshape(3, -1).T
    qpoints = grid / mesh
    n_q, n_b = len(qpoints), 3 * fc.setup.n_prim
    rng = np.random.default_rng(0)
    kappa_P_modes = rng.random((n_t, n_q, n_b, 3, 3))
    kappa_P = kappa_P_modes.sum(axis=(1, 2))
    kappa_C = 0.1 * kappa_P
    gamma_3ph = rng.random((n_t, n_q, n_b))
    gamma_iso = np.broadcast_to(rng.random((n_q, n_b)), (n_t, n_q, n_b)).copy()
    bins = settings.frequency_bins
    return KappaResult(
        settings=settings,
        temperatures=np.array(settings.temperatures),
        kappa_P=kappa_P,
        kappa_C=kappa_C,
        kappa=kappa_P + kappa_C,
        qpoints=qpoints,
        weights=np.ones(n_q, dtype=int),
        frequencies=rng.random((n_q, n_b)) * 6.0,
        group_velocities=rng.normal(size=(n_q, n_b, 3)),
        heat_capacities=rng.random((n_t, n_q, n_b)),
        gamma_3ph=gamma_3ph,
        gamma_4ph=np.zeros_like(gamma_3ph),
        gamma_isotope=gamma_iso,
        gamma=gamma_3ph + gamma_iso,
        kappa_P_modes=kappa_P_modes,
        spectra={
            "frequency": np.linspace(0, 6, bins),
            "kappa_P": rng.random((n_t, bins)),
            "kappa_C_map": rng.random((n_t, bins, bins)),
        },
    )


@pytest.fixture
def fake_compute_kappa(monkeypatch):
    """Replace ``compute_kappa`` with :func:`make_fake_kappa_result` for the test."""
    import aiida_wigner.physics.kappa as kappa_module

    monkeypatch.setattr(kappa_module, "compute_kappa", make_fake_kappa_result)
    return make_fake_kappa_result


@pytest.fixture
def slurm_computer(aiida_computer):
    """A ``core.slurm`` computer on localhost (``core.local`` transport), polled every second.

    Skips the test, with the reason, unless SLURM runs here (``.ci/services.sh slurm``).
    """
    from cluster_services import require

    require("slurm")
    computer = aiida_computer(
        label="slurm-localhost",
        scheduler_type="core.slurm",
        configuration_kwargs={"safe_interval": 0.0},
    )
    computer.set_minimum_job_poll_interval(1.0)
    return computer


@pytest.fixture(scope="module")
def service_profile(tmp_path_factory):
    """A ``core.psql_dos`` + RabbitMQ AiiDA profile in its own ``AIIDA_PATH``, for daemon tests
    (a :class:`cluster_services.ServiceProfile`); the database is dropped afterwards.

    Skips, with the reason, unless PostgreSQL and RabbitMQ run (``.ci/services.sh``).
    """
    from cluster_services import ServiceProfile, require

    require("postgres", "rabbitmq")
    profile = ServiceProfile(tmp_path_factory.mktemp("aiida-psql"))
    try:
        profile.create()
        yield profile
    finally:
        profile.destroy()

"""The ``aiida-wigner`` command group."""

import click
from aiida.cmdline.groups import VerdiCommandGroup
from aiida.cmdline.params import options, types


@click.group(
    "aiida-wigner", cls=VerdiCommandGroup, context_settings={"help_option_names": ["-h", "--help"]}
)
@options.PROFILE(
    type=types.ProfileParamType(load_profile=True),
    expose_value=False,
    help="AiiDA profile to use instead of the default one. Without any profile, "
    "the first command that stores data creates one the way `verdi presto` "
    "does (SQLite storage, no services needed).",
)
def cmd_root():
    """Lattice thermal conductivity with the Wigner transport equation, on AiiDA.

    Every run is recorded in the AiiDA provenance graph of the selected profile
    ('verdi process list', 'verdi archive create').  Units: THz, K, W/(m K).
    """

"""``aiida-wigner renormalize``: self-consistent phonons (+ bubble) from stored force constants."""

from __future__ import annotations

import json

import click

from .nodes import FORCE_CONSTANTS_NODE, resolve_force_constants
from .options import (
    BUBBLE_CHOICES,
    NEW_DIR,
    NEW_FILE,
    TEMPERATURES,
    check_crystal_inputs,
    file_arguments,
    force_constant_files,
    format_convergence,
    run_renormalization,
    scp_settings,
    scp_solver_options,
    store_force_constants,
)
from .root import cmd_root
from .utils import ensure_profile, input_errors


@cmd_root.command("renormalize")
@force_constant_files
@click.option(
    "--mesh",
    type=click.IntRange(min=1),
    nargs=3,
    required=True,
    metavar="N1 N2 N3",
    help="Γ-centred outer mesh on which the SCP equations are solved (seed: 4 4 2).",
)
@click.option(
    "--inner-mesh",
    type=click.IntRange(min=1),
    nargs=3,
    default=None,
    metavar="N1 N2 N3",
    help="Mesh of q' in the loop sum, a multiple of --mesh (seed: 8 8 4) [default: --mesh].",
)
@TEMPERATURES
@click.option(
    "--bubble",
    type=click.Choice(BUBBLE_CHOICES),
    default="none",
    show_default=True,
    help="Cubic bubble correction on top of SCP (needs FC3): at ω = 0, on-shell, or the "
    "self-consistent quasiparticle root (the seed's SCPB).",
)
@scp_solver_options
@click.option(
    "--output",
    "-o",
    type=NEW_FILE,
    default=None,
    help="Write the frequencies and convergence per temperature (JSON, THz) here.",
)
@click.option(
    "--write-fc2",
    type=NEW_DIR,
    default=None,
    help="Directory for the effective FC2 per temperature (phonopy FORCE_CONSTANTS_<T>K, "
    "eV/Å², on the input supercell, or the smallest one that also holds the "
    "--mesh supercell: exact at every q, docs/scp.md §4).",
)
@FORCE_CONSTANTS_NODE
@click.pass_context
def cmd_renormalize(
    ctx,
    cell,
    structure,
    supercell,
    primitive_matrix,
    fc2,
    fc3,
    fc4,
    fcp,
    mesh,
    inner_mesh,
    temperatures,
    bubble,
    diagonal_only,
    classical,
    mixing,
    tolerance,
    max_iterations,
    frequency_floor,
    bubble_epsilon,
    output,
    write_fc2,
    force_constants,
):
    """Temperature-renormalized phonons: SCP with the quartic loop (seed Eq. 1), optionally
    the bubble correction (Eqs. 2-4), from existing force constants.

    The `wigner.renormalize` calcfunction runs on the stored force constants. Example:

    \b
        aiida-wigner renormalize --fcp fit.fcp --mesh 4 4 2 --inner-mesh 8 8 4 \\
            --temperatures 100 300 500 700 --bubble qp --output scp.json --write-fc2 fc2_T

    Units: THz (negative = imaginary), K, Å².
    """
    from aiida_wigner.calculations.renormalize import effective_fc2_label, settings_from_dict

    if force_constants is None:
        check_crystal_inputs(cell, structure, supercell, fc2, fcp)
    inner_mesh = inner_mesh or mesh
    settings = scp_settings(
        mesh,
        inner_mesh,
        temperatures,
        bubble,
        diagonal_only,
        classical,
        mixing,
        tolerance,
        max_iterations,
        frequency_floor,
        bubble_epsilon,
    )
    with input_errors("checking the settings"):
        settings_from_dict(settings)
    fc, node = resolve_force_constants(
        ctx,
        force_constants,
        file_arguments(cell, structure, supercell, primitive_matrix, fc2, fc3, fc4, fcp),
    )
    if fc.fc4 is None:
        raise click.UsageError(
            "self-consistent phonons need fourth-order force constants: give "
            "--fc4 FORCE_CONSTANTS_4TH or an --fcp with order 4"
        )
    if bubble != "none" and fc.fc3 is None:
        raise click.UsageError(
            "--bubble needs third-order force constants (--fc3 or an --fcp "
            "with order 3), or --bubble none"
        )

    ensure_profile(ctx)
    node = node or store_force_constants(fc)
    outputs, process = run_renormalization(node, settings)
    summary = outputs["summary"].get_dict()
    click.echo(
        f"Renormalized phonons ({summary['kind']})   [calculation pk={process.pk}, "
        f"force constants pk={node.pk}]"
    )
    click.echo(format_convergence(summary))
    if not all(summary["converged"]):
        click.echo(
            "Warning: SCP did not converge at every temperature: raise --max-iterations, "
            "lower --mixing or check the quartic force constants; `aiida-wigner kappa "
            "--renormalize` refuses those temperatures.",
            err=True,
        )

    if output is not None:
        summary["node"] = outputs["renormalization"].uuid
        summary["process"] = process.uuid
        output.write_text(json.dumps(summary, indent=2) + "\n")
        click.echo(f"Wrote {output}")
    if write_fc2 is not None:
        from aiida_wigner.physics.io.phonopy_format import write_force_constants

        write_fc2.mkdir(parents=True, exist_ok=True)
        for t in summary["temperatures"]:
            effective = outputs[effective_fc2_label(t)].get_force_constants()
            path = write_fc2 / f"FORCE_CONSTANTS_{t:g}K"
            write_force_constants(path, effective.fc2, effective.setup.p2s)
            click.echo(
                f"Wrote {path} (supercell matrix {effective.setup.supercell_matrix.tolist()})"
            )

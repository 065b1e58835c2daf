"""``aiida-wigner kappa``: Wigner conductivity from existing force-constant files."""

from __future__ import annotations

import json

import click

from .nodes import FORCE_CONSTANTS_NODE, resolve_force_constants
from .options import (
    DEPRECATED_RENORMALIZE,
    NEW_FILE,
    RENORMALIZE_CHOICES,
    TEMPERATURES,
    bubble_of,
    check_crystal_inputs,
    file_arguments,
    force_constant_files,
    format_convergence,
    renormalize_choice,
    run_renormalization,
    scp_settings,
    scp_solver_options,
    store_force_constants,
)
from .root import cmd_root
from .utils import ensure_profile, format_kappa_table, input_errors


@cmd_root.command("kappa")
@force_constant_files
@click.option(
    "--mesh",
    type=click.IntRange(min=1),
    nargs=3,
    required=True,
    metavar="N1 N2 N3",
    help="Γ-centred q-point mesh.",
)
@TEMPERATURES
@click.option(
    "--isotope/--no-isotope",
    default=False,
    show_default=True,
    help="Include isotope scattering (natural abundances).",
)
@click.option(
    "--smearing",
    type=click.Choice(["gaussian", "adaptive", "adaptive-shengbte"]),
    default="gaussian",
    show_default=True,
    help="Broadening of the energy conservation: fixed Gaussian width (--sigma), "
    "adaptive widths per process (--scale), or ShengBTE/FourPhonon's adaptive "
    "definition (scalebroad = --scale) to reproduce those codes.",
)
@click.option(
    "--sigma",
    type=click.FLOAT,
    default=None,
    help="Gaussian width in THz for --smearing gaussian [default: 0.1].",
)
@click.option(
    "--scale",
    type=click.FLOAT,
    default=None,
    help="Scale factor of the adaptive widths for --smearing adaptive or "
    "adaptive-shengbte [default: 1.0].",
)
@click.option(
    "--convention",
    type=click.Choice(["aiida-wigner", "phono3py"]),
    default="aiida-wigner",
    show_default=True,
    help="Split of degenerate pairs between κ_P and κ_C; 'phono3py' reproduces "
    "phono3py's SMM19 split for term-by-term comparison.",
)
@click.option(
    "--frequency-bins",
    type=click.IntRange(min=1),
    default=None,
    help="Number of frequency bins of the spectral κ(ω) and κ_C(ω, ω') [default: 100].",
)
@click.option(
    "--four-phonon",
    type=click.Choice(["none", "exhaustive", "sampled"]),
    default="none",
    show_default=True,
    help="Four-phonon scattering (needs --fc4 or an --fcp with order 4): all processes, "
    "or a random sample of --samples (q1, q2) pairs per q-point.",
)
@click.option(
    "--samples",
    type=click.IntRange(min=2),
    default=None,
    help="--four-phonon sampled: (q1, q2) pairs drawn per q-point [default: 256].",
)
@click.option(
    "--target-error",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="--four-phonon sampled: add samples until the relative standard error of "
    "every γ_4ph is below this (e.g. 0.05).",
)
@click.option(
    "--seed", type=click.INT, default=None, help="--four-phonon sampled: random seed [default: 0]."
)
@click.option(
    "--allocation",
    type=click.Choice(["kappa", "uniform"]),
    default=None,
    help="--four-phonon sampled: spread the samples by each q-point's share of the "
    "error of κ_P ('kappa'), or the same number at every q-point ('uniform') "
    "[default: kappa; uniform with --target-error].",
)
@click.option(
    "--renormalize",
    type=click.Choice(RENORMALIZE_CHOICES + tuple(DEPRECATED_RENORMALIZE)),
    metavar="[" + "|".join(RENORMALIZE_CHOICES) + "]",
    callback=renormalize_choice,
    default="none",
    show_default=True,
    help="Compute κ on temperature-renormalized phonons: 'scp', self-consistent phonons "
    "with the quartic loop (needs FC4), or 'scpb-<bubble>', SCP plus the bubble "
    "correction of `aiida-wigner renormalize --bubble <bubble>` (also needs FC3; scpb-qp "
    "is the seed's SCPB). "
    "Linewidths use the bare FC3/FC4, as in the seed study. "
    "The old names 'loop' (= scp) and 'loop+bubble' (= scpb-qp) are deprecated.",
)
@click.option(
    "--scp-mesh",
    type=click.IntRange(min=1),
    nargs=3,
    default=None,
    metavar="N1 N2 N3",
    help="With --renormalize: the outer SCP mesh (e.g. 4 4 2).",
)
@click.option(
    "--scp-inner-mesh",
    type=click.IntRange(min=1),
    nargs=3,
    default=None,
    metavar="N1 N2 N3",
    help="With --renormalize: the inner q' mesh, a multiple of --scp-mesh [default: --scp-mesh].",
)
@scp_solver_options
@click.option(
    "--output",
    "-o",
    type=NEW_FILE,
    default=None,
    help="Write the summary (temperatures, kappa_P, kappa_C, kappa in W/(m K), node "
    "UUID) to this JSON file.",
)
@click.option(
    "--modes",
    type=NEW_FILE,
    default=None,
    help="Write the mode-resolved data (frequencies, linewidths, velocities, heat "
    "capacities, ...) to this HDF5 file.",
)
@FORCE_CONSTANTS_NODE
@click.pass_context
def cmd_kappa(
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
    temperatures,
    isotope,
    smearing,
    sigma,
    scale,
    convention,
    frequency_bins,
    four_phonon,
    samples,
    target_error,
    seed,
    allocation,
    renormalize,
    scp_mesh,
    scp_inner_mesh,
    diagonal_only,
    classical,
    mixing,
    tolerance,
    max_iterations,
    frequency_floor,
    bubble_epsilon,
    output,
    modes,
    force_constants,
):
    """Compute κ_P, κ_C and κ = κ_P + κ_C from existing force constants.

    The force constants are stored as a node and the `wigner.kappa` calcfunction runs on them,
    so the result lands in the AiiDA provenance graph.  Example:

    \b
        aiida-wigner kappa --cell phono3py_params.yaml --fc2 fc2.hdf5 --fc3 fc3.hdf5 \\
            --mesh 10 10 10 --temperatures 100 300 700 --isotope --sigma 0.1 \\
            --output result.json --modes modes.h5

    With four-phonon scattering on SCP+bubble renormalized phonons (seed study):

    \b
        aiida-wigner kappa --fcp fit.fcp --mesh 16 16 12 --temperatures 300 \\
            --four-phonon sampled --samples 512 --renormalize scpb-qp \\
            --scp-mesh 4 4 2 --scp-inner-mesh 8 8 4

    Units: THz, K, W/(m K).
    """
    from aiida import orm

    from aiida_wigner.calculations.kappa import compute_kappa_calcfunction, result_from_nodes
    from aiida_wigner.physics.kappa import KappaSettings

    if force_constants is None:
        check_crystal_inputs(cell, structure, supercell, fc2, fcp)
    _check_options(
        smearing,
        sigma,
        scale,
        four_phonon,
        samples,
        target_error,
        seed,
        allocation,
        renormalize,
        scp_mesh,
    )
    if four_phonon == "sampled" and allocation is None:
        allocation = "uniform" if target_error is not None else "kappa"

    kwargs = {
        "mesh": tuple(mesh),
        "temperatures": tuple(temperatures),
        "isotope": isotope,
        "smearing": smearing,
        "convention": convention,
        "four_phonon": None if four_phonon == "none" else four_phonon,
    }
    for key, value in (
        ("sigma", sigma),
        ("scale", scale),
        ("frequency_bins", frequency_bins),
        ("four_phonon_samples", samples),
        ("four_phonon_seed", seed),
        ("four_phonon_target_error", target_error),
        ("four_phonon_allocation", allocation),
    ):
        if value is not None:
            kwargs[key] = value
    try:
        settings = KappaSettings(**kwargs)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc

    files = file_arguments(cell, structure, supercell, primitive_matrix, fc2, fc3, fc4, fcp)
    fc, node = resolve_force_constants(ctx, force_constants, files)
    _check_orders(fc, isotope, four_phonon, renormalize)
    settings = KappaSettings(**{**settings.as_dict(), "three_phonon": fc.fc3 is not None})

    ensure_profile(ctx)
    node = node or store_force_constants(fc)

    inputs = {"force_constants": node, "settings": orm.Dict(settings.as_dict())}
    if renormalize != "none":
        scp = scp_settings(
            scp_mesh,
            scp_inner_mesh or scp_mesh,
            temperatures,
            bubble_of(renormalize),
            diagonal_only,
            classical,
            mixing,
            tolerance,
            max_iterations,
            frequency_floor,
            bubble_epsilon,
        )
        scp_outputs, scp_process = run_renormalization(node, scp)
        click.echo(f"Renormalized phonons ({renormalize})   [calculation pk={scp_process.pk}]")
        click.echo(format_convergence(scp_outputs["summary"].get_dict()))
        inputs["renormalization"] = scp_outputs["renormalization"]

    with input_errors("computing the thermal conductivity"):
        outputs, process = compute_kappa_calcfunction.run_get_node(**inputs)
    if not process.is_finished_ok:
        raise click.ClickException(
            f"the kappa calculation <{process.pk}> failed with exit status "
            f"{process.exit_status}: {process.exit_message}"
        )

    # Numbers for the table and the files come from the ArrayData outputs (bit-exact); the
    # summary Dict holds the same values, but its JSON storage may round the last digit.
    result = result_from_nodes(process.inputs.settings, outputs["kappa"], outputs["modes"])
    record = result.summary()
    click.echo(
        f"Thermal conductivity, W/(m K)   [calculation pk={process.pk}, "
        f"force constants pk={node.pk}]"
    )
    click.echo(
        format_kappa_table(
            record["temperatures"], record["kappa_P"], record["kappa_C"], record["kappa"]
        )
    )

    if output is not None:
        record["field_units"] = outputs["summary"].get_dict().get("field_units", {})
        record["node"] = outputs["summary"].uuid
        record["process"] = process.uuid
        output.write_text(json.dumps(record, indent=2) + "\n")
        click.echo(f"Wrote {output}")
    if modes is not None:
        result.write_modes(modes)
        click.echo(f"Wrote {modes}")


def _check_options(
    smearing,
    sigma,
    scale,
    four_phonon,
    samples,
    target_error,
    seed,
    allocation,
    renormalize,
    scp_mesh,
) -> None:
    """Usage errors of the option combinations, found before reading any file."""
    if smearing != "gaussian" and sigma is not None:
        raise click.BadParameter(
            f"--sigma sets the fixed Gaussian width and cannot be used with "
            f"--smearing {smearing}; use --scale for adaptive widths, or "
            f"--smearing gaussian",
            param_hint="'--sigma'",
        )
    if smearing == "gaussian" and scale is not None:
        raise click.BadParameter(
            "--scale applies to --smearing adaptive only (and "
            "adaptive-shengbte); use --sigma (THz) for Gaussian smearing",
            param_hint="'--scale'",
        )
    if four_phonon != "sampled" and any(
        v is not None for v in (samples, target_error, seed, allocation)
    ):
        raise click.UsageError(
            "--samples, --target-error, --seed and --allocation apply to --four-phonon sampled only"
        )
    if target_error is not None and allocation == "kappa":
        raise click.UsageError("--target-error works with --allocation uniform only")
    if renormalize != "none" and not scp_mesh:
        raise click.BadParameter(
            "--renormalize needs the outer SCP mesh: add --scp-mesh N1 N2 N3 "
            "(e.g. --scp-mesh 4 4 2 --scp-inner-mesh 8 8 4)",
            param_hint="'--scp-mesh'",
        )
    if renormalize == "none" and scp_mesh:
        raise click.UsageError("--scp-mesh is used with --renormalize scp|scpb-<bubble> only")


def _check_orders(fc, isotope, four_phonon, renormalize) -> None:
    """Usage errors when the force constants lack an order the options need."""
    if fc.fc3 is None and not isotope and four_phonon == "none":
        raise click.UsageError(
            "no scattering to compute: these force constants have no third "
            "order (give --fc3 or --fcp) and --isotope is off"
        )
    if fc.fc4 is None and (four_phonon != "none" or renormalize != "none"):
        what = "--four-phonon" if four_phonon != "none" else "--renormalize"
        raise click.UsageError(
            f"{what} needs fourth-order force constants: give --fc4 "
            f"FORCE_CONSTANTS_4TH or an --fcp with order 4"
        )
    if bubble_of(renormalize) != "none" and fc.fc3 is None:
        raise click.UsageError(
            f"--renormalize {renormalize} needs third-order force constants "
            "(--fc3 or an --fcp with order 3)"
        )

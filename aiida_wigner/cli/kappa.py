"""``aiida-wigner kappa``: Wigner conductivity from existing force-constant files."""

from __future__ import annotations

import json
from pathlib import Path

import click
from aiida.cmdline.params.options.multivalue import MultipleValueOption

from .root import cmd_root
from .utils import ensure_profile, format_kappa_table, input_errors

_EXISTING_FILE = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)
_NEW_FILE = click.Path(dir_okay=False, writable=True, path_type=Path)


@cmd_root.command("kappa")
@click.option("--cell", type=_EXISTING_FILE,
              help="phonopy/phono3py YAML (e.g. phono3py_params.yaml, phonopy_disp.yaml) with the "
                   "unit cell, supercell and primitive matrices.")
@click.option("--structure", type=_EXISTING_FILE,
              help="Unit cell as POSCAR or CIF (instead of --cell); needs --supercell.")
@click.option("--supercell", type=click.INT, nargs=3, default=None, metavar="N1 N2 N3",
              help="Supercell multiplicities of the force constants, with --structure.")
@click.option("--primitive-matrix", cls=MultipleValueOption, type=click.STRING, default=None,
              metavar="auto|P|F|I|A|C|R|P11 ... P33",
              help="Primitive cell w.r.t. the unit cell, as phonopy takes it: 'auto', a centring "
                   "letter, or 9 numbers (row-major); default: the one in the --cell file, else "
                   "the identity.")
@click.option("--fc2", type=_EXISTING_FILE,
              help="Harmonic force constants: phonopy FORCE_CONSTANTS or fc2.hdf5 (eV/Å²).")
@click.option("--fc3", type=_EXISTING_FILE,
              help="Third-order force constants: fc3.hdf5 or ShengBTE FORCE_CONSTANTS_3RD (eV/Å³).")
@click.option("--fc4", type=_EXISTING_FILE,
              help="Fourth-order force constants: FourPhonon FORCE_CONSTANTS_4TH (eV/Å⁴).")
@click.option("--fcp", type=_EXISTING_FILE,
              help="hiphive force-constant potential (.fcp) giving all orders it holds.")
@click.option("--mesh", type=click.IntRange(min=1), nargs=3, required=True, metavar="N1 N2 N3",
              help="Γ-centred q-point mesh.")
@click.option("--temperatures", cls=MultipleValueOption, type=click.FLOAT, default=(300.0,),
              show_default=True, metavar="T1 [T2 ...]", help="Temperatures in K.")
@click.option("--isotope/--no-isotope", default=False, show_default=True,
              help="Include isotope scattering (natural abundances).")
@click.option("--smearing", type=click.Choice(["gaussian", "adaptive"]), default="gaussian",
              show_default=True,
              help="Broadening of the energy conservation: fixed Gaussian width (--sigma) or "
                   "adaptive, mode-dependent widths (--scale).")
@click.option("--sigma", type=click.FLOAT, default=None,
              help="Gaussian width in THz for --smearing gaussian [default: 0.1].")
@click.option("--scale", type=click.FLOAT, default=None,
              help="Scale factor of the adaptive widths for --smearing adaptive [default: 1.0].")
@click.option("--convention", type=click.Choice(["aiida-wigner", "phono3py"]),
              default="aiida-wigner", show_default=True,
              help="Split of degenerate pairs between κ_P and κ_C; 'phono3py' reproduces phono3py's "
                   "SMM19 split for term-by-term comparison.")
@click.option("--frequency-bins", type=click.IntRange(min=1), default=None,
              help="Number of frequency bins of the spectral κ(ω) and κ_C(ω, ω') [default: 100].")
@click.option("--output", "-o", type=_NEW_FILE, default=None,
              help="Write the summary (temperatures, kappa_P, kappa_C, kappa in W/(m K), node "
                   "UUID) to this JSON file.")
@click.option("--modes", type=_NEW_FILE, default=None,
              help="Write the mode-resolved data (frequencies, linewidths, velocities, heat "
                   "capacities, ...) to this HDF5 file.")
@click.pass_context
def cmd_kappa(ctx, cell, structure, supercell, primitive_matrix, fc2, fc3, fc4, fcp, mesh,
              temperatures, isotope, smearing, sigma, scale, convention, frequency_bins, output,
              modes):
    """Compute κ_P, κ_C and κ = κ_P + κ_C from existing force constants.

    The force constants are stored as a node and the `wigner.kappa` calcfunction runs on them,
    so the result lands in the AiiDA provenance graph.  Example:

    \b
        aiida-wigner kappa --cell phono3py_params.yaml --fc2 fc2.hdf5 --fc3 fc3.hdf5 \\
            --mesh 10 10 10 --temperatures 100 300 700 --isotope --sigma 0.1 \\
            --output result.json --modes modes.h5

    Units: THz, K, W/(m K).
    """
    from aiida import orm

    from aiida_wigner.calculations.kappa import compute_kappa_calcfunction, result_from_nodes
    from aiida_wigner.data.force_constants import ForceConstantsData
    from aiida_wigner.physics.kappa import KappaSettings

    _check_inputs(cell, structure, supercell, fc2, fc3, fcp, smearing, sigma, scale)

    kwargs = {"mesh": tuple(mesh), "temperatures": tuple(temperatures), "isotope": isotope,
              "smearing": smearing, "convention": convention}
    for key, value in (("sigma", sigma), ("scale", scale), ("frequency_bins", frequency_bins)):
        if value is not None:
            kwargs[key] = value
    try:
        settings = KappaSettings(**kwargs)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc

    files = {"cell": cell, "structure": structure, "fc2": fc2, "fc3": fc3, "fc4": fc4, "fcp": fcp,
             "supercell": tuple(supercell) if supercell else None,
             "primitive_matrix": _primitive_matrix(primitive_matrix)}
    with input_errors("reading the force constants"):
        fc = _load(**{key: value for key, value in files.items() if value is not None})
    if fc.fc3 is None and not isotope:
        raise click.UsageError("no scattering to compute: these force constants have no third "
                               "order (give --fc3 or --fcp) and --isotope is off")
    settings = KappaSettings(**{**settings.as_dict(), "three_phonon": fc.fc3 is not None})

    ensure_profile(ctx)
    node = ForceConstantsData.from_force_constants(fc)
    node.label = node.formula
    node.description = "; ".join(f"{key}: {value}" for key, value in node.source.items())
    node.store()

    with input_errors("computing the thermal conductivity"):
        outputs, process = compute_kappa_calcfunction.run_get_node(
            force_constants=node, settings=orm.Dict(settings.as_dict()))
    if not process.is_finished_ok:
        raise click.ClickException(f"the kappa calculation <{process.pk}> failed with exit status "
                                   f"{process.exit_status}: {process.exit_message}")

    # Numbers for the table and the files come from the ArrayData outputs (bit-exact); the
    # summary Dict holds the same values, but its JSON storage may round the last digit.
    result = result_from_nodes(process.inputs.settings, outputs["kappa"], outputs["modes"])
    record = result.summary()
    click.echo(f"Thermal conductivity, W/(m K)   [calculation pk={process.pk}, "
               f"force constants pk={node.pk}]")
    click.echo(format_kappa_table(record["temperatures"], record["kappa_P"],
                                  record["kappa_C"], record["kappa"]))

    if output is not None:
        record["field_units"] = outputs["summary"].get_dict().get("field_units", {})
        record["node"] = outputs["summary"].uuid
        record["process"] = process.uuid
        output.write_text(json.dumps(record, indent=2) + "\n")
        click.echo(f"Wrote {output}")
    if modes is not None:
        result.write_modes(modes)
        click.echo(f"Wrote {modes}")

def _check_inputs(cell, structure, supercell, fc2, fc3, fcp, smearing, sigma, scale) -> None:
    """Usage errors that can be found before reading any file."""
    if cell is not None and structure is not None:
        raise click.UsageError("--cell and --structure both give the crystal: use only one "
                               "(--cell phono3py_params.yaml, or --structure POSCAR --supercell "
                               "N1 N2 N3)")
    if cell is None and structure is None and fcp is None:
        raise click.UsageError("give the crystal: --cell phono3py_params.yaml (phonopy/phono3py "
                               "YAML), or --structure POSCAR|file.cif with --supercell N1 N2 N3")
    if structure is not None and not supercell:
        raise click.BadParameter("--structure needs the supercell of the force constants: add "
                                 "--supercell N1 N2 N3 (e.g. --supercell 2 2 2)",
                                 param_hint="'--supercell'")
    if fc2 is None and fcp is None:
        raise click.UsageError("give the harmonic force constants with --fc2 (fc2.hdf5 or "
                               "FORCE_CONSTANTS) or --fcp (hiphive potential)")
    if smearing == "adaptive" and sigma is not None:
        raise click.BadParameter("--sigma sets the fixed Gaussian width and cannot be used with "
                                 "--smearing adaptive; use --scale for adaptive widths, or "
                                 "--smearing gaussian", param_hint="'--sigma'")
    if smearing == "gaussian" and scale is not None:
        raise click.BadParameter("--scale applies to --smearing adaptive only; use --sigma (THz) "
                                 "for Gaussian smearing", param_hint="'--scale'")


def _primitive_matrix(values):
    """``--primitive-matrix`` as load_force_constants takes it: None, a keyword or 3x3 floats."""
    if not values:
        return None
    if len(values) == 1 and values[0].lower() in ("auto", "p", "f", "i", "a", "c", "r"):
        return "auto" if values[0].lower() == "auto" else values[0].upper()
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        numbers = []
    if len(numbers) != 9:
        raise click.BadParameter(f"expected 'auto', a centring letter (P, F, I, A, C, R) or 9 "
                                 f"numbers, got {' '.join(values)!r}",
                                 param_hint="'--primitive-matrix'")
    return [numbers[i:i + 3] for i in (0, 3, 6)]


def _load(**kwargs):
    """Read the force-constant files with :func:`aiida_wigner.physics.io.load_force_constants`."""
    from aiida_wigner.physics.io import load_force_constants

    return load_force_constants(**kwargs)

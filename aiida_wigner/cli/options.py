"""Options shared by the commands that read force-constant files (``kappa``, ``renormalize``).

:data:`FORCE_CONSTANT_FILES` decorates a command with the crystal and force-constant
file options; :func:`read_files` checks their combination and reads them with
:func:`aiida_wigner.physics.io.load_force_constants`; :func:`store_force_constants` puts
the model in the provenance graph as a ``ForceConstantsData``.
"""

from __future__ import annotations

from pathlib import Path

import click
from aiida.cmdline.params.options.multivalue import MultipleValueOption

from .utils import input_errors

EXISTING_FILE = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)
NEW_FILE = click.Path(dir_okay=False, writable=True, path_type=Path)

_OPTIONS = [
    click.option("--cell", type=EXISTING_FILE,
                 help="phonopy/phono3py YAML (e.g. phono3py_params.yaml, phonopy_disp.yaml) with "
                      "the unit cell, supercell and primitive matrices."),
    click.option("--structure", type=EXISTING_FILE,
                 help="Unit cell as POSCAR or CIF (instead of --cell); needs --supercell."),
    click.option("--supercell", type=click.INT, nargs=3, default=None, metavar="N1 N2 N3",
                 help="Supercell multiplicities of the force constants, with --structure."),
    click.option("--primitive-matrix", cls=MultipleValueOption, type=click.STRING, default=None,
                 metavar="auto|P|F|I|A|C|R|P11 ... P33",
                 help="Primitive cell w.r.t. the unit cell, as phonopy takes it: 'auto', a "
                      "centring letter, or 9 numbers (row-major); default: the one in the --cell "
                      "file, else the identity."),
    click.option("--fc2", type=EXISTING_FILE,
                 help="Harmonic force constants: phonopy FORCE_CONSTANTS or fc2.hdf5 (eV/Å²)."),
    click.option("--fc3", type=EXISTING_FILE,
                 help="Third-order force constants: fc3.hdf5 or ShengBTE FORCE_CONSTANTS_3RD "
                      "(eV/Å³)."),
    click.option("--fc4", type=EXISTING_FILE,
                 help="Fourth-order force constants: FourPhonon FORCE_CONSTANTS_4TH (eV/Å⁴)."),
    click.option("--fcp", type=EXISTING_FILE,
                 help="hiphive force-constant potential (.fcp) giving all orders it holds."),
]


def force_constant_files(command):
    """Decorator adding the crystal (--cell | --structure --supercell, --primitive-matrix)
    and force-constant file options (--fc2, --fc3, --fc4, --fcp)."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def check_crystal_inputs(cell, structure, supercell, fc2, fcp) -> None:
    """Usage errors of the crystal and FC2 options that can be found before reading any file."""
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


def file_arguments(cell, structure, supercell, primitive_matrix, fc2, fc3, fc4, fcp) -> dict:
    """The keyword arguments of ``load_force_constants`` for the given options (None left out)."""
    files = {"cell": cell, "structure": structure, "fc2": fc2, "fc3": fc3, "fc4": fc4, "fcp": fcp,
             "supercell": tuple(supercell) if supercell else None,
             "primitive_matrix": parse_primitive_matrix(primitive_matrix)}
    return {key: value for key, value in files.items() if value is not None}


def load_files(**kwargs):
    """Read the force-constant files with :func:`aiida_wigner.physics.io.load_force_constants`."""
    from aiida_wigner.physics.io import load_force_constants

    return load_force_constants(**kwargs)


def store_force_constants(fc):
    """Store ``fc`` as a ``ForceConstantsData`` node labelled with its formula."""
    from aiida_wigner.data.force_constants import ForceConstantsData

    node = ForceConstantsData.from_force_constants(fc)
    node.label = node.formula
    node.description = "; ".join(f"{key}: {value}" for key, value in node.source.items())
    return node.store()


def parse_primitive_matrix(values):
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


_SCP_OPTIONS = [
    click.option("--diagonal-only", is_flag=True,
                 help="SCP: keep only the diagonal loop self-energy in the harmonic basis (no "
                      "off-diagonal polarization mixing)."),
    click.option("--classical", is_flag=True,
                 help="SCP: classical statistics (k_B T/ω²) instead of Bose-Einstein."),
    click.option("--mixing", type=click.FloatRange(min=0, min_open=True, max=1), default=0.5,
                 show_default=True, help="SCP: mixing parameter of ΔD between iterations."),
    click.option("--tolerance", type=click.FloatRange(min=0, min_open=True), default=1e-5,
                 show_default=True, help="SCP: convergence threshold on the frequencies, THz."),
    click.option("--max-iterations", type=click.IntRange(min=1), default=300, show_default=True,
                 help="SCP: maximum iterations per temperature."),
    click.option("--frequency-floor", type=click.FloatRange(min=0), default=0.0,
                 show_default=True,
                 help="SCP: lower bound (THz) of |ν| used for imaginary modes in the weights."),
    click.option("--bubble-epsilon", type=click.FloatRange(min=0, min_open=True), default=0.05,
                 show_default=True, help="Bubble: the ε of Eq. 4, THz."),
]


def scp_solver_options(command):
    """Decorator adding the SCP solver options shared by ``renormalize`` and ``kappa``."""
    for option in reversed(_SCP_OPTIONS):
        command = option(command)
    return command


def scp_settings(mesh, inner_mesh, temperatures, bubble, diagonal_only, classical, mixing,
                 tolerance, max_iterations, frequency_floor, bubble_epsilon) -> dict:
    """The settings ``Dict`` of ``wigner.renormalize`` for the command-line options."""
    return {"mesh": list(mesh), "inner_mesh": list(inner_mesh),
            "temperatures": [float(t) for t in temperatures], "off_diagonal": not diagonal_only,
            "classical": classical, "mixing": mixing, "tolerance": tolerance,
            "max_iterations": max_iterations, "frequency_floor": frequency_floor,
            "bubble": bubble, "bubble_epsilon": bubble_epsilon}


def run_renormalization(node, settings: dict):
    """Run ``wigner.renormalize`` on a stored force-constant node; (outputs, process).

    A failed process becomes a ``ClickException`` with its exit status and message.
    """
    from aiida import orm

    from aiida_wigner.calculations.renormalize import renormalize_calcfunction

    with input_errors("renormalizing the phonons"):
        outputs, process = renormalize_calcfunction.run_get_node(
            force_constants=node, settings=orm.Dict(settings))
    if not process.is_finished_ok:
        raise click.ClickException(f"the renormalization <{process.pk}> failed with exit status "
                                   f"{process.exit_status}: {process.exit_message}")
    return outputs, process


def format_convergence(summary: dict) -> str:
    """One line per temperature: converged or not, iterations, residual, lowest frequency."""
    lines = []
    for i, t in enumerate(summary["temperatures"]):
        lowest = min(min(row) for row in summary["frequencies"][i])
        state = "converged" if summary["converged"][i] else "NOT CONVERGED"
        lines.append(f"  {t:8.2f} K  {state:13s}  {summary['iterations'][i]:4d} iterations  "
                     f"residual {summary['residual'][i]:.2e} THz  lowest frequency "
                     f"{lowest:.4f} THz")
    return "\n".join(lines)

"""Click parameter types and options shared by the commands.

* paths: :data:`STRUCTURE_FILE` (read by ASE), :data:`NEW_FILE` / :data:`NEW_DIR` (outputs,
  checked before anything runs), :data:`EXISTING_FILE`;
* temperatures: :func:`temperatures_option` (values and START:STOP:STEP ranges, K);
* force-constant files (``kappa``, ``renormalize``): :func:`force_constant_files` decorates a
  command with the crystal and force-constant file options, :func:`check_crystal_inputs`
  checks their combination, :func:`file_arguments` and :func:`load_files` read them with
  :func:`aiida_wigner.physics.io.load_force_constants`, :func:`store_force_constants` puts
  the model in the provenance graph as a ``ForceConstantsData``;
* renormalization: :data:`BUBBLE_CHOICES`, :data:`RENORMALIZE_CHOICES` (with
  :func:`renormalize_choice` for the deprecated names), :func:`scp_solver_options`,
  :func:`scp_settings`, :func:`run_renormalization`, :func:`format_convergence`.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import click
from aiida.cmdline.params.options.multivalue import MultipleValueOption

from .utils import input_errors

EXISTING_FILE = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)


class OutputPath(click.Path):
    """A file (or, with ``directory=True``, a directory) the command will write.

    Checked when the command line is parsed, before anything runs: an existing path must be
    of the right kind and writable; a new one needs an existing parent directory in which a
    file can be created (tried with an anonymous temporary file, so read-only file systems
    and missing permissions are caught too).
    """

    def __init__(self, directory: bool = False):
        super().__init__(file_okay=not directory, dir_okay=directory, writable=True, path_type=Path)

    def convert(self, value, param, ctx):
        path = super().convert(value, param, ctx)
        if path.exists():
            return path
        parent = path.absolute().parent
        if not parent.is_dir():
            self.fail(
                f"cannot write {path}: the directory {parent} does not exist; create it "
                f"first or choose another path",
                param,
                ctx,
            )
        try:
            with tempfile.TemporaryFile(dir=parent):
                pass
        except OSError as exc:
            self.fail(
                f"cannot write {path}: no files can be created in {parent} "
                f"({exc.strerror}); choose another path",
                param,
                ctx,
            )
        return path


class StructureFile(click.Path):
    """A crystal structure file (CIF, POSCAR, ... anything ase reads), converted to
    ``ase.Atoms`` by :func:`aiida_wigner.physics.io.structure.read_atoms` when the command
    line is parsed: unreadable files, unknown elements, partially occupied or mixed sites
    are usage errors before anything runs."""

    def __init__(self):
        super().__init__(exists=True, dir_okay=False, readable=True, path_type=Path)

    def convert(self, value, param, ctx):
        from aiida_wigner.physics.io.errors import ForceConstantsFileError
        from aiida_wigner.physics.io.structure import read_atoms

        path = super().convert(value, param, ctx)
        try:
            return read_atoms(path)
        except ForceConstantsFileError as exc:
            self.fail(str(exc), param, ctx)


#: STRUCTURE of ``fit``, ``--structure`` of ``pes``: an ordered crystal read by ase
STRUCTURE_FILE = StructureFile()

#: ``--output``, ``--modes``, ``--plot``: a file the command writes
NEW_FILE = OutputPath()
#: ``--write-fc2``: a directory the command creates (its parent must exist) or fills
NEW_DIR = OutputPath(directory=True)

_NUMBER_LIKE = re.compile(r"^-\.?\d")


class TemperatureList(click.ParamType):
    """Temperatures in K: numbers and ranges ``START:STOP:STEP`` (STOP included when it lies
    on the grid), e.g. ``100 300 500`` or ``100:700:100``; every value must be >= 0."""

    name = "temperatures"

    def get_metavar(self, param, ctx=None):
        return "T1 [T2 ...] | START:STOP:STEP"

    def convert(self, value, param, ctx):
        tokens = (value,) if isinstance(value, (str, int, float)) else tuple(value)
        temperatures = []
        for token in tokens:
            temperatures.extend(self._expand(token, param, ctx))
        return tuple(temperatures)

    def _number(self, text, token, param, ctx) -> float:
        try:
            number = float(text)
        except ValueError:
            self.fail(
                f"{token!r} is not a temperature in K nor a range START:STOP:STEP (e.g. "
                f"100:700:100)",
                param,
                ctx,
            )
        if not number >= 0:  # also NaN
            self.fail(
                f"temperature {text} K is negative: temperatures must be non-negative, in K",
                param,
                ctx,
            )
        if number == float("inf"):
            self.fail(f"temperature {text} K is not finite", param, ctx)
        return number

    def _expand(self, token, param, ctx) -> list[float]:
        token = str(token).strip()
        parts = token.split(":")
        if len(parts) == 1:
            return [self._number(token, token, param, ctx)]
        if len(parts) != 3:
            self.fail(f"{token!r}: a range is START:STOP:STEP in K, e.g. 100:700:100", param, ctx)
        start, stop, step = (self._number(p, token, param, ctx) for p in parts)
        if step <= 0 or stop < start:
            self.fail(
                f"{token!r}: a range START:STOP:STEP needs STEP > 0 and STOP >= START", param, ctx
            )
        count = int((stop - start) / step * (1 + 1e-12) + 1e-9) + 1
        return [start + i * step for i in range(count)]


class TemperaturesOption(click.Option):
    """An option taking every following value up to the next option, negative numbers
    included (so that ``--temperatures 300 -100`` reports the negative temperature instead of
    an unknown option ``-1``).  ``--`` ends the list."""

    def add_to_parser(self, parser, ctx):
        super().add_to_parser(parser, ctx)
        for name in self.opts:
            option = parser._long_opt.get(name) or parser._short_opt.get(name)
            if option is not None:
                break
        original = option.process

        def process(value, state):
            values = [value]
            while (
                state.rargs
                and state.rargs[0] != "--"
                and (not state.rargs[0].startswith("-") or _NUMBER_LIKE.match(state.rargs[0]))
            ):
                values.append(state.rargs.pop(0))
            original(tuple(values), state)

        option.process = process


def temperatures_option(default=(300.0,), **kwargs):
    """The ``--temperatures`` option (K; values and START:STOP:STEP ranges, see
    :class:`TemperatureList`); ``kwargs`` go to ``click.option`` (e.g. another help)."""
    kwargs.setdefault(
        "help",
        "Temperatures in K: values and/or ranges START:STOP:STEP (STOP "
        "included), e.g. 100 300 or 100:700:100.",
    )
    return click.option(
        "--temperatures",
        cls=TemperaturesOption,
        type=TemperatureList(),
        default=default,
        show_default=default is not None,
        **kwargs,
    )


#: ``--temperatures`` of ``kappa``, ``renormalize`` (default 300 K)
TEMPERATURES = temperatures_option()

_OPTIONS = [
    click.option(
        "--cell",
        type=EXISTING_FILE,
        help="phonopy/phono3py YAML (e.g. phono3py_params.yaml, phonopy_disp.yaml) with "
        "the unit cell, supercell and primitive matrices.",
    ),
    click.option(
        "--structure",
        type=EXISTING_FILE,
        help="Unit cell as POSCAR or CIF (instead of --cell); needs --supercell.",
    ),
    click.option(
        "--supercell",
        type=click.INT,
        nargs=3,
        default=None,
        metavar="N1 N2 N3",
        help="Supercell multiplicities of the force constants, with --structure.",
    ),
    click.option(
        "--primitive-matrix",
        cls=MultipleValueOption,
        type=click.STRING,
        default=None,
        metavar="auto|P|F|I|A|C|R|P11 ... P33",
        help="Primitive cell w.r.t. the unit cell, as phonopy takes it: 'auto', a "
        "centring letter, or 9 numbers (row-major); default: the one in the --cell "
        "file, else the identity.",
    ),
    click.option(
        "--fc2",
        type=EXISTING_FILE,
        help="Harmonic force constants: phonopy FORCE_CONSTANTS or fc2.hdf5 (eV/Å²).",
    ),
    click.option(
        "--fc3",
        type=EXISTING_FILE,
        help="Third-order force constants: fc3.hdf5 or ShengBTE FORCE_CONSTANTS_3RD (eV/Å³).",
    ),
    click.option(
        "--fc4",
        type=EXISTING_FILE,
        help="Fourth-order force constants: FourPhonon FORCE_CONSTANTS_4TH (eV/Å⁴).",
    ),
    click.option(
        "--fcp",
        type=EXISTING_FILE,
        help="hiphive force-constant potential (.fcp) giving all orders it holds; or "
        "ALAMODE force constants (FCSXML .xml, or alm's .fcs with its .xml beside "
        "it or --structure SUPERCELL --supercell 1 1 1).",
    ),
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
        raise click.UsageError(
            "--cell and --structure both give the crystal: use only one "
            "(--cell phono3py_params.yaml, or --structure POSCAR --supercell "
            "N1 N2 N3)"
        )
    if cell is None and structure is None and fcp is None:
        raise click.UsageError(
            "give the crystal: --cell phono3py_params.yaml (phonopy/phono3py "
            "YAML), or --structure POSCAR|file.cif with --supercell N1 N2 N3"
        )
    if structure is not None and not supercell:
        raise click.BadParameter(
            "--structure needs the supercell of the force constants: add "
            "--supercell N1 N2 N3 (e.g. --supercell 2 2 2)",
            param_hint="'--supercell'",
        )
    if fc2 is None and fcp is None:
        raise click.UsageError(
            "give the harmonic force constants with --fc2 (fc2.hdf5 or "
            "FORCE_CONSTANTS) or --fcp (hiphive potential)"
        )


def file_arguments(cell, structure, supercell, primitive_matrix, fc2, fc3, fc4, fcp) -> dict:
    """The keyword arguments of ``load_force_constants`` for the given options (None left out)."""
    files = {
        "cell": cell,
        "structure": structure,
        "fc2": fc2,
        "fc3": fc3,
        "fc4": fc4,
        "fcp": fcp,
        "supercell": tuple(supercell) if supercell else None,
        "primitive_matrix": parse_primitive_matrix(primitive_matrix),
    }
    return {key: value for key, value in files.items() if value is not None}


def load_files(**kwargs):
    """Read the force-constant files with :func:`aiida_wigner.physics.io.load_force_constants`."""
    from aiida_wigner.physics.io import load_force_constants

    return load_force_constants(**kwargs)


def store_force_constants(fc):
    """``fc`` as a stored ``ForceConstantsData`` labelled with its formula: the node already
    stored with the same arrays (content hash) if there is one, else a new node."""
    from aiida_wigner.data.force_constants import ForceConstantsData

    description = "; ".join(f"{key}: {value}" for key, value in fc.source.items())
    return ForceConstantsData.get_or_create(fc, description=description)[0]


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
        raise click.BadParameter(
            f"expected 'auto', a centring letter (P, F, I, A, C, R) or 9 "
            f"numbers, got {' '.join(values)!r}",
            param_hint="'--primitive-matrix'",
        )
    return [numbers[i : i + 3] for i in (0, 3, 6)]


_SCP_OPTIONS = [
    click.option(
        "--diagonal-only",
        is_flag=True,
        help="SCP: keep only the diagonal loop self-energy in the harmonic basis (no "
        "off-diagonal polarization mixing).",
    ),
    click.option(
        "--classical",
        is_flag=True,
        help="SCP: classical statistics (k_B T/ω²) instead of Bose-Einstein.",
    ),
    click.option(
        "--mixing",
        type=click.FloatRange(min=0, min_open=True, max=1),
        default=0.5,
        show_default=True,
        help="SCP: mixing parameter of ΔD between iterations.",
    ),
    click.option(
        "--tolerance",
        type=click.FloatRange(min=0, min_open=True),
        default=1e-5,
        show_default=True,
        help="SCP: convergence threshold on the frequencies, THz.",
    ),
    click.option(
        "--max-iterations",
        type=click.IntRange(min=1),
        default=300,
        show_default=True,
        help="SCP: maximum iterations per temperature.",
    ),
    click.option(
        "--frequency-floor",
        type=click.FloatRange(min=0),
        default=0.0,
        show_default=True,
        help="SCP: lower bound (THz) of |ν| used for imaginary modes in the weights.",
    ),
    click.option(
        "--bubble-epsilon",
        type=click.FloatRange(min=0, min_open=True),
        default=0.05,
        show_default=True,
        help="Bubble: the ε of Eq. 4, THz.",
    ),
]


#: ``renormalize --bubble`` values (``aiida_wigner.physics.renormalization.BUBBLE_CHOICES``,
#: written out so that the command line starts without the physics; a test keeps them equal).
BUBBLE_CHOICES = ("none", "static", "onshell", "qp")
#: ``kappa --renormalize`` values: harmonic phonons, or the kind of the renormalized ones
#: (``aiida_wigner.physics.renormalization.RENORMALIZATION_KINDS``, the stored ``kind``).
RENORMALIZE_CHOICES = ("none", "scp") + tuple(f"scpb-{kind}" for kind in BUBBLE_CHOICES[1:])
#: Older ``--renormalize`` names, still accepted with a note: old name -> current name.
DEPRECATED_RENORMALIZE = {"loop": "scp", "loop+bubble": "scpb-qp"}


def renormalize_choice(_ctx, _param, value: str) -> str:
    """Click callback of ``--renormalize``: map a deprecated name to the current one."""
    if value in DEPRECATED_RENORMALIZE:
        current = DEPRECATED_RENORMALIZE[value]
        click.echo(
            f"Note: --renormalize {value} is deprecated; use --renormalize {current}", err=True
        )
        return current
    return value


def bubble_of(renormalize: str) -> str:
    """The ``bubble`` setting of a ``--renormalize`` value other than ``none``."""
    return renormalize.removeprefix("scpb-") if renormalize.startswith("scpb-") else "none"


def scp_solver_options(command):
    """Decorator adding the SCP solver options shared by ``renormalize`` and ``kappa``."""
    for option in reversed(_SCP_OPTIONS):
        command = option(command)
    return command


def scp_settings(
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
) -> dict:
    """The settings ``Dict`` of ``wigner.renormalize`` for the command-line options."""
    return {
        "mesh": list(mesh),
        "inner_mesh": list(inner_mesh),
        "temperatures": [float(t) for t in temperatures],
        "off_diagonal": not diagonal_only,
        "classical": classical,
        "mixing": mixing,
        "tolerance": tolerance,
        "max_iterations": max_iterations,
        "frequency_floor": frequency_floor,
        "bubble": bubble,
        "bubble_epsilon": bubble_epsilon,
    }


def run_renormalization(node, settings: dict):
    """Run ``wigner.renormalize`` on a stored force-constant node; (outputs, process).

    A failed process becomes a ``ClickException`` with its exit status and message.
    """
    from aiida import orm

    from aiida_wigner.calculations.renormalize import renormalize_calcfunction

    with input_errors("renormalizing the phonons"):
        outputs, process = renormalize_calcfunction.run_get_node(
            force_constants=node, settings=orm.Dict(settings)
        )
    if not process.is_finished_ok:
        raise click.ClickException(
            f"the renormalization <{process.pk}> failed with exit status "
            f"{process.exit_status}: {process.exit_message}"
        )
    return outputs, process


def format_convergence(summary: dict) -> str:
    """One line per temperature: converged or not, iterations, residual, lowest frequency."""
    lines = []
    for i, t in enumerate(summary["temperatures"]):
        lowest = min(min(row) for row in summary["frequencies"][i])
        state = "converged" if summary["converged"][i] else "NOT CONVERGED"
        lines.append(
            f"  {t:8.2f} K  {state:13s}  {summary['iterations'][i]:4d} iterations  "
            f"residual {summary['residual'][i]:.2e} THz  lowest frequency "
            f"{lowest:.4f} THz"
        )
    return "\n".join(lines)

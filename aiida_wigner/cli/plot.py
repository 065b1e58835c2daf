"""``aiida-wigner plot``: figures of a finished run (κ vs T, dispersions, linewidths, spectra)."""

from __future__ import annotations

import click
import numpy as np

from .options import NEW_FILE
from .root import cmd_root
from .runs import load_run
from .utils import ensure_profile, input_errors

KINDS = ("kappa-vs-T", "dispersion", "linewidths", "spectral", "cumulative", "kappa-c-map")
AXES = {"xx": 0, "yy": 1, "zz": 2}


@cmd_root.command("plot")
@click.argument("identifier", metavar="PK")
@click.option("--kind", type=click.Choice(KINDS), required=True,
              help="kappa-vs-T: κ_P, κ_C, κ (xx, zz) versus T; dispersion: harmonic and "
                   "renormalized bands along the high-symmetry path; linewidths: γ versus ν; "
                   "spectral / cumulative: κ_P(ν), κ_C(ν); kappa-c-map: κ_C over (ν, ν').")
@click.option("--output", "-o", type=NEW_FILE, required=True,
              help="Image file to write (format from the extension, e.g. kappa.png).")
@click.option("--temperature", type=click.FLOAT, default=None,
              help="Only this temperature (K), one of the run's [default: all; kappa-c-map: the "
                   "lowest].")
@click.option("--direction", type=click.Choice(["xx", "yy", "zz", "avg"]), default="avg",
              show_default=True,
              help="Component of the spectral, cumulative and κ_C-map plots (avg = trace/3).")
@click.option("--npoints", type=click.IntRange(min=10), default=200, show_default=True,
              help="dispersion: number of q-points along the path.")
@click.pass_context
def cmd_plot(ctx, identifier, kind, output, temperature, direction, npoints):
    """Plot a finished conductivity workflow or kappa calculation (its PK or UUID).

    \b
        aiida-wigner plot 42 --kind kappa-vs-T -o kappa.png
        aiida-wigner plot 42 --kind kappa-c-map --temperature 300 --direction zz -o map.png

    Needs matplotlib (and ase for dispersions): pip install aiida-wigner[plot].
    Units: K, THz, W/(m K).
    """
    _require_plot_extra(kind)
    from aiida_wigner import plotting

    ensure_profile(ctx)
    with input_errors("plot"):
        run = load_run(identifier)
        temperatures = run.kappa.get_array("temperatures")
        picked = _pick_temperatures(temperatures, temperature, kind)
        fig = FIGURES[kind](run, picked, direction, npoints, _title(run))
    with input_errors(f"writing {output}"):
        plotting.save(fig, output)
    click.echo(f"Wrote {output}")


def _require_plot_extra(kind: str) -> None:
    """A one-line error naming the extra when matplotlib (or ase for dispersions) is missing."""
    modules = ("matplotlib", "ase") if kind == "dispersion" else ("matplotlib",)
    for module in modules:
        try:
            __import__(module)
        except ImportError as exc:
            raise click.ClickException(f"`plot --kind {kind}` needs {module}: pip install "
                                       f"'aiida-wigner[plot]'") from exc


def _pick_temperatures(temperatures, wanted, kind) -> np.ndarray:
    """Indices of the temperatures to plot; ValueError naming the run's temperatures."""
    if wanted is None:
        if kind == "kappa-c-map":
            return np.array([int(np.argmin(temperatures))])
        return np.arange(len(temperatures))
    hits = np.nonzero(np.isclose(temperatures, wanted, rtol=0, atol=1e-6))[0]
    if not len(hits):
        raise ValueError(f"--temperature {wanted:g} K is not one of the run's temperatures "
                         f"({', '.join(f'{t:g}' for t in temperatures)} K)")
    return hits[:1]


def _title(run) -> str:
    ren = run.renormalization
    phonons = "harmonic" if ren is None else ren.base.attributes.get("kind")
    return f"{run.force_constants.formula}, {run.kind} <{run.node.pk}>, {phonons} phonons"


def _component(values, direction: str) -> np.ndarray:
    """The xx, yy, zz component (last axis) of a spectral array, or their mean (avg)."""
    values = np.asarray(values)
    return values.mean(axis=-1) if direction == "avg" else values[..., AXES[direction]]


def _spectra(run, picked):
    """Bin edges (T, bins + 1) THz and the spectra arrays of ``modes`` at the picked T."""
    from aiida_wigner.calculations.kappa import SPECTRA_PREFIX

    modes = run.modes
    n_t = len(run.kappa.get_array("temperatures"))

    def get(name):
        return modes.get_array(SPECTRA_PREFIX + name)

    edges = get("frequency_bin_edges")
    edges = np.broadcast_to(edges, (n_t, edges.shape[-1]))
    return edges[picked], get


def _plot_kappa(run, picked, direction, npoints, title):
    from aiida_wigner import plotting

    kappa = run.kappa
    tensors = {name: kappa.get_array(name)[picked] for name in ("kappa_P", "kappa_C", "kappa")}
    return plotting.kappa_vs_temperature(kappa.get_array("temperatures")[picked], tensors,
                                         title)


def dispersion_data(run, picked, npoints: int):
    """(band path, harmonic (n, B) THz, {T: renormalized (n, B) THz}) of a run along the
    high-symmetry path; renormalized bands only when the run used renormalized phonons."""
    from aiida_wigner.calculations.renormalize import renormalization_from_node
    from aiida_wigner.physics.bandpath import band_path
    from aiida_wigner.physics.harmonic import solve

    fc = run.force_constants.get_force_constants()
    path = band_path(fc.primitive, npoints)
    renormalized = {}
    if run.renormalization is not None:
        temperatures = run.kappa.get_array("temperatures")[picked]
        models = renormalization_from_node(run.renormalization).models(fc, temperatures)
        renormalized = {float(t): model.phonons(path.qpoints).frequencies
                        for t, model in zip(temperatures, models)}
    return path, solve(fc, path.qpoints).frequencies, renormalized


def _plot_dispersion(run, picked, direction, npoints, title):
    from aiida_wigner import plotting

    return plotting.dispersion(*dispersion_data(run, picked, npoints), title)


def _plot_linewidths(run, picked, direction, npoints, title):
    from aiida_wigner import plotting

    modes = run.modes
    freqs = modes.get_array("frequency")
    if freqs.ndim == 3:  # renormalized phonons: one set per temperature
        freqs = freqs[picked]
    return plotting.linewidths(freqs, modes.get_array("gamma")[picked],
                               run.kappa.get_array("temperatures")[picked], title)


def _plot_spectral(run, picked, direction, npoints, title, name="spectral"):
    from aiida_wigner import plotting

    edges, get = _spectra(run, picked)
    draw = plotting.spectral if name == "spectral" else plotting.cumulative
    return draw(edges, _component(get(f"kappa_P_{name}")[picked], direction),
                _component(get(f"kappa_C_{name}")[picked], direction),
                run.kappa.get_array("temperatures")[picked], direction, title)


def _plot_cumulative(run, picked, direction, npoints, title):
    return _plot_spectral(run, picked, direction, npoints, title, name="cumulative")


def _plot_map(run, picked, direction, npoints, title):
    from aiida_wigner import plotting

    edges, get = _spectra(run, picked)
    t = run.kappa.get_array("temperatures")[picked[0]]
    values = _component(get("kappa_C_map")[picked[0]], direction)
    label = plotting.component_label(direction)
    return plotting.kappa_c_map(edges[0], values, f"{title}\n" + rf"$\kappa_C$ {label}, {t:g} K, "
                                f"sum {values.sum():.4g} W/(m K)")


FIGURES = {"kappa-vs-T": _plot_kappa, "dispersion": _plot_dispersion,
           "linewidths": _plot_linewidths, "spectral": _plot_spectral,
           "cumulative": _plot_cumulative, "kappa-c-map": _plot_map}

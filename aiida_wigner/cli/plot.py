"""``aiida-wigner plot``: figures of a finished run (κ vs T, dispersions, linewidths, spectra)."""

from __future__ import annotations

import click
import numpy as np

from .options import NEW_FILE
from .root import cmd_root
from .runs import load_run
from .utils import ensure_profile, input_errors

KINDS = (
    "kappa-vs-T",
    "dispersion",
    "linewidths",
    "spectral",
    "cumulative",
    "kappa-c-map",
    "pr",
    "apr",
    "velocities",
    "lifetimes",
    "lorentzian-map",
    "velocity-map",
    "msd",
    "mode-removal",
)
#: Kinds that need the band path (ase).
PATH_KINDS = (
    "dispersion",
    "pr",
    "apr",
    "velocities",
    "lifetimes",
    "lorentzian-map",
    "velocity-map",
)
#: Kinds drawn at one temperature (the lowest unless --temperature is given).
ONE_TEMPERATURE = (
    "kappa-c-map",
    "pr",
    "apr",
    "velocities",
    "lorentzian-map",
    "velocity-map",
    "mode-removal",
)
AXES = {"xx": 0, "yy": 1, "zz": 2}


@cmd_root.command("plot")
@click.argument("identifier", metavar="PK")
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    required=True,
    help="kappa-vs-T: κ_P, κ_C, κ (xx, zz) versus T; dispersion: harmonic and "
    "renormalized bands along the high-symmetry path; linewidths: γ versus ν; "
    "spectral / cumulative: κ_P(ν), κ_C(ν); kappa-c-map: κ_C over (ν, ν'); "
    "pr / apr / velocities: bands coloured by the participation ratio, the APR "
    "of each species, |v| (or --direction); lifetimes: τ and mean free paths "
    "with the Wigner and Ioffe–Regel limits; lorentzian-map: Γ/((Δν)² + Γ²) with "
    "the run's κ_C pairs; velocity-map: interband |v_jj'| over (ν, ν'); "
    "msd: mean-square displacements per atom vs T; "
    "mode-removal: κ_P with modes switched off in the 3ph sums. The analysis "
    "kinds store their wigner.analysis / wigner.mode_removal nodes on first use "
    "(docs/analysis.md).",
)
@click.option(
    "--output",
    "-o",
    type=NEW_FILE,
    required=True,
    help="Image file to write (format from the extension, e.g. kappa.png).",
)
@click.option(
    "--temperature",
    type=click.FLOAT,
    default=None,
    help="Only this temperature (K), one of the run's [default: all; kappa-c-map: the lowest].",
)
@click.option(
    "--direction",
    type=click.Choice(["xx", "yy", "zz", "avg"]),
    default="avg",
    show_default=True,
    help="Component of the spectral, cumulative, κ_C-map and lorentzian-map plots "
    "(avg = trace/3); velocities, velocity-map: |v_x|, |v_y|, |v_z| "
    "(avg = |v|, resp. trace/3 of |v|²).",
)
@click.option(
    "--npoints",
    type=click.IntRange(min=10),
    default=200,
    show_default=True,
    help="dispersion, pr, apr, velocities: number of q-points along the path.",
)
@click.option(
    "--window",
    type=(float, float),
    multiple=True,
    metavar="LO HI",
    help="mode-removal: switch off the modes with LO <= ν < HI (THz); repeatable.",
)
@click.option(
    "--species",
    multiple=True,
    metavar="ELEMENT",
    help="mode-removal: switch off the modes whose largest APR is this element's "
    "(with --window: both); repeatable. Without --window/--species: the stored "
    "removals of the run, or one per species. Each new removal costs one "
    "three-phonon calculation per temperature.",
)
@click.pass_context
def cmd_plot(ctx, identifier, kind, output, temperature, direction, npoints, window, species):
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
    modules = ("matplotlib", "ase") if kind in PATH_KINDS else ("matplotlib",)
    for module in modules:
        try:
            __import__(module)
        except ImportError as exc:
            raise click.ClickException(
                f"`plot --kind {kind}` needs {module}: pip install 'aiida-wigner[plot]'"
            ) from exc


def _pick_temperatures(temperatures, wanted, kind) -> np.ndarray:
    """Indices of the temperatures to plot; ValueError naming the run's temperatures."""
    if wanted is None:
        if kind in ONE_TEMPERATURE:
            return np.array([int(np.argmin(temperatures))])
        return np.arange(len(temperatures))
    hits = np.nonzero(np.isclose(temperatures, wanted, rtol=0, atol=1e-6))[0]
    if not len(hits):
        raise ValueError(
            f"--temperature {wanted:g} K is not one of the run's temperatures "
            f"({', '.join(f'{t:g}' for t in temperatures)} K)"
        )
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
    names = ("kappa_P", "kappa_C", "kappa")
    tensors = {name: kappa.get_array(name)[picked] for name in names}
    std = None
    if run.kind == "workflow" and "kappa_ensemble" in run.node.outputs:
        ensemble = run.node.outputs.kappa_ensemble
        std = {name: ensemble.get_array(f"{name}_std")[picked] for name in names}
    return plotting.kappa_vs_temperature(
        kappa.get_array("temperatures")[picked], tensors, title, std=std
    )


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
        renormalized = {
            float(t): model.phonons(path.qpoints).frequencies
            for t, model in zip(temperatures, models, strict=True)
        }
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
    return plotting.linewidths(
        freqs, modes.get_array("gamma")[picked], run.kappa.get_array("temperatures")[picked], title
    )


def _plot_spectral(run, picked, direction, npoints, title, name="spectral"):
    from aiida_wigner import plotting

    edges, get = _spectra(run, picked)
    draw = plotting.spectral if name == "spectral" else plotting.cumulative
    return draw(
        edges,
        _component(get(f"kappa_P_{name}")[picked], direction),
        _component(get(f"kappa_C_{name}")[picked], direction),
        run.kappa.get_array("temperatures")[picked],
        direction,
        title,
    )


def _plot_cumulative(run, picked, direction, npoints, title):
    return _plot_spectral(run, picked, direction, npoints, title, name="cumulative")


def _plot_map(run, picked, direction, npoints, title):
    from aiida_wigner import plotting

    edges, get = _spectra(run, picked)
    t = run.kappa.get_array("temperatures")[picked[0]]
    values = _component(get("kappa_C_map")[picked[0]], direction)
    label = plotting.component_label(direction)
    return plotting.kappa_c_map(
        edges[0],
        values,
        f"{title}\n" + rf"$\kappa_C$ {label}, {t:g} K, "
        f"sum {values.sum():.4g} W/(m K)",
    )


def _consumers(run, label: str):
    """Finished-ok processes named ``label`` that took this run's ``modes``, newest first."""
    links = run.modes.base.links.get_outgoing(link_label_filter="modes").all()
    found = [
        link.node
        for link in links
        if getattr(link.node, "process_label", None) == label and link.node.is_finished_ok
    ]
    return sorted(found, key=lambda node: node.pk, reverse=True)


def _analysis(run, npoints: int):
    """The ``wigner.analysis`` of this run with ``npoints`` path points: the stored one, or
    computed now (and stored) on first use."""
    from aiida import orm

    from aiida_wigner.calculations.analysis import analysis_calcfunction, analysis_inputs

    for process in _consumers(run, "analysis_calcfunction"):
        params = process.inputs.parameters.get_dict() if "parameters" in process.inputs else {}
        if params.get("path_points", 200) == npoints:
            return process.outputs
    _, process = analysis_calcfunction.run_get_node(
        **analysis_inputs(run.kappa_process), parameters=orm.Dict({"path_points": npoints})
    )
    if not process.is_finished_ok:
        raise ValueError(f"wigner.analysis <{process.pk}> failed: {process.exit_message}")
    return process.outputs


def _path(dispersion):
    from aiida_wigner.physics.bandpath import BandPath

    return BandPath(
        dispersion.get_array("qpoints"),
        dispersion.get_array("distances"),
        dispersion.get_array("ticks"),
        tuple(dispersion.base.attributes.get("labels")),
    )


def _plot_pr(run, picked, direction, npoints, title):
    from aiida_wigner import plotting

    disp = _analysis(run, npoints).dispersion
    i, t = picked[0], run.kappa.get_array("temperatures")[picked[0]]
    return plotting.colored_dispersion(
        _path(disp),
        disp.get_array("frequency")[i],
        disp.get_array("pr")[i],
        "Participation ratio PR (Eq. 10)",
        f"{title}\nPR, {t:g} K",
        vmin=0.0,
        vmax=1.0,
    )


def _plot_apr(run, picked, direction, npoints, title):
    from aiida_wigner import plotting

    disp = _analysis(run, npoints).dispersion
    i, t = picked[0], run.kappa.get_array("temperatures")[picked[0]]
    species = _analysis(run, npoints).participation.base.attributes.get("species")
    return plotting.species_dispersions(
        _path(disp),
        disp.get_array("frequency")[i],
        disp.get_array("apr_species")[i],
        species,
        f"{title}\nAPR per species (Eq. 11), {t:g} K",
    )


def _plot_velocities(run, picked, direction, npoints, title):
    from aiida_wigner import plotting

    disp = _analysis(run, npoints).dispersion
    i, t = picked[0], run.kappa.get_array("temperatures")[picked[0]]
    v = disp.get_array("group_velocity")[i]
    if direction == "avg":
        values, name = np.linalg.norm(v, axis=-1), "|v|"
    else:
        values, name = np.abs(v[..., AXES[direction]]), f"|v_{direction[0]}|"
    return plotting.colored_dispersion(
        _path(disp),
        disp.get_array("frequency")[i],
        values,
        f"Group velocity ${name}$ (Å/ps = 100 m/s)",
        f"{title}\ngroup velocity, {t:g} K",
        vmin=0.0,
        cmap="plasma",
    )


def _plot_lifetimes(run, picked, direction, npoints, title):
    from aiida_wigner import plotting

    life = _analysis(run, npoints).lifetimes
    return plotting.lifetimes(
        life.get_array("frequency")[picked],
        life.get_array("tau")[picked],
        life.get_array("mean_free_path")[picked],
        life.get_array("temperature")[picked],
        life.get_array("tau_wigner")[picked],
        float(life.get_array("ioffe_regel_length")),
        title,
    )


def _plot_lorentzian(run, picked, direction, npoints, title):
    from aiida_wigner import plotting

    spec = _analysis(run, npoints).spectra
    i, t = picked[0], run.kappa.get_array("temperatures")[picked[0]]
    rising = _component(spec.get_array("kappa_C_rising")[i], direction)
    falling = _component(spec.get_array("kappa_C_falling")[i], direction)
    label = plotting.component_label(direction)
    return plotting.lorentzian_map(
        spec.get_array("lorentzian_delta"),
        spec.get_array("lorentzian_gamma"),
        spec.get_array("lorentzian_weight"),
        spec.get_array("pair_delta_edges"),
        spec.get_array("pair_gamma_edges"),
        _component(spec.get_array("kappa_C_pairs")[i], direction),
        f"{title}\n{t:g} K, {label}: " + rf"$\kappa_C$ {rising:.3g} ($\Gamma < |\Delta\nu|$) + "
        rf"{falling:.3g} ($\Gamma \geq |\Delta\nu|$) W/(m K)",
    )


def _plot_velocity_map(run, picked, direction, npoints, title):
    from aiida_wigner import plotting

    spec = _analysis(run, npoints).spectra
    i, t = picked[0], run.kappa.get_array("temperatures")[picked[0]]
    return plotting.velocity_map(
        spec.get_array("frequency_bin_edges")[i],
        _component(spec.get_array("velocity_map")[i], direction),
        direction,
        f"{title}\ninterband velocities, {t:g} K",
    )


def _plot_msd(run, picked, direction, npoints, title):
    from aiida_wigner import plotting

    ren = run.renormalization
    if ren is None:
        raise ValueError(
            "--kind msd needs a run on renormalized phonons: the mean-square "
            "displacements are the `msd` of its wigner.renormalize"
        )
    symbols = run.force_constants.get_force_constants().primitive.symbols
    labels = [f"{s}{k + 1}" for k, s in enumerate(symbols)]
    return plotting.mean_square_displacements(
        ren.get_array("temperatures"),
        ren.get_array("msd"),
        labels,
        f"{title}\nmsd of renormalization <{ren.pk}>",
    )


def _removals(run, windows, species):
    """The ``wigner.mode_removal`` outputs asked for (stored ones reused, others computed)."""
    from aiida import orm

    from aiida_wigner.calculations.analysis import analysis_inputs, mode_removal_calcfunction

    stored = {
        _removal_key(p.inputs.removal.get_dict()): p
        for p in _consumers(run, "mode_removal_calcfunction")
    }
    wanted = [
        dict(w, **s)
        for w in ([{"window": list(w)} for w in windows] or [{}])
        for s in ([{"species": e} for e in species] or [{}])
    ]
    wanted = [w for w in wanted if w] or [p.inputs.removal.get_dict() for p in stored.values()]
    if not wanted:  # nothing asked, nothing stored: the modes dominated by each species
        symbols = run.force_constants.get_force_constants().primitive.symbols
        wanted = [{"species": e} for e in dict.fromkeys(symbols)]
    out = []
    for removal in wanted:
        process = stored.get(_removal_key(removal))
        if process is None:
            _, process = mode_removal_calcfunction.run_get_node(
                **analysis_inputs(run.kappa_process), removal=orm.Dict(removal)
            )
            if not process.is_finished_ok:
                raise ValueError(
                    f"wigner.mode_removal <{process.pk}> failed: {process.exit_message}"
                )
        out.append((removal, process.outputs.mode_removal))
    return out


def _removal_key(removal: dict) -> tuple:
    window = removal.get("window")
    return (
        tuple(float(v) for v in window) if window else None,
        removal.get("species"),
        removal.get("own", "keep"),
    )


def _removal_label(removal: dict) -> str:
    parts = []
    if removal.get("window"):
        lo, hi = removal["window"]
        parts.append(f"{lo:g}–{hi:g} THz")
    if removal.get("species"):
        parts.append(f"{removal['species']}-dominated")
    return "without " + ", ".join(parts)


def _plot_removal(run, picked, direction, npoints, title):
    from aiida_wigner import plotting

    params = click.get_current_context().params
    i, t = picked[0], run.kappa.get_array("temperatures")[picked[0]]
    kappa_P = run.kappa.get_array("kappa_P")[i]
    labels, xx, zz = ["run"], [kappa_P[0, 0]], [kappa_P[2, 2]]
    for removal, node in _removals(run, params["window"], params["species"]):
        k = node.get_array("kappa_P")[i]
        labels.append(_removal_label(removal))
        xx.append(k[0, 0])
        zz.append(k[2, 2])
    return plotting.mode_removal(
        labels, xx, zz, t, f"{title}\nmodes switched off in the three-phonon sums"
    )


FIGURES = {
    "kappa-vs-T": _plot_kappa,
    "dispersion": _plot_dispersion,
    "linewidths": _plot_linewidths,
    "spectral": _plot_spectral,
    "cumulative": _plot_cumulative,
    "kappa-c-map": _plot_map,
}
FIGURES.update(
    {
        "pr": _plot_pr,
        "apr": _plot_apr,
        "velocities": _plot_velocities,
        "lifetimes": _plot_lifetimes,
        "lorentzian-map": _plot_lorentzian,
        "velocity-map": _plot_velocity_map,
        "msd": _plot_msd,
        "mode-removal": _plot_removal,
    }
)

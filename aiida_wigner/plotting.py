"""Figures of a conductivity run (matplotlib, headless): plain arrays in, a ``Figure`` out.

No physics and no AiiDA here: ``aiida-wigner plot`` gathers the arrays from the provenance
graph and the physics layer.  Figures are made with ``matplotlib.figure.Figure`` (Agg canvas),
so no display and no pyplot state are involved.  Units: K, THz (ordinary frequency ν), half
widths γ in THz, W/(m K).

Needs matplotlib (``pip install aiida-wigner[plot]``).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "kappa_vs_temperature",
    "dispersion",
    "linewidths",
    "spectral",
    "cumulative",
    "kappa_c_map",
    "component_label",
    "save",
    "colored_dispersion",
    "species_dispersions",
    "lifetimes",
    "lorentzian_map",
    "mean_square_displacements",
    "mode_removal",
    "velocity_map",
]

KAPPA_LABELS = (
    ("kappa_P", r"$\kappa_P$", "tab:blue"),
    ("kappa_C", r"$\kappa_C$", "tab:orange"),
    ("kappa", r"$\kappa = \kappa_P + \kappa_C$", "black"),
)


def _figure(width: float = 7.0, height: float = 4.8):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120, layout="constrained")
    return fig, fig.add_subplot()


def _temperature_colors(n: int):
    from matplotlib import colormaps

    cmap = colormaps["plasma"]
    return [cmap(0.1 + 0.75 * i / max(n - 1, 1)) for i in range(n)]


def save(fig, path) -> None:
    """Write ``fig`` to ``path`` (format from the extension, e.g. .png)."""
    fig.savefig(path)


def kappa_vs_temperature(temperatures, tensors: dict, title: str = "", std: dict | None = None):
    """Plot κ_P, κ_C and κ (xx solid, zz dashed) versus T.

    tensors : {"kappa_P": (T, 3, 3), "kappa_C": ..., "kappa": ...} in W/(m K).
    std : the same keys, the standard deviations over a fit ensemble's members (W/(m K)),
        drawn as error bars; None: no error bars.
    """
    fig, ax = _figure()
    t = np.asarray(temperatures, dtype=float)
    marker = "o" if len(t) < 12 else None
    for key, label, color in KAPPA_LABELS:
        k = np.asarray(tensors[key])
        for a, axis, style in ((0, "xx", "-"), (2, "zz", "--")):
            err = None if std is None else np.asarray(std[key])[:, a, a]
            ax.errorbar(
                t,
                k[:, a, a],
                yerr=err,
                fmt=style,
                color=color,
                marker=marker,
                capsize=3,
                label=f"{label} {axis}",
            )
    ax.set_xlabel("Temperature (K)")
    ax.set_ylabel(r"Thermal conductivity (W m$^{-1}$ K$^{-1}$)")
    if np.all(np.asarray(tensors["kappa_C"])[:, [0, 2], [0, 2]] > 0):
        ax.set_yscale("log")
    ax.legend(ncols=3, fontsize="small")
    ax.grid(alpha=0.3)
    ax.set_title(title + ("" if std is None else "\n(error bars: σ over the fit ensemble)"))
    return fig


def _path_segments(distances):
    """Index ranges of the continuous pieces of a band path (it jumps where x repeats)."""
    breaks = np.nonzero(np.diff(distances) == 0)[0] + 1
    edges = [0, *breaks.tolist(), len(distances)]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def dispersion(path, harmonic, renormalized: dict, title: str = ""):
    """Harmonic (thick grey) and renormalized (one colour per T) bands along a band path.

    path : an object with ``distances`` (n,), ``ticks``, ``labels`` (see
        :class:`aiida_wigner.physics.bandpath.BandPath`); harmonic : (n, B) THz;
    renormalized : {temperature K: (n, B) THz}; negative frequencies are imaginary modes.
    """
    fig, ax = _figure()
    x = np.asarray(path.distances)
    pieces = _path_segments(x)
    curves = [("harmonic", np.asarray(harmonic), "0.55", 2.2)]
    colors = _temperature_colors(len(renormalized))
    curves += [
        (f"{t:g} K", np.asarray(f), c, 1.0)
        for (t, f), c in zip(sorted(renormalized.items()), colors, strict=True)
    ]
    for label, freqs, color, width in curves:
        for k, piece in enumerate(pieces):
            ax.plot(x[piece], freqs[piece], color=color, lw=width, label=label if k == 0 else None)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), fontsize="small")
    ax.set_xticks(path.ticks, path.labels)
    for tick in path.ticks:
        ax.axvline(tick, color="0.7", lw=0.6)
    ax.axhline(0.0, color="0.7", lw=0.6)
    ax.set_xlim(x[0], x[-1])
    ax.set_ylabel("Frequency (THz)")
    ax.set_title(title)
    return fig


def linewidths(frequencies, gamma, temperatures, title: str = ""):
    """Linewidths γ (half width, THz, log scale) versus ν (THz), one colour per T.

    frequencies : (Q, B) or (T, Q, B) THz; gamma : (T, Q, B) THz.  Modes with γ = 0 (acoustic
    modes at Γ) are left out of the log plot.
    """
    fig, ax = _figure()
    gamma = np.asarray(gamma)
    freqs = np.broadcast_to(np.asarray(frequencies), gamma.shape)
    colors = _temperature_colors(len(temperatures))
    for i, (t, color) in enumerate(zip(temperatures, colors, strict=True)):
        keep = gamma[i] > 0
        ax.scatter(
            freqs[i][keep],
            gamma[i][keep],
            s=8,
            color=color,
            label=f"{t:g} K",
            alpha=0.8,
            edgecolors="none",
        )
    ax.set_yscale("log")
    ax.set_xlabel("Frequency (THz)")
    ax.set_ylabel(r"Linewidth $\gamma$ (half width, THz)")
    ax.legend(fontsize="small", markerscale=2)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    return fig


def _centres(edges):
    edges = np.asarray(edges)
    return 0.5 * (edges[..., 1:] + edges[..., :-1])


def spectral(edges, kappa_P, kappa_C, temperatures, component: str, title: str = ""):
    """Spectral κ_P(ν) (solid) and κ_C(ν) (dashed), W/(m K THz), one colour per T.

    edges : (T, bins + 1) bin edges in THz; kappa_P, kappa_C : (T, bins), one component.
    """
    return _per_temperature_curves(
        _centres(edges),
        {"P": kappa_P, "C": kappa_C},
        temperatures,
        rf"Spectral $\kappa(\nu)$, {component_label(component)} "
        r"(W m$^{-1}$ K$^{-1}$ THz$^{-1}$)",
        title,
    )


def cumulative(edges, kappa_P, kappa_C, temperatures, component: str, title: str = ""):
    """Cumulative κ_P(ν), κ_C(ν) and κ(ν) (W/(m K)) up to ν, one colour per T.

    edges : (T, bins + 1) bin edges in THz; kappa_P, kappa_C : (T, bins), one component;
    the value at the upper edge of a bin includes that bin.
    """
    upper = np.asarray(edges)[..., 1:]
    curves = {"P": kappa_P, "C": kappa_C, "": np.asarray(kappa_P) + np.asarray(kappa_C)}
    return _per_temperature_curves(
        upper,
        curves,
        temperatures,
        rf"Cumulative $\kappa$, {component_label(component)} "
        r"(W m$^{-1}$ K$^{-1}$)",
        title,
    )


def component_label(component: str) -> str:
    """Axis text of a tensor component: "xx", "yy", "zz" or "trace/3" for "avg"."""
    return "trace/3" if component == "avg" else component


def _per_temperature_curves(x, curves: dict, temperatures, ylabel: str, title: str):
    fig, ax = _figure()
    styles = {"P": "-", "C": "--", "": ":"}
    colors = _temperature_colors(len(temperatures))
    for i, (t, color) in enumerate(zip(temperatures, colors, strict=True)):
        for key, values in curves.items():
            name = r"$\kappa$" if not key else rf"$\kappa_{key}$"
            ax.plot(x[i], np.asarray(values)[i], styles[key], color=color, label=f"{name}, {t:g} K")
    ax.set_xlabel("Frequency (THz)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small", ncols=len(curves))
    ax.grid(alpha=0.3)
    ax.set_title(title)
    return fig


def kappa_c_map(edges, values, title: str = ""):
    """Plot the (ν, ν') map of κ_C pair contributions (W/(m K) per bin, log colours).

    edges : (bins + 1,) THz; values : (bins, bins), one component, symmetric.  Bins below
    1e-4 of the largest entry are left white.
    """
    from matplotlib.colors import LogNorm

    fig, ax = _figure(6.2, 5.2)
    values = np.asarray(values, dtype=float)
    top = values.max()
    if top > 0:
        shown = np.ma.masked_less_equal(values, top * 1e-4)
        mesh = ax.pcolormesh(
            edges, edges, shown.T, norm=LogNorm(top * 1e-4, top), cmap="viridis", shading="flat"
        )
        fig.colorbar(mesh, ax=ax, label=r"$\kappa_C$ per bin pair (W m$^{-1}$ K$^{-1}$)")
    else:
        ax.text(0.5, 0.5, "no coherence contribution", ha="center", transform=ax.transAxes)
    ax.set_xlabel(r"Frequency $\nu$ (THz)")
    ax.set_ylabel(r"Frequency $\nu'$ (THz)")
    ax.set_aspect("equal")
    ax.set_title(title)
    return fig


def _colored_bands(ax, path, frequencies, values, cmap, norm, label: str, fig):
    """Bands along ``path`` coloured by ``values`` (n, B), with a colour bar ``label``."""
    from matplotlib.collections import LineCollection

    x = np.asarray(path.distances)
    freqs, values = np.asarray(frequencies), np.asarray(values)
    for piece in _path_segments(x):
        xs, f, v = x[piece], freqs[piece], values[piece]
        for b in range(f.shape[1]):
            points = np.column_stack([xs, f[:, b]])
            segments = np.stack([points[:-1], points[1:]], axis=1)
            lines = LineCollection(segments, cmap=cmap, norm=norm, linewidths=2.0)
            lines.set_array(0.5 * (v[:-1, b] + v[1:, b]))
            ax.add_collection(lines)
    ax.set_xticks(path.ticks, path.labels)
    for tick in path.ticks:
        ax.axvline(tick, color="0.7", lw=0.6)
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(min(0.0, freqs.min()), freqs.max() * 1.03)
    ax.set_ylabel("Frequency (THz)")
    fig.colorbar(lines, ax=ax, label=label)


def colored_dispersion(
    path, frequencies, values, label: str, title: str = "", vmin=None, vmax=None, cmap="viridis"
):
    """Bands along a path coloured by one value per mode (PR, |v_z|, ...).

    path : ``distances``, ``ticks``, ``labels`` (:class:`aiida_wigner.physics.bandpath.BandPath`);
    frequencies, values : (n, B), THz and the colour quantity (its name and units in ``label``).
    """
    from matplotlib.colors import Normalize

    fig, ax = _figure()
    norm = Normalize(
        np.min(values) if vmin is None else vmin, np.max(values) if vmax is None else vmax
    )
    _colored_bands(ax, path, frequencies, values, cmap, norm, label, fig)
    ax.set_title(title)
    return fig


def species_dispersions(path, frequencies, apr_species, species, title: str = ""):
    """One panel per species: bands coloured by that species' APR (seed Eq. 11, Fig. 3b–d).

    frequencies (n, B) THz; apr_species (n, B, S); species (S,) names.  Common colour scale.
    """
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    n = len(species)
    fig = Figure(figsize=(4.2 * n, 4.6), dpi=120, layout="constrained")
    norm = Normalize(0.0, float(np.max(apr_species)))
    for i, name in enumerate(species):
        ax = fig.add_subplot(1, n, i + 1)
        _colored_bands(
            ax,
            path,
            frequencies,
            np.asarray(apr_species)[..., i],
            "magma_r",
            norm,
            f"APR of {name}",
            fig,
        )
        ax.set_title(name)
    fig.suptitle(title)
    return fig


def lifetimes(
    frequencies, tau, mean_free_path, temperatures, tau_wigner, ioffe_regel_length, title: str = ""
):
    """Lifetimes τ (ps) and mean free paths (Å) versus ν, one colour per T (seed Fig. 4c).

    Lines: the Wigner limit τ_W = 3N_at/ω_max (dashed, per T), the Ioffe–Regel limit in time
    τ = 1/ω (dotted) and in space λ = a (dotted).  frequencies, tau, mean_free_path (T, Q, B);
    tau_wigner (T,) ps; ioffe_regel_length Å.  Modes without a lifetime are left out, and
    from the mean free paths those at rest by symmetry (λ below 1e-6 of the largest).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11.0, 4.6), dpi=120, layout="constrained")
    ax_t, ax_l = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    freqs = np.asarray(frequencies)
    colors = _temperature_colors(len(temperatures))
    for i, (t, color) in enumerate(zip(temperatures, colors, strict=True)):
        keep = np.isfinite(tau[i]) & (freqs[i] > 0)
        ax_t.scatter(
            freqs[i][keep],
            tau[i][keep],
            s=8,
            color=color,
            edgecolors="none",
            alpha=0.8,
            label=f"{t:g} K",
        )
        ax_t.axhline(tau_wigner[i], color=color, ls="--", lw=1.0)
        moving = keep & (mean_free_path[i] > 1e-6 * np.nanmax(mean_free_path[i]))
        ax_l.scatter(
            freqs[i][moving],
            mean_free_path[i][moving],
            s=8,
            color=color,
            edgecolors="none",
            alpha=0.8,
            label=f"{t:g} K",
        )
    top = float(np.nanmax(freqs))
    nu = np.linspace(top * 1e-3, top * 1.02, 300)
    ax_t.plot(
        nu, 1.0 / (2 * np.pi * nu), ":", color="tab:green", label=r"Ioffe–Regel $\tau = 1/\omega$"
    )
    ax_t.plot([], [], "--", color="0.3", label=r"Wigner limit $\tau_W = 3N_{at}/\omega_{max}$")
    ax_l.axhline(
        ioffe_regel_length,
        ls=":",
        color="tab:green",
        label=rf"Ioffe–Regel $\lambda = a$ = {ioffe_regel_length:.2f} Å",
    )
    for ax, ylabel in ((ax_t, "Lifetime τ (ps)"), (ax_l, "Mean free path |v|τ (Å)")):
        ax.set_yscale("log")
        ax.set_xlim(0, top * 1.02)
        ax.set_xlabel("Frequency (THz)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", markerscale=2)
    fig.suptitle(title)
    return fig


def lorentzian_map(delta, gamma_sum, weight, delta_edges, gamma_edges, pairs, title: str = ""):
    """Plot the Lorentzian weight Γ/((Δν)² + Γ²) and where the run's κ_C pairs lie (Fig. 6).

    Colours: the weight in 1/THz, with the line Γ = |Δν| of its maximum; white contours:
    κ_C per bin.

    delta, gamma_sum (n,) THz grid centres, weight (n_Γ, n_Δ); delta_edges, gamma_edges THz
    and pairs (n_Δ, n_Γ) W/(m K) per bin: one component of ``kappa_C_pairs``.
    """
    from matplotlib.colors import LogNorm

    fig, ax = _figure(6.8, 5.4)
    w = np.asarray(weight)
    shown = np.ma.masked_less_equal(w, 0)
    mesh = ax.pcolormesh(
        delta,
        gamma_sum,
        shown,
        shading="auto",
        cmap="inferno",
        norm=LogNorm(max(shown.min(), shown.max() * 1e-3), shown.max()),
    )
    fig.colorbar(mesh, ax=ax, label=r"$\Gamma/((\Delta\nu)^2 + \Gamma^2)$ (THz$^{-1}$)")
    top = min(delta[-1], gamma_sum[-1])
    ax.plot([0, top], [0, top], color="tab:purple", lw=2, label=r"$\Gamma = |\Delta\nu|$ (maximum)")
    p = np.asarray(pairs)
    if p.max() > 0:
        levels = p.max() * np.array([0.01, 0.1, 0.5])
        ax.contour(
            _centres(delta_edges),
            _centres(gamma_edges),
            p.T,
            levels=levels,
            colors="white",
            linewidths=(0.6, 1.0, 1.6),
        )
        ax.plot([], [], color="white", label=r"$\kappa_C$ pairs: 1, 10, 50 % of max bin")
    ax.set_xlabel(r"$|\Delta\nu| = |\nu_j - \nu_{j'}|$ (THz)")
    ax.set_ylabel(r"$\Gamma = \gamma_j + \gamma_{j'}$ (THz)")
    ax.legend(fontsize="small", loc="upper right", facecolor="0.5", framealpha=0.6)
    ax.set_title(title)
    return fig


def mean_square_displacements(temperatures, msd, labels, title: str = ""):
    """⟨|u_κ|²⟩ (Å²) per atom versus T (seed Fig. S4); msd (T, N), labels (N,)."""
    fig, ax = _figure()
    marker = "o" if len(temperatures) < 12 else None
    markers = "osd^v<>p*h"
    for k, label in enumerate(labels):
        ax.plot(
            temperatures,
            np.asarray(msd)[:, k],
            marker=marker and markers[k % 10],
            ls="-" if k % 2 == 0 else "--",
            label=label,
        )
    ax.set_xlabel("Temperature (K)")
    ax.set_ylabel(r"Mean-square displacement $\langle |u|^2 \rangle$ (Å$^2$)")
    ax.legend(fontsize="small", ncols=2)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    return fig


def mode_removal(labels, kappa_xx, kappa_zz, temperature, title: str = ""):
    """Plot κ_P (xx, zz; log scale) of the run and with modes switched off (seed Fig. S7).

    The modes are switched off in the three-phonon sums; labels (n,), kappa_xx, kappa_zz
    (n,) W/(m K) at one temperature.
    """
    fig, ax = _figure()
    x = np.arange(len(labels))
    for values, shift, name, color in (
        (kappa_xx, -0.2, "xx", "tab:blue"),
        (kappa_zz, 0.2, "zz", "tab:red"),
    ):
        bars = ax.bar(x + shift, values, width=0.4, color=color, label=rf"$\kappa_P$ {name}")
        ax.bar_label(bars, fmt="%.3g", fontsize="small")
    from matplotlib.ticker import ScalarFormatter

    ax.set_xticks(x, labels)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.set_ylabel(rf"$\kappa_P$ at {temperature:g} K (W m$^{{-1}}$ K$^{{-1}}$)")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3, axis="y")
    ax.set_title(title)
    return fig


def velocity_map(edges, values, component: str, title: str = ""):
    """Plot the interband velocities over (ν_j, ν_j') (seed Fig. 7).

    The rms |v^α_jj'| (Å/ps) of the pairs in each bin, log colours; edges (bins + 1,) THz,
    values (bins, bins) mean |v|² (Å/ps)² of one component (empty bins white).
    """
    from matplotlib.colors import LogNorm

    fig, ax = _figure(6.2, 5.2)
    rms = np.sqrt(np.asarray(values, dtype=float))
    top = rms.max()
    shown = np.ma.masked_less_equal(rms, top * 1e-3)
    mesh = ax.pcolormesh(
        edges, edges, shown.T, norm=LogNorm(top * 1e-3, top), cmap="cividis", shading="flat"
    )
    fig.colorbar(mesh, ax=ax, label=rf"rms $|v_{{jj'}}|$ {component_label(component)} (Å/ps)")
    ax.set_xlabel(r"Frequency $\nu_j$ (THz)")
    ax.set_ylabel(r"Frequency $\nu_{j'}$ (THz)")
    ax.set_aspect("equal")
    ax.set_title(title)
    return fig

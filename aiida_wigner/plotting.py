"""Figures of a conductivity run (matplotlib, headless): plain arrays in, a ``Figure`` out.

No physics and no AiiDA here: ``aiida-wigner plot`` gathers the arrays from the provenance
graph and the physics layer.  Figures are made with ``matplotlib.figure.Figure`` (Agg canvas),
so no display and no pyplot state are involved.  Units: K, THz (ordinary frequency ν), half
widths γ in THz, W/(m K).

Needs matplotlib (``pip install aiida-wigner[plot]``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["kappa_vs_temperature", "dispersion", "linewidths", "spectral", "cumulative",
           "kappa_c_map", "component_label", "save"]

KAPPA_LABELS = (("kappa_P", r"$\kappa_P$", "tab:blue"), ("kappa_C", r"$\kappa_C$", "tab:orange"),
                ("kappa", r"$\kappa = \kappa_P + \kappa_C$", "black"))


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


def kappa_vs_temperature(temperatures, tensors: dict, title: str = ""):
    """κ_P, κ_C and κ (xx solid, zz dashed) versus T.

    tensors : {"kappa_P": (T, 3, 3), "kappa_C": ..., "kappa": ...} in W/(m K).
    """
    fig, ax = _figure()
    t = np.asarray(temperatures, dtype=float)
    marker = "o" if len(t) < 12 else None
    for key, label, color in KAPPA_LABELS:
        k = np.asarray(tensors[key])
        for a, axis, style in ((0, "xx", "-"), (2, "zz", "--")):
            ax.plot(t, k[:, a, a], style, color=color, marker=marker, label=f"{label} {axis}")
    ax.set_xlabel("Temperature (K)")
    ax.set_ylabel(r"Thermal conductivity (W m$^{-1}$ K$^{-1}$)")
    if np.all(np.asarray(tensors["kappa_C"])[:, [0, 2], [0, 2]] > 0):
        ax.set_yscale("log")
    ax.legend(ncols=3, fontsize="small")
    ax.grid(alpha=0.3)
    ax.set_title(title)
    return fig


def _path_segments(distances):
    """Index ranges of the continuous pieces of a band path (it jumps where x repeats)."""
    breaks = np.nonzero(np.diff(distances) == 0)[0] + 1
    edges = [0, *breaks.tolist(), len(distances)]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


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
    curves += [(f"{t:g} K", np.asarray(f), c, 1.0)
               for (t, f), c in zip(sorted(renormalized.items()), colors)]
    for label, freqs, color, width in curves:
        for k, piece in enumerate(pieces):
            ax.plot(x[piece], freqs[piece], color=color, lw=width,
                    label=label if k == 0 else None)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
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
    for i, (t, color) in enumerate(zip(temperatures, _temperature_colors(len(temperatures)))):
        keep = gamma[i] > 0
        ax.scatter(freqs[i][keep], gamma[i][keep], s=8, color=color, label=f"{t:g} K",
                   alpha=0.8, edgecolors="none")
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
    return _per_temperature_curves(_centres(edges), {"P": kappa_P, "C": kappa_C}, temperatures,
                                   rf"Spectral $\kappa(\nu)$, {component_label(component)} "
                                   r"(W m$^{-1}$ K$^{-1}$ THz$^{-1}$)", title)


def cumulative(edges, kappa_P, kappa_C, temperatures, component: str, title: str = ""):
    """Cumulative κ_P(ν), κ_C(ν) and κ(ν) (W/(m K)) up to ν, one colour per T.

    edges : (T, bins + 1) bin edges in THz; kappa_P, kappa_C : (T, bins), one component;
    the value at the upper edge of a bin includes that bin.
    """
    upper = np.asarray(edges)[..., 1:]
    curves = {"P": kappa_P, "C": kappa_C, "": np.asarray(kappa_P) + np.asarray(kappa_C)}
    return _per_temperature_curves(upper, curves, temperatures,
                                   rf"Cumulative $\kappa$, {component_label(component)} "
                                   r"(W m$^{-1}$ K$^{-1}$)", title)


def component_label(component: str) -> str:
    """Axis text of a tensor component: "xx", "yy", "zz" or "trace/3" for "avg"."""
    return "trace/3" if component == "avg" else component


def _per_temperature_curves(x, curves: dict, temperatures, ylabel: str, title: str):
    fig, ax = _figure()
    styles = {"P": "-", "C": "--", "": ":"}
    for i, (t, color) in enumerate(zip(temperatures, _temperature_colors(len(temperatures)))):
        for key, values in curves.items():
            name = r"$\kappa$" if not key else rf"$\kappa_{key}$"
            ax.plot(x[i], np.asarray(values)[i], styles[key], color=color,
                    label=f"{name}, {t:g} K")
    ax.set_xlabel("Frequency (THz)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small", ncols=len(curves))
    ax.grid(alpha=0.3)
    ax.set_title(title)
    return fig


def kappa_c_map(edges, values, title: str = ""):
    """The (ν, ν') map of κ_C pair contributions (W/(m K) per bin, log colours).

    edges : (bins + 1,) THz; values : (bins, bins), one component, symmetric.  Bins below
    1e-4 of the largest entry are left white.
    """
    from matplotlib.colors import LogNorm

    fig, ax = _figure(6.2, 5.2)
    values = np.asarray(values, dtype=float)
    top = values.max()
    if top > 0:
        shown = np.ma.masked_less_equal(values, top * 1e-4)
        mesh = ax.pcolormesh(edges, edges, shown.T, norm=LogNorm(top * 1e-4, top),
                             cmap="viridis", shading="flat")
        fig.colorbar(mesh, ax=ax, label=r"$\kappa_C$ per bin pair (W m$^{-1}$ K$^{-1}$)")
    else:
        ax.text(0.5, 0.5, "no coherence contribution", ha="center", transform=ax.transAxes)
    ax.set_xlabel(r"Frequency $\nu$ (THz)")
    ax.set_ylabel(r"Frequency $\nu'$ (THz)")
    ax.set_aspect("equal")
    ax.set_title(title)
    return fig

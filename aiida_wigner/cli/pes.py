"""``aiida-wigner pes``: frozen-phonon potential-energy surface of one mode (seed Fig. 2)."""

from __future__ import annotations

import json

import click

from .options import EXISTING_FILE, NEW_FILE, STRUCTURE_FILE
from .root import cmd_root
from .utils import ensure_profile, input_errors


@cmd_root.command("pes")
@click.option(
    "--fcp",
    type=EXISTING_FILE,
    required=True,
    help="hiphive force-constant potential (.fcp), e.g. from `aiida-wigner fit`: gives "
    "the normal modes and the Taylor expansion (all its orders, up to 6).",
)
@click.option(
    "--structure",
    type=STRUCTURE_FILE,
    default=None,
    help="Unit cell (CIF, POSCAR, ...) the supercell refers to; it must be the cell the "
    "potential was fitted on (e.g. the relaxed one). Default: the potential's own "
    "primitive cell.",
)
@click.option(
    "--supercell",
    type=click.IntRange(min=1),
    nargs=3,
    required=True,
    metavar="N1 N2 N3",
    help="Supercell of the frozen-phonon scan (commensurate with q).",
)
@click.option(
    "--qpoint",
    type=click.FLOAT,
    nargs=3,
    required=True,
    metavar="Q1 Q2 Q3",
    help="q-point in reduced coordinates of the primitive reciprocal lattice, e.g. "
    "0.5 0.5 0 (M) or 0.5 0.5 0.5 (A) of a tetragonal cell.",
)
@click.option(
    "--band",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Band index at q, 0-based, sorted by frequency (0 = softest).",
)
@click.option(
    "--amplitudes",
    type=(float, float, click.IntRange(min=2)),
    default=(-2.0, 2.0, 21),
    show_default=True,
    metavar="START STOP NUM",
    help="Normal-coordinate amplitudes Q (Å·√amu): NUM values from START to STOP.",
)
@click.option(
    "--engine",
    type=click.Choice(["sevennet", "emt", "lj", "fcp"]),
    default="sevennet",
    show_default=True,
    help="Force engine for the energies: SevenNet MLIP, EMT / Lennard-Jones (tests), or "
    "the --fcp potential itself (its energies are its Taylor expansion).",
)
@click.option("--model", default=None, help="SevenNet model (default 7net-0).")
@click.option(
    "--phase",
    type=click.FLOAT,
    default=0.0,
    show_default=True,
    help="Extra phase φ (rad) of the real pattern Re[exp(iφ) e exp(iq·r)] (matters "
    "only for q ≢ −q).",
)
@click.option(
    "--plot",
    type=NEW_FILE,
    default=None,
    help="Write a PNG of E(Q): engine points, Taylor orders 2/4/6 and the Eq. 9 fit "
    "(needs matplotlib: pip install 'aiida-wigner[plot]').",
)
@click.option(
    "--output",
    "-o",
    type=NEW_FILE,
    default=None,
    help="Write amplitudes, energies, Taylor energies and coefficients to this JSON file.",
)
@click.pass_context
def cmd_pes(
    ctx, fcp, structure, supercell, qpoint, band, amplitudes, engine, model, phase, plot, output
):
    """Energy along the normal coordinate Q of one phonon mode, engine vs Taylor expansion.

    Displaces the supercell by u = Q ε/√m (ε: real, mass-weighted, unit-norm mode pattern;
    Q in Å·√amu, so that the harmonic energy is ω²Q²/2), computes the engine's energies and
    compares them with the force-constant expansion truncated at orders 2, 4, 6 and with the
    fit E(Q) = a2 Q² + a4 Q⁴ + a6 Q⁶ (seed Eq. 9).  Energies in eV per supercell relative to
    Q = 0.  Example (softest mode at M of CsCu4Se3):

    \b
        aiida-wigner pes --fcp fit.fcp --supercell 2 2 2 --qpoint 0.5 0.5 0 --band 0 \\
            --amplitudes -2 2 21 --engine sevennet --plot pes.png --output pes.json
    """
    from aiida import orm

    from aiida_wigner.calculations.pes import pes_scan, setup_for_scan
    from aiida_wigner.physics.pes import amplitude_grid, check_commensurate

    start, stop, num = amplitudes
    q_values = amplitude_grid(start, stop, num)
    with input_errors("reading the inputs"):
        from hiphive import ForceConstantPotential

        from aiida_wigner.physics.io.hiphive_format import hiphive_file_kind

        if hiphive_file_kind(fcp) != "fcp":
            raise ValueError(f"{fcp}: not a hiphive ForceConstantPotential (.fcp) file")
        potential = ForceConstantPotential.read(str(fcp))
        s_node = orm.StructureData(ase=structure) if structure is not None else None
        params = {
            "supercell": list(supercell),
            "qpoint": list(qpoint),
            "band": band,
            "amplitudes": q_values.tolist(),
            "phase": phase,
        }
        setup = setup_for_scan(s_node, params, fcp=potential)
        check_commensurate(setup, qpoint)
        if band >= 3 * setup.n_prim:
            raise ValueError(
                f"band must be below {3 * setup.n_prim} (3 × atoms of the primitive "
                f"cell), got {band}"
            )
    spec = {"name": engine}
    if model is not None:
        if engine != "sevennet":
            raise click.UsageError("--model applies to --engine sevennet only")
        spec["model"] = model

    ensure_profile(ctx)
    inputs = {
        "parameters": orm.Dict(params),
        "calculator": orm.Dict(spec),
        "fcp": orm.SinglefileData(str(fcp.resolve())),
    }
    if s_node is not None:
        inputs["structure"] = s_node
    outputs, process = pes_scan.run_get_node(**inputs)
    if not process.is_finished_ok:
        raise click.ClickException(
            f"the PES scan <{process.pk}> failed with exit status "
            f"{process.exit_status}: {process.exit_message}"
        )
    node = outputs["pes"]
    record = node_summary(node)
    record["node"] = node.uuid
    record["process"] = process.uuid
    click.echo(format_pes_report(record, process.pk))
    if output is not None:
        output.write_text(json.dumps(record, indent=2) + "\n")
        click.echo(f"Wrote {output}")
    if plot is not None:
        with input_errors("plotting"):
            q_text = " ".join(f"{x:g}" for x in qpoint)
            plot_pes(
                record,
                plot,
                title=f"{setup.primitive.to_ase().get_chemical_formula()}, "
                f"q = ({q_text}), band {band}",
            )
        click.echo(f"Wrote {plot}")


def node_summary(node) -> dict:
    """JSON-ready record of a ``pes`` ArrayData (see aiida_wigner.calculations.pes)."""
    attrs = node.base.attributes.all
    names = node.get_arraynames()
    rec = {
        k: attrs[k]
        for k in (
            "qpoint",
            "band",
            "frequency",
            "omega2",
            "degeneracy",
            "phase",
            "n_atoms",
            "energy_reference",
            "residual_force",
            "taylor_coefficients",
            "fit_coefficients",
            "fit_rmse",
            "double_well_fit",
            "engine",
            "normalization",
            "units",
        )
    }
    rec["amplitudes"] = node.get_array("amplitudes").tolist()
    rec["energies"] = node.get_array("energies").tolist()
    rec["taylor_per_order"] = {
        n.rsplit("_", 1)[1]: node.get_array(n).tolist()
        for n in sorted(names)
        if n.startswith("taylor_order_")
    }
    rec["taylor_truncated"] = {
        n.rsplit("_", 1)[1]: node.get_array(n).tolist()
        for n in sorted(names)
        if n.startswith("taylor_truncated_")
    }
    return rec


def format_pes_report(rec: dict, pk) -> str:
    lines = [
        f"PES scan [calculation pk={pk}]: q = {rec['qpoint']}, band {rec['band']}, "
        f"ν = {rec['frequency']:.4f} THz (negative = imaginary), degeneracy "
        f"{rec['degeneracy']}, {rec['n_atoms']} atoms",
        f"  Q in Å·√amu (u = Q ε/√m, Σ|ε|² = 1); energies in meV per supercell, "
        f"relative to Q = 0; residual |F| at Q = 0: {rec['residual_force']:.2e} eV/Å",
    ]
    orders = sorted(rec["taylor_truncated"], key=int)
    head = f"  {'Q':>8} {'engine':>12} " + " ".join(f"{'Taylor≤' + k:>12}" for k in orders)
    lines.append(head)
    for i, q in enumerate(rec["amplitudes"]):
        row = f"  {q:8.3f} {1e3 * rec['energies'][i]:12.4f} "
        row += " ".join(f"{1e3 * rec['taylor_truncated'][k][i]:12.4f}" for k in orders)
        lines.append(row)
    tc = rec["taylor_coefficients"]
    fc = rec["fit_coefficients"]
    lines.append("  coefficients, eV/(Å·√amu)^n:  n   Taylor (force constants)   fit (Eq. 9)")
    for n in sorted(set(tc) | set(fc), key=int):
        t = f"{tc[n]: .6e}" if n in tc else " " * 13
        f = f"{fc[n]: .6e}" if n in fc else ""
        lines.append(f"  {'':30}{n:>3}   {t:>24}   {f}")
    lines.append(
        f"  harmonic check: ω²/2 = {rec['omega2'] / 2: .6e};  fit RMSE "
        f"{1e3 * rec['fit_rmse']:.4f} meV"
    )
    if rec.get("double_well_fit"):
        dw = rec["double_well_fit"]
        lines.append(
            f"  double well (fit): minimum at Q = ±{dw['q_min']:.3f} Å·√amu, depth "
            f"{1e3 * dw['depth']:.3f} meV per supercell"
        )
    return "\n".join(lines)


def plot_pes(rec: dict, path, title: str = "") -> None:
    """PNG of engine energies (points), Taylor truncations (lines) and the Eq. 9 fit."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ValueError("plotting needs matplotlib: pip install 'aiida-wigner[plot]'") from exc
    import numpy as np

    q = np.asarray(rec["amplitudes"])
    dense = np.linspace(q.min(), q.max(), 400)
    fig, ax = plt.subplots(figsize=(5, 4), dpi=110)
    ax.plot(q, 1e3 * np.asarray(rec["energies"]), "o", color="0.4", label="engine", zorder=3)
    colors = {"2": "tab:green", "4": "tab:cyan", "6": "tab:blue"}
    tc = {int(k): v for k, v in rec["taylor_coefficients"].items()}
    previous = 0
    for k in sorted(rec["taylor_truncated"], key=int):
        if not any(previous < n <= int(k) for n in tc):
            continue  # no new order: the same curve as the previous truncation
        previous = int(k)
        e = sum(c * dense**n for n, c in tc.items() if n <= int(k))
        ax.plot(dense, 1e3 * e, "--", color=colors.get(k, None), label=f"Taylor, orders ≤ {k}")
    fit = sum(c * dense ** int(p) for p, c in rec["fit_coefficients"].items())
    powers = sorted(rec["fit_coefficients"], key=int)
    ax.plot(
        dense,
        1e3 * fit,
        "-",
        color="tab:red",
        lw=1,
        label="fit " + " + ".join(f"a{p}Q^{p}" for p in powers),
    )
    e_all = 1e3 * np.asarray(rec["energies"])
    span = e_all.max() - e_all.min()
    ax.set_ylim(e_all.min() - 0.3 * span - 1e-6, e_all.max() + 0.3 * span + 1e-6)
    ax.set_xlabel("Q (Å·√amu)")
    ax.set_ylabel("E − E(0) (meV per supercell)")
    ax.set_title(
        f"{title}\nν = {rec['frequency']:.3f} THz (harmonic part of the potential)", fontsize=9
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

"""``WignerConductivityWorkChain`` (``wigner.conductivity``): structure → κ_P, κ_C, κ (T).

The top of the provenance graph.  Outline:

1. force constants: ``wigner.force_constants`` (relax → finite-displacement FC2 → MD +
   rattled snapshots → hiphive fit), or an existing ``ForceConstantsData`` / hiphive ``.fcp``;
2. ``wigner.renormalize`` at all temperatures (SCP, seed Eq. 1, optionally the bubble,
   Eqs. 2–4), unless the run is harmonic;
3. ``wigner.kappa`` on the renormalized phonons (3ph, 4ph, isotope; Wigner Eq. 5);
   with ``codes.linewidths`` (an ``aiida-wigner-worker`` code) map-reduce instead: the
   irreducible q-points split into ``chunks`` ``wigner.linewidths`` jobs run concurrently
   (each in ``wigner.linewidths_restart``), ``gather_linewidths``, then the κ calcfunction
   ``kappa_from_linewidths`` (same numbers as in-process, to round-off).  Sampled 4ph with
   the "kappa" allocation couples the q-points (a global pilot sets each point's samples), so
   its γ_4ph runs in one further job on all points after the 3ph + isotope chunks; with
   ``four_phonon_allocation: uniform`` (or exhaustive) γ_4ph is chunked too.
   ``codes.renormalize`` sends step 2 to the worker (``wigner.renormalize_job``),
   ``codes.fit`` the hiphive fit of step 1 (``wigner.fit_job``);
4. with a fit ensemble (``fitting.fit.parameters.ensemble`` ``{size, seed}``, or the
   ``ensemble`` input beside ``force_constants``): every bootstrap member runs through steps
   2–3 with the same settings and codes (a ``wigner.conductivity`` each), and
   ``kappa_ensemble_statistics`` gives the spread of their κ (``kappa_ensemble``);
5. ``summary``: formula, space group, engine, protocol, κ tables per temperature (with the
   members' standard deviations, ``..._std``, after step 4), versions.

Protocols: ``protocols/conductivity.yaml`` holds the ``temperatures``, ``renormalization`` and
``kappa`` inputs, ``protocols/force_constants.yaml`` the ``fitting`` ones (same protocol names).
A failing step ends the workflow with the step's own exit code (``aiida_wigner.exit_codes``)
and its message, which says what to change.  Units: K, THz, W/(m K).
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import ExitCode, ToContext, WorkChain, append_, if_

from ..calculations.conductivity import (
    force_constants_from_fcp,
    kappa_ensemble_statistics,
    summarize_conductivity,
)
from ..calculations.fitting import ensemble_members, fit_ensemble_members
from ..calculations.kappa import compute_kappa_calcfunction
from ..calculations.kappa import settings_from_dict as kappa_settings_from_dict
from ..calculations.renormalize import renormalize_calcfunction
from ..calculations.renormalize import settings_from_dict as scp_settings_from_dict
from ..data.force_constants import ForceConstantsData
from ..exit_codes import EXIT_CODES, child_exit_code, define_exit_codes
from .force_constants import ForceConstantsWorkChain
from .protocols import ProtocolMixin

#: Names of the three sources of force constants (exactly one is given).
SOURCES = ("fitting", "force_constants", "fcp")


def renormalization_kind(settings: dict | None) -> str:
    """'none' (harmonic), 'scp' or 'scpb-<bubble>' (the stored ``kind``) for a settings Dict."""
    from ..physics.renormalization import renormalization_kind as kind

    if not settings:
        return "none"
    return kind(settings.get("bubble", "none"))


def _positive(value, _ctx):
    if value is not None and not value.value > 0:
        return f"must be a positive number of seconds, got {value.value}"
    return None


def validate_inputs(inputs, _ctx):
    """Exactly one force-constant source; settings that the steps accept (before anything runs)."""
    given = [name for name in SOURCES if name in inputs and inputs[name]]
    if len(given) != 1:
        return (
            f"give exactly one source of force constants: 'fitting' (a structure to sample "
            f"and fit), 'force_constants' (a ForceConstantsData) or 'fcp' (a hiphive .fcp "
            f"with 'supercell_matrix'); got {given or 'none'}"
        )
    if given == ["fitting"] and "structure" not in inputs:
        return "the 'fitting' inputs need the 'structure' to start from"
    if given == ["fcp"] and "supercell_matrix" not in inputs:
        return "'fcp' needs 'supercell_matrix', the supercell to evaluate the potential on"
    temperatures = inputs["temperatures"].get_list()
    try:
        kappa_settings_from_dict({**inputs["kappa"].get_dict(), "temperatures": temperatures})
        if "renormalization" in inputs:
            scp_settings_from_dict(
                {**inputs["renormalization"].get_dict(), "temperatures": temperatures}
            )
    except ValueError as exc:
        return str(exc)
    return None


class WignerConductivityWorkChain(ProtocolMixin, WorkChain):
    """Structure (or force constants) → renormalized phonons → κ_P + κ_C per temperature."""

    _protocol_file = "conductivity.yaml"

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            "structure",
            valid_type=orm.StructureData,
            required=False,
            help="Unit cell to start from (with the 'fitting' inputs).",
        )
        spec.expose_inputs(
            ForceConstantsWorkChain,
            namespace="fitting",
            exclude=("structure",),
            namespace_options={
                "required": False,
                "populate_defaults": False,
                "help": "Structure → fitted force constants.",
            },
        )
        spec.input(
            "force_constants",
            valid_type=ForceConstantsData,
            required=False,
            help="Existing force constants (e.g. from `aiida-wigner fit`): skip fitting.",
        )
        spec.input(
            "fcp",
            valid_type=orm.SinglefileData,
            required=False,
            help="An existing hiphive .fcp (with supercell_matrix): skip fitting.",
        )
        spec.input(
            "supercell_matrix",
            valid_type=orm.List,
            required=False,
            help="With 'fcp': the supercell on which its force constants are evaluated.",
        )
        spec.input_namespace(
            "ensemble",
            valid_type=ForceConstantsData,
            dynamic=True,
            required=False,
            help="With 'force_constants': the bootstrap members fitted beside them (the "
            "fit's 'ensemble' outputs); each runs through the same renormalization and κ "
            "and their spread is 'kappa_ensemble'. With 'fitting' the fit's own are used.",
        )
        spec.input("temperatures", valid_type=orm.List, help="Temperatures in K.")
        spec.input(
            "renormalization",
            valid_type=orm.Dict,
            required=False,
            help="Settings of wigner.renormalize without temperatures (mesh, inner_mesh, "
            "bubble none|static|onshell|qp, off_diagonal, ...); absent: harmonic κ.",
        )
        spec.input(
            "kappa",
            valid_type=orm.Dict,
            help="Settings of wigner.kappa without temperatures (mesh, smearing, sigma, "
            "scale, isotope, four_phonon, four_phonon_samples, convention, ...).",
        )
        spec.input(
            "protocol",
            valid_type=orm.Str,
            required=False,
            help="Name of the protocol the inputs came from (recorded in the summary).",
        )
        spec.input_namespace(
            "codes",
            required=False,
            populate_defaults=False,
            help="aiida-wigner-worker codes of the heavy steps (absent: in-process).",
        )
        spec.input(
            "codes.renormalize",
            valid_type=orm.AbstractCode,
            required=False,
            help="Worker code: SCP (+ bubble) as a wigner.renormalize_job CalcJob "
            "(in wigner.renormalize_job_restart).",
        )
        spec.input(
            "codes.fit",
            valid_type=orm.AbstractCode,
            required=False,
            help="Worker code: the hiphive fit of the fitting step as a wigner.fit_job CalcJob "
            "(in wigner.fit_job_restart; the same output nodes as the calcfunction).",
        )
        spec.input(
            "codes.linewidths",
            valid_type=orm.AbstractCode,
            required=False,
            help="Worker code: the linewidths run as wigner.linewidths chunk jobs (each in "
            "wigner.linewidths_restart), κ from the gathered chunks (same numbers "
            "as in-process).",
        )
        spec.input(
            "chunks",
            valid_type=orm.Int,
            default=lambda: orm.Int(1),
            help="With codes.linewidths: number of linewidth jobs (irreducible q-points "
            "split evenly), run concurrently.",
        )
        spec.input(
            "target_chunk_walltime",
            valid_type=orm.Float,
            required=False,
            validator=_positive,
            help="With codes.linewidths: seconds each linewidth job should take; replaces "
            "chunks by the fewest chunks whose estimated time fits (seconds_per_point x "
            "points per job; docs/cluster.md §5).",
        )
        spec.input(
            "seconds_per_point",
            valid_type=orm.Float,
            required=False,
            validator=_positive,
            help="With target_chunk_walltime: measured seconds per irreducible q-point (a "
            "finished chunk's walltime / its points); default: the cost model of "
            "aiida_wigner.calculations.jobs.linewidth_seconds_per_point.",
        )
        spec.input(
            "job_options",
            valid_type=orm.Dict,
            required=False,
            help="metadata.options of every worker job (resources, "
            "max_wallclock_seconds, max_memory_kb, queue_name, ...).",
        )
        spec.inputs.validator = validate_inputs
        spec.outline(
            cls.setup,
            if_(cls.should_fit)(cls.run_fitting, cls.inspect_fitting),
            if_(cls.has_fcp)(cls.convert_fcp),
            if_(cls.should_renormalize)(cls.run_renormalization, cls.inspect_renormalization_job),
            if_(cls.has_linewidths_code)(
                cls.run_linewidth_chunks,
                cls.gather_linewidth_chunks,
                if_(cls.needs_coupled_four_phonon)(
                    cls.run_four_phonon_job, cls.inspect_four_phonon_job
                ),
                cls.run_kappa_from_linewidths,
            ).else_(cls.run_kappa),
            cls.results,
            if_(cls.has_ensemble)(cls.run_ensemble, cls.inspect_ensemble),
            cls.summarize,
        )
        spec.expose_outputs(
            ForceConstantsWorkChain, namespace="fitting", namespace_options={"required": False}
        )
        spec.output(
            "force_constants",
            valid_type=ForceConstantsData,
            help="The force constants κ was computed from (eV/Å^n).",
        )
        spec.output(
            "renormalization",
            valid_type=orm.ArrayData,
            required=False,
            help="Renormalized phonons per temperature (wigner.renormalize).",
        )
        spec.output(
            "kappa",
            valid_type=orm.ArrayData,
            help="temperatures (T,) K; kappa_P, kappa_C, kappa (T, 3, 3) W/(m K).",
        )
        spec.output(
            "modes",
            valid_type=orm.ArrayData,
            help="Mode-resolved frequencies, linewidths, velocities, spectra.",
        )
        spec.output(
            "kappa_ensemble",
            valid_type=orm.ArrayData,
            required=False,
            help="With a fit ensemble: the members' κ_P, κ_C, κ (n, T, 3, 3), their mean "
            "and standard deviation (T, 3, 3), W/(m K) (kappa_ensemble_statistics).",
        )
        spec.output(
            "summary",
            valid_type=orm.Dict,
            help="Formula, space group, engine, protocol, κ tables per T (± the ensemble's "
            "standard deviation), versions.",
        )
        define_exit_codes(spec, *EXIT_CODES)

    @classmethod
    def get_protocol_inputs(
        cls, protocol: str | None = None, overrides: dict | None = None
    ) -> dict:
        """This workchain's protocol inputs (temperatures, renormalization, kappa) and, under
        ``fitting``, those of :class:`ForceConstantsWorkChain` for the same protocol."""
        overrides = dict(overrides or {})
        fitting = overrides.pop("fitting", None)
        inputs = super().get_protocol_inputs(protocol, overrides)
        inputs["fitting"] = ForceConstantsWorkChain.get_protocol_inputs(protocol, fitting)
        return inputs

    @classmethod
    def get_builder_from_protocol(
        cls,
        structure: orm.StructureData | None = None,
        engine: str = "sevennet",
        protocol: str | None = None,
        temperatures=None,
        force_constants: ForceConstantsData | None = None,
        code=None,
        model: str | None = None,
        supercell=None,
        overrides: dict | None = None,
        ensemble: bool = True,
        **engine_options,
    ):
        """A builder filled from the protocol (default :meth:`get_default_protocol`).

        ``temperatures`` (K) replace the protocol's; ``overrides`` are shaped like the input
        ports: ``temperatures``, ``renormalization`` (``null`` makes the run harmonic),
        ``kappa``, and ``fitting`` (passed on to
        :meth:`ForceConstantsWorkChain.get_builder_from_protocol`).  With ``force_constants``
        the fitting is skipped and ``structure`` may be omitted; the bootstrap members fitted
        beside them, if any, become the ``ensemble`` input unless ``ensemble`` is False.
        Raises ``ValueError`` for an unknown protocol or settings the steps refuse.
        """
        protocol = protocol or cls.get_default_protocol()
        p = cls.get_protocol_inputs(protocol, overrides)
        builder = cls.get_builder()
        if force_constants is not None:
            builder.force_constants = force_constants
            members = fit_ensemble_members(force_constants) if ensemble else {}
            if members:
                builder.ensemble = members
            formula = force_constants.formula
        else:
            if structure is None:
                raise ValueError(
                    "give a structure to fit force constants for, or force_constants to start from"
                )
            builder.structure = structure
            fitting = ForceConstantsWorkChain.get_builder_from_protocol(
                structure,
                engine=engine,
                protocol=protocol,
                code=code,
                model=model,
                supercell=supercell,
                overrides=(overrides or {}).get("fitting"),
                **engine_options,
            )
            fitting.pop("structure", None)
            builder.fitting = fitting
            formula = structure.get_formula()
        temps = [
            float(t) for t in (temperatures if temperatures is not None else p["temperatures"])
        ]
        builder.temperatures = orm.List(temps)
        if p.get("renormalization"):
            builder.renormalization = orm.Dict(p["renormalization"])
        builder.kappa = orm.Dict(p["kappa"])
        builder.protocol = orm.Str(protocol)
        message = validate_inputs(builder._inputs(prune=True), None)
        if message:
            raise ValueError(message)
        source = "given force constants" if force_constants is not None else engine
        builder.metadata.label = f"{formula} {source} {protocol}"
        return builder

    # -- steps ---------------------------------------------------------------------------

    def setup(self):
        self.ctx.temperatures = self.inputs.temperatures.get_list()
        if "force_constants" in self.inputs:
            self.ctx.force_constants = self.inputs.force_constants

    def should_fit(self):
        return "fitting" in self.inputs and bool(self.inputs.fitting)

    def run_fitting(self):
        inputs = self.exposed_inputs(ForceConstantsWorkChain, namespace="fitting")
        inputs["structure"] = self.inputs.structure
        if "codes" in self.inputs and "fit" in self.inputs.codes:
            inputs["fit"] = {**inputs.get("fit", {}), "code": self.inputs.codes.fit}
            if "job_options" in self.inputs:
                inputs["fit"]["job_options"] = self.inputs.job_options
        running = self.submit(ForceConstantsWorkChain, **inputs)
        self.report(f"step force constants: {running.process_label} <{running.pk}>")
        return ToContext(fitting=running)

    def inspect_fitting(self):
        node = self.ctx.fitting
        self.out_many(self.exposed_outputs(node, ForceConstantsWorkChain, namespace="fitting"))
        if not node.is_finished_ok:
            return self._child_failed(node, "ERROR_FORCE_CONSTANTS_FAILED")
        self.ctx.force_constants = node.outputs.force_constants
        return None

    def has_fcp(self):
        return "fcp" in self.inputs

    def convert_fcp(self):
        self.ctx.force_constants = force_constants_from_fcp(
            self.inputs.fcp, self.inputs.supercell_matrix
        )

    def should_renormalize(self):
        return "renormalization" in self.inputs

    def run_renormalization(self):
        settings = orm.Dict(
            {**self.inputs.renormalization.get_dict(), "temperatures": self.ctx.temperatures}
        )
        self.report(
            f"step renormalization: {self._kind()} at {len(self.ctx.temperatures)} "
            f"temperatures on the {settings['mesh']} / {settings['inner_mesh']} meshes"
        )
        if "codes" in self.inputs and "renormalize" in self.inputs.codes:
            from .restart import RenormalizeRestartWorkChain

            return ToContext(
                renormalization_job=self.submit(
                    RenormalizeRestartWorkChain,
                    job={
                        "code": self.inputs.codes.renormalize,
                        "force_constants": self.ctx.force_constants,
                        "settings": settings,
                        **self._job_metadata(),
                    },
                )
            )
        outputs, node = renormalize_calcfunction.run_get_node(
            force_constants=self.ctx.force_constants, settings=settings
        )
        return self._renormalized(node, outputs)

    def inspect_renormalization_job(self):
        if "renormalization_job" in self.ctx:
            node = self.ctx.renormalization_job
            return self._renormalized(node, node.outputs)
        return None

    def _job_metadata(self) -> dict:
        """``metadata.options`` of the worker jobs (``job_options``), or nothing."""
        if "job_options" not in self.inputs:
            return {}
        return {"metadata": {"options": self.inputs.job_options.get_dict()}}

    def _renormalized(self, node, outputs):
        if not node.is_finished_ok:
            return self._child_failed(node, "ERROR_RENORMALIZATION_FAILED")
        self.ctx.renormalization = outputs["renormalization"]
        summary = outputs["summary"].get_dict()
        self.report(
            "renormalization: "
            + ", ".join(
                f"{t:g} K {'converged' if ok else 'NOT converged'} ({n} it.)"
                for t, ok, n in zip(
                    summary["temperatures"],
                    summary["converged"],
                    summary["iterations"],
                    strict=True,
                )
            )
        )
        return None

    def _kappa_settings(self) -> dict:
        settings = {**self.inputs.kappa.get_dict(), "temperatures": self.ctx.temperatures}
        settings.setdefault("three_phonon", 3 in self.ctx.force_constants.orders)
        return settings

    def run_kappa(self):
        fc = self.ctx.force_constants
        settings = self._kappa_settings()
        inputs = {"force_constants": fc, "settings": orm.Dict(settings)}
        if "renormalization" in self.ctx:
            inputs["renormalization"] = self.ctx.renormalization
        self.report(f"step kappa: mesh {settings['mesh']}, {self._scattering_text(settings)}")
        outputs, node = compute_kappa_calcfunction.run_get_node(**inputs)
        if not node.is_finished_ok:
            return self._child_failed(node, "ERROR_KAPPA_FAILED")
        self.ctx.kappa, self.ctx.kappa_settings = outputs, settings
        return None

    # -- chunked linewidths on the worker (map: chunk jobs; reduce: gather + κ calcfunction)

    def has_linewidths_code(self):
        return "codes" in self.inputs and "linewidths" in self.inputs.codes

    def needs_coupled_four_phonon(self):
        """Sampled 4ph with the "kappa" allocation spreads its samples over all q-points
        after a global pilot: its γ_4ph runs in one job after the 3ph + isotope chunks."""
        from ..physics.kappa import four_phonon_couples_points

        return four_phonon_couples_points(kappa_settings_from_dict(self.ctx.kappa_settings))

    def _linewidth_job(self, **extra):
        inputs = {
            "code": self.inputs.codes.linewidths,
            "force_constants": self.ctx.force_constants,
            "settings": orm.Dict(self.ctx.kappa_settings),
            **extra,
        }
        if "renormalization" in self.ctx:
            inputs["renormalization"] = self.ctx.renormalization
        from .restart import LinewidthsRestartWorkChain

        return self.submit(LinewidthsRestartWorkChain, job={**inputs, **self._job_metadata()})

    def run_linewidth_chunks(self):
        import numpy as np

        from ..physics.kappa import irreducible_grid_points

        self.ctx.kappa_settings = settings = self._kappa_settings()
        ir = irreducible_grid_points(
            self.ctx.force_constants.get_force_constants(), kappa_settings_from_dict(settings)
        )
        parts = ["3ph", "isotope"] + ([] if self.needs_coupled_four_phonon() else ["4ph"])
        n_chunks, sizing = self._n_chunks(len(ir), settings, "4ph" in parts)
        self.report(
            f"step kappa: mesh {settings['mesh']}, {self._scattering_text(settings)}; "
            f"{len(ir)} irreducible q-points in {n_chunks} linewidth job(s) "
            f"({'+'.join(parts)}){sizing}"
        )
        for points in np.array_split(ir, n_chunks):
            node = self._linewidth_job(
                grid_points=orm.List([int(g) for g in points]), parts=orm.List(parts)
            )
            self.to_context(linewidth_chunks=append_(node))

    def _n_chunks(self, n_points: int, settings: dict, four_phonon: bool) -> tuple[int, str]:
        """The number of linewidth jobs (``chunks``, or from ``target_chunk_walltime``) and
        the report's note on how it was chosen."""
        from ..calculations.jobs import chunks_for_walltime, linewidth_seconds_per_point

        if "target_chunk_walltime" not in self.inputs:
            return max(1, min(int(self.inputs.chunks.value), n_points)), ""
        target = self.inputs.target_chunk_walltime.value
        if "seconds_per_point" in self.inputs:
            per_point, origin = self.inputs.seconds_per_point.value, "given"
        else:
            n_branches = 3 * self.ctx.force_constants.base.attributes.get("n_atoms_primitive")
            per_point = linewidth_seconds_per_point(settings, n_branches, four_phonon)
            origin = "cost model"
        n_chunks = chunks_for_walltime(n_points, per_point, target)
        return n_chunks, (f"; {per_point:.3g} s per point ({origin}), target {target:g} s per job")

    def gather_linewidth_chunks(self):
        from ..calculations.jobs import gather_linewidths

        for node in self.ctx.linewidth_chunks:
            if not node.is_finished_ok:
                return self._child_failed(node, "ERROR_KAPPA_FAILED")
        outputs, node = gather_linewidths.run_get_node(
            **{
                f"chunk_{i:04d}": job.outputs.linewidths
                for i, job in enumerate(self.ctx.linewidth_chunks)
            }
        )
        if not node.is_finished_ok:
            return self._child_failed(node, "ERROR_KAPPA_FAILED")
        self.ctx.linewidths = outputs["linewidths"]
        return None

    def run_four_phonon_job(self):
        self.report("sampled 4ph with the 'kappa' allocation: one job for all q-points")
        return ToContext(
            four_phonon_job=self._linewidth_job(
                parts=orm.List(["4ph"]), previous=self.ctx.linewidths
            )
        )

    def inspect_four_phonon_job(self):
        node = self.ctx.four_phonon_job
        if not node.is_finished_ok:
            return self._child_failed(node, "ERROR_KAPPA_FAILED")
        self.ctx.linewidths = node.outputs.linewidths
        return None

    def run_kappa_from_linewidths(self):
        from ..calculations.jobs import kappa_from_linewidths_calcfunction

        inputs = {
            "force_constants": self.ctx.force_constants,
            "settings": orm.Dict(self.ctx.kappa_settings),
            "linewidths": self.ctx.linewidths,
        }
        if "renormalization" in self.ctx:
            inputs["renormalization"] = self.ctx.renormalization
        outputs, node = kappa_from_linewidths_calcfunction.run_get_node(**inputs)
        if not node.is_finished_ok:
            return self._child_failed(node, "ERROR_KAPPA_FAILED")
        self.ctx.kappa = outputs
        return None

    def results(self):
        """The full-data outputs, before the ensemble runs (nothing lost if one fails)."""
        self.out("force_constants", self.ctx.force_constants)
        if "renormalization" in self.ctx:
            self.out("renormalization", self.ctx.renormalization)
        self.out("kappa", self.ctx.kappa["kappa"])
        self.out("modes", self.ctx.kappa["modes"])

    # -- fit ensemble: the bootstrap members through the same steps ----------------------

    def has_ensemble(self):
        if "ensemble" in self.inputs and self.inputs.ensemble:
            self.ctx.members = dict(self.inputs.ensemble)
        elif "fitting" in self.ctx:
            self.ctx.members = ensemble_members(self.ctx.fitting)
        else:
            self.ctx.members = {}
        return bool(self.ctx.members)

    def run_ensemble(self):
        inputs = {"temperatures": self.inputs.temperatures, "kappa": self.inputs.kappa}
        for key in (
            "renormalization",
            "protocol",
            "chunks",
            "target_chunk_walltime",
            "seconds_per_point",
            "job_options",
        ):
            if key in self.inputs:
                inputs[key] = self.inputs[key]
        codes = {k: v for k, v in self.inputs.get("codes", {}).items() if k != "fit"}
        if codes:
            inputs["codes"] = codes
        self.report(
            f"step ensemble: {len(self.ctx.members)} bootstrap members through the same "
            f"renormalization and kappa"
        )
        for label, fc in self.ctx.members.items():
            node = self.submit(
                type(self),
                force_constants=fc,
                **inputs,
                metadata={"label": f"ensemble {label}", "call_link_label": f"ensemble_{label}"},
            )
            self.to_context(ensemble_runs=append_(node))

    def inspect_ensemble(self):
        """The members' spread, or (after the summary) ERROR_ENSEMBLE_FAILED."""
        runs = dict(zip(self.ctx.members, self.ctx.ensemble_runs, strict=True))
        failed = [(label, node) for label, node in runs.items() if not node.is_finished_ok]
        if failed:
            label, node = failed[0]
            self.ctx.ensemble_failure = self.exit_codes.ERROR_ENSEMBLE_FAILED.format(
                message=f"{label} <{node.pk}>: {node.exit_message or node.process_state.value}"
            )
            return
        stats = kappa_ensemble_statistics(
            **{label: node.outputs.kappa for label, node in runs.items()}
        )
        self.out("kappa_ensemble", stats)
        self.ctx.kappa_ensemble = stats

    def summarize(self):
        fc = self.ctx.force_constants
        settings = self.ctx.kappa_settings
        engine = None
        if "fitting" in self.inputs and "engine" in self.inputs.fitting:
            engine = self.inputs.fitting.engine.calculator.get("name")
        run = {
            "engine": engine,
            "protocol": self.inputs.protocol.value if "protocol" in self.inputs else None,
            "renormalization": self._kind(),
            "scattering": {
                "three_phonon": bool(settings["three_phonon"]),
                "four_phonon": settings.get("four_phonon"),
                "isotope": bool(settings.get("isotope", False)),
            },
        }
        extra = {"kappa_ensemble": self.ctx.kappa_ensemble} if "kappa_ensemble" in self.ctx else {}
        summary = summarize_conductivity(self.ctx.kappa["kappa"], fc, orm.Dict(run), **extra)
        self.out("summary", summary)
        rows = summary.get_dict()["rows"]

        def value(r, name):
            std = r.get(f"{name}_avg_std")
            return f"{r[f'{name}_avg']:.4g}" + ("" if std is None else f"±{std:.2g}")

        self.report(
            "kappa (W/(m K)): "
            + "; ".join(
                f"{r['T']:g} K: kP {value(r, 'kappa_P')} kC {value(r, 'kappa_C')} "
                f"k {value(r, 'kappa')}"
                for r in rows
            )
        )
        return self.ctx.get("ensemble_failure")

    # -- helpers -------------------------------------------------------------------------

    def _kind(self) -> str:
        if "renormalization" not in self.inputs:
            return "none"
        return renormalization_kind(self.inputs.renormalization.get_dict())

    @staticmethod
    def _scattering_text(settings: dict) -> str:
        parts = ["3ph"] if settings.get("three_phonon") else []
        if settings.get("four_phonon"):
            parts.append(f"4ph {settings['four_phonon']}")
        if settings.get("isotope"):
            parts.append("isotope")
        smearing = settings.get("smearing", "gaussian")
        width = (
            f"sigma {settings.get('sigma', 0.1)} THz"
            if smearing == "gaussian"
            else f"scale {settings.get('scale', 1.0)}"
        )
        return f"{' + '.join(parts) or 'no scattering'}, {smearing} smearing ({width})"

    def _child_failed(self, node, fallback: str) -> ExitCode:
        exit_code = child_exit_code(self, node, fallback)
        self.report(f"failed [{exit_code.status}]: {exit_code.message}")
        return exit_code

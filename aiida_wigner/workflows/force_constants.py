"""WorkChains from a structure to fitted force constants.

* :class:`HarmonicWorkChain` (``wigner.harmonic``): FC2 from phonopy's symmetry-reduced
  finite displacements (default 0.01 Å) -> ``ForceConstantsData``.
* :class:`SamplingWorkChain` (``wigner.sampling``): NVT MD of the supercell, snapshots at
  regular intervals after an equilibration period, each given a seeded random displacement
  of fixed length (default 0.1 Å), forces on each.
* :class:`FitWorkChain` (``wigner.fit``): hiphive fit up to 6th order with validation
  scores; named exit code when the validation error is above the threshold.
* :class:`ForceConstantsWorkChain` (``wigner.force_constants``): relax -> harmonic ->
  sampling -> fit, with protocols ``fast`` / ``balanced`` / ``paper``.

Units: Å, eV, eV/Å, eV/Å^n, K, fs, THz.
"""

from __future__ import annotations

import itertools

import numpy as np
from aiida import orm
from aiida.engine import ExitCode, ToContext, WorkChain, if_

from ..calculations import fitting as cf
from ..calculations import phonopy_nodes as pn
from ..calculations.jobs import WORKER_EXIT_CODES
from ..data.force_constants import ForceConstantsData
from ..exit_codes import child_exit_code, define_exit_codes, label_of
from ..fitting.hiphive_fit import FitError, cutoff_limit, supercell_cutoffs
from .engine import (
    EngineForcesWorkChain,
    EngineMdWorkChain,
    RelaxWorkChain,
    define_engine_namespace,
    engine_exit_codes,
)
from .protocols import ProtocolMixin


def _supercell_input(spec):
    spec.input(
        "supercell_matrix",
        valid_type=orm.List,
        help="Supercell matrix: 3 integers (diagonal) or 3x3 integers.",
    )
    spec.input(
        "primitive_matrix",
        valid_type=orm.List,
        required=False,
        help="Primitive matrix w.r.t. the unit cell (phonopy convention); identity if absent.",
    )


def _with_cells(workchain, params: dict) -> orm.Dict:
    """``params`` plus the supercell/primitive matrices of the workchain, as a Dict."""
    p = dict(params)
    p["supercell_matrix"] = workchain.inputs.supercell_matrix.get_list()
    if "primitive_matrix" in workchain.inputs:
        p["primitive_matrix"] = workchain.inputs.primitive_matrix.get_list()
    return orm.Dict(p)


def _child_failed(workchain, node):
    msg = node.exit_message or f"exit status {node.exit_status}"
    return workchain.exit_codes.ERROR_ENGINE_FAILED.format(
        message=f"<{node.pk}> {node.process_label}: {msg}"
    )


class HarmonicWorkChain(WorkChain):
    """Harmonic force constants from finite displacements.

    The displacement set is aiida-phonopy's ``PreProcessData`` and the forces on it its
    ``PhonopyData`` (outputs ``preprocess_data``, ``phonopy_data``), so aiida-phonopy can
    post-process them; FC2 is made from the ``PhonopyData`` by
    :func:`~aiida_wigner.calculations.phonopy_nodes.phonopy_force_constants`, the same
    calcfunction that takes a user's own aiida-phonopy node.
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        define_engine_namespace(spec)
        spec.input("structure", valid_type=orm.StructureData, help="Unit cell (relaxed).")
        _supercell_input(spec)
        spec.input(
            "parameters",
            valid_type=orm.Dict,
            default=lambda: orm.Dict({"distance": 0.01}),
            help="distance (Å), plusminus ('auto'|true|false), symprec (Å), "
            "subtract_residual_forces (bool, default true).",
        )
        spec.outline(cls.generate, cls.run_forces, cls.produce)
        spec.output("force_constants", valid_type=ForceConstantsData, help="FC2, eV/Å².")
        spec.output(
            "harmonic_dataset",
            valid_type=orm.ArrayData,
            help="displacements (m, N, 3) Å and forces (m, N, 3) eV/Å.",
        )
        spec.output(
            "frequencies",
            valid_type=orm.Dict,
            help="Frequencies (THz) at the high-symmetry points.",
        )
        spec.output("ideal_supercell", valid_type=orm.StructureData)
        spec.output(
            "preprocess_data",
            valid_type=pn.PreProcessData,
            help="aiida-phonopy PreProcessData: cells, symprec, displacement dataset (Å).",
        )
        spec.output(
            "phonopy_data",
            valid_type=pn.PhonopyData,
            help="aiida-phonopy PhonopyData: the dataset with the forces (eV/Å) and, "
            "when computed, the residual forces of the ideal supercell.",
        )
        engine_exit_codes(spec)

    def generate(self):
        self.ctx.params = _with_cells(self, self.inputs.parameters.get_dict())
        out = cf.generate_harmonic_displacements(self.inputs.structure, self.ctx.params)
        self.ctx.generated = out
        self.out("ideal_supercell", out["ideal_supercell"])
        self.out("preprocess_data", out["preprocess_data"])
        n = len(out["preprocess_data"].displacements)
        self.report(
            f"{n} symmetry-reduced displacements of {self.ctx.params.get('distance', 0.01)} Å"
        )

    def run_forces(self):
        structs = {k: v for k, v in self.ctx.generated.items() if k.startswith("supercell_")}
        if self.inputs.parameters.get("subtract_residual_forces", True):
            structs["zzz_ideal"] = self.ctx.generated["ideal_supercell"]  # sorts last
        running = self.submit(
            EngineForcesWorkChain, engine=dict(self.inputs.engine), structures=structs
        )
        return ToContext(forces=running)

    def produce(self):
        node = self.ctx.forces
        if not node.is_finished_ok:
            return _child_failed(self, node)
        data = pn.phonopy_data_from_forces(
            self.ctx.generated["preprocess_data"], node.outputs.forces
        )
        self.out("phonopy_data", data)
        out, calc = pn.phonopy_force_constants.run_get_node(
            data, self.inputs.structure, self.ctx.params
        )
        if not calc.is_finished_ok:
            return ExitCode(calc.exit_status, calc.exit_message)
        for key in ("force_constants", "harmonic_dataset", "frequencies"):
            self.out(key, out[key])
        freqs = out["frequencies"].get_dict()["points"]
        self.report(
            "harmonic frequencies (THz): "
            + "; ".join(
                f"{k}: {min(v['frequencies']):.3f}..{max(v['frequencies']):.3f}"
                for k, v in freqs.items()
            )
        )


@cf.calcfunction
def make_supercell(structure: orm.StructureData, parameters: orm.Dict):
    """The ideal supercell (phonopy atom order) of a unit cell."""
    setup = cf._setup(structure, parameters.get_dict())
    return cf._structure(setup)


class SamplingWorkChain(WorkChain):
    """MD snapshots plus seeded random displacements, with forces on each."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        define_engine_namespace(spec)
        spec.input("structure", valid_type=orm.StructureData, help="Unit cell (relaxed).")
        _supercell_input(spec)
        spec.input(
            "ideal_supercell",
            valid_type=orm.StructureData,
            required=False,
            help="Reuse this ideal supercell (e.g. from the harmonic step).",
        )
        spec.input(
            "md",
            valid_type=orm.Dict,
            help="MD parameters: temperature K, timestep fs, n_steps, interval, thermostat, seed.",
        )
        spec.input(
            "parameters",
            valid_type=orm.Dict,
            help="n_snapshots, discard_steps, amplitude (Å), seed.",
        )
        spec.outline(cls.setup_supercell, cls.run_md, cls.select, cls.run_forces, cls.results)
        spec.output("trajectory", valid_type=orm.TrajectoryData)
        spec.output(
            "displacements",
            valid_type=orm.ArrayData,
            help="displacements (m, N, 3) Å from the ideal supercell.",
        )
        spec.output("forces", valid_type=orm.ArrayData, help="forces (m, N, 3) eV/Å.")
        spec.output("ideal_supercell", valid_type=orm.StructureData)
        engine_exit_codes(spec)
        define_exit_codes(spec, "ERROR_TOO_FEW_FRAMES")

    def setup_supercell(self):
        if "ideal_supercell" in self.inputs:
            self.ctx.ideal = self.inputs.ideal_supercell
        else:
            self.ctx.ideal = make_supercell(self.inputs.structure, _with_cells(self, {}))

    def run_md(self):
        return ToContext(
            md=self.submit(
                EngineMdWorkChain,
                engine=dict(self.inputs.engine),
                structure=self.ctx.ideal,
                parameters=self.inputs.md,
            )
        )

    def select(self):
        node = self.ctx.md
        if not node.is_finished_ok:
            return _child_failed(self, node)
        self.out("trajectory", node.outputs.trajectory)
        res, sel = cf.select_training_structures.run_get_node(
            node.outputs.trajectory, self.ctx.ideal, self.inputs.parameters
        )
        if not sel.is_finished_ok:
            return self.exit_codes.ERROR_TOO_FEW_FRAMES.format(message=sel.exit_message)
        self.ctx.selected = res

    def run_forces(self):
        structs = {k: v for k, v in self.ctx.selected.items() if k.startswith("supercell_")}
        return ToContext(
            forces=self.submit(
                EngineForcesWorkChain, engine=dict(self.inputs.engine), structures=structs
            )
        )

    def results(self):
        node = self.ctx.forces
        if not node.is_finished_ok:
            return _child_failed(self, node)
        self.out("displacements", self.ctx.selected["displacements"])
        self.out("forces", node.outputs.forces)
        self.out("ideal_supercell", self.ctx.ideal)


class FitWorkChain(WorkChain):
    """hiphive fit of force constants up to 6th order with validation scores."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input("structure", valid_type=orm.StructureData, help="Unit cell.")
        _supercell_input(spec)
        spec.input("displacements", valid_type=orm.ArrayData)
        spec.input("forces", valid_type=orm.ArrayData)
        spec.input(
            "harmonic_dataset",
            valid_type=orm.ArrayData,
            required=False,
            help="Finite-displacement dataset; with harmonic='fixed' it fixes FC2.",
        )
        spec.input(
            "harmonic_force_constants",
            valid_type=ForceConstantsData,
            required=False,
            help="FC2 from the same displacements (no cutoff); with harmonic='fixed' it "
            "is the harmonic part of the fit and of force_constants.",
        )
        spec.input(
            "parameters",
            valid_type=orm.Dict,
            help="cutoffs {order: Å} (orders 2..6), method, harmonic ('fixed'|'joint'), "
            "validation, rotational_sum_rules, fit_kwargs, seed, max_rmse (eV/Å), "
            "max_relative_rmse, cap_cutoffs, max_parameter_ratio "
            "(aiida_wigner.calculations.fitting.fit_hiphive).",
        )
        spec.input(
            "code",
            valid_type=orm.AbstractCode,
            required=False,
            help="aiida-wigner-worker code: the fit runs as a wigner.fit_job CalcJob (in "
            "wigner.fit_job_restart) instead of the in-process calcfunction (same numbers).",
        )
        spec.input(
            "job_options",
            valid_type=orm.Dict,
            required=False,
            help="With code: metadata.options of the fit job (resources, walltime, memory).",
        )
        spec.outline(cls.fit, cls.collect_fit, cls.validate)
        spec.output("fcp", valid_type=orm.SinglefileData, help="hiphive ForceConstantPotential.")
        spec.output("scores", valid_type=orm.Dict)
        spec.output("force_constants", valid_type=ForceConstantsData)
        cf.define_ensemble_output(spec)
        define_exit_codes(
            spec,
            "ERROR_FIT_SETUP",
            "ERROR_FIT_VALIDATION",
            "ERROR_TOO_MANY_PARAMETERS",
            *WORKER_EXIT_CODES,  # a fit job's own failure (walltime, memory, crash), passed up
        )

    def fit(self):
        params = dict(self.inputs.parameters.get_dict())
        for key in ("max_rmse", "max_relative_rmse"):
            params.pop(key, None)
        kwargs = {}
        for key in ("harmonic_dataset", "harmonic_force_constants"):
            if key in self.inputs:
                kwargs[key] = self.inputs[key]
        if "code" in self.inputs:
            from .restart import FitRestartWorkChain

            job = {
                "code": self.inputs.code,
                "structure": self.inputs.structure,
                "settings": _with_cells(self, params),
                "displacements": self.inputs.displacements,
                "forces": self.inputs.forces,
                **kwargs,
            }
            if "job_options" in self.inputs:
                job["metadata"] = {"options": self.inputs.job_options.get_dict()}
            running = self.submit(FitRestartWorkChain, job=job)
            self.report(f"fit as a worker job: {running.process_label} <{running.pk}>")
            return ToContext(fit=running)
        _, self.ctx.fit = cf.fit_hiphive.run_get_node(
            self.inputs.structure,
            _with_cells(self, params),
            self.inputs.displacements,
            self.inputs.forces,
            **kwargs,
        )
        return None

    def collect_fit(self):
        node = self.ctx.fit
        if not node.is_finished_ok:
            return child_exit_code(self, node, "ERROR_FIT_SETUP")
        for key in ("fcp", "scores", "force_constants"):
            self.out(key, node.outputs[key])
        members = cf.ensemble_members(node)
        if members:
            self.out("ensemble", members)
        self.ctx.scores = node.outputs.scores.get_dict()
        for order, (asked, used) in self.ctx.scores.get("cutoffs_capped", {}).items():
            self.report(
                f"order-{order} cutoff lowered from {asked} to {used} Å, the largest "
                f"the supercell allows (a larger supercell keeps {asked} Å)"
            )

    def validate(self):
        s, p = self.ctx.scores, self.inputs.parameters.get_dict()
        self.report(
            f"fit: RMSE train {s['rmse_train']:.4f}, validation {s['rmse_validation']:.4f} "
            f"eV/Å, R² validation {s['r2_validation']:.4f}, parameters {s['n_parameters']}"
        )
        too_big = []
        if p.get("max_rmse") is not None and s["rmse_validation"] > p["max_rmse"]:
            too_big.append(f"max_rmse = {p['max_rmse']} eV/Å")
        if (
            p.get("max_relative_rmse") is not None
            and s["relative_rmse_validation"] > p["max_relative_rmse"]
        ):
            too_big.append(f"max_relative_rmse = {p['max_relative_rmse']}")
        if too_big:
            return self.exit_codes.ERROR_FIT_VALIDATION.format(
                message=(
                    f"Validation RMSE {s['rmse_validation']:.4f} eV/Å "
                    f"({s['relative_rmse_validation']:.1%} of the force RMS) exceeds the "
                    "threshold "
                    f"({', '.join(too_big)}). Add training structures "
                    "(sampling.parameters.n_snapshots), lower the cutoffs or the highest order, "
                    "try "
                    "method 'adaptive-lasso'/'ardr', or raise max_rmse / max_relative_rmse if this "
                    "accuracy is enough."
                )
            )


def check_protocol_cutoffs(
    structure: orm.StructureData, supercell, fit: dict, explicit: bool
) -> tuple[dict, str]:
    """The fit parameters with cutoffs that the supercell of ``structure`` can hold.

    Rule (:func:`aiida_wigner.fitting.hiphive_fit.cutoff_limit`): every cutoff below half the
    shortest supercell lattice vector minus 0.01 Å.  Protocol cutoffs (``explicit`` False) are
    capped at that limit and ``cap_cutoffs`` is set so that the fit step caps them again on
    the relaxed cell; returns the parameters and a note saying what was capped ('' if
    nothing).  Cutoffs the user set (``explicit``) that are too large raise ``ValueError``.
    """
    smat = np.asarray(supercell, dtype=int)
    smat = np.diag(smat) if smat.size == 3 else smat.reshape(3, 3)
    cell = smat @ structure.get_ase().cell.array
    try:
        cut, capped = supercell_cutoffs(fit["cutoffs"], cell, cap=not explicit)
    except FitError as exc:
        larger = _supercell_for(
            structure.get_ase().cell.array, smat, max(float(c) for c in fit["cutoffs"].values())
        )
        hint = f" (e.g. supercell {larger})" if larger else ""
        raise ValueError(f"fit.cutoffs: {exc}{hint}") from exc
    fit = {
        **fit,
        "cutoffs": {str(o): c for o, c in enumerate(cut, start=2)},
        "cap_cutoffs": not explicit,
    }
    note = "; ".join(f"order-{o} cutoff {a} Å capped at {u} Å" for o, (a, u) in capped.items())
    if note:
        note += (
            f", the largest the supercell {smat.tolist()} allows (a larger supercell "
            f"keeps the protocol's cutoffs)"
        )
    return fit, note


def _supercell_for(cell, smat, cutoff: float) -> list[int] | None:
    """The smallest diagonal supercell at least ``smat`` that holds ``cutoff`` (None if
    ``smat`` is not diagonal or none within 4 more repeats does)."""
    if np.count_nonzero(smat - np.diag(np.diagonal(smat))):
        return None
    base = np.diagonal(smat)
    for extra in sorted(
        itertools.product(range(5), repeat=3), key=lambda e: (np.prod(base + e), e)
    ):
        n = base + np.array(extra)
        if cutoff_limit(np.diag(n) @ cell) >= cutoff:
            return n.tolist()
    return None


class ForceConstantsWorkChain(ProtocolMixin, WorkChain):
    """Structure -> relaxed structure -> FC2 -> training set -> fitted FCs (orders 2..6).

    Protocols: ``protocols/force_constants.yaml`` (:class:`~.protocols.ProtocolMixin`).
    """

    _protocol_file = "force_constants.yaml"
    _namespaces = {
        "relax": ("parameters", "max_volume_change"),
        "harmonic": ("parameters",),
        "sampling": ("md", "parameters"),
        "fit": ("parameters",),
    }

    @classmethod
    def define(cls, spec):
        super().define(spec)
        define_engine_namespace(spec)
        spec.input("structure", valid_type=orm.StructureData, help="Unit cell.")
        _supercell_input(spec)
        spec.expose_inputs(
            RelaxWorkChain,
            namespace="relax",
            exclude=("engine", "structure"),
            namespace_options={"required": False, "populate_defaults": False},
        )
        spec.input("run_relax", valid_type=orm.Bool, default=lambda: orm.Bool(True))
        spec.expose_inputs(
            HarmonicWorkChain,
            namespace="harmonic",
            exclude=("engine", "structure", "supercell_matrix", "primitive_matrix"),
        )
        spec.input(
            "harmonic_phonopy",
            valid_type=pn.HARMONIC_NODE_TYPES,
            required=False,
            help="An aiida-phonopy PhonopyData with forces (or ForceConstantsData) of "
            "this structure and supercell: its FC2 replaces the harmonic step.",
        )
        spec.expose_inputs(
            SamplingWorkChain,
            namespace="sampling",
            exclude=(
                "engine",
                "structure",
                "supercell_matrix",
                "primitive_matrix",
                "ideal_supercell",
            ),
        )
        spec.expose_inputs(
            FitWorkChain,
            namespace="fit",
            exclude=(
                "structure",
                "supercell_matrix",
                "primitive_matrix",
                "displacements",
                "forces",
                "harmonic_dataset",
            ),
        )
        spec.outline(
            if_(cls.should_relax)(cls.run_relax, cls.inspect_relax),
            if_(cls.has_harmonic_node)(cls.convert_harmonic).else_(
                cls.run_harmonic, cls.inspect_harmonic
            ),
            cls.run_sampling,
            cls.inspect_sampling,
            cls.run_fit,
            cls.results,
        )
        spec.output("relaxed_structure", valid_type=orm.StructureData, required=False)
        spec.output("lattice", valid_type=orm.Dict, required=False)
        spec.output("harmonic_force_constants", valid_type=ForceConstantsData)
        spec.output("frequencies", valid_type=orm.Dict)
        spec.output("force_constants", valid_type=ForceConstantsData, required=False)
        spec.output("fcp", valid_type=orm.SinglefileData, required=False)
        spec.output("scores", valid_type=orm.Dict, required=False)
        cf.define_ensemble_output(spec)
        engine_exit_codes(spec)
        define_exit_codes(
            spec,
            "ERROR_RELAX_FAILED",
            "ERROR_HARMONIC_FAILED",
            "ERROR_SAMPLING_FAILED",
            "ERROR_FIT_FAILED",
            "ERROR_FIT_VALIDATION",
            "ERROR_INVALID_INPUT",
            "ERROR_HARMONIC_MISMATCH",
            # the children's own codes, passed up unchanged
            "ERROR_JOB_FAILED",
            "ERROR_FIT_SETUP",
            "ERROR_TOO_FEW_FRAMES",
            "ERROR_RELAX_NOT_CONVERGED",
            "ERROR_SPACEGROUP_CHANGED",
            "ERROR_VOLUME_CHANGED",
            "ERROR_TOO_MANY_PARAMETERS",
        )

    @classmethod
    def get_builder_from_protocol(
        cls,
        structure: orm.StructureData,
        engine: str = "sevennet",
        protocol: str | None = None,
        code=None,
        model: str | None = None,
        supercell=None,
        overrides: dict | None = None,
        **engine_options,
    ):
        """A builder filled from the protocol (default :meth:`get_default_protocol`).

        ``engine``: sevennet | emt | lj | vasp.  VASP needs ``code`` (the VASP code) and takes
        the protocol's ``engines.vasp`` section (incar, kpoints_mesh, kpoints_mesh_relax,
        kpoints_spacing, potential_family, potential_mapping, options; see
        :mod:`aiida_wigner.engines.vasp`); ``engine_options`` update that spec.
        ``supercell``: 3 integers (replaces ``supercell_matrix``); ``overrides`` are shaped
        like :meth:`get_protocol_inputs` and the input ports (``supercell_matrix``,
        ``run_relax``, ``relax.parameters``, ``relax.max_volume_change``,
        ``harmonic.parameters``, ``sampling.md``, ``sampling.parameters``, ``fit.parameters``)
        plus ``engines.<engine>`` for the ``engine.calculator`` Dict.  Raises ``ValueError``
        for an unknown protocol or an invalid VASP set-up (no code, unknown spec keys).

        Cutoffs are checked against the supercell of ``structure`` before anything runs
        (:func:`check_protocol_cutoffs`): the protocol's are capped at the largest the
        supercell allows (said in ``builder.metadata.description``; the fit step caps them
        again on the relaxed cell), while cutoffs given in ``overrides`` that are too large
        raise ``ValueError`` naming the limit and a supercell that holds them.
        """
        protocol = protocol or cls.get_default_protocol()
        p = cls.get_protocol_inputs(protocol, overrides)
        calc = {"name": engine}
        calc.update(p.get("engines", {}).get(engine, {}))
        if model:
            calc["model"] = model
        calc.update(engine_options)
        if engine == "vasp":
            from ..engines.vasp import potentials, vasp_spec

            if code is None:
                raise ValueError(
                    "the VASP engine needs a code: the AiiDA code of the VASP "
                    "executable (--code LABEL)"
                )
            calc = vasp_spec(calc)
            potentials(calc, structure)  # fail now if the POTCAR family lacks an element
        builder = cls.get_builder()
        builder.structure = structure
        builder.engine.calculator = orm.Dict(calc)
        if code is not None:
            builder.engine.code = code
        builder.supercell_matrix = orm.List(list(supercell or p["supercell_matrix"]))
        builder.run_relax = orm.Bool(bool(p["run_relax"]))
        if "max_volume_change" in p["relax"]:
            builder.relax.max_volume_change = orm.Float(p["relax"]["max_volume_change"])
        builder.relax.parameters = orm.Dict(p["relax"]["parameters"])
        builder.harmonic.parameters = orm.Dict(p["harmonic"]["parameters"])
        builder.sampling.md = orm.Dict(p["sampling"]["md"])
        builder.sampling.parameters = orm.Dict(p["sampling"]["parameters"])
        explicit = "cutoffs" in (overrides or {}).get("fit", {}).get("parameters", {})
        fit, note = check_protocol_cutoffs(
            structure, builder.supercell_matrix.get_list(), p["fit"]["parameters"], explicit
        )
        builder.fit.parameters = orm.Dict(fit)
        builder.metadata.label = f"{structure.get_formula()} {engine} {protocol}"
        if note:
            builder.metadata.description = note
        return builder

    def _sub(self, wc, namespace):
        inputs = self.exposed_inputs(wc, namespace=namespace)
        inputs["engine"] = dict(self.inputs.engine)
        inputs["structure"] = self.ctx.structure
        return inputs

    def should_relax(self):
        self.ctx.structure = self.inputs.structure
        return bool(self.inputs.run_relax)

    def run_relax(self):
        return ToContext(relax=self.submit(RelaxWorkChain, **self._sub(RelaxWorkChain, "relax")))

    def _failed(self, node, code):
        return child_exit_code(self, node, code)

    def inspect_relax(self):
        node = self.ctx.relax
        if not node.is_finished_ok:
            return self._failed(node, "ERROR_RELAX_FAILED")
        self.ctx.structure = node.outputs.relaxed_structure
        self.out("relaxed_structure", node.outputs.relaxed_structure)
        self.out("lattice", node.outputs.lattice)

    def _cells(self):
        d = {"supercell_matrix": self.inputs.supercell_matrix}
        if "primitive_matrix" in self.inputs:
            d["primitive_matrix"] = self.inputs.primitive_matrix
        return d

    def run_harmonic(self):
        return ToContext(
            harmonic=self.submit(
                HarmonicWorkChain, **self._sub(HarmonicWorkChain, "harmonic"), **self._cells()
            )
        )

    def _harmonic_outputs(self, outputs, reuse=()):
        """Keep FC2 and the dataset for the fit (and ``reuse`` outputs for the sampling)."""
        self.out("harmonic_force_constants", outputs["force_constants"])
        self.out("frequencies", outputs["frequencies"])
        self.ctx.fit_harmonic = {
            "harmonic_dataset": outputs["harmonic_dataset"],
            "harmonic_force_constants": outputs["force_constants"],
        }
        self.ctx.sampling_extra = {key: outputs[key] for key in reuse}

    def inspect_harmonic(self):
        node = self.ctx.harmonic
        if not node.is_finished_ok:
            return self._failed(node, "ERROR_HARMONIC_FAILED")
        self._harmonic_outputs(node.outputs, reuse=("ideal_supercell",))

    def has_harmonic_node(self):
        return "harmonic_phonopy" in self.inputs

    def convert_harmonic(self):
        """FC2 of the given aiida-phonopy node, checked against the structure and cells."""
        node = self.inputs.harmonic_phonopy
        out, calc = pn.phonopy_force_constants.run_get_node(
            node, self.ctx.structure, _with_cells(self, {})
        )
        if not calc.is_finished_ok:
            label = label_of(calc.exit_status)
            return self.exit_codes[label].format(message=calc.exit_message.split(": ", 1)[-1])
        self.report(f"harmonic step skipped: FC2 from <{node.pk}> {type(node).__name__}")
        self._harmonic_outputs(out)

    def run_sampling(self):
        return ToContext(
            sampling=self.submit(
                SamplingWorkChain,
                **self._sub(SamplingWorkChain, "sampling"),
                **self._cells(),
                **self.ctx.sampling_extra,
            )
        )

    def inspect_sampling(self):
        node = self.ctx.sampling
        if not node.is_finished_ok:
            return self._failed(node, "ERROR_SAMPLING_FAILED")

    def run_fit(self):
        inputs = self.exposed_inputs(FitWorkChain, namespace="fit")
        s = self.ctx.sampling.outputs
        inputs.update(
            structure=self.ctx.structure,
            displacements=s.displacements,
            forces=s.forces,
            **self.ctx.fit_harmonic,
            **self._cells(),
        )
        return ToContext(fit=self.submit(FitWorkChain, **inputs))

    def results(self):
        node = self.ctx.fit
        for key in ("force_constants", "fcp", "scores"):
            if key in node.outputs:
                self.out(key, node.outputs[key])
        members = cf.ensemble_members(node)
        if members:
            self.out("ensemble", members)
        if node.exit_status == FitWorkChain.exit_codes.ERROR_FIT_VALIDATION.status:
            return self.exit_codes.ERROR_FIT_VALIDATION.format(message=node.exit_message)
        if not node.is_finished_ok:
            return self._failed(node, "ERROR_FIT_FAILED")

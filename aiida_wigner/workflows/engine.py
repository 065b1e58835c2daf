"""Engine dispatch: one interface (forces, MD, relaxation) over the ASE and VASP engines.

Every workflow that needs an engine takes the ``engine`` input namespace:

``engine.calculator`` (Dict)
    ``{"name": "sevennet" | "emt" | "lj" | "fcp", ...}`` for the ASE engine (options in
    :mod:`aiida_wigner.engines.calculators`), or ``{"name": "vasp", ...}`` for VASP
    (options in :mod:`aiida_wigner.engines.vasp`).
``engine.code`` (optional)
    ASE engine: a Python interpreter code; the engine then runs as an aiida-pythonjob
    ``PythonJob`` on that code's computer (aiida-wigner must be installed there).
    Without it the ASE engine runs in-process as calcfunctions.  VASP: the VASP code.
``engine.potential`` (optional SinglefileData)
    The ``.fcp`` file of the ``fcp`` calculator.

One engine task on one structure goes through :func:`launch_engine_job` (ASE calcfunction
in-process, or a submitted VASP CalcJob / PythonJob) and :func:`job_results` (its outputs in
the ASE engine's form), so the workchains below do not branch on the engine themselves.

Units: Å, eV, eV/Å, eV/Å³, K, fs.
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import WorkChain, calcfunction, if_

from ..calculations import engines as calc
from ..exit_codes import child_exit_code, define_exit_codes, label_of


def define_engine_namespace(spec):
    spec.input_namespace("engine", help="Force engine (see aiida_wigner.workflows.engine).")
    spec.input(
        "engine.calculator",
        valid_type=orm.Dict,
        help='Calculator spec, e.g. {"name": "sevennet", "model": "7net-0"}.',
    )
    spec.input(
        "engine.code",
        valid_type=orm.AbstractCode,
        required=False,
        help="PythonJob Python code (ASE engine on a remote computer) or the VASP code.",
    )
    spec.input(
        "engine.potential",
        valid_type=orm.SinglefileData,
        required=False,
        help="hiphive .fcp file for the 'fcp' calculator.",
    )


#: codes with which wigner.vasp_base gives up; an engine workchain ends with the same code
VASP_GIVE_UP = (
    "ERROR_VASP_OUT_OF_WALLTIME",
    "ERROR_VASP_ELECTRONIC_NOT_CONVERGED",
    "ERROR_VASP_IONIC_NOT_CONVERGED",
)


def engine_exit_codes(spec):
    define_exit_codes(spec, "ERROR_ENGINE_FAILED", "ERROR_BAD_CALCULATOR", *VASP_GIVE_UP)


def engine_kind(engine_inputs) -> str:
    name = engine_inputs["calculator"].get("name", "")
    if str(name).lower() == "vasp":
        return "vasp"
    return "pythonjob" if "code" in engine_inputs else "ase"


def _ase_kwargs(engine_inputs) -> dict:
    kw = {"calculator": engine_inputs["calculator"]}
    if "potential" in engine_inputs:
        kw["potential"] = engine_inputs["potential"]
    return kw


def job_failure_message(node) -> str:
    """Why an engine process failed; for a VASP CalcJob also what to change."""
    from ..engines import vasp

    if vasp.is_vasp_node(node):
        return vasp.failure_message(node)
    if node.is_excepted:
        exc = (node.exception or "").strip().splitlines()
        return f"process <{node.pk}> excepted: {exc[-1] if exc else 'no exception recorded'}"
    return node.exit_message or f"process <{node.pk}> failed with exit status {node.exit_status}"


def exit_from_failed(workchain, node):
    """Map a failed engine process to this workchain's engine exit codes."""
    if label_of(node.exit_status) in VASP_GIVE_UP:
        return child_exit_code(workchain, node, "ERROR_ENGINE_FAILED")
    msg = job_failure_message(node)
    if node.exit_status == calc.EXIT_BAD_SPEC:
        return workchain.exit_codes.ERROR_BAD_CALCULATOR.format(message=msg)
    return workchain.exit_codes.ERROR_ENGINE_FAILED.format(message=msg)


# -- one engine task (static | md | relax) on one structure, whatever the engine ---------------

#: in-process calcfunctions of the ASE engine for single-structure tasks
_ASE_TASKS = {"md": calc.ase_md, "relax": calc.ase_relax}


def engine_job(engine_inputs, task: str, structure, **kwargs):
    """``(process class, inputs)`` of one engine job run outside the workchain's process.

    VASP: an aiida-vasp ``vasp.vasp`` CalcJob (:mod:`aiida_wigner.engines.vasp`) inside the
    restart workchain ``wigner.vasp_base`` (:mod:`.vasp_base`); ASE engine with
    ``engine.code``: a PythonJob.  ``kwargs``: ``stress`` (static) or ``parameters``
    (dict; md, relax).
    """
    if engine_kind(engine_inputs) == "vasp":
        from ..engines import vasp
        from .vasp_base import VaspBaseWorkChain

        _, inputs = vasp.builder(engine_inputs, task, structure, **kwargs)
        restart = vasp.restart_settings(vasp.vasp_spec(engine_inputs["calculator"].get_dict()))
        return VaspBaseWorkChain, VaspBaseWorkChain.inputs_around(inputs, restart)
    return pythonjob_builder(engine_inputs, task, structure=structure, **kwargs)


def launch_engine_job(
    workchain, task: str, structure, key: str = "job", parameters: orm.Dict | None = None, **kwargs
):
    """Start one engine task; its process node ends up in ``workchain.ctx[key]``.

    The ASE engine (no code) runs md/relax in-process as calcfunctions; VASP CalcJobs and
    PythonJobs are submitted, so several calls in one step run in parallel.  Returns the
    ``ERROR_BAD_CALCULATOR`` exit code when the inputs cannot be built, else None.
    """
    engine_inputs = workchain.inputs.engine
    if engine_kind(engine_inputs) == "ase":
        _, node = _ASE_TASKS[task].run_get_node(
            **_ase_kwargs(engine_inputs), structure=structure, parameters=parameters
        )
        workchain.ctx[key] = node
        return None
    if parameters is not None:
        kwargs["parameters"] = parameters.get_dict()
    try:
        process, inputs = engine_job(engine_inputs, task, structure, **kwargs)
    except ValueError as exc:  # VaspSetupError, unsupported PythonJob set-up
        return workchain.exit_codes.ERROR_BAD_CALCULATOR.format(message=str(exc))
    workchain.to_context(**{key: workchain.submit(process, **inputs)})
    return None


def job_results(engine_inputs, task: str, node, structure=None, parameters=None):
    """The finished job's result in the ASE engine's form.

    static: dict ``energy``, ``forces``, ``stress``; md: ``(TrajectoryData, converter node)``;
    relax: ``(relaxed StructureData, info Dict)``.  The md converter node is None for the
    in-process ASE engine; check it with ``is_finished_ok``.
    """
    kind = engine_kind(engine_inputs)
    if kind == "ase":
        if task == "md":
            return node.outputs.trajectory, None
        return node.outputs.relaxed_structure, node.outputs.info
    if kind == "vasp":
        from ..calculations import vasp as cv
        from ..engines import vasp

        if task == "static":
            return vasp.static_results(node)
        if task == "md":
            extra = {"retrieved": node.outputs.retrieved} if "retrieved" in node.outputs else {}
            res, conv = cv.vasp_md_trajectory.run_get_node(
                node.outputs.trajectory, parameters, **extra
            )
            return (res if conv.is_finished_ok else None), conv
        relaxed = node.outputs.structure if "structure" in node.outputs else structure
        out = cv.vasp_relax_outputs(structure, relaxed, node.outputs.misc, parameters)
        return out["relaxed_structure"], out["info"]
    if task == "static":
        return pythonjob_results(node)
    if task == "md":
        return pythonjob_trajectory(node.outputs.result, structure), None
    out = pythonjob_relax_outputs(node.outputs.result)
    return out["relaxed_structure"], out["info"]


class EngineForcesWorkChain(WorkChain):
    """Energies (eV), forces (eV/Å) and optionally stresses of a set of structures."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        define_engine_namespace(spec)
        spec.input_namespace(
            "structures",
            valid_type=orm.StructureData,
            dynamic=True,
            help="Structures, computed in the sorted order of their labels.",
        )
        spec.input(
            "settings",
            valid_type=orm.Dict,
            default=lambda: orm.Dict({"stress": False}),
            help="stress: also compute stresses.",
        )
        spec.outline(
            if_(cls.is_in_process)(cls.run_in_process).else_(cls.launch_jobs, cls.collect),
        )
        spec.output(
            "forces",
            valid_type=orm.ArrayData,
            help="energies (n,) eV, forces (n, N, 3) eV/Å [, stresses (n, 3, 3) eV/Å³].",
        )
        engine_exit_codes(spec)
        define_exit_codes(spec, "ERROR_JOB_FAILED")

    def is_in_process(self):
        return engine_kind(self.inputs.engine) == "ase"

    def labels(self):
        return sorted(self.inputs.structures)

    def run_in_process(self):
        _, node = calc.ase_static.run_get_node(
            **_ase_kwargs(self.inputs.engine),
            settings=self.inputs.settings,
            **dict(self.inputs.structures),
        )
        if not node.is_finished_ok:
            return exit_from_failed(self, node)
        self.out("forces", node.outputs.forces)

    def launch_jobs(self):
        stress = bool(self.inputs.settings.get("stress", False))
        for lab in self.labels():
            failed = launch_engine_job(
                self, "static", self.inputs.structures[lab], key=f"job_{lab}", stress=stress
            )
            if failed:
                return failed
        return None

    def collect(self):
        failed = [
            self.ctx[f"job_{lab}"]
            for lab in self.labels()
            if not self.ctx[f"job_{lab}"].is_finished_ok
        ]
        if failed:
            bad_spec = [n for n in failed if n.exit_status == calc.EXIT_BAD_SPEC]
            if bad_spec and engine_kind(self.inputs.engine) == "pythonjob":
                # the remote engine rejected the calculator spec: same exit code as in-process
                return self.exit_codes.ERROR_BAD_CALCULATOR.format(
                    message=job_failure_message(bad_spec[0])
                )
            return self.exit_codes.ERROR_JOB_FAILED.format(
                message=(
                    f"{len(failed)} engine job(s) failed, first <{failed[0].pk}>: "
                    f"{job_failure_message(failed[0])}. Inspect them with `verdi process report`; "
                    "for VASP check ENCUT/ALGO and the walltime in engine.calculator.options."
                )
            )
        energies, forces, stresses = [], [], []
        for lab in self.labels():
            res = job_results(self.inputs.engine, "static", self.ctx[f"job_{lab}"])
            energies.append(res["energy"])
            forces.append(res["forces"])
            if res.get("stress") is not None:
                stresses.append(res["stress"])
        out = orm.ArrayData()
        out.set_array("energies", np.array(energies))
        out.set_array("forces", np.array(forces))
        if stresses and len(stresses) == len(forces):
            out.set_array("stresses", np.array(stresses))
        out.base.attributes.set("labels", self.labels())
        out.base.attributes.set("units", {"energies": "eV", "forces": "eV/Å", "stresses": "eV/Å^3"})
        # collected from several jobs: record the gathering as a calcfunction for provenance
        jobs = collect_output_nodes(self.ctx, self.labels())
        self.out("forces", gather_forces(out, **{f"job_{k}": v for k, v in jobs.items()}))


def collect_output_nodes(ctx, labels) -> dict:
    """The main output node of each job (for provenance links of the gathered array)."""
    nodes = {}
    for lab in labels:
        job = ctx[f"job_{lab}"]
        for key in ("misc", "result", "forces", "energies"):
            if key in job.outputs:
                nodes[lab] = job.outputs[key]
                break
    return nodes


@calcfunction
def gather_forces(array: orm.ArrayData, **job_outputs):
    """Copy of ``array`` linked to the job outputs it was assembled from."""
    out = orm.ArrayData()
    for name in array.get_arraynames():
        out.set_array(name, array.get_array(name))
    for key in ("labels", "units"):
        out.base.attributes.set(key, array.base.attributes.get(key))
    return out


# -- PythonJob (ASE engine on a remote computer) -----------------------------------------------

#: process label of the PythonJobs, per task (shown by ``verdi process list``)
PYTHONJOB_LABELS = {
    "static": "PythonJob<ase_static>",
    "md": "PythonJob<ase_md>",
    "relax": "PythonJob<ase_relax>",
}


def pythonjob_builder(engine_inputs, task: str, structure, **kwargs):
    """``(PythonJob, inputs)`` of one ASE-engine task on ``engine.code``'s computer.

    The function run remotely is :mod:`aiida_wigner.engines.remote`'s ``remote_<task>``,
    pickled by reference: aiida-wigner must be importable by the code's Python.  Its inputs
    are the calculator spec (Dict), the workchain's StructureData itself (deserialized to
    ``ase.Atoms`` on the remote side, so the provenance links the job to it) and ``stress``
    (static) or ``parameters`` (md, relax).  ``engine.calculator.options`` (if given) are the
    CalcJob ``metadata.options`` (resources, walltime, queue, prepend text...) and are not
    passed to the calculator.  Raises ValueError for set-ups a PythonJob cannot run.
    """
    try:
        from aiida_pythonjob import PythonJob, prepare_pythonjob_inputs
    except ImportError as exc:
        raise ValueError(
            "engine.code runs the ASE engine as an aiida-pythonjob PythonJob, but "
            "aiida-pythonjob is not installed: pip install "
            "'aiida-wigner[pythonjob]'"
        ) from exc

    from ..engines import remote

    if "potential" in engine_inputs:
        raise ValueError(
            "the 'fcp' calculator reads a local .fcp file and is not supported "
            "with a PythonJob code; run it in-process (no engine.code)"
        )
    spec = engine_inputs["calculator"].get_dict()
    options = spec.pop("options", None) or {}
    func = {"static": remote.remote_static, "md": remote.remote_md, "relax": remote.remote_relax}[
        task
    ]
    function_inputs = {"spec": spec, "structure": structure}
    if task == "static":
        function_inputs["stress"] = bool(kwargs.get("stress", False))
    else:
        function_inputs["parameters"] = dict(kwargs.get("parameters") or {})
    inputs = prepare_pythonjob_inputs(
        func,
        function_inputs=function_inputs,
        code=engine_inputs["code"],
        register_pickle_by_value=False,
        process_label=PYTHONJOB_LABELS[task],
        metadata={"options": dict(options)} if options else None,
    )
    inputs.setdefault("metadata", {})["call_link_label"] = f"pythonjob_{task}"
    return PythonJob, inputs


def _result_dict(result) -> dict:
    return result.get_dict() if isinstance(result, orm.Dict) else dict(result.value)


def pythonjob_results(node) -> dict:
    """energy (eV), forces (N, 3) eV/Å [, stress (3, 3) eV/Å³] of a finished static PythonJob."""
    value = _result_dict(node.outputs.result)
    return {k: (np.asarray(v, dtype=float) if isinstance(v, list) else v) for k, v in value.items()}


class EngineMdWorkChain(WorkChain):
    """NVT molecular dynamics with the chosen engine; output ``trajectory`` (Cartesian Å)."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        define_engine_namespace(spec)
        spec.input("structure", valid_type=orm.StructureData)
        spec.input(
            "parameters",
            valid_type=orm.Dict,
            help="temperature (K), timestep (fs), n_steps, interval, thermostat, tdamp "
            "(fs), friction (1/fs), seed.",
        )
        spec.outline(cls.run_md, cls.results)
        spec.output(
            "trajectory",
            valid_type=orm.TrajectoryData,
            help="Frames every `interval` steps: positions Å (Cartesian), cells, "
            "energies eV, forces eV/Å, temperatures K.",
        )
        engine_exit_codes(spec)

    def run_md(self):
        return launch_engine_job(
            self, "md", self.inputs.structure, parameters=self.inputs.parameters
        )

    def results(self):
        node = self.ctx.job
        if not node.is_finished_ok:
            return exit_from_failed(self, node)
        trajectory, converter = job_results(
            self.inputs.engine,
            "md",
            node,
            structure=self.inputs.structure,
            parameters=self.inputs.parameters,
        )
        if converter is not None and not converter.is_finished_ok:
            return exit_from_failed(self, converter)
        self.out("trajectory", trajectory)


@calcfunction
def pythonjob_trajectory(result, structure: orm.StructureData):
    """TrajectoryData (Cartesian Å) from the frames a PythonJob returned."""
    frames = {
        k: np.asarray(v, dtype=int if k == "steps" else float)
        for k, v in _result_dict(result).items()
    }
    return calc.trajectory_from_frames(frames, structure.get_ase().get_chemical_symbols())


class RelaxWorkChain(WorkChain):
    """Relax ions and cell keeping the space group; report the lattice.

    Outputs ``relaxed_structure`` and ``lattice`` (a, b, c in Å, angles in degrees, volume
    Å³, space group before and after, energy eV, residual force eV/Å).
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        define_engine_namespace(spec)
        spec.input("structure", valid_type=orm.StructureData)
        spec.input(
            "parameters",
            valid_type=orm.Dict,
            default=lambda: orm.Dict({"fmax": 1e-3, "max_steps": 300}),
            help="fmax (eV/Å), max_steps, relax_cell, keep_symmetry, symprec (Å).",
        )
        spec.input(
            "max_volume_change",
            valid_type=orm.Float,
            default=lambda: orm.Float(0.2),
            help="Largest |V_relaxed / V_input - 1| accepted (default 0.2 = 20 %): a "
            "larger change means the engine does not describe the crystal, and "
            "the workflow stops before any phonon step.",
        )
        spec.outline(cls.run_relax, cls.results)
        spec.output("relaxed_structure", valid_type=orm.StructureData)
        spec.output("lattice", valid_type=orm.Dict)
        engine_exit_codes(spec)
        define_exit_codes(
            spec, "ERROR_RELAX_NOT_CONVERGED", "ERROR_SPACEGROUP_CHANGED", "ERROR_VOLUME_CHANGED"
        )

    def run_relax(self):
        return launch_engine_job(
            self, "relax", self.inputs.structure, parameters=self.inputs.parameters
        )

    def results(self):
        node = self.ctx.job
        if not node.is_finished_ok:
            return exit_from_failed(self, node)
        relaxed, info = job_results(
            self.inputs.engine,
            "relax",
            node,
            structure=self.inputs.structure,
            parameters=self.inputs.parameters,
        )
        lattice = lattice_report(relaxed, info)
        self.out("relaxed_structure", relaxed)
        self.out("lattice", lattice)
        p = self.inputs.parameters.get_dict()
        lat = lattice.get_dict()
        before = self.inputs.structure.get_ase()
        change = lat["volume"] / before.get_volume() - 1
        if abs(change) > self.inputs.max_volume_change.value:
            a0, b0, c0 = before.cell.lengths()
            return self.exit_codes.ERROR_VOLUME_CHANGED.format(
                message=(
                    f"The relaxation changed the volume by {change:+.0%} (a, b, c from "
                    f"{a0:.3f}, {b0:.3f}, {c0:.3f} to {lat['a']:.3f}, {lat['b']:.3f}, "
                    f"{lat['c']:.3f} Å), more than max_volume_change = "
                    f"{self.inputs.max_volume_change.value:.0%}: the engine does not describe "
                    f"this crystal; use an engine that does (for EMT/LJ set their "
                    f"parameters in engine.calculator), check the structure, or raise "
                    f"max_volume_change if the change is real."
                )
            )
        if not info.get("converged", True):
            return self.exit_codes.ERROR_RELAX_NOT_CONVERGED.format(
                message=(
                    f"The relaxation did not reach fmax = {p.get('fmax', 1e-3)} eV/Å in "
                    f"{p.get('max_steps', 300)} steps (residual "
                    f"{info.get('max_force', float('nan')):.2e} eV/Å): raise parameters.max_steps "
                    "or loosen parameters.fmax."
                )
            )
        if p.get("keep_symmetry", True) and lat["spacegroup_initial"] != lat["spacegroup_final"]:
            return self.exit_codes.ERROR_SPACEGROUP_CHANGED.format(
                message=(
                    f"The space group changed from {lat['spacegroup_initial']} to "
                    f"{lat['spacegroup_final']}: relax with keep_symmetry=True or a smaller "
                    "symprec."
                )
            )
        self.report(
            f"relaxed lattice: a={lat['a']:.4f} b={lat['b']:.4f} c={lat['c']:.4f} Å, "
            f"space group {lat['spacegroup_final']}"
        )


@calcfunction
def pythonjob_relax_outputs(result):
    from ..engines.calculators import atoms_from_dict

    res = _result_dict(result)
    info = {
        k: res[k]
        for k in ("energy", "converged", "n_steps", "spacegroup_initial", "spacegroup_final")
    }
    info["max_force"] = float(np.abs(np.asarray(res["forces"])).max())
    info["stress"] = np.asarray(res["stress"], dtype=float).tolist()
    info["units"] = {"energy": "eV", "max_force": "eV/Å", "stress": "eV/Å^3"}
    return {
        "relaxed_structure": orm.StructureData(ase=atoms_from_dict(res["structure"])),
        "info": orm.Dict(info),
    }


@calcfunction
def lattice_report(structure: orm.StructureData, info: orm.Dict):
    """a, b, c (Å), α, β, γ (deg), volume (Å³), space groups, energy (eV) of a relaxed cell."""
    import spglib

    atoms = structure.get_ase()
    a, b, c, al, be, ga = atoms.cell.cellpar()
    d = info.get_dict()
    sg = spglib.get_spacegroup(
        (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers), symprec=1e-3
    )
    return orm.Dict(
        {
            "a": a,
            "b": b,
            "c": c,
            "alpha": al,
            "beta": be,
            "gamma": ga,
            "volume": atoms.get_volume(),
            "spacegroup_final": d.get("spacegroup_final", sg),
            "spacegroup_initial": d.get("spacegroup_initial", sg),
            "energy": d.get("energy"),
            "max_force": d.get("max_force"),
            "converged": d.get("converged"),
            "units": {
                "length": "Å",
                "angle": "degree",
                "volume": "Å^3",
                "energy": "eV",
                "max_force": "eV/Å",
            },
        }
    )

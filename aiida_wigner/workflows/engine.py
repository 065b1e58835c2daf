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
``engine.structures_per_job`` (optional Int)
    ASE engine with a code: how many structures' forces one PythonJob computes, with one
    calculator (a model loaded once per job).  Default (:func:`structures_per_job`): all of
    a step's structures in one job when the code's computer has no queue (``core.direct``,
    e.g. ``--daemon``'s ``aiida-wigner-python@localhost``: concurrent jobs would share one
    machine's cores and memory), one structure per job on a batch scheduler (parallel jobs).

One engine task goes through :func:`launch_engine_job` (ASE calcfunction in-process, or a
submitted VASP CalcJob / PythonJob) and :func:`job_results` (its outputs in the ASE engine's
form), so the workchains below do not branch on the engine themselves.

Units: Å, eV, eV/Å, eV/Å³, K, fs.
"""

from __future__ import annotations

from typing import Any

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
    spec.input(
        "engine.structures_per_job",
        valid_type=orm.Int,
        required=False,
        validator=_at_least_one,
        help="ASE engine with a code: structures per force PythonJob (default: all when the "
        "code's computer is core.direct, else 1).",
    )


def _at_least_one(value, _):
    if value is not None and value.value < 1:
        return f"engine.structures_per_job must be at least 1, got {value.value}"
    return None


#: schedulers that start every submitted job at once (no queue)
NO_QUEUE_SCHEDULERS = ("core.direct",)


def structures_per_job(engine_inputs, n: int) -> int:
    """Structures per force PythonJob among ``n``: ``engine.structures_per_job`` if given;
    else all ``n`` when the code's computer has no queue (:data:`NO_QUEUE_SCHEDULERS`), else 1."""
    if "structures_per_job" in engine_inputs:
        return engine_inputs["structures_per_job"].value
    computer = getattr(engine_inputs["code"], "computer", None)
    if computer is not None and computer.scheduler_type in NO_QUEUE_SCHEDULERS:
        return max(n, 1)
    return 1


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


# -- one engine task (static | md | relax), whatever the engine ---------------------------------

#: in-process calcfunctions of the ASE engine for single-structure tasks
_ASE_TASKS = {"md": calc.ase_md, "relax": calc.ase_relax}


def engine_job(engine_inputs, task: str, structure, **kwargs):
    """``(process class, inputs)`` of one engine job run outside the workchain's process.

    VASP: an aiida-vasp ``vasp.vasp`` CalcJob (:mod:`aiida_wigner.engines.vasp`) inside the
    restart workchain ``wigner.vasp_base`` (:mod:`.vasp_base`); ASE engine with
    ``engine.code``: a PythonJob, whose static task takes a batch (``structure``: dict
    label -> StructureData).  ``kwargs``: ``stress`` and, PythonJob, ``first_index`` (static)
    or ``parameters`` (dict; md, relax).
    """
    if engine_kind(engine_inputs) == "vasp":
        from ..engines import vasp
        from .vasp_base import VaspBaseWorkChain

        _, inputs = vasp.builder(engine_inputs, task, structure, **kwargs)
        restart = vasp.restart_settings(vasp.vasp_spec(engine_inputs["calculator"].get_dict()))
        return VaspBaseWorkChain, VaspBaseWorkChain.inputs_around(inputs, restart)
    return pythonjob_builder(engine_inputs, task, structure, **kwargs)


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

    static: dict ``energies`` (n,) eV, ``forces`` (n, N, 3) eV/Å [, ``stresses`` (n, 3, 3)
    eV/Å³] of the job's n structures (n = 1 for VASP); md: ``(TrajectoryData, converter
    node)``; relax: ``(relaxed StructureData, info Dict)``.  The md converter node is None
    for the in-process ASE engine; check it with ``is_finished_ok``.
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
            res = vasp.static_results(node)
            single = {"energies": "energy", "forces": "forces", "stresses": "stress"}
            return {k: np.asarray([res[v]]) for k, v in single.items() if res.get(v) is not None}
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
        """One job per batch of :func:`structures_per_job` consecutive structures (PythonJob)
        or per structure (VASP), all submitted at once; batch k is ``ctx.job_<k>``."""
        engine = self.inputs.engine
        stress = bool(self.inputs.settings.get("stress", False))
        labels = self.labels()
        batched = engine_kind(engine) == "pythonjob"
        size = structures_per_job(engine, len(labels)) if batched else 1
        self.ctx.batches = [labels[i : i + size] for i in range(0, len(labels), size)]
        for k, batch in enumerate(self.ctx.batches):
            if batched:
                structure = {lab: self.inputs.structures[lab] for lab in batch}
                extra = {"first_index": k * size}
            else:
                structure, extra = self.inputs.structures[batch[0]], {}
            failed = launch_engine_job(
                self, "static", structure, key=f"job_{k}", stress=stress, **extra
            )
            if failed:
                return failed
        return None

    def collect(self):
        jobs = [self.ctx[f"job_{k}"] for k in range(len(self.ctx.batches))]
        failed = [n for n in jobs if not n.is_finished_ok]
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
        results = [job_results(self.inputs.engine, "static", node) for node in jobs]
        out = orm.ArrayData()
        for name in ("energies", "forces", "stresses"):
            if all(name in res for res in results):
                out.set_array(name, np.concatenate([res[name] for res in results]))
        out.base.attributes.set("labels", self.labels())
        out.base.attributes.set("units", {"energies": "eV", "forces": "eV/Å", "stresses": "eV/Å^3"})
        # collected from several jobs: record the gathering as a calcfunction for provenance
        nodes = collect_output_nodes(self.ctx, [f"job_{k}" for k in range(len(jobs))])
        self.out("forces", gather_forces(out, **nodes))


def collect_output_nodes(ctx, keys) -> dict:
    """The main output node of each job ``ctx[key]`` (for provenance links of the gathered
    array), by key."""
    nodes = {}
    for key in keys:
        job = ctx[key]
        for name in ("misc", "result", "forces", "energies"):
            if name in job.outputs:
                nodes[key] = job.outputs[name]
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
    are the calculator spec (Dict), the workchain's StructureData themselves (deserialized
    to ``ase.Atoms`` for the remote side, so the provenance links the job to them) and
    ``stress`` and ``first_index`` (static: ``structure`` is a batch, a dict label ->
    StructureData, the namespace ``structures``) or ``parameters`` (md, relax).
    ``engine.calculator.options`` (if given) are the
    CalcJob ``metadata.options`` (resources, walltime, queue, prepend text...) and are not
    passed to the calculator.  Raises ValueError for set-ups a PythonJob cannot run.
    """
    try:
        from aiida_pythonjob import PythonJob, prepare_pythonjob_inputs
        from aiida_pythonjob import spec as sockets
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
    if task == "static":
        func = remote.remote_static_batch
        function_inputs = {
            "spec": spec,
            "structures": dict(structure),
            "stress": bool(kwargs.get("stress", False)),
            "first_index": int(kwargs.get("first_index", 0)),
        }
        # the batch as a namespace of StructureData inputs, not one serialized dict
        inputs_spec = sockets.namespace(
            spec=dict, structures=sockets.dynamic(Any), stress=bool, first_index=int
        )
    else:
        func = {"md": remote.remote_md, "relax": remote.remote_relax}[task]
        function_inputs = {
            "spec": spec,
            "structure": structure,
            "parameters": dict(kwargs.get("parameters") or {}),
        }
        inputs_spec = None
    inputs = prepare_pythonjob_inputs(
        func,
        function_inputs=function_inputs,
        inputs_spec=inputs_spec,
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
    """energies (n,) eV, forces (n, N, 3) eV/Å [, stresses (n, 3, 3) eV/Å³] of the batch of a
    finished static PythonJob, in the sorted order of its labels."""
    value = _result_dict(node.outputs.result)
    names = ("energies", "forces", "stresses")
    return {k: np.asarray(value[k], dtype=float) for k in names if k in value}


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

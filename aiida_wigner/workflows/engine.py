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


def define_engine_namespace(spec):
    spec.input_namespace("engine", help="Force engine (see aiida_wigner.workflows.engine).")
    spec.input("engine.calculator", valid_type=orm.Dict,
               help='Calculator spec, e.g. {"name": "sevennet", "model": "7net-0"}.')
    spec.input("engine.code", valid_type=orm.AbstractCode, required=False,
               help="PythonJob Python code (ASE engine on a remote computer) or the VASP code.")
    spec.input("engine.potential", valid_type=orm.SinglefileData, required=False,
               help="hiphive .fcp file for the 'fcp' calculator.")


def engine_exit_codes(spec):
    spec.exit_code(310, "ERROR_ENGINE_FAILED",
                   message="The force engine failed: {message}. Check the structure and the "
                           "calculator (elements supported? atoms too close?).")
    spec.exit_code(311, "ERROR_BAD_CALCULATOR",
                   message="The calculator spec is invalid: {message}. Fix engine.calculator.")


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
    return node.exit_message or f"process <{node.pk}> failed with exit status {node.exit_status}"


def exit_from_failed(workchain, node):
    """Map a failed engine process to this workchain's engine exit codes."""
    msg = job_failure_message(node)
    if node.exit_status == calc.EXIT_BAD_SPEC:
        return workchain.exit_codes.ERROR_BAD_CALCULATOR.format(message=msg)
    return workchain.exit_codes.ERROR_ENGINE_FAILED.format(message=msg)


# -- one engine task (static | md | relax) on one structure, whatever the engine ---------------

#: in-process calcfunctions of the ASE engine for single-structure tasks
_ASE_TASKS = {"md": calc.ase_md, "relax": calc.ase_relax}


def engine_job(engine_inputs, task: str, structure, **kwargs):
    """``(process class, inputs)`` of one engine job run outside the workchain's process.

    VASP: an aiida-vasp ``vasp.vasp`` CalcJob (:mod:`aiida_wigner.engines.vasp`); ASE engine
    with ``engine.code``: a PythonJob.  ``kwargs``: ``stress`` (static) or ``parameters``
    (dict; md, relax).
    """
    if engine_kind(engine_inputs) == "vasp":
        from ..engines import vasp

        return vasp.builder(engine_inputs, task, structure, **kwargs)
    return pythonjob_builder(engine_inputs, task, structure=structure, **kwargs)


def launch_engine_job(workchain, task: str, structure, key: str = "job",
                      parameters: orm.Dict | None = None, **kwargs):
    """Start one engine task; its process node ends up in ``workchain.ctx[key]``.

    The ASE engine (no code) runs md/relax in-process as calcfunctions; VASP CalcJobs and
    PythonJobs are submitted, so several calls in one step run in parallel.  Returns the
    ``ERROR_BAD_CALCULATOR`` exit code when the inputs cannot be built, else None.
    """
    engine_inputs = workchain.inputs.engine
    if engine_kind(engine_inputs) == "ase":
        _, node = _ASE_TASKS[task].run_get_node(**_ase_kwargs(engine_inputs), structure=structure,
                                                parameters=parameters)
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
            res, conv = cv.vasp_md_trajectory.run_get_node(node.outputs.trajectory, parameters,
                                                           **extra)
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
        spec.input_namespace("structures", valid_type=orm.StructureData, dynamic=True,
                             help="Structures, computed in the sorted order of their labels.")
        spec.input("settings", valid_type=orm.Dict, default=lambda: orm.Dict({"stress": False}),
                   help="stress: also compute stresses.")
        spec.outline(
            if_(cls.is_in_process)(cls.run_in_process).else_(cls.launch_jobs, cls.collect),
        )
        spec.output("forces", valid_type=orm.ArrayData,
                    help="energies (n,) eV, forces (n, N, 3) eV/Å [, stresses (n, 3, 3) eV/Å³].")
        engine_exit_codes(spec)
        spec.exit_code(312, "ERROR_JOB_FAILED",
                       message="{count} engine job(s) failed, first <{pk}>: {message}. Inspect "
                               "them with `verdi process report`; for VASP check ENCUT/ALGO "
                               "and the walltime in engine.calculator.options.")

    def is_in_process(self):
        return engine_kind(self.inputs.engine) == "ase"

    def labels(self):
        return sorted(self.inputs.structures)

    def run_in_process(self):
        _, node = calc.ase_static.run_get_node(
            **_ase_kwargs(self.inputs.engine), settings=self.inputs.settings,
            **dict(self.inputs.structures))
        if not node.is_finished_ok:
            return exit_from_failed(self, node)
        self.out("forces", node.outputs.forces)

    def launch_jobs(self):
        stress = bool(self.inputs.settings.get("stress", False))
        for lab in self.labels():
            failed = launch_engine_job(self, "static", self.inputs.structures[lab],
                                       key=f"job_{lab}", stress=stress)
            if failed:
                return failed
        return None

    def collect(self):
        failed = [self.ctx[f"job_{lab}"] for lab in self.labels()
                  if not self.ctx[f"job_{lab}"].is_finished_ok]
        if failed:
            return self.exit_codes.ERROR_JOB_FAILED.format(
                count=len(failed), pk=failed[0].pk, message=job_failure_message(failed[0]))
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
        out.base.attributes.set("units", {"energies": "eV", "forces": "eV/Å",
                                          "stresses": "eV/Å^3"})
        # collected from several jobs: record the gathering as a calcfunction for provenance
        self.out("forces", gather_forces(out, **{f"job_{k}": v for k, v in
                                                 collect_output_nodes(self.ctx, self.labels()).items()}))


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

def _remote_static(spec: dict, structure, stress: bool = False):
    from aiida_wigner.engines.ase_engine import compute_static

    res = compute_static(spec, [structure], stress=stress)
    out = {"energy": float(res["energies"][0]), "forces": res["forces"][0].tolist()}
    if stress:
        out["stress"] = res["stresses"][0].tolist()
    return out


def _remote_md(spec: dict, structure, parameters: dict):
    from aiida_wigner.engines.ase_engine import run_md

    frames = run_md(spec, structure, **parameters)
    return {k: np.asarray(v).tolist() for k, v in frames.items()}


def _remote_relax(spec: dict, structure, parameters: dict):
    from aiida_wigner.engines.ase_engine import relax

    res = relax(spec, structure, **parameters)
    return {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in res.items()}


def pythonjob_builder(engine_inputs, task: str, structure, **kwargs):
    """``(PythonJob, inputs)`` for a PythonJob running one engine task on ``engine.code``'s computer."""
    from aiida_pythonjob import PythonJob, prepare_pythonjob_inputs

    spec = engine_inputs["calculator"].get_dict()
    if "potential" in engine_inputs:
        raise ValueError("the 'fcp' calculator is not supported with a PythonJob code")
    func = {"static": _remote_static, "md": _remote_md, "relax": _remote_relax}[task]
    atoms = structure.get_ase()
    inputs = prepare_pythonjob_inputs(
        func, function_inputs={"spec": spec, "structure": atoms, **kwargs},
        code=engine_inputs["code"], register_pickle_by_value=False,
        outputs_spec=None)
    return PythonJob, inputs


def pythonjob_results(node) -> dict:
    out = node.outputs.result
    value = out.get_dict() if isinstance(out, orm.Dict) else out.value
    return {k: (np.asarray(v) if isinstance(v, list) else v) for k, v in value.items()}


class EngineMdWorkChain(WorkChain):
    """NVT molecular dynamics with the chosen engine; output ``trajectory`` (Cartesian Å)."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        define_engine_namespace(spec)
        spec.input("structure", valid_type=orm.StructureData)
        spec.input("parameters", valid_type=orm.Dict,
                   help="temperature (K), timestep (fs), n_steps, interval, thermostat, tdamp "
                        "(fs), friction (1/fs), seed.")
        spec.outline(cls.run_md, cls.results)
        spec.output("trajectory", valid_type=orm.TrajectoryData,
                    help="Frames every `interval` steps: positions Å (Cartesian), cells, "
                         "energies eV, forces eV/Å, temperatures K.")
        engine_exit_codes(spec)

    def run_md(self):
        return launch_engine_job(self, "md", self.inputs.structure,
                                 parameters=self.inputs.parameters)

    def results(self):
        node = self.ctx.job
        if not node.is_finished_ok:
            return exit_from_failed(self, node)
        trajectory, converter = job_results(self.inputs.engine, "md", node,
                                            structure=self.inputs.structure,
                                            parameters=self.inputs.parameters)
        if converter is not None and not converter.is_finished_ok:
            return exit_from_failed(self, converter)
        self.out("trajectory", trajectory)


@calcfunction
def pythonjob_trajectory(result, structure: orm.StructureData):
    frames = result.get_dict() if isinstance(result, orm.Dict) else result.value
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
        spec.input("parameters", valid_type=orm.Dict,
                   default=lambda: orm.Dict({"fmax": 1e-3, "max_steps": 300}),
                   help="fmax (eV/Å), max_steps, relax_cell, keep_symmetry, symprec (Å).")
        spec.outline(cls.run_relax, cls.results)
        spec.output("relaxed_structure", valid_type=orm.StructureData)
        spec.output("lattice", valid_type=orm.Dict)
        engine_exit_codes(spec)
        spec.exit_code(330, "ERROR_RELAX_NOT_CONVERGED",
                       message="The relaxation did not reach fmax = {fmax} eV/Å in {steps} "
                               "steps (residual {residual:.2e} eV/Å): raise parameters.max_steps "
                               "or loosen parameters.fmax.")
        spec.exit_code(331, "ERROR_SPACEGROUP_CHANGED",
                       message="The space group changed from {before} to {after}: relax with "
                               "keep_symmetry=True or a smaller symprec.")

    def run_relax(self):
        return launch_engine_job(self, "relax", self.inputs.structure,
                                 parameters=self.inputs.parameters)

    def results(self):
        node = self.ctx.job
        if not node.is_finished_ok:
            return exit_from_failed(self, node)
        relaxed, info = job_results(self.inputs.engine, "relax", node,
                                    structure=self.inputs.structure,
                                    parameters=self.inputs.parameters)
        lattice = lattice_report(relaxed, info)
        self.out("relaxed_structure", relaxed)
        self.out("lattice", lattice)
        p = self.inputs.parameters.get_dict()
        if not info.get("converged", True):
            return self.exit_codes.ERROR_RELAX_NOT_CONVERGED.format(
                fmax=p.get("fmax", 1e-3), steps=p.get("max_steps", 300),
                residual=info.get("max_force", float("nan")))
        lat = lattice.get_dict()
        if p.get("keep_symmetry", True) and lat["spacegroup_initial"] != lat["spacegroup_final"]:
            return self.exit_codes.ERROR_SPACEGROUP_CHANGED.format(
                before=lat["spacegroup_initial"], after=lat["spacegroup_final"])
        self.report(f"relaxed lattice: a={lat['a']:.4f} b={lat['b']:.4f} c={lat['c']:.4f} Å, "
                    f"space group {lat['spacegroup_final']}")


@calcfunction
def pythonjob_relax_outputs(result):
    from ..engines.calculators import atoms_from_dict

    res = result.get_dict() if isinstance(result, orm.Dict) else result.value
    info = {k: res[k] for k in ("energy", "converged", "n_steps", "spacegroup_initial",
                                "spacegroup_final")}
    info["max_force"] = float(np.abs(np.asarray(res["forces"])).max())
    return {"relaxed_structure": orm.StructureData(ase=atoms_from_dict(res["structure"])),
            "info": orm.Dict(info)}


@calcfunction
def lattice_report(structure: orm.StructureData, info: orm.Dict):
    """a, b, c (Å), α, β, γ (deg), volume (Å³), space groups, energy (eV) of a relaxed cell."""
    import spglib

    atoms = structure.get_ase()
    a, b, c, al, be, ga = atoms.cell.cellpar()
    d = info.get_dict()
    sg = spglib.get_spacegroup((atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers),
                               symprec=1e-3)
    return orm.Dict({"a": a, "b": b, "c": c, "alpha": al, "beta": be, "gamma": ga,
                     "volume": atoms.get_volume(), "spacegroup_final": d.get("spacegroup_final", sg),
                     "spacegroup_initial": d.get("spacegroup_initial", sg),
                     "energy": d.get("energy"), "max_force": d.get("max_force"),
                     "converged": d.get("converged"),
                     "units": {"length": "Å", "angle": "degree", "volume": "Å^3", "energy": "eV",
                               "max_force": "eV/Å"}})

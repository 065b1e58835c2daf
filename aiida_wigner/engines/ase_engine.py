"""The ASE-calculator engine: static forces, NVT molecular dynamics, relaxation.

Plain functions on ASE ``Atoms`` and numpy arrays; they return dicts of plain arrays so
that they can run in-process (calcfunction) or on a remote computer (aiida-pythonjob).

Units: positions and cells Å, energies eV, forces eV/Å, stresses eV/Å³ (ASE's sign
convention, Voigt order expanded to 3x3), temperatures K, times fs.
"""

from __future__ import annotations

import numpy as np

from .calculators import atoms_from_dict, make_calculator


class EngineError(RuntimeError):
    """The force engine failed or returned unusable numbers (NaN, exploding forces)."""


def _as_atoms(obj):
    if isinstance(obj, dict):
        return atoms_from_dict(obj)
    return obj.copy()


def _check_finite(name: str, values, index=None):
    values = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(values)):
        where = "" if index is None else f" for structure {index}"
        raise EngineError(
            f"the engine returned non-finite {name}{where}; check the structure "
            "(atoms too close?) and the calculator's validity for these elements"
        )
    return values


def compute_static(
    spec: dict, structures, stress: bool = False, max_force: float = 1.0e3, first_index: int = 0
) -> dict:
    """Energies (eV), forces (eV/Å) and optionally stresses (eV/Å³) of each structure.

    Parameters
    ----------
    spec : dict
        Calculator spec, see :mod:`aiida_wigner.engines.calculators`.
    structures : list of ase.Atoms or dicts (``cell``, ``numbers``, ``positions`` in Å)
    stress : bool
        Also compute the stress tensor (3x3, eV/Å³).
    max_force : float
        Largest |F| component accepted, eV/Å; larger values mean a broken structure.
    first_index : int
        Number of ``structures[0]`` in the error messages (a batch of a larger set: its
        offset in that set), so a failure names the same structure however the set is split.

    Returns
    -------
    dict with ``energies`` (n,), ``forces`` (n, N, 3) and, if requested, ``stresses`` (n, 3, 3).
    """
    calc = make_calculator(spec)
    energies, forces, stresses = [], [], []
    for i, s in enumerate(structures, start=first_index):
        atoms = _as_atoms(s)
        atoms.calc = calc
        try:
            e = atoms.get_potential_energy()
            f = atoms.get_forces()
            st = atoms.get_stress(voigt=False) if stress else None
        except Exception as exc:  # calculators raise anything; report it as an engine error
            raise EngineError(
                f"calculator {spec.get('name')!r} failed on structure {i}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        energies.append(float(_check_finite("energy", e, i)))
        f = _check_finite("forces", f, i)
        if np.abs(f).max(initial=0.0) > max_force:
            raise EngineError(
                f"structure {i} has a force of {np.abs(f).max():.3g} eV/Å "
                f"(> {max_force:g}): atoms too close or displacement too large"
            )
        forces.append(f)
        if stress:
            stresses.append(_check_finite("stress", st, i))
    out = {"energies": np.array(energies), "forces": np.array(forces)}
    if stress:
        out["stresses"] = np.array(stresses)
    return out


def run_md(
    spec: dict,
    atoms,
    temperature: float = 300.0,
    timestep: float = 2.0,
    n_steps: int = 1000,
    interval: int = 10,
    thermostat: str = "nose-hoover",
    tdamp: float | None = None,
    friction: float = 0.01,
    seed: int = 0,
) -> dict:
    """NVT molecular dynamics; returns frames every ``interval`` steps (step 0 excluded).

    Parameters
    ----------
    temperature : K
    timestep : fs
    thermostat : ``"nose-hoover"`` (Nosé–Hoover chain of length 3, ASE's
        ``NoseHooverChainNVT``, damping time ``tdamp`` fs, default 50 time steps, as in the
        seed) or ``"langevin"`` (ASE ``Langevin`` with ``friction`` in 1/fs).
    seed : initial Maxwell–Boltzmann velocities (and Langevin noise) are drawn from
        ``numpy.random.default_rng(seed)``, so runs are reproducible.

    Returns
    -------
    dict with ``positions`` (m, N, 3) Cartesian Å, ``cells`` (m, 3, 3) Å,
    ``energies`` (m,) potential energy eV, ``forces`` (m, N, 3) eV/Å, ``temperatures`` (m,) K,
    ``steps`` (m,) MD step index, ``times`` (m,) fs.
    """
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    atoms = _as_atoms(atoms)
    if len(atoms) < 2:
        raise EngineError(
            "MD needs at least 2 atoms: with one atom per cell every motion is a "
            "rigid translation (and removing it leaves no degree of freedom); run "
            "MD on a supercell"
        )
    atoms.calc = make_calculator(spec)
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
    Stationary(atoms)
    dt = timestep * units.fs
    thermostat = thermostat.lower().replace("_", "-")
    if thermostat in ("nose-hoover", "nosehoover", "nh"):
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        damp = (tdamp if tdamp is not None else 50 * timestep) * units.fs
        dyn = NoseHooverChainNVT(atoms, timestep=dt, temperature_K=temperature, tdamp=damp)
    elif thermostat == "langevin":
        from ase.md.langevin import Langevin

        dyn = Langevin(
            atoms,
            timestep=dt,
            temperature_K=temperature,
            friction=friction / units.fs,
            rng=rng,
            fixcm=False,
        )
    else:
        raise EngineError(f"unknown thermostat {thermostat!r}: use 'nose-hoover' or 'langevin'")
    frames = {k: [] for k in ("positions", "cells", "energies", "forces", "temperatures", "steps")}

    def record():
        step = dyn.nsteps
        if step == 0 or step % interval:
            return
        f = _check_finite("forces", atoms.get_forces())
        frames["positions"].append(_check_finite("positions", atoms.positions.copy()))
        frames["cells"].append(np.asarray(atoms.cell).copy())
        frames["energies"].append(float(atoms.get_potential_energy()))
        frames["forces"].append(f)
        frames["temperatures"].append(float(atoms.get_temperature()))
        frames["steps"].append(step)

    dyn.attach(record, interval=1)
    try:
        dyn.run(int(n_steps))
    except EngineError:
        raise
    except Exception as exc:
        raise EngineError(
            f"MD with calculator {spec.get('name')!r} failed at step "
            f"{dyn.nsteps}: {type(exc).__name__}: {exc}"
        ) from exc
    out = {k: np.array(v) for k, v in frames.items()}
    out["times"] = out["steps"] * float(timestep)
    return out


def relax(
    spec: dict,
    atoms,
    fmax: float = 1.0e-3,
    max_steps: int = 500,
    relax_cell: bool = True,
    keep_symmetry: bool = True,
    symprec: float = 1e-3,
) -> dict:
    """Relax ions (and the cell) with BFGS, keeping the space group (ASE ``FixSymmetry``).

    Parameters
    ----------
    fmax : eV/Å, convergence threshold on forces (and on stress × volume for the cell)
    relax_cell : relax lattice vectors too (``FrechetCellFilter``, hydrostatic pressure 0)
    keep_symmetry : constrain to the initial space group found with ``symprec`` (Å)

    Returns
    -------
    dict with ``structure`` (cell, numbers, positions; Å), ``energy`` eV, ``forces`` (N, 3)
    eV/Å, ``stress`` (3, 3) eV/Å³, ``converged``, ``n_steps``, ``spacegroup_initial`` and
    ``spacegroup_final`` (international symbols with numbers).
    """
    import spglib
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    atoms = _as_atoms(atoms)
    atoms.calc = make_calculator(spec)

    def sg(a):
        return (
            spglib.get_spacegroup((a.cell[:], a.get_scaled_positions(), a.numbers), symprec=symprec)
            or "unknown"
        )

    sg0 = sg(atoms)
    if keep_symmetry:
        from ase.constraints import FixSymmetry

        atoms.set_constraint(FixSymmetry(atoms, symprec=symprec))
    target = FrechetCellFilter(atoms) if relax_cell else atoms
    opt = BFGS(target, logfile=None)
    try:
        converged = bool(opt.run(fmax=fmax, steps=int(max_steps)))
        energy = float(atoms.get_potential_energy())
        forces = _check_finite("forces", atoms.get_forces())
        stress = atoms.get_stress(voigt=False) if relax_cell else np.zeros((3, 3))
    except EngineError:
        raise
    except Exception as exc:
        raise EngineError(
            f"relaxation with calculator {spec.get('name')!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    atoms.set_constraint()
    return {
        "structure": {
            "cell": np.asarray(atoms.cell).tolist(),
            "numbers": atoms.numbers.tolist(),
            "positions": atoms.positions.tolist(),
        },
        "energy": energy,
        "forces": forces,
        "stress": np.asarray(stress),
        "converged": converged,
        "n_steps": int(opt.nsteps),
        "spacegroup_initial": sg0,
        "spacegroup_final": sg(atoms),
    }

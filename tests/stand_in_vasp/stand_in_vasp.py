#!/usr/bin/env python
"""Stand-in VASP executable for the tests of aiida-wigner's VASP engine.

VASP cannot run on a test machine, so this script plays its part: run in a directory that
holds ``INCAR``, ``POSCAR``, ``KPOINTS`` and ``POTCAR`` (as aiida-vasp's ``vasp.vasp``
CalcJob writes them), it computes energies, forces and stresses with an ASE calculator and
writes the files that aiida-vasp 5.1's parser reads, in minimal but valid form:

* ``vasprun.xml``: generator (version), incar, parameters (NELM, NSW, IBRION, ...),
  atominfo, one ``<calculation>`` block per ionic step (structure in direct coordinates,
  forces eV/Å, stress kB with VASP's sign, energies e_fr_energy / e_wo_entrp / e_0_energy
  inside and after each ``<scstep>``), closed by ``</modeling>``;
* ``OUTCAR``: the NSW / IBRION / NELM echo, one ``Iteration k(j)`` line per electronic step
  and one TOTAL-FORCE block per ionic step, the timing block that marks a finished run;
* ``CONTCAR`` (last structure), ``OSZICAR`` (``T=`` and ``E=`` per ionic step, as VASP's
  MD runs print them) and ``XDATCAR``;
* standard output (aiida-vasp's ``vasp_output``), which names ``vasp.`` like VASP does.

What it runs, from the INCAR tags:

* ``NSW = 0`` or ``IBRION = -1``: a single point;
* ``IBRION = 1, 2 or 3``: a relaxation with ASE's BFGS, ions and, for ``ISIF = 3``, the cell
  (``FrechetCellFilter``), the space group kept (``FixSymmetry``, as VASP's ISYM does),
  at most ``NSW`` ionic steps, stopping at max |F| < |EDIFFG| (EDIFFG < 0; default 0.01 eV/Å);
* ``IBRION = 0``: ``NSW`` ionic steps of NVT molecular dynamics with time step ``POTIM`` fs at
  ``TEBEG`` K: ``MDALGO = 2`` Nosé–Hoover (ASE ``NoseHooverChainNVT``, damping time
  40 × POTIM, about the period VASP's ``SMASS = 0`` gives), ``MDALGO = 3`` Langevin
  (``LANGEVIN_GAMMA`` in 1/ps).  Ionic step 1 is the initial configuration, as in VASP.

The ``POTCAR`` is checked against the ``POSCAR`` species (one dataset per species block, in
order; its ``TITEL`` names the element), so a wrong potential mapping fails here as it would
make VASP compute the wrong system.

Environment variables (the tests pass them through ``metadata.options.environment_variables``):

``STAND_IN_VASP_CALCULATOR``  ``emt`` (default; Al, Cu, Ag, Au, Ni, Pd, Pt) or ``lj``.
``STAND_IN_VASP_CRASH``       if set, print a message and exit with status 1 before writing
                              any output (a crashed VASP run).
``STAND_IN_VASP_SEED``        seed of the initial Maxwell–Boltzmann velocities (default 0).

Failures on request (for the tests of the restart handlers of ``wigner.vasp_base``):

``STAND_IN_VASP_SECONDS_PER_STEP``  virtual run time of one ionic step (s).  The walltime is
    read from the job template AiiDA writes in the working directory
    (``.aiida/job_tmpl.json``, ``max_wallclock_seconds``); the run is "killed by the
    scheduler" after ``floor(walltime / seconds_per_step)`` ionic steps: vasprun.xml is cut
    off (no ``finalpos``, no ``</modeling>``), OUTCAR has the header of the step in progress
    but no timing block, CONTCAR holds the last completed step, and the exit status is 137.
``STAND_IN_VASP_SCF_STEPS``  electronic steps each ionic step needs, per ALGO, e.g.
    ``"normal:500,all:30"`` (``*`` for any other ALGO; unlisted: 1).  When that reaches
    NELM the loop stops at NELM unconverged, as VASP does (NELM ``Iteration k(j)`` lines in
    OUTCAR and NELM ``<scstep>`` blocks per ionic step), and the run goes on.

A relaxation that reaches NSW ionic steps before max |F| < |EDIFFG| stops there (ionic loop
not converged); an MD run always ends at NSW, which is its normal end.

Besides VASP's files it writes ``stand_in_record.json``: its own record of every ionic step
(Cartesian positions Å, cells Å, forces eV/Å, energies eV, temperatures K), which the tests
compare with what aiida-vasp parsed.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

import numpy as np

NELM_DEFAULT = 60


# -- inputs ------------------------------------------------------------------------------------


def read_incar(path="INCAR") -> dict:
    """INCAR tags (upper case) -> value strings; ``!`` and ``#`` start comments, ``;`` separates."""
    tags = {}
    with open(path) as fh:
        for raw in fh:
            line = re.split(r"[!#]", raw, maxsplit=1)[0]
            for part in line.split(";"):
                if "=" not in part:
                    continue
                key, value = part.split("=", 1)
                if key.strip():
                    tags[key.strip().upper()] = value.strip()
    return tags


def tag_int(tags, key, default):
    return int(float(tags[key])) if key in tags else default


def tag_float(tags, key, default):
    if key not in tags:
        return default
    return float(tags[key].split()[0].replace("d", "e").replace("D", "e"))


def read_potcar_titles(path="POTCAR") -> list[str]:
    """The element of each dataset in POTCAR, from its ``TITEL = PAW_PBE Cs_sv 08Apr2002`` line."""
    elements = []
    with open(path) as fh:
        for line in fh:
            m = re.match(r"\s*TITEL\s*=\s*\S+\s+(\S+)", line)
            if m:
                elements.append(m.group(1).split("_")[0])
    return elements


def read_poscar(path="POSCAR"):
    """ASE Atoms from a VASP 5 POSCAR (species line present; Direct or Cartesian; scale > 0).

    Written by hand rather than with ``ase.io`` to keep the start-up of each run short.
    """
    from ase import Atoms

    with open(path) as fh:
        lines = [line.strip() for line in fh if line.strip()]
    scale = float(lines[1].split()[0])
    cell = np.array([[float(x) for x in lines[i].split()[:3]] for i in (2, 3, 4)]) * scale
    species, counts = lines[5].split(), [int(n) for n in lines[6].split()]
    row = 7
    if lines[row][0] in "sS":  # Selective dynamics
        row += 1
    direct = lines[row][0] in "dD"
    n = sum(counts)
    coords = np.array([[float(x) for x in lines[row + 1 + i].split()[:3]] for i in range(n)])
    symbols = [s for s, c in zip(species, counts, strict=True) for _ in range(c)]
    if direct:
        return Atoms(symbols=symbols, cell=cell, scaled_positions=coords, pbc=True)
    return Atoms(symbols=symbols, cell=cell, positions=coords * scale, pbc=True)


def _poscar_lines(atoms, comment: str, cell=None, scaled=None) -> list[str]:
    cell = np.asarray(atoms.cell if cell is None else cell)
    blocks, counts = [], []
    for s in atoms.get_chemical_symbols():
        if blocks and blocks[-1] == s:
            counts[-1] += 1
        else:
            blocks.append(s)
            counts.append(1)
    lines = [comment, "   1.0"] + ["  " + " ".join(f"{x:18.10f}" for x in v) for v in cell]
    lines += [
        "  " + " ".join(f"{b:>4s}" for b in blocks),
        "  " + " ".join(f"{c:4d}" for c in counts),
    ]
    if scaled is not None:
        lines.append("Direct")
        lines += ["  " + " ".join(f"{x:16.10f}" for x in p) for p in scaled]
    return lines


def write_contcar(path, atoms, step):
    cell = np.asarray(step["cell"])
    with open(path, "w") as fh:
        fh.write(
            "\n".join(_poscar_lines(atoms, "stand-in CONTCAR", cell, step["scaled_positions"]))
            + "\n"
        )


def write_xdatcar(path, atoms, steps):
    lines = _poscar_lines(atoms, "stand-in XDATCAR", steps[0]["cell"])
    for i, step in enumerate(steps, start=1):
        lines.append(f"Direct configuration= {i:5d}")
        lines += ["  " + " ".join(f"{x:12.8f}" for x in p) for p in step["scaled_positions"]]
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")


def species_blocks(atoms) -> list[str]:
    """Element of each consecutive block of atoms (the POSCAR species line)."""
    blocks = []
    for s in atoms.get_chemical_symbols():
        if not blocks or blocks[-1] != s:
            blocks.append(s)
    return blocks


def make_calculator(name: str):
    name = name.lower()
    if name == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    if name == "lj":
        from ase.calculators.lj import LennardJones

        return LennardJones(sigma=2.3, epsilon=0.4, rc=6.0, smooth=True)
    raise SystemExit(f"stand-in vasp: unknown STAND_IN_VASP_CALCULATOR {name!r} (emt, lj)")


def scf_steps(tags) -> int:
    """Electronic steps of each ionic step: ``STAND_IN_VASP_SCF_STEPS`` for ALGO, at most NELM."""
    wanted = {}
    for item in os.environ.get("STAND_IN_VASP_SCF_STEPS", "").split(","):
        if ":" in item:
            algo, n = item.split(":")
            wanted[algo.strip().lower()] = int(n)
    algo = tags.get("ALGO", "Normal").strip().lower()
    return min(wanted.get(algo, wanted.get("*", 1)), tag_int(tags, "NELM", NELM_DEFAULT))


def ionic_budget() -> int | None:
    """Ionic steps that fit in the job's walltime; None: no limit (no seconds per step set)."""
    per_step = os.environ.get("STAND_IN_VASP_SECONDS_PER_STEP")
    if not per_step:
        return None
    with open(os.path.join(".aiida", "job_tmpl.json")) as fh:
        walltime = json.load(fh).get("max_wallclock_seconds")
    return None if walltime is None else int(float(walltime) // float(per_step))


# -- the runs ----------------------------------------------------------------------------------


def snapshot(atoms, temperature=None) -> dict:
    from ase.units import GPa

    stress = atoms.get_stress(voigt=False)
    return {
        "cell": np.asarray(atoms.cell).tolist(),
        "positions": atoms.positions.tolist(),
        "scaled_positions": atoms.get_scaled_positions(wrap=False).tolist(),
        "forces": atoms.get_forces().tolist(),
        "energy": float(atoms.get_potential_energy()),
        # VASP's stress: kB, positive = compressive (ASE reads it back as -0.1 GPa * kB)
        "stress_kb": (-np.asarray(stress) / (0.1 * GPa)).tolist(),
        "temperature": temperature,
    }


def run_single_point(atoms, tags):
    return [snapshot(atoms)]


def run_relaxation(atoms, tags):
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    nsw = tag_int(tags, "NSW", 0)
    isif = tag_int(tags, "ISIF", 2)
    ediffg = tag_float(tags, "EDIFFG", -0.01)
    fmax = abs(ediffg) if ediffg < 0 else 0.01
    atoms.set_constraint(FixSymmetry(atoms, symprec=1e-4))
    target = FrechetCellFilter(atoms) if isif >= 3 else atoms
    opt = BFGS(target, logfile=None)
    steps = []
    for _ in opt.irun(fmax=fmax, steps=max(nsw - 1, 0)):
        steps.append(snapshot(atoms))
        if len(steps) >= nsw:
            break
    atoms.set_constraint()
    return steps


def run_md(atoms, tags):
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    nsw = tag_int(tags, "NSW", 0)
    potim = tag_float(tags, "POTIM", 0.5)
    tebeg = tag_float(tags, "TEBEG", 0.0)
    mdalgo = tag_int(tags, "MDALGO", 2)
    rng = np.random.default_rng(int(os.environ.get("STAND_IN_VASP_SEED", "0")))
    MaxwellBoltzmannDistribution(atoms, temperature_K=tebeg, rng=rng)
    Stationary(atoms)
    if mdalgo == 3:
        from ase.md.langevin import Langevin

        gamma = tag_float(tags, "LANGEVIN_GAMMA", 10.0)  # 1/ps
        dyn = Langevin(
            atoms,
            timestep=potim * units.fs,
            temperature_K=tebeg,
            friction=gamma / (1000.0 * units.fs),
            rng=rng,
            fixcm=False,
        )
    else:
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        dyn = NoseHooverChainNVT(
            atoms, timestep=potim * units.fs, temperature_K=tebeg, tdamp=40 * potim * units.fs
        )
    steps = [snapshot(atoms, float(atoms.get_temperature()))]
    while len(steps) < nsw:
        dyn.run(1)
        steps.append(snapshot(atoms, float(atoms.get_temperature())))
    return steps


# -- outputs -----------------------------------------------------------------------------------


def _v(values) -> str:
    return " ".join(f"{x:18.10f}" for x in values)


def _structure_xml(step, name=None) -> list[str]:
    head = f'  <structure name="{name}">' if name else "  <structure>"
    lines = [head, "   <crystal>", '    <varray name="basis">']
    lines += [f"     <v>{_v(row)}</v>" for row in step["cell"]]
    lines += [
        "    </varray>",
        f'    <i name="volume">{abs(np.linalg.det(step["cell"])):.8f}</i>',
        "   </crystal>",
        '   <varray name="positions">',
    ]
    lines += [f"    <v>{_v(row)}</v>" for row in step["scaled_positions"]]
    lines += ["   </varray>", "  </structure>"]
    return lines


def _energy_xml(energy, indent) -> list[str]:
    pad = " " * indent
    return [
        f"{pad}<energy>",
        f'{pad} <i name="e_fr_energy">{energy:16.8f}</i>',
        f'{pad} <i name="e_wo_entrp">{energy:16.8f}</i>',
        f'{pad} <i name="e_0_energy">{energy:16.8f}</i>',
        f"{pad}</energy>",
    ]


def write_vasprun(path, atoms, tags, kpoints_text, steps, initial, n_scf=1, killed=False):
    """vasprun.xml of the ionic ``steps`` done, ``n_scf`` electronic steps each; cut off if
    ``killed`` (``initial``: the snapshot of the POSCAR structure)."""
    nsw = tag_int(tags, "NSW", 0)
    ibrion = tag_int(tags, "IBRION", -1 if nsw == 0 else 0)
    kpoints_comment = " ".join(kpoints_text.split()).replace("--", "- -")
    lines = [
        '<?xml version="1.0" encoding="ISO-8859-1"?>',
        "<modeling>",
        " <generator>",
        '  <i name="program" type="string">vasp </i>',
        '  <i name="version" type="string">6.0.0 stand-in (aiida-wigner tests) </i>',
        f'  <i name="date" type="string">{time.strftime("%Y %m %d")} </i>',
        " </generator>",
        " <incar>",
    ]
    lines += [f'  <i type="string" name="{k}">{v}</i>' for k, v in tags.items()]
    lines += [
        " </incar>",
        " <parameters>",
        '  <separator name="electronic">',
        f'   <i type="int" name="NELM">{tag_int(tags, "NELM", NELM_DEFAULT)}</i>',
        f'   <i name="EDIFF">{tag_float(tags, "EDIFF", 1e-4):.3e}</i>',
        "  </separator>",
        '  <separator name="ionic">',
        f'   <i type="int" name="NSW">{nsw}</i>',
        f'   <i type="int" name="IBRION">{ibrion}</i>',
        f'   <i type="int" name="ISIF">{tag_int(tags, "ISIF", 2)}</i>',
        f'   <i name="POTIM">{tag_float(tags, "POTIM", 0.5):.4f}</i>',
        f'   <i name="EDIFFG">{tag_float(tags, "EDIFFG", 1e-3):.3e}</i>',
        "  </separator>",
        " </parameters>",
        " <!-- KPOINTS as given: " + kpoints_comment + " -->",
        " <atominfo>",
        f"  <atoms>{len(atoms)}</atoms>",
        f"  <types>{len(species_blocks(atoms))}</types>",
        '  <array name="atoms">',
        '   <dimension dim="1">ion</dimension>',
        '   <field type="string">element</field>',
        '   <field type="int">atomtype</field>',
        "   <set>",
    ]
    blocks = species_blocks(atoms)
    type_index, current = 0, None
    for s in atoms.get_chemical_symbols():
        if s != current:
            type_index += 1
            current = s
        lines.append(f"    <rc><c>{s:2s}</c><c>{type_index:3d}</c></rc>")
    lines += [
        "   </set>",
        "  </array>",
        f"  <!-- species blocks: {' '.join(blocks)} -->",
        " </atominfo>",
    ]
    lines += _structure_xml(initial, "initialpos")
    for step in steps:
        lines.append(" <calculation>")
        lines += (["  <scstep>"] + _energy_xml(step["energy"], 3) + ["  </scstep>"]) * n_scf
        lines += _structure_xml(step)
        lines.append('  <varray name="forces">')
        lines += [f"   <v>{_v(row)}</v>" for row in step["forces"]]
        lines += ["  </varray>", '  <varray name="stress">']
        lines += [f"   <v>{_v(row)}</v>" for row in step["stress_kb"]]
        lines.append("  </varray>")
        lines += _energy_xml(step["energy"], 2)
        lines.append(" </calculation>")
    if killed:  # the scheduler stopped VASP in the middle of the next ionic step
        with open(path, "w") as fh:
            fh.write("\n".join(lines + [" <calculation>", "  <scstep>"]) + "\n")
        return
    lines += _structure_xml(steps[-1], "finalpos")
    text = "\n".join(lines) + "\n"
    if len(text) < 1100:  # parsevasp looks for </modeling> in the last kB of a longer file
        text += "<!--" + " " * (1100 - len(text)) + "-->\n"
    with open(path, "w") as fh:
        fh.write(text + "</modeling>\n")


def _iteration_line(ionic: int, electronic: int) -> str:
    return (
        f"--------------------------------------- Iteration {ionic:6d}({electronic:4d})  "
        "---------------------------------------"
    )


def write_outcar(path, atoms, tags, steps, n_scf=1, killed=False):
    """OUTCAR of the ionic ``steps`` done, ``n_scf`` electronic steps each; no timing block
    and the header of the step in progress if ``killed``."""
    nsw = tag_int(tags, "NSW", 0)
    lines = [
        " stand-in vasp.6.0.0 (aiida-wigner tests): not a VASP run",
        "",
        f"   NIONS =   {len(atoms)}",
        f"   NELM   = {tag_int(tags, 'NELM', NELM_DEFAULT):6d}",
        f"   NSW    = {nsw:6d}",
        f"   IBRION = {tag_int(tags, 'IBRION', -1 if nsw == 0 else 0):6d}",
        f"   ISIF   = {tag_int(tags, 'ISIF', 2):6d}",
        "",
    ]
    for i, step in enumerate(steps, start=1):
        for j in range(1, n_scf + 1):
            lines += [_iteration_line(i, j), ""]
        lines += [
            " POSITION                                       TOTAL-FORCE (eV/Angst)",
            " " + "-" * 83,
        ]
        for p, f in zip(step["positions"], step["forces"], strict=True):
            lines.append(
                " " + "".join(f"{x:13.5f}" for x in p) + "    " + "".join(f"{x:14.6f}" for x in f)
            )
        e = step["energy"]
        lines += [
            " " + "-" * 83,
            "",
            f"  free  energy   TOTEN  = {e:18.8f} eV",
            "",
            f"  energy  without entropy= {e:18.8f}  energy(sigma->0) = {e:18.8f}",
            "",
        ]
    if killed:
        with open(path, "w") as fh:
            fh.write("\n".join(lines + [_iteration_line(len(steps) + 1, 1)]) + "\n")
        return
    lines += [
        " General timing and accounting informations for this job:",
        " ========================================================",
        "",
        "                  Total CPU time used (sec):        0.010",
        "                            User time (sec):        0.010",
        "                          System time (sec):        0.000",
        "                         Elapsed time (sec):        0.010",
        "",
        "                   Maximum memory used (kb):        1000.",
        "                   Average memory used (kb):          N/A",
        "",
    ]
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")


def write_oszicar(path, steps):
    with open(path, "w") as fh:
        for i, step in enumerate(steps, start=1):
            e = step["energy"]
            if step["temperature"] is not None:
                fh.write(
                    f"{i:6d} T= {step['temperature']:8.2f} E= {e: .8E} F= {e: .8E} "
                    f"E0= {e: .8E}  EK= 0.0 SP= 0.0 SK= 0.0\n"
                )
            else:
                fh.write(f"{i:4d} F= {e: .8E} E0= {e: .8E}  d E =0.0\n")


def main() -> int:
    import warnings

    warnings.simplefilter("ignore")  # keep deprecation notes out of the run's stdout

    print(" running stand-in vasp.6.0.0 (aiida-wigner tests) on 1 core", flush=True)
    if os.environ.get("STAND_IN_VASP_CRASH"):
        print(" stand-in vasp: crashing on request (STAND_IN_VASP_CRASH is set)", flush=True)
        return 1
    tags = read_incar("INCAR")
    atoms = read_poscar("POSCAR")
    with open("KPOINTS") as fh:
        kpoints_text = fh.read()
    titles = read_potcar_titles("POTCAR")
    blocks = species_blocks(atoms)
    if titles != blocks:
        print(
            f" stand-in vasp: POTCAR elements {titles} do not match POSCAR species {blocks}",
            flush=True,
        )
        return 2
    atoms.calc = make_calculator(os.environ.get("STAND_IN_VASP_CALCULATOR", "emt"))
    initial = {
        "cell": np.asarray(atoms.cell).tolist(),
        "scaled_positions": atoms.get_scaled_positions(wrap=False).tolist(),
    }
    nsw = tag_int(tags, "NSW", 0)
    ibrion = tag_int(tags, "IBRION", -1 if nsw == 0 else 0)
    if nsw <= 0 or ibrion < 0:
        steps = run_single_point(atoms, tags)
    elif ibrion == 0:
        steps = run_md(atoms, tags)
    elif ibrion in (1, 2, 3):
        steps = run_relaxation(atoms, tags)
    else:
        print(f" stand-in vasp: IBRION = {ibrion} is not supported", flush=True)
        return 2
    budget = ionic_budget()
    killed = budget is not None and budget < len(steps)
    if killed:
        steps = steps[:budget]
    n_scf = scf_steps(tags)
    print(
        f" stand-in vasp: {len(steps)} ionic step(s) done, {n_scf} electronic step(s) each",
        flush=True,
    )

    write_vasprun("vasprun.xml", atoms, tags, kpoints_text, steps, initial, n_scf, killed)
    write_outcar("OUTCAR", atoms, tags, steps, n_scf, killed)
    write_oszicar("OSZICAR", steps)
    write_contcar("CONTCAR", atoms, steps[-1] if steps else initial)
    if steps:
        write_xdatcar("XDATCAR", atoms, steps)
    record = {
        k: [s[k] for s in steps] for k in ("cell", "positions", "forces", "energy", "temperature")
    }
    with open("stand_in_record.json", "w") as fh:
        json.dump(record, fh)
    if killed:
        print(" stand-in vasp: killed at the walltime (STAND_IN_VASP_SECONDS_PER_STEP)", flush=True)
        return 137
    return 0


if __name__ == "__main__":
    sys.exit(main())

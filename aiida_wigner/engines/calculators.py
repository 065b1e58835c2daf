"""ASE calculators known to the ASE engine, built from a JSON-serializable spec.

A *calculator spec* is a dict such as ``{"name": "sevennet", "model": "7net-0"}``,
``{"name": "chgnet", "model": "0.3.0"}``, ``{"name": "emt"}``,
``{"name": "lj", "sigma": 3.4, "epsilon": 0.0104, "rc": 8.5}`` or
``{"name": "fcp", "fcp": "/path/potential.fcp", "reference": {...}}``.  Specs are
stored in the provenance graph (as ``Dict`` nodes), so they hold only plain values.

Units follow ASE: Å, eV, eV/Å, eV/Å³ (stress).
"""

from __future__ import annotations

import functools

import numpy as np

#: name -> one-line description (used by the CLI's help and the error messages)
CALCULATORS = {
    "sevennet": "SevenNet universal machine-learned potential "
    "(pip install aiida-wigner[sevennet]); "
    "option 'model' (default 7net-0; 7net-l3i5, 7net-mf-0 with 'modal'), 'threads' "
    "(torch CPU threads; 1 is fastest on a loaded machine)",
    "chgnet": "CHGNet universal machine-learned potential, weights shipped in the wheel (pip "
    "install aiida-wigner[chgnet]); option 'model' (0.3.0 default, 0.2.0, r2scan), "
    "'threads' (torch CPU threads)",
    "emt": "ASE effective-medium theory (Al, Cu, Ag, Au, Ni, Pd, Pt; for tests)",
    "lj": "ASE Lennard-Jones, options sigma (Å), epsilon (eV), rc (Å) (for tests)",
    "fcp": "hiphive ForceConstantPotential as a polynomial potential; options 'fcp' (file) and "
    "'reference' (ideal supercell: cell, numbers, positions in Å) (for tests)",
}


class CalculatorSpecError(ValueError):
    """The calculator spec names an unknown calculator or lacks an option."""


@functools.lru_cache(maxsize=4)
def _sevennet(model: str, modal: str | None, device: str):
    try:
        from sevenn.calculator import SevenNetCalculator
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise CalculatorSpecError(
            "the SevenNet engine needs the 'sevenn' package: pip install 'aiida-wigner[sevennet]' "
            "(install a CPU build of torch first, e.g. pip install torch==2.13.0)"
        ) from exc
    kwargs = {"model": model, "device": device}
    if modal:
        kwargs["modal"] = modal
    return SevenNetCalculator(**kwargs)


@functools.lru_cache(maxsize=4)
def _chgnet(model: str, device: str):
    try:
        from chgnet.model import CHGNet, CHGNetCalculator
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise CalculatorSpecError(
            "the CHGNet engine needs the 'chgnet' package: pip install 'aiida-wigner[chgnet]' "
            "(install a CPU build of torch first, e.g. pip install torch==2.13.0)"
        ) from exc
    return CHGNetCalculator(
        CHGNet.load(model_name=model, use_device=device, verbose=False), use_device=device
    )


def _set_threads(spec: dict):
    if spec.get("threads"):
        import torch

        torch.set_num_threads(int(spec["threads"]))


def atoms_from_dict(d: dict):
    """ASE Atoms from ``{"cell": 3x3 Å, "numbers": [...], "positions": Cartesian Å}``."""
    from ase import Atoms

    return Atoms(numbers=d["numbers"], cell=d["cell"], positions=d["positions"], pbc=True)


def atoms_to_dict(atoms) -> dict:
    return {
        "cell": np.asarray(atoms.cell).tolist(),
        "numbers": atoms.numbers.tolist(),
        "positions": atoms.positions.tolist(),
    }


def make_calculator(spec: dict):
    """Return an ASE calculator for a calculator spec (see the module docstring)."""
    spec = dict(spec or {})
    name = str(spec.get("name", "")).lower()
    if name == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    if name in ("lj", "lennard-jones", "lennardjones"):
        from ase.calculators.lj import LennardJones

        kw = {k: float(spec[k]) for k in ("sigma", "epsilon", "rc", "ro") if k in spec}
        kw.setdefault("smooth", True)
        return LennardJones(**kw)
    if name == "sevennet":
        # SevenNet calculators are cached per process: loading the model costs ~1-2 s.
        calc = _sevennet(
            str(spec.get("model", "7net-0")), spec.get("modal"), str(spec.get("device", "cpu"))
        )
        _set_threads(spec)
        calc.reset()
        return calc
    if name == "chgnet":
        # cached like SevenNet: loading the weights costs ~1 s
        calc = _chgnet(str(spec.get("model", "0.3.0")), str(spec.get("device", "cpu")))
        _set_threads(spec)
        calc.reset()
        return calc
    if name == "fcp":
        if "fcp" not in spec or "reference" not in spec:
            raise CalculatorSpecError(
                "the 'fcp' calculator needs options 'fcp' (path of a hiphive "
                ".fcp file) and 'reference' (the ideal supercell)"
            )
        from hiphive import ForceConstantPotential
        from hiphive.calculators import ForceConstantCalculator

        fcp = ForceConstantPotential.read(spec["fcp"])
        fcs = fcp.get_force_constants(atoms_from_dict(spec["reference"]))
        return ForceConstantCalculator(fcs)
    raise CalculatorSpecError(
        f"unknown calculator {spec.get('name')!r}; choose one of {', '.join(sorted(CALCULATORS))}"
    )

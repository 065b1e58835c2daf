"""Stand-in VASP for the tests: the executable ``stand_in_vasp.py`` and its AiiDA set-up.

* :data:`SCRIPT` -- the executable (``#!/usr/bin/env python``); see its docstring for what it
  reads, computes (ASE EMT by default) and writes (vasprun.xml, OUTCAR, CONTCAR, OSZICAR,
  XDATCAR, stdout) and for its environment variables.
* :func:`install_code` -- an ``InstalledCode`` of it on a computer (the tests use the
  ``aiida_localhost`` fixture), with ``default_calc_job_plugin = vasp.vasp``.
* :func:`upload_fake_potcar_family` -- a POTCAR family of fake datasets (headers only: TITEL,
  VRHFIN, LEXCH, POMASS, ZVAL, ENMAX), uploaded with aiida-vasp's
  ``PotcarData.upload_potcar_family``; enough for aiida-vasp to write a POTCAR and for the
  stand-in to check it, useless for a real VASP.
"""

from __future__ import annotations

import os
import pathlib
import sys

SCRIPT = pathlib.Path(__file__).with_name("stand_in_vasp.py")

#: element -> (mass amu, valence electrons) for the fake POTCARs
_ELEMENTS = {
    "Al": (26.982, 3.0),
    "Cu": (63.546, 11.0),
    "Ni": (58.693, 10.0),
    "Au": (196.97, 11.0),
    "Ag": (107.87, 11.0),
    "Pd": (106.42, 10.0),
    "Pt": (195.08, 10.0),
}


def fake_potcar_text(symbol: str) -> str:
    """A POTCAR dataset with only the header aiida-vasp parses (``symbol``: ``Cu``, ``Cu_pv``)."""
    element = symbol.split("_")[0]
    mass, zval = _ELEMENTS[element]
    title = f"PAW_PBE {symbol} 01Jan2000"
    return "\n".join(
        [
            f"  {title}",
            f"  {zval:.1f}",
            " parameters from PSCTR are:",
            f"   VRHFIN ={element}: fake",
            "   LEXCH  = PE",
            f"   TITEL  = {title}",
            "   LULTRA =        F    use ultrasoft PP ?",
            f"   POMASS = {mass:8.3f}; ZVAL   = {zval:8.3f}    mass and valenz",
            "   ENMAX  =  300.000; ENMIN  =  225.000 eV",
            " END of PSCTR-controll parameters",
            " fake dataset written by the aiida-wigner tests; no projectors",
            " End of Dataset",
            "",
        ]
    )


def upload_fake_potcar_family(folder: pathlib.Path, name: str, symbols=("Al", "Cu", "Ni", "Au")):
    """Upload fake POTCARs ``folder/<name>/<symbol>/POTCAR`` as the POTCAR family ``name``.

    Does nothing if the family exists already (the test profile lives for the session).
    """
    from aiida_vasp.data.potcar import PotcarData, PotcarGroup

    if PotcarGroup.collection.find(filters={"label": name}):
        return name
    root = pathlib.Path(folder) / name
    for symbol in symbols:
        path = root / symbol / "POTCAR"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(fake_potcar_text(symbol))
    PotcarData.upload_potcar_family(
        str(root), name, "fake POTCARs for the aiida-wigner tests", stop_if_existing=False
    )
    return name


def install_code(computer, label: str = "stand-in-vasp"):
    """The stand-in as an ``InstalledCode`` on ``computer`` (reused if it exists).

    The job script puts this Python's ``bin`` first on ``PATH`` so that the script's
    ``#!/usr/bin/env python`` finds an interpreter with ASE.
    """
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    try:
        return orm.load_code(f"{label}@{computer.label}")
    except NotExistent:
        pass
    os.chmod(SCRIPT, 0o755)
    python_bin = pathlib.Path(sys.executable).parent
    code = orm.InstalledCode(
        label=label,
        computer=computer,
        filepath_executable=str(SCRIPT),
        default_calc_job_plugin="vasp.vasp",
        prepend_text=f'export PATH="{python_bin}:$PATH"',
    )
    return code.store()

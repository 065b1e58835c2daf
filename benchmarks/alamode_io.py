"""ALAMODE (anphon) input and output files for comparisons with aiida-wigner.

A benchmark/comparison utility (not part of the package).  The force constants go to
anphon as FCSXML through the package's own writer (re-exported here:
:func:`aiida_wigner.physics.io.alamode.write_fcsxml`, whose docstring describes the
format and the unit conversions); this module writes ``anphon`` input files and reads
back the frequencies that ``anphon`` prints or writes.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from aiida_wigner.physics.io.alamode import (  # noqa: F401
    BOHR_IN_ANGSTROM,
    KAYSER_TO_THZ,
    MASS_SCALE,
    AlamodeFormatError,
    _fmt,
    element_labels,
    write_fcsxml,
)


# -- anphon input ---------------------------------------------------------------------
def write_anphon_input(
    path,
    fc,
    fcsxml,
    prefix: str,
    mode: str,
    qpoints,
    general: dict | None = None,
    scph: dict | None = None,
) -> None:
    """anphon input: &general, (&scph), &cell (primitive, Bohr), &kpoint (KPMODE = 0)."""
    setup = fc.setup
    kinds, mass = element_labels(setup)
    gen = {
        "PREFIX": prefix,
        "MODE": mode,
        "FCSXML": str(fcsxml),
        "NKD": len(kinds),
        "KD": " ".join(kinds),
        "MASS": " ".join(f"{mass[k] * MASS_SCALE:.12f}" for k in kinds),
    }
    gen.update(general or {})
    text = ["&general"] + [f"  {k} = {v}" for k, v in gen.items()] + ["/", ""]
    if scph is not None:
        text += ["&scph"] + [f"  {k} = {v}" for k, v in scph.items()] + ["/", ""]
    lat = setup.primitive.lattice / BOHR_IN_ANGSTROM
    text += ["&cell", "  1.0"] + ["  " + " ".join(_fmt(x) for x in row) for row in lat]
    text += ["/", "", "&kpoint", "  0"]
    text += ["  " + " ".join(f"{x:.12f}" for x in q) for q in np.atleast_2d(qpoints)]
    text += ["/", ""]
    Path(path).write_text("\n".join(text))


# -- anphon output --------------------------------------------------------------------
_FREQ_LINE = re.compile(r"^\s*(\d+)\s+(-?\d+\.\d+)\s+cm\^-1")


def read_phonons_stdout(text: str, n_bands: int) -> np.ndarray:
    """Frequencies (n_q, n_bands) in THz from anphon's MODE = phonons (KPMODE = 0) log."""
    vals = [float(m.group(2)) for line in text.splitlines() if (m := _FREQ_LINE.match(line))]
    arr = np.array(vals) * KAYSER_TO_THZ
    if len(arr) % n_bands:
        raise AlamodeFormatError(f"{len(arr)} frequencies is not a multiple of {n_bands}")
    return arr.reshape(-1, n_bands)


def read_eval(path, n_q: int, n_bands: int) -> tuple[np.ndarray, np.ndarray]:
    """``PREFIX.scph_eval`` (or ``scph+bubble(...)_eval``): (temperatures, ν (n_T, n_q, B) THz).

    anphon writes sign(ω²)|ω| in cm⁻¹ (negative = imaginary), one line per
    (k point, mode, temperature).
    """
    data = np.loadtxt(path)
    temps = np.unique(data[:, 2])
    out = np.zeros((len(temps), n_q, n_bands))
    it = np.searchsorted(temps, data[:, 2])
    out[it, data[:, 0].astype(int) - 1, data[:, 1].astype(int) - 1] = data[:, 3] * KAYSER_TO_THZ
    return temps, out

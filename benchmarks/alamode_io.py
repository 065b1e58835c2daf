"""ALAMODE (anphon) files for comparisons with aiida-wigner: FCSXML writer, input, output.

A benchmark/comparison utility (not part of the package).  It writes a
:class:`~aiida_wigner.physics.forceconstants.ForceConstants` as the force-constant XML
file read by ALAMODE's ``anphon`` (tag FCSXML), writes ``anphon`` input files and reads
back the frequencies that ``anphon`` prints or writes.

FCSXML layout as read by anphon (ALAMODE 1.5):

* ``Data.Structure``: supercell (lattice vectors ``a1``..``a3`` as Cartesian rows in
  Bohr, fractional positions, element labels) and ``Data.Symmetry.Translations``
  (``map tran=t atom=p`` → supercell index of primitive atom p after translation t;
  t = 1 must be the identity: the first atom of every cluster is placed there);
* ``Data.ForceConstants.HARMONIC.FC2 pair1="p α" pair2="j β c"``: Ry/Bohr²;
  ``ANHARM3.FC3`` / ``ANHARM4.FC4`` with ``pair1="p α"`` and ``pairk="j β c"``:
  Ry/Bohr^n.  All indices are 1-based; p is a primitive-cell atom, j a supercell atom
  and c the periodic image of j: the shift (0,0,0) (c = 1) or one of the 26
  neighbouring supercells, (ix, iy, iz) ∈ {−1,0,1}³ in loop order, in units of the
  supercell vectors;
* every entry is one term of the lattice sum with its own image, so periodic images
  are expressed by writing one entry per image with the value divided by the number
  of images (for n-th order terms: per atom independently, the convention of
  aiida-wigner and phonopy/phono3py);
* anharmonic entries are expanded by anphon into all orderings of pairs 2..n that are
  distinct by (atom, direction) (``std::next_permutation`` on the index 3j+β).  A
  lattice sum that runs over all orderings is therefore written as the entries whose
  indices 3j+β are non-decreasing from pair 2 to pair n (ties kept in every order):
  this is a one-to-one map for force constants symmetric under permutations.

Unit conversions use ALAMODE's own constants (Bohr, Rydberg) so that nothing but the
amu differs; the masses handed to anphon are rescaled by amu(CODATA 2018)/amu(ALAMODE)
so that both codes see the same ω² = Φ/m in SI units.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import constants as sc

#: ALAMODE's constants (include/constants.h, ALAMODE 1.5)
BOHR_IN_ANGSTROM = 0.52917721092
RYDBERG_J = 4.35974394e-18 / 2.0
ALAMODE_AMU = 1.660538782e-27
RYDBERG_IN_EV = RYDBERG_J / sc.electron_volt
#: anphon prints frequencies in cm⁻¹ ("kayser"); 1 cm⁻¹ = c · 100 Hz
KAYSER_TO_THZ = sc.c * 100.0 / 1e12
#: masses for anphon (amu in ALAMODE's unit) giving the same m in kg as aiida-wigner's amu
MASS_SCALE = sc.atomic_mass / ALAMODE_AMU

_SHIFTS = [(0, 0, 0)] + [(ix, iy, iz) for ix in (-1, 0, 1) for iy in (-1, 0, 1)
                         for iz in (-1, 0, 1) if (ix, iy, iz) != (0, 0, 0)]
_SHIFT_INDEX = {s: k for k, s in enumerate(_SHIFTS)}


class AlamodeFormatError(ValueError):
    """The cell or force constants cannot be expressed in ALAMODE's format."""


# -- structure ----------------------------------------------------------------------
def translations(setup):
    """(map_p2s (n_prim, n_tran), tran index of every supercell atom); tran 0 = identity."""
    sc_cell = setup.supercell
    pos = sc_cell.positions
    n_prim = setup.n_prim
    ref = pos[setup.p2s[setup.s2pp]]
    shift = pos - ref
    shift -= np.floor(shift + 1e-8)  # translation in supercell fractional coordinates
    keys = np.round(shift * 1e6).astype(np.int64)
    unique, tran = np.unique(keys, axis=0, return_inverse=True)
    tran = tran.reshape(-1)
    zero = int(np.nonzero(~unique.any(axis=1))[0][0])
    order = np.r_[zero, np.delete(np.arange(len(unique)), zero)]
    relabel = np.empty_like(order)
    relabel[order] = np.arange(len(order))
    tran = relabel[tran]
    n_tran = len(unique)
    if n_tran * n_prim != setup.n_super:
        raise AlamodeFormatError("the supercell is not n_tran copies of the primitive cell")
    map_p2s = np.full((n_prim, n_tran), -1, dtype=np.int64)
    map_p2s[setup.s2pp, tran] = np.arange(setup.n_super)
    if (map_p2s < 0).any() or not np.array_equal(map_p2s[:, 0], setup.p2s):
        raise AlamodeFormatError("inconsistent primitive/supercell mapping")
    return map_p2s, tran


def image_cells(setup) -> dict[tuple[int, int], list[int]]:
    """Shortest periodic images of (primitive atom i, supercell atom j) as ALAMODE cell
    indices (0-based into the 27 shifts), from the setup's shortest vectors."""
    i, j, vectors, _ = setup.pair_images()
    cart = vectors @ setup.primitive.lattice
    frac_s = cart @ np.linalg.inv(setup.supercell.lattice)
    pos = setup.supercell.positions
    shifts = frac_s - (pos[j] - pos[setup.p2s[i]])
    rounded = np.rint(shifts).astype(np.int64)
    if np.abs(shifts - rounded).max() > 1e-6 or np.abs(rounded).max() > 1:
        raise AlamodeFormatError("a shortest image lies outside the 27 neighbouring supercells")
    out: dict[tuple[int, int], list[int]] = defaultdict(list)
    for ii, jj, s in zip(i, j, rounded):
        out[(int(ii), int(jj))].append(_SHIFT_INDEX[tuple(int(x) for x in s)])
    return dict(out)


def element_labels(setup) -> tuple[list[str], dict[str, float]]:
    """Element symbols in order of first appearance in the supercell, and their masses."""
    symbols = setup.supercell.symbols
    masses = setup.supercell.masses
    kinds: list[str] = []
    mass: dict[str, float] = {}
    for s, m in zip(symbols, masses):
        if s not in mass:
            kinds.append(s)
            mass[s] = float(m)
        elif abs(mass[s] - m) > 1e-10:
            raise AlamodeFormatError(f"atoms of element {s} carry different masses; ALAMODE "
                                     "takes one mass per element")
    return kinds, mass


# -- force constants ----------------------------------------------------------------
def _fmt(x: float) -> str:
    return f"{x:.15e}"


def _fc2_entries(fc2, setup, images, tol):
    conv = BOHR_IN_ANGSTROM**2 / RYDBERG_IN_EV
    out = []
    for i in range(setup.n_prim):
        for j in range(setup.n_super):
            block = fc2[i, j]
            if np.abs(block).max() <= tol:
                continue
            cells = images[(i, j)]
            w = conv / len(cells)
            for c in cells:
                for a in range(3):
                    for b in range(3):
                        v = block[a, b] * w
                        if v != 0.0:
                            out.append((v, f"{i + 1} {a + 1}", (f"{j + 1} {b + 1} {c + 1}",)))
    return out


def _cluster_entries(clusters, order, setup, images, tol):
    """Entries of order n from {(i_prim, j2..jn): tensor (3,)*n in eV/Å^n}."""
    conv = BOHR_IN_ANGSTROM**order / RYDBERG_IN_EV
    out = []
    for (i, *rest), tensor in clusters.items():
        if np.abs(tensor).max() <= tol:
            continue
        cell_lists = [images[(i, j)] for j in rest]
        weight = conv / np.prod([len(c) for c in cell_lists])
        combos = np.array(np.meshgrid(*cell_lists, indexing="ij")).reshape(order - 1, -1).T
        for xyz in np.ndindex(*(3,) * order):
            v = tensor[xyz] * weight
            if v == 0.0:
                continue
            idx = [3 * j + x for j, x in zip(rest, xyz[1:])]
            if any(idx[k] > idx[k + 1] for k in range(order - 2)):
                continue  # anphon generates this ordering from the sorted one
            for cells in combos:
                out.append((v, f"{i + 1} {xyz[0] + 1}",
                            tuple(f"{j + 1} {x + 1} {c + 1}"
                                  for j, x, c in zip(rest, xyz[1:], cells))))
    return out


def _dense_clusters(fc3, setup):
    clusters = {}
    nz = np.nonzero(np.abs(fc3).reshape(fc3.shape[:3] + (-1,)).max(axis=-1) > 0)
    for i, j, k in zip(*nz):
        clusters[(int(i), int(j), int(k))] = fc3[i, j, k]
    return clusters


def _sparse_clusters(fc4, setup):
    prim = {int(p): k for k, p in enumerate(setup.p2s)}
    clusters: dict[tuple, np.ndarray] = {}
    for atoms, values in zip(fc4.atoms, fc4.values):
        key = (prim[int(atoms[0])],) + tuple(int(a) for a in atoms[1:])
        if key in clusters:
            clusters[key] = clusters[key] + values
        else:
            clusters[key] = np.array(values, dtype=float)
    return clusters


def permutation_asymmetry(clusters: dict, order: int) -> float:
    """max |Φ(i; a, b, ...) − Φ(i; permuted)| over the stored clusters (eV/Å^n)."""
    worst = 0.0
    from itertools import permutations

    for (i, *rest), t in clusters.items():
        for perm in permutations(range(order - 1)):
            key = (i,) + tuple(rest[p] for p in perm)
            other = clusters.get(key)
            axes = (0,) + tuple(1 + p for p in perm)
            mine = np.transpose(t, axes)
            if other is None:
                worst = max(worst, float(np.abs(mine).max()))
            else:
                worst = max(worst, float(np.abs(mine - other).max()))
    return worst


def symmetrized_clusters(clusters: dict, order: int) -> dict:
    """Clusters averaged over permutations of atoms 2..n (with their Cartesian axes)."""
    from itertools import permutations

    perms = list(permutations(range(order - 1)))
    out = {}
    for (i, *rest) in clusters:
        acc = 0.0
        for perm in perms:
            # Φ'(i; r) = mean_P Φ(i; P r) with axes permuted back
            key = (i,) + tuple(rest[p] for p in perm)
            t = clusters.get(key)
            if t is None:
                continue
            inv = np.argsort(perm)
            acc = acc + np.transpose(t, (0,) + tuple(1 + q for q in inv))
        out[(i, *rest)] = acc / len(perms)
    return out


def write_fcsxml(fc, path, fc3: bool = True, fc4: bool = True, tol: float = 0.0,
                 symmetrize: bool = False) -> dict:
    """Write ``fc`` as ALAMODE FCSXML; returns counts and the permutation asymmetries.

    ``symmetrize`` averages FC3/FC4 over permutations of atoms 2..n before writing
    (anphon assumes that symmetry); by default the numbers are written as they are and
    the asymmetry is reported.
    """
    setup = fc.setup
    map_p2s, _ = translations(setup)
    images = image_cells(setup)
    kinds, _ = element_labels(setup)
    lat_bohr = setup.supercell.lattice / BOHR_IN_ANGSTROM
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<Data>",
             "  <Description>written by aiida-wigner benchmarks/alamode_io.py</Description>",
             "  <Structure>",
             f"    <NumberOfAtoms>{setup.n_super}</NumberOfAtoms>",
             f"    <NumberOfElements>{len(kinds)}</NumberOfElements>",
             "    <AtomicElements>"]
    lines += [f'      <element number="{k + 1}">{s}</element>' for k, s in enumerate(kinds)]
    lines += ["    </AtomicElements>", "    <LatticeVector>"]
    lines += [f"      <a{k + 1}> {' '.join(_fmt(x) for x in lat_bohr[k])}</a{k + 1}>"
              for k in range(3)]
    lines += ["    </LatticeVector>", "    <Periodicity>1 1 1</Periodicity>", "    <Position>"]
    for k, (p, s) in enumerate(zip(setup.supercell.positions, setup.supercell.symbols)):
        lines.append(f'      <pos index="{k + 1}" element="{s}"> '
                     f'{" ".join(_fmt(x) for x in p)}</pos>')
    lines += ["    </Position>", "  </Structure>", "  <Symmetry>",
              f"    <NumberOfTranslations>{map_p2s.shape[1]}</NumberOfTranslations>",
              "    <Translations>"]
    for t in range(map_p2s.shape[1]):
        for p in range(setup.n_prim):
            lines.append(f'      <map tran="{t + 1}" atom="{p + 1}">{map_p2s[p, t] + 1}</map>')
    lines += ["    </Translations>", "  </Symmetry>", "  <ForceConstants>"]

    info = {}
    blocks = [("HARMONIC", "FC2", _fc2_entries(fc.fc2, setup, images, tol))]
    for order, name, present, getter in ((3, "ANHARM3", fc3 and fc.fc3 is not None,
                                          lambda: _dense_clusters(fc.fc3, setup)),
                                         (4, "ANHARM4", fc4 and fc.fc4 is not None,
                                          lambda: _sparse_clusters(fc.fc4, setup))):
        if not present:
            blocks.append((name, f"FC{order}", []))
            continue
        clusters = getter()
        info[f"asymmetry_fc{order}"] = permutation_asymmetry(clusters, order)
        if symmetrize:
            clusters = symmetrized_clusters(clusters, order)
        blocks.append((name, f"FC{order}", _cluster_entries(clusters, order, setup, images,
                                                            tol)))
    for name, tag, entries in blocks:
        info[f"n_{tag.lower()}"] = len(entries)
        lines.append(f"    <{name}>")
        for v, p1, rest in entries:
            attrs = f'pair1="{p1}"' + "".join(f' pair{k + 2}="{r}"' for k, r in enumerate(rest))
            lines.append(f"      <{tag} {attrs}>{_fmt(v)}</{tag}>")
        lines.append(f"    </{name}>")
    lines += ["  </ForceConstants>", "</Data>", ""]
    Path(path).write_text("\n".join(lines))
    return info


# -- anphon input ---------------------------------------------------------------------
def write_anphon_input(path, fc, fcsxml, prefix: str, mode: str, qpoints,
                       general: dict | None = None, scph: dict | None = None) -> None:
    """anphon input: &general, (&scph), &cell (primitive, Bohr), &kpoint (KPMODE = 0)."""
    setup = fc.setup
    kinds, mass = element_labels(setup)
    gen = {"PREFIX": prefix, "MODE": mode, "FCSXML": str(fcsxml), "NKD": len(kinds),
           "KD": " ".join(kinds),
           "MASS": " ".join(f"{mass[k] * MASS_SCALE:.12f}" for k in kinds)}
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
    vals = [float(m.group(2)) for line in text.splitlines()
            if (m := _FREQ_LINE.match(line))]
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


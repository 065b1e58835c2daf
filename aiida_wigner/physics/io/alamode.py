"""ALAMODE force constants: FCSXML (``.xml``, every order it holds) and ``.fcs`` text.

ALAMODE's ``alm`` writes the fitted force constants twice: as the FCSXML file read by
``anphon`` and as the human-readable ``PREFIX.fcs``.  Both are read here into a
:class:`~aiida_wigner.physics.forceconstants.ForceConstants`; FCSXML is also written
(:func:`write_fcsxml`), which makes every ALAMODE comparison direct.

FCSXML layout (ALAMODE 1.5, ``alm/writer.cpp`` and ``anphon/fcs_phonon.cpp``):

* ``Data.Structure``: supercell (lattice vectors ``a1``..``a3`` as Cartesian rows in
  Bohr, fractional positions, element labels) and ``Data.Symmetry.Translations``
  (``map tran=t atom=p`` → supercell index of primitive atom p after translation t;
  t = 1 is the identity and the first atom of every entry is placed there);
* ``Data.ForceConstants.HARMONIC.FC2 pair1="p α" pair2="j β c"``: Ry/Bohr²;
  ``ANHARM<n>.FC<n>`` with ``pair1="p α"`` and ``pairk="j β c"``: Ry/Bohrⁿ.  Indices are
  1-based; p is a primitive-cell atom, j a supercell atom and c the periodic image of j:
  the shift (0,0,0) (c = 1) or one of the 26 neighbouring supercells,
  (ix, iy, iz) ∈ {−1,0,1}³ in loop order, in units of the supercell vectors;
* every entry is one term of the lattice sum with its own image: alm divides a force
  constant by its multiplicity and writes one entry per image (per *cluster* of images
  for n ≥ 3); this module's writer shares the images of every atom independently (the
  convention of aiida-wigner and phonopy/phono3py);
* anharmonic entries are expanded by anphon into all orderings of pairs 2..n that are
  distinct by (atom, direction) (``std::next_permutation`` on the index 3j+β); alm
  writes only the orderings with non-decreasing 3j+β, and so does :func:`write_fcsxml`.

Reading: the entries of every image are summed into the supercell force constants (the
compact arrays of this package, shared over the shortest images when phonons are
built).  For FC2, and for every order written by :func:`write_fcsxml`, this restores the
input exactly; for alm's FC3/FC4 the supercell sums are exact, while alm's per-cluster
choice of images is replaced by the per-atom sharing of this package (identical at the
q-points commensurate with the supercell).

``PREFIX.fcs`` lists, after "All FCs below", every force constant of the supercell once
per permutation class (``*FC<n>`` groups: value in Ry/Bohrⁿ, then ``index sign
atoms`` lines with atoms as "12x", 1-based supercell atoms, first atom in the primitive
cell).  It holds no structure: it is read with the supercell that alm was given (same
atom order), e.g. from the FCSXML or a POSCAR of that supercell.

Units: ALAMODE's own constants (Bohr, Rydberg) are used for the conversions, so that
nothing but the amu differs; :data:`MASS_SCALE` converts aiida-wigner masses to the amu
of ALAMODE (same kg).  Errors: :class:`~.errors.ForceConstantsFileError` naming the
file (the reader) or :class:`AlamodeFormatError` (the writer).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from itertools import permutations
from pathlib import Path

import numpy as np
from scipy import constants as sc

from ..cell import Cell, CellError, SupercellSetup
from ..forceconstants import ForceConstants, ForceConstantsError, SparseForceConstants
from .errors import ForceConstantsFileError, file_label

#: ALAMODE's constants (include/constants.h, ALAMODE 1.5)
BOHR_IN_ANGSTROM = 0.52917721092
RYDBERG_J = 4.35974394e-18 / 2.0
ALAMODE_AMU = 1.660538782e-27
RYDBERG_IN_EV = RYDBERG_J / sc.electron_volt
#: anphon prints frequencies in cm⁻¹ ("kayser"); 1 cm⁻¹ = c · 100 Hz
KAYSER_TO_THZ = sc.c * 100.0 / 1e12
#: masses for anphon (amu in ALAMODE's unit) giving the same m in kg as aiida-wigner's amu
MASS_SCALE = sc.atomic_mass / ALAMODE_AMU

_SHIFTS = [(0, 0, 0)] + [
    (ix, iy, iz)
    for ix in (-1, 0, 1)
    for iy in (-1, 0, 1)
    for iz in (-1, 0, 1)
    if (ix, iy, iz) != (0, 0, 0)
]
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
    """Map (primitive atom i, supercell atom j) to its shortest images as ALAMODE cells.

    The cells are 0-based indices into the 27 shifts, from the setup's shortest vectors.
    """
    i, j, vectors, _ = setup.pair_images()
    cart = vectors @ setup.primitive.lattice
    frac_s = cart @ np.linalg.inv(setup.supercell.lattice)
    pos = setup.supercell.positions
    shifts = frac_s - (pos[j] - pos[setup.p2s[i]])
    rounded = np.rint(shifts).astype(np.int64)
    if np.abs(shifts - rounded).max() > 1e-6 or np.abs(rounded).max() > 1:
        raise AlamodeFormatError("a shortest image lies outside the 27 neighbouring supercells")
    out: dict[tuple[int, int], list[int]] = defaultdict(list)
    for ii, jj, s in zip(i, j, rounded, strict=True):
        out[(int(ii), int(jj))].append(_SHIFT_INDEX[tuple(int(x) for x in s)])
    return dict(out)


def element_labels(setup) -> tuple[list[str], dict[str, float]]:
    """Element symbols in order of first appearance in the supercell, and their masses."""
    symbols = setup.supercell.symbols
    masses = setup.supercell.masses
    kinds: list[str] = []
    mass: dict[str, float] = {}
    for s, m in zip(symbols, masses, strict=True):
        if s not in mass:
            kinds.append(s)
            mass[s] = float(m)
        elif abs(mass[s] - m) > 1e-10:
            raise AlamodeFormatError(
                f"atoms of element {s} carry different masses; ALAMODE takes one mass per element"
            )
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
            idx = [3 * j + x for j, x in zip(rest, xyz[1:], strict=True)]
            if any(idx[k] > idx[k + 1] for k in range(order - 2)):
                continue  # anphon generates this ordering from the sorted one
            for cells in combos:
                out.append(
                    (
                        v,
                        f"{i + 1} {xyz[0] + 1}",
                        tuple(
                            f"{j + 1} {x + 1} {c + 1}"
                            for j, x, c in zip(rest, xyz[1:], cells, strict=True)
                        ),
                    )
                )
    return out


def _sparse_clusters(fcn, setup):
    prim = {int(p): k for k, p in enumerate(setup.p2s)}
    clusters: dict[tuple, np.ndarray] = {}
    for atoms, values in zip(fcn.atoms, fcn.values, strict=True):
        key = (prim[int(atoms[0])],) + tuple(int(a) for a in atoms[1:])
        if key in clusters:
            clusters[key] = clusters[key] + values
        else:
            clusters[key] = np.array(values, dtype=float)
    return clusters


def permutation_asymmetry(clusters: dict, order: int) -> float:
    """Return max |Φ(i; a, b, ...) − Φ(i; permuted)| over the stored clusters (eV/Å^n)."""
    worst = 0.0
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
    perms = list(permutations(range(order - 1)))
    out = {}
    for i, *rest in clusters:
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


def write_fcsxml(
    fc, path, fc3: bool = True, fc4: bool = True, tol: float = 0.0, symmetrize: bool = False
) -> dict:
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
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<Data>",
        "  <Description>written by aiida-wigner</Description>",
        "  <Structure>",
        f"    <NumberOfAtoms>{setup.n_super}</NumberOfAtoms>",
        f"    <NumberOfElements>{len(kinds)}</NumberOfElements>",
        "    <AtomicElements>",
    ]
    lines += [f'      <element number="{k + 1}">{s}</element>' for k, s in enumerate(kinds)]
    lines += ["    </AtomicElements>", "    <LatticeVector>"]
    lines += [
        f"      <a{k + 1}> {' '.join(_fmt(x) for x in lat_bohr[k])}</a{k + 1}>" for k in range(3)
    ]
    lines += ["    </LatticeVector>", "    <Periodicity>1 1 1</Periodicity>", "    <Position>"]
    supercell = setup.supercell
    for k, (p, s) in enumerate(zip(supercell.positions, supercell.symbols, strict=True)):
        lines.append(
            f'      <pos index="{k + 1}" element="{s}"> {" ".join(_fmt(x) for x in p)}</pos>'
        )
    lines += [
        "    </Position>",
        "  </Structure>",
        "  <Symmetry>",
        f"    <NumberOfTranslations>{map_p2s.shape[1]}</NumberOfTranslations>",
        "    <Translations>",
    ]
    for t in range(map_p2s.shape[1]):
        for p in range(setup.n_prim):
            lines.append(f'      <map tran="{t + 1}" atom="{p + 1}">{map_p2s[p, t] + 1}</map>')
    lines += ["    </Translations>", "  </Symmetry>", "  <ForceConstants>"]

    info = {}
    blocks = [("HARMONIC", "FC2", _fc2_entries(fc.fc2, setup, images, tol))]
    for order, name, present, getter in (
        (3, "ANHARM3", fc3 and fc.fc3 is not None, lambda: _sparse_clusters(fc.fc3, setup)),
        (4, "ANHARM4", fc4 and fc.fc4 is not None, lambda: _sparse_clusters(fc.fc4, setup)),
    ):
        if not present:
            blocks.append((name, f"FC{order}", []))
            continue
        clusters = getter()
        info[f"asymmetry_fc{order}"] = permutation_asymmetry(clusters, order)
        if symmetrize:
            clusters = symmetrized_clusters(clusters, order)
        blocks.append((name, f"FC{order}", _cluster_entries(clusters, order, setup, images, tol)))
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


# -- reading ------------------------------------------------------------------------
def _supercell_setup(lattice, positions, numbers, prim_atoms, label, masses=None):
    """Build the setup from a supercell and the atoms of one translation.

    Returns the setup and the map file atom → setup supercell atom.

    The primitive lattice is the shortest basis of the lattice spanned by the supercell
    vectors and the translations that carry the first primitive atom onto its images.
    """
    positions = np.asarray(positions, dtype=float)
    numbers = np.asarray(numbers)
    n_super, n_prim = len(positions), len(prim_atoms)
    if n_super % n_prim:
        raise ForceConstantsFileError(
            f"{label}: {n_super} supercell atoms are not a multiple of the {n_prim} primitive atoms"
        )
    n_tran = n_super // n_prim
    first = prim_atoms[0]
    same = np.nonzero(numbers == numbers[first])[0]
    cand = positions[same] - positions[first]
    cand -= np.rint(cand)
    # translations: shifts that map every atom onto an atom of the same kind
    ok = []
    for t in cand:
        d = positions[:, None, :] + t - positions[None, :, :]
        d -= np.rint(d)
        hit = (np.abs(d).max(axis=-1) < 1e-5) & (numbers[:, None] == numbers[None, :])
        ok.append(bool(hit.any(axis=1).all()))
    tran = cand[np.array(ok)]
    if len(tran) != n_tran:
        raise ForceConstantsFileError(
            f"{label}: the supercell has {len(tran)} pure translations, but {n_prim} primitive "
            f"atoms in {n_super} need {n_tran}: inconsistent structure"
        )
    vecs = np.vstack([tran, np.eye(3)])
    vecs = vecs[np.linalg.norm(vecs @ lattice, axis=1) > 1e-8]
    lengths = np.linalg.norm(vecs @ lattice, axis=1)
    vecs = vecs[np.argsort(lengths, kind="stable")]
    basis = None
    for i in range(len(vecs)):  # shortest three independent vectors with the right volume
        for j in range(i + 1, len(vecs)):
            for k in range(j + 1, len(vecs)):
                det = np.linalg.det(vecs[[i, j, k]])
                if abs(abs(det) * n_tran - 1) < 1e-6:
                    basis = vecs[[i, j, k]] * np.sign(det)
                    break
            if basis is not None:
                break
        if basis is not None:
            break
    if basis is None:
        raise ForceConstantsFileError(f"{label}: no primitive basis found for the translations")
    smat = np.rint(np.linalg.inv(basis)).astype(np.int64)  # supercell = smat @ primitive
    prim_lattice = np.linalg.inv(smat) @ lattice
    prim_pos = positions[prim_atoms] @ lattice @ np.linalg.inv(prim_lattice)
    unit = Cell(
        prim_lattice,
        prim_pos,
        numbers[prim_atoms],
        masses=None if masses is None else np.asarray(masses)[prim_atoms],
    )
    try:
        setup = SupercellSetup.build(unit, smat)
    except CellError as exc:
        raise ForceConstantsFileError(f"{label}: {exc}") from exc
    frac = setup.supercell.positions @ setup.supercell.lattice @ np.linalg.inv(lattice)
    d = positions[:, None, :] - frac[None, :, :]
    d -= np.rint(d)
    close = np.abs(d).max(axis=-1) < 1e-5
    if not (close.sum(axis=1) == 1).all():
        raise ForceConstantsFileError(
            f"{label}: the supercell atoms could not be matched to "
            f"the supercell built from the primitive cell"
        )
    return setup, np.argmax(close, axis=1)


def _distinct_orderings(index: np.ndarray):
    """Yield (permutation, mask) for entries (M, k) of tail indices.

    The mask marks the entries for which that permutation gives an ordering not produced
    by an earlier one.
    """
    perms = list(permutations(range(index.shape[1])))
    seen = []
    for perm in perms:
        arranged = index[:, perm]
        fresh = np.ones(len(index), dtype=bool)
        for prev in seen:
            fresh &= ~(arranged == prev).all(axis=1)
        seen.append(arranged)
        yield perm, fresh


def _assemble(order, first, first_xyz, tail_atoms, tail_xyz, values, setup, n_prim):
    """Sum entries into the compact FC of ``order`` (dense for 2 and 3, sparse for 4+).

    An entry is (primitive atom, its axis, tail atoms/axes in setup numbering).
    """
    n = setup.n_super
    if order == 2:
        out = np.zeros((n_prim, n, 3, 3))
        np.add.at(out, (first, tail_atoms[:, 0], first_xyz, tail_xyz[:, 0]), values)
        return out
    if order == 3:
        out = np.zeros((n_prim, n, n, 3, 3, 3))
        np.add.at(
            out,
            (first, tail_atoms[:, 0], tail_atoms[:, 1], first_xyz, tail_xyz[:, 0], tail_xyz[:, 1]),
            values,
        )
        return out
    key_atoms = np.column_stack([first, tail_atoms])
    uniq, inv = np.unique(key_atoms, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    vals = np.zeros((len(uniq),) + (3,) * order)
    np.add.at(vals, (inv, first_xyz) + tuple(tail_xyz.T), values)
    atoms = np.column_stack([setup.p2s[uniq[:, 0]], uniq[:, 1:]])
    return SparseForceConstants(order, atoms, vals)


def _expanded(order, first, first_xyz, tail_atoms, tail_xyz, values):
    """Expand FCSXML entries as anphon does.

    Into the orderings of pairs 2..n that are distinct by (atom, axis).
    """
    index = 3 * tail_atoms + tail_xyz
    parts = []
    for perm, fresh in _distinct_orderings(index):
        parts.append(
            (
                first[fresh],
                first_xyz[fresh],
                tail_atoms[fresh][:, perm],
                tail_xyz[fresh][:, perm],
                values[fresh],
            )
        )
    return [np.concatenate(x) for x in zip(*parts, strict=True)]


def _force_constants(setup, arrays: dict, ignored: list, fmt: str, label: str) -> ForceConstants:
    source = {f"fc{n}": {"format": fmt, "file": label} for n in sorted(arrays)}
    if ignored:
        source["ignored_orders"] = ignored
    try:
        return ForceConstants(setup, arrays[2], arrays.get(3), arrays.get(4), source)
    except ForceConstantsError as exc:
        raise ForceConstantsFileError(f"{label}: {exc}") from exc


def _atomic_numbers(symbols, label) -> np.ndarray:
    from ..cell import _atom_data

    table = {row[1]: row[0] for row in _atom_data()}
    unknown = sorted({s for s in symbols if s not in table})
    if unknown:
        raise ForceConstantsFileError(f"{label}: unknown element symbol(s) {unknown}")
    return np.array([table[s] for s in symbols])


def _xml_root(path, label):
    try:
        return ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise ForceConstantsFileError(f"{label}: not a readable FCSXML file ({exc})") from exc


def _fcsxml_structure(root, label, masses=None) -> tuple[Cell, np.ndarray]:
    """Return the supercell (atoms in the file's order) and map_p2s (n_prim, n_tran), 0-based."""
    try:
        struct = root.find("Structure")
        lattice = (
            np.array(
                [
                    [float(x) for x in struct.find(f"LatticeVector/a{k}").text.split()]
                    for k in (1, 2, 3)
                ]
            )
            * BOHR_IN_ANGSTROM
        )
        pos_nodes = sorted(struct.findall("Position/pos"), key=lambda e: int(e.get("index")))
        positions = np.array([[float(x) for x in e.text.split()] for e in pos_nodes])
        symbols = [e.get("element") for e in pos_nodes]
        maps = [
            (int(m.get("tran")), int(m.get("atom")), int(m.text))
            for m in root.findall("Symmetry/Translations/map")
        ]
    except (AttributeError, TypeError, ValueError) as exc:
        raise ForceConstantsFileError(
            f"{label}: FCSXML without a complete Structure/Symmetry section (expected "
            f"LatticeVector a1-a3, Position/pos, Translations/map as written by alm)"
        ) from exc
    if not positions.size or not maps:
        raise ForceConstantsFileError(f"{label}: FCSXML without atoms or translations")
    n_prim = max(a for _, a, _ in maps)
    map_p2s = np.full((n_prim, max(t for t, _, _ in maps)), -1, dtype=np.int64)
    for t, a, j in maps:
        map_p2s[a - 1, t - 1] = j - 1
    if (map_p2s < 0).any() or map_p2s.max() >= len(positions):
        raise ForceConstantsFileError(f"{label}: incomplete or out-of-range Translations map")
    try:
        cell = Cell(lattice, positions, _atomic_numbers(symbols, label), masses=masses)
    except CellError as exc:
        raise ForceConstantsFileError(f"{label}: {exc}") from exc
    return cell, map_p2s


def read_fcsxml_supercell(path, masses=None) -> Cell:
    """Read the supercell of an FCSXML file (atoms in the file's order, Å).

    E.g. for :func:`read_alamode_fcs`.
    """
    label = file_label(path)
    return _fcsxml_structure(_xml_root(path, label), label, masses)[0]


def read_fcsxml(path, masses=None, max_order: int = 4) -> ForceConstants:
    """ForceConstants (eV/Å^n) from an ALAMODE FCSXML file, with its own supercell.

    Every order the file holds up to ``max_order`` is read (HARMONIC and ANHARM3,
    ANHARM4, ...); orders above it are named in ``source["ignored_orders"]``.  ``masses``:
    per supercell atom (amu) or None for natural-abundance masses of the elements.
    """
    label = file_label(path)
    root = _xml_root(path, label)
    supercell, map_p2s = _fcsxml_structure(root, label, masses)
    lattice, positions, numbers = supercell.lattice, supercell.positions, supercell.numbers
    n_prim = len(map_p2s)
    setup, to_setup = _supercell_setup(
        lattice, positions, numbers, map_p2s[:, 0], label, supercell.masses
    )
    # primitive atom p of the file -> index in the setup's primitive cell
    prim_of = setup.s2pp[to_setup[map_p2s[:, 0]]]
    arrays, ignored = {}, []
    fcs = root.find("ForceConstants")
    if fcs is None:
        raise ForceConstantsFileError(f"{label}: FCSXML without a ForceConstants section")
    for block in fcs:
        if block.tag == "HARMONIC":
            order = 2
        elif block.tag.startswith("ANHARM") and block.tag[6:].isdigit():
            order = int(block.tag[6:])
        else:
            continue  # HarmonicUnique, CubicUnique: the irreducible sets, not needed
        if order > max_order:
            ignored.append(order)
            continue
        entries = [e for e in block if e.tag == f"FC{order}"]
        if not entries:
            continue
        try:
            values = np.array([float(e.text) for e in entries])
            p1 = np.array([e.get("pair1").split() for e in entries], dtype=np.int64)
            tail = np.array(
                [[e.get(f"pair{k}").split() for k in range(2, order + 1)] for e in entries],
                dtype=np.int64,
            )  # (M, n-1, 3)
        except (TypeError, ValueError) as exc:
            raise ForceConstantsFileError(f"{label}: malformed FC{order} entry ({exc})") from exc
        if (
            (p1[:, 0] < 1).any()
            or (p1[:, 0] > n_prim).any()
            or (tail[:, :, 0] < 1).any()
            or (tail[:, :, 0] > len(positions)).any()
        ):
            raise ForceConstantsFileError(f"{label}: FC{order} atom index out of range")
        values = values * RYDBERG_IN_EV / BOHR_IN_ANGSTROM**order
        first, first_xyz = prim_of[p1[:, 0] - 1], p1[:, 1] - 1
        tail_atoms, tail_xyz = to_setup[tail[:, :, 0] - 1], tail[:, :, 1] - 1
        if order > 2:
            first, first_xyz, tail_atoms, tail_xyz, values = _expanded(
                order, first, first_xyz, tail_atoms, tail_xyz, values
            )
        arrays[order] = _assemble(
            order, first, first_xyz, tail_atoms, tail_xyz, values, setup, setup.n_prim
        )
    if 2 not in arrays:
        raise ForceConstantsFileError(f"{label}: FCSXML without HARMONIC force constants")
    return _force_constants(setup, arrays, ignored, "alamode-fcsxml", label)


_FCS_GROUP = re.compile(r"^\s*#\s*FC(\d+)_\d+\s+(\d+)\s+(\S+)\s*$")
_FCS_ATOM = re.compile(r"^(\d+)([xyz])$")


def read_alamode_fcs(path, supercell: Cell, max_order: int = 4) -> ForceConstants:
    """ForceConstants (eV/Å^n) from alm's ``PREFIX.fcs`` on the supercell alm was given.

    ``supercell``: that supercell with its atoms in alm's order (from the FCSXML, or a
    structure file of the supercell).  Each listed force constant stands for its whole
    permutation class; the class is rebuilt with every atom in turn moved into the
    primitive cell by a lattice translation.
    """
    label = file_label(path)
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ForceConstantsFileError(f"{label}: cannot read ({exc})") from exc
    try:
        start = next(i for i, ln in enumerate(lines) if "All FCs below" in ln)
    except StopIteration:
        raise ForceConstantsFileError(
            f"{label}: not an alm .fcs file (no 'All FCs below' section)"
        ) from None
    entries: dict[int, list] = defaultdict(list)
    value = order = None
    for ln in lines[start + 1 :]:
        m = _FCS_GROUP.match(ln)
        if m:
            order, value = int(m.group(1)), float(m.group(3))
            continue
        parts = ln.split()
        if order is None or len(parts) != order + 2 or ln.lstrip().startswith("*"):
            continue
        atoms = [_FCS_ATOM.match(x) for x in parts[2:]]
        if not all(atoms):
            raise ForceConstantsFileError(f"{label}: malformed line {ln.strip()!r}")
        entries[order].append(
            (
                value * float(parts[1]),
                [3 * (int(a.group(1)) - 1) + "xyz".index(a.group(2)) for a in atoms],
            )
        )
    if 2 not in entries:
        raise ForceConstantsFileError(f"{label}: no FC2 in the 'All FCs below' section")
    n_super = len(supercell)
    pos = supercell.positions
    if max(i for es in entries.values() for _, idx in es for i in idx) >= 3 * n_super:
        raise ForceConstantsFileError(
            f"{label}: atom index beyond the {n_super} atoms of the supercell given with it"
        )
    # the primitive atoms: those alm puts first; translations map every atom onto them
    firsts = sorted({idx[0] // 3 for es in entries.values() for _, idx in es})
    setup, to_setup = _supercell_setup(
        supercell.lattice, pos, supercell.numbers, firsts, label, supercell.masses
    )
    # translation table: trans[a, b] = image of atom b under the shift taking a to its
    # primitive representative
    rep = setup.s2pp[to_setup]  # primitive index of each file atom (setup numbering)
    prim_file = np.array(firsts)[np.argsort(setup.s2pp[to_setup[firsts]])]
    shift = pos[prim_file[rep]] - pos  # (N, 3): shift moving atom a onto its representative
    trans = np.empty((n_super, n_super), dtype=np.int64)
    for a in range(n_super):  # atoms; each an (N, N) position match
        d = pos[:, None, :] + shift[a] - pos[None, :, :]
        d -= np.rint(d)
        trans[a] = np.argmax(np.abs(d).max(axis=-1) < 1e-5, axis=1)
    arrays, ignored = {}, []
    for order, es in sorted(entries.items()):
        if order > max_order:
            ignored.append(order)
            continue
        vals = np.array([v for v, _ in es]) * RYDBERG_IN_EV / BOHR_IN_ANGSTROM**order
        idx = np.array([i for _, i in es])  # (M, n) flat indices 3a+x
        atoms_all, xyz_all = idx // 3, idx % 3
        keys, key_values = [], []
        for k in range(order):  # atom k moved into the primitive cell, put first
            moved_atoms = trans[atoms_all[:, k][:, None], atoms_all]  # (M, n)
            for perm in permutations([i for i in range(order) if i != k]):
                cols = [k, *perm]
                keys.append(np.column_stack([moved_atoms[:, cols], xyz_all[:, cols]]))
                key_values.append(vals)
        # one value per (atoms, axes): the class members coincide where indices repeat
        keys, first_hit = np.unique(np.concatenate(keys), axis=0, return_index=True)
        values = np.concatenate(key_values)[first_hit]
        first = setup.s2pp[to_setup[keys[:, 0]]]
        tail_atoms = to_setup[keys[:, 1:order]]
        arrays[order] = _assemble(
            order,
            first,
            keys[:, order],
            tail_atoms,
            keys[:, order + 1 :],
            values,
            setup,
            setup.n_prim,
        )
    return _force_constants(setup, arrays, ignored, "alamode-fcs", label)


def alamode_file_kind(path) -> str | None:
    """'fcsxml' or 'fcs' when ``path`` is an ALAMODE force-constant file, else None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    if head.lstrip().startswith(b"<?xml") and b"<Data>" in head:
        return "fcsxml"
    if b"Force Constants (FCs)" in head and b"Rydberg" in head:
        return "fcs"
    return None


def load_alamode(path, structure=None, masses=None, **others) -> ForceConstants:
    """ForceConstants from an ALAMODE file alone: FCSXML, or ``.fcs`` with its supercell.

    The supercell of a ``.fcs`` file comes from ``structure`` (a structure file of the
    supercell alm was given, atoms in alm's order) or, by default, from the FCSXML that
    alm wrote beside it (same prefix, ``.xml``).  ``masses``: ``{symbol: amu}`` or None
    (natural-abundance masses).  ``others``: the other inputs of
    :func:`~.load.load_force_constants`, which must be None (an ALAMODE file carries the
    cell and every order).
    """
    label = file_label(path)
    given = sorted(k for k, v in others.items() if v is not None)
    if given:
        raise ForceConstantsFileError(
            f"{label}: an ALAMODE file carries its own supercell and every order; give it "
            f"alone (not with {', '.join(given)})"
        )
    kind = alamode_file_kind(path)
    if kind == "fcsxml":
        if structure is not None:
            raise ForceConstantsFileError(
                f"{label}: an FCSXML file holds its supercell; give no structure with it"
            )
        supercell = read_fcsxml_supercell(path)
    elif kind == "fcs":
        if structure is not None:
            from .structure import read_structure

            supercell = read_structure(structure)
        else:
            xml = Path(path).with_suffix(".xml")
            if alamode_file_kind(xml) != "fcsxml":
                raise ForceConstantsFileError(
                    f"{label}: a .fcs file holds no structure: put alm's {xml.name} beside it, "
                    f"or give the supercell alm was given as the structure"
                )
            supercell = read_fcsxml_supercell(xml)
    else:
        raise ForceConstantsFileError(f"{label}: not an ALAMODE FCSXML or .fcs file")
    if masses is not None:
        if not isinstance(masses, dict):
            raise ForceConstantsFileError(
                f"{label}: masses for an ALAMODE file are given per element, {{symbol: amu}}"
            )
        unknown = sorted(set(masses) - set(supercell.symbols))
        if unknown:
            raise ForceConstantsFileError(
                f"{label}: masses given for {unknown}, but the "
                f"supercell holds only {sorted(set(supercell.symbols))}"
            )
        supercell = supercell.with_masses(
            [masses.get(s, m) for s, m in zip(supercell.symbols, supercell.masses, strict=True)]
        )
    if kind == "fcsxml":
        return read_fcsxml(path, masses=supercell.masses)
    return read_alamode_fcs(path, supercell)

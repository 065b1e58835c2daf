"""hiphive fits of force constants up to 6th order, with structure-wise cross-validation.

Conventions
-----------
* Cutoffs are given per order, Å, as ``{2: r2, 3: r3, ...}`` (or a list starting at
  order 2, hiphive's convention).  Orders beyond the last cutoff are absent.
* Training data: displacements ``u`` (m, N, 3) Å from the ideal supercell, forces
  ``f`` (m, N, 3) eV/Å.  RMSE values are over force components, eV/Å.
* Harmonic part (``harmonic='fixed'``, the seed's choice): the order-2 parameters of
  the cluster space are fitted by least squares to the finite-displacement dataset
  (0.01 Å, where anharmonic forces are negligible) and kept fixed; the anharmonic
  parameters are then fitted to the remaining forces of the training set.  With
  ``harmonic_fc2`` (phonopy's FC2 from the same displacements, every pair of the
  supercell, no cutoff) the forces it gives are what is subtracted and predicted for
  the harmonic part, so the order-2 cutoff truncates only the ``.fcp``'s own FC2 and
  not the harmonic model used downstream (ALAMODE's workflow in the seed: harmonic
  force constants without cutoff).
  ``harmonic='joint'`` fits all orders together on the training set (plus the
  displacement dataset if one is given).
* Translational (acoustic) sum rules are built into hiphive's cluster space;
  rotational sum rules (Huang, Born-Huang) can be enforced on the fitted parameters.
* Force-constant arrays are indexed by the atoms of the supercell passed in (phonopy's
  atom order in this package), eV/Å^n.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

#: fit methods accepted (trainstation names)
FIT_METHODS = (
    "least-squares",
    "lasso",
    "adaptive-lasso",
    "ardr",
    "rfe",
    "ridge",
    "bayesian-ridge",
    "elasticnet",
    "split-bregman",
    "omp",
)


class FitError(ValueError):
    """The fit cannot be set up (bad cutoffs, too few data) or failed."""


class TooManyParametersError(FitError):
    """More free parameters than :data:`MAX_PARAMETER_RATIO` times the force components."""


#: Å kept below half the shortest supercell lattice vector (see :func:`cutoff_limit`)
CUTOFF_MARGIN = 0.01
#: default largest ratio of free fit parameters to force components (fit matrix rows)
MAX_PARAMETER_RATIO = 1.0


@dataclass
class FitResult:
    """Outcome of :func:`fit_force_constants`.

    ``scores``: ``rmse_train``, ``rmse_validation``, ``r2_train``, ``r2_validation`` (eV/Å for
    RMSE), ``rmse_validation_splits``, ``n_parameters`` per order, ``n_nonzero`` per
    order, ``force_rms`` (RMS of training forces, eV/Å) and the relative validation RMSE.
    ``ensemble``: the parameter vectors of the bootstrap members
    (:mod:`aiida_wigner.fitting.ensemble`), empty without an ensemble.
    """

    fcp: object
    cluster_space: object
    parameters: np.ndarray
    scores: dict = field(default_factory=dict)
    ensemble: list = field(default_factory=list)


def _cutoff_list(cutoffs) -> list[float]:
    if isinstance(cutoffs, dict):
        orders = sorted(int(k) for k in cutoffs)
        if orders != list(range(2, orders[-1] + 1)):
            raise FitError(
                f"cutoffs must be given for consecutive orders starting at 2, got orders {orders}"
            )
        cut = [float(cutoffs[k] if k in cutoffs else cutoffs[str(k)]) for k in orders]
    else:
        cut = [float(c) for c in cutoffs]
    if not 1 <= len(cut) <= 5:
        raise FitError(f"give cutoffs for orders 2 to at most 6, got {len(cut)} values")
    if any(c <= 0 for c in cut):
        raise FitError(f"cutoffs must be positive (Å), got {cut}")
    return cut


def build_cluster_space(prim, cutoffs, symprec: float = 1e-5):
    """Build the hiphive ClusterSpace of the primitive cell ``prim`` (ase.Atoms), cutoffs in Å."""
    from hiphive import ClusterSpace

    return ClusterSpace(prim, _cutoff_list(cutoffs), symprec=symprec)


def cutoff_limit(cell) -> float:
    """Largest cutoff (Å) a supercell with lattice vectors ``cell`` (rows, Å) allows.

    Rule: the radius of the sphere inscribed in the supercell's Wigner-Seitz cell, i.e. half
    its shortest lattice vector (Minkowski-reduced), minus :data:`CUTOFF_MARGIN`, rounded
    down to 0.01 Å (so that the limit printed is the limit used).  A pair
    closer than that has exactly one nearest periodic image, so every cluster within the
    cutoffs is one cluster of the crystal and hiphive finds it in one orbit (at or beyond
    half a lattice vector hiphive stops with "Found cluster ... in two orbits").  For
    orthogonal supercells this is half the shortest perpendicular height; for skewed ones
    (fcc primitive multiples) it is larger than that, and still exact.
    """
    from ase.geometry import minkowski_reduce

    reduced, _ = minkowski_reduce(np.asarray(cell, dtype=float))
    half = 0.5 * float(np.linalg.norm(reduced, axis=1).min())
    return float(np.floor(100 * (half - CUTOFF_MARGIN)) / 100)


def supercell_cutoffs(cutoffs, cell, cap: bool = False) -> tuple[list[float], dict]:
    """``cutoffs`` (see :func:`fit_force_constants`) checked against the supercell ``cell``.

    Returns the cutoffs to use (a list from order 2) and ``{order: [asked, used]}`` for those
    lowered.  With ``cap`` (protocol cutoffs) a cutoff above :func:`cutoff_limit` is lowered
    to it; without (cutoffs the user chose) it is a :class:`FitError` naming the limit.
    """
    cut = _cutoff_list(cutoffs)
    limit = cutoff_limit(cell)
    too_large = {order: c for order, c in enumerate(cut, start=2) if c > limit}
    if too_large and not cap:
        order, c = max(too_large.items(), key=lambda item: item[1])
        raise FitError(
            f"cutoff {c:.2f} Å of order {order} exceeds the largest this supercell "
            f"allows, {limit:.2f} Å (half its shortest lattice vector, minus "
            f"{CUTOFF_MARGIN} Å): use cutoffs <= {limit:.2f} Å or a larger supercell"
        )
    capped = {str(order): [c, limit] for order, c in too_large.items()}
    return [min(c, limit) for c in cut], capped


def check_parameter_count(
    cs,
    n_rows: int,
    fixed_orders=(),
    ratio: float = MAX_PARAMETER_RATIO,
    n_structures: int | None = None,
) -> None:
    """Refuse a fit whose free parameters exceed ``ratio`` x ``n_rows`` force components.

    ``cs`` is the hiphive ClusterSpace (its ``n_dofs`` per order cost nothing next to the fit
    matrix); ``fixed_orders`` are not fitted (order 2 with ``harmonic='fixed'``).  The fit
    matrix has ``n_rows`` x free-parameter float64 entries: above the ratio the least-squares
    problem is underdetermined and the matrix alone can exhaust the memory.
    """
    per_order = {
        int(o): int(cs.get_n_dofs_by_order(o))
        for o in cs.cutoffs.orders
        if int(o) not in fixed_orders
    }
    _refuse_above(per_order, n_rows, ratio, n_structures, "free parameters")


def check_estimated_parameter_count(
    prim,
    cutoffs,
    n_rows: int,
    fixed_orders=(),
    ratio: float = MAX_PARAMETER_RATIO,
    n_structures: int | None = None,
) -> None:
    """:func:`check_parameter_count` before the ClusterSpace exists, in seconds.

    Uses the geometric estimate of :mod:`aiida_wigner.fitting.size` (``cutoffs`` in Å for
    orders 2, 3, ...) scaled by its lower bound ``FREE_FRACTION``, so it refuses only fits
    that the exact count would refuse too; the exact check still runs afterwards.
    """
    from .size import FREE_FRACTION, estimate_per_order

    estimate = estimate_per_order(prim, cutoffs)
    per_order = {
        o: int(FREE_FRACTION * n) for o, n in estimate.items() if o not in set(fixed_orders)
    }
    _refuse_above(
        per_order,
        n_rows,
        ratio,
        n_structures,
        f"free parameters at least (geometric estimate {sum(estimate.values())} x "
        f"{FREE_FRACTION}, before the ClusterSpace is built)",
    )


def _refuse_above(per_order: dict, n_rows: int, ratio: float, n_structures, what: str) -> None:
    n_free = sum(per_order.values())
    if n_free <= ratio * n_rows:
        return
    largest = max(per_order, key=per_order.get)
    counts = ", ".join(f"order {o}: {n}" for o, n in sorted(per_order.items()))
    need = ""
    if n_structures:
        per_structure = n_rows / n_structures
        need = f" (at least {int(np.ceil(n_free / ratio / per_structure))} structures)"
    raise TooManyParametersError(
        f"{n_free} {what} ({counts}) but only {n_rows} force components to fit them "
        f"(a {n_rows} x {n_free} fit matrix, {8e-9 * n_rows * n_free:.1f} GB): lower the "
        f"cutoffs (order {largest} has the most), add training structures{need}, or raise "
        f"max_parameter_ratio (now {ratio:g} parameters per force component)"
    )


def select_snapshots(n_frames: int, n_snapshots: int, discard: int = 0) -> np.ndarray:
    """Pick ``n_snapshots`` frame indices at regular intervals after the first ``discard``."""
    avail = np.arange(discard, n_frames)
    if len(avail) < n_snapshots:
        raise FitError(
            f"only {len(avail)} MD frames after discarding {discard}, but "
            f"{n_snapshots} snapshots requested: run longer MD or take fewer snapshots"
        )
    pick = np.linspace(0, len(avail) - 1, n_snapshots).round().astype(int)
    return avail[pick]


def rattle_fixed_amplitude(n_atoms: int, amplitude: float, rng) -> np.ndarray:
    """Displacements (n_atoms, 3) Å of fixed length ``amplitude`` in uniformly random directions."""
    v = rng.normal(size=(n_atoms, 3))
    v /= np.linalg.norm(v, axis=1)[:, None]
    return amplitude * v


def _sensitivity(cs, ideal, displacements, forces):
    from hiphive import StructureContainer

    sc = StructureContainer(cs)
    for u, f in zip(displacements, forces, strict=False):
        atoms = ideal.copy()  # hiphive wants ideal positions plus a 'displacements' array
        atoms.new_array("displacements", np.asarray(u, dtype=float))
        atoms.new_array("forces", np.asarray(f, dtype=float))
        sc.add_structure(atoms)
    A, y = sc.get_fit_data()
    return A, y


def _rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def _r2(pred, y):
    ss = float(np.sum((y - np.mean(y)) ** 2))
    return float(1 - np.sum((y - pred) ** 2) / ss) if ss > 0 else float("nan")


def _fit(A, y, method, fit_kwargs):
    from trainstation import fit

    if A.shape[1] == 0:
        return np.zeros(0)
    return np.asarray(fit(A, y, method, **fit_kwargs)["parameters"])


def fit_force_constants(
    prim,
    ideal_supercell,
    displacements,
    forces,
    cutoffs,
    method: str = "least-squares",
    harmonic: Literal["joint", "fixed"] = "joint",
    harmonic_displacements=None,
    harmonic_forces=None,
    validation: dict | None = None,
    rotational_sum_rules=(),
    fit_kwargs: dict | None = None,
    seed: int = 42,
    cluster_space=None,
    harmonic_fc2=None,
    cap_cutoffs: bool = False,
    max_parameter_ratio: float = MAX_PARAMETER_RATIO,
    ensemble_size: int = 0,
    ensemble_seed: int = 0,
) -> FitResult:
    """Fit a hiphive ForceConstantPotential to forces.

    Parameters
    ----------
    prim, ideal_supercell : ase.Atoms
        Primitive cell and the undisplaced supercell the displacements refer to.
    displacements, forces : array_like of float, shape (m, N, 3)
        Training set (MD snapshots plus random displacements), Å and eV/Å.
    cutoffs : dict of int to float, or sequence of float
        Cluster cutoffs in Å: {order: cutoff}, or a list for orders 2, 3, ...
    method : str
        One of :data:`FIT_METHODS` (trainstation names).
    harmonic : {"joint", "fixed"}
        How the harmonic part is fitted (see the module docstring).
    harmonic_displacements, harmonic_forces : array_like of float, shape (m2, N, 3), optional
        Finite-displacement dataset, Å and eV/Å; required for ``harmonic='fixed'``.
    validation : dict, optional
        ``{"method": "k-fold", "n_splits": 5}`` (structure-wise folds) or
        ``{"method": "split", "train_fraction": 0.8}``; ``None`` means 5-fold (or
        leave-one-out with fewer than 5 structures).
    rotational_sum_rules : sequence of str
        A subset of ``("Huang", "Born-Huang")``.
    fit_kwargs : dict, optional
        Passed to trainstation's ``fit``.
    seed : int
        Random seed of the validation folds.
    cluster_space : hiphive.ClusterSpace, optional
        A cluster space already built for ``prim`` and ``cutoffs`` (saves its set-up).
    harmonic_fc2 : ndarray of float, shape (N, N, 3, 3), optional
        With ``harmonic='fixed'``: the full FC2 of ``ideal_supercell`` (its atom order,
        eV/Å²) from the same displacements; its forces -Φ2·u replace those of the
        cutoff-limited order-2 parameters.
    cap_cutoffs : bool
        Lower cutoffs above :func:`cutoff_limit` of ``ideal_supercell`` to it (protocol
        cutoffs; recorded in ``scores['cutoffs_capped']``) instead of refusing them.
    max_parameter_ratio : float
        Refuse more free parameters than this times the force components
        (:func:`check_parameter_count`), before the fit matrix is built.
    ensemble_size, ensemble_seed : int
        With ``ensemble_size`` >= 2, also fit that many bootstrap members
        (:func:`~aiida_wigner.fitting.ensemble.bootstrap_structure_sets`, seeded by
        ``ensemble_seed``) with the same cluster space, method and fixed harmonic part;
        their parameters are ``FitResult.ensemble``, their out-of-bag RMSE is in
        ``scores['ensemble']``.

    Returns
    -------
    FitResult
        The potential, the cluster space, the parameters and the scores.

    Raises
    ------
    TooManyParametersError
        If the cutoffs give more parameters than the data can determine.
    FitError
        For inconsistent inputs.
    """
    from hiphive import ForceConstantPotential, enforce_rotational_sum_rules

    if method not in FIT_METHODS:
        raise FitError(f"unknown fit method {method!r}; choose one of {', '.join(FIT_METHODS)}")
    if harmonic not in ("joint", "fixed"):
        raise FitError(f"harmonic must be 'joint' or 'fixed', got {harmonic!r}")
    if harmonic == "fixed" and (harmonic_displacements is None or harmonic_forces is None):
        raise FitError(
            "harmonic='fixed' needs the finite-displacement dataset "
            "(harmonic_displacements, harmonic_forces)"
        )
    u = np.asarray(displacements, dtype=float)
    f = np.asarray(forces, dtype=float)
    if u.shape != f.shape or u.ndim != 3 or u.shape[1] != len(ideal_supercell):
        raise FitError(
            f"displacements {u.shape} and forces {f.shape} must both be "
            f"(m, {len(ideal_supercell)}, 3)"
        )
    if len(u) < 2:
        raise FitError("need at least 2 training structures for a validated fit")
    cut, capped = supercell_cutoffs(cutoffs, ideal_supercell.cell, cap=cap_cutoffs)
    n_rows = 3 * len(ideal_supercell)
    extra_rows = (
        0
        if harmonic == "fixed" or harmonic_displacements is None
        else np.size(harmonic_displacements)
    )
    count = {
        "n_rows": n_rows * len(u) + extra_rows,
        "fixed_orders": (2,) if harmonic == "fixed" else (),
        "ratio": max_parameter_ratio,
        "n_structures": len(u),
    }
    if cluster_space is None:  # refuse in seconds what the ClusterSpace (hours) would refuse
        check_estimated_parameter_count(prim, cut, **count)
    cs = cluster_space if cluster_space is not None else build_cluster_space(prim, cut)
    orders = list(cs.cutoffs.orders)
    check_parameter_count(cs, **count)
    idx2 = np.array(cs.get_parameter_indices(2), dtype=int)
    mask_anh = np.ones(cs.n_dofs, dtype=bool)
    mask_anh[idx2] = False
    fit_kwargs = dict(fit_kwargs or {})

    A, y = _sensitivity(cs, ideal_supercell, u, f)
    params_fixed = np.zeros(cs.n_dofs)
    if harmonic == "fixed":
        Ah, yh = _sensitivity(cs, ideal_supercell, harmonic_displacements, harmonic_forces)
        p2, *_ = np.linalg.lstsq(Ah[:, idx2], yh, rcond=None)
        params_fixed[idx2] = p2
        free = mask_anh
        A_extra = None
    else:
        free = np.ones(cs.n_dofs, dtype=bool)
        A_extra = None
        if harmonic_displacements is not None and harmonic_forces is not None:
            A_extra = _sensitivity(cs, ideal_supercell, harmonic_displacements, harmonic_forces)
    fixed_forces = A @ params_fixed
    if harmonic == "fixed" and harmonic_fc2 is not None:
        fc2 = np.asarray(harmonic_fc2, dtype=float)
        if fc2.shape != (len(ideal_supercell), len(ideal_supercell), 3, 3):
            raise FitError(
                f"harmonic_fc2 must be (N, N, 3, 3) for the {len(ideal_supercell)}-"
                f"atom supercell, got {fc2.shape}"
            )
        fixed_forces = -np.einsum("ijab,mjb->mia", fc2, u).reshape(-1)
    y_free = y - fixed_forces
    A_free = A[:, free]

    # structure-wise validation
    m = len(u)
    validation = dict(validation or {})
    vmethod = validation.get("method", "k-fold")
    rng = np.random.default_rng(seed)
    order_idx = rng.permutation(m)
    if vmethod == "k-fold":
        k = int(validation.get("n_splits", min(5, m)))
        k = max(2, min(k, m))
        folds = np.array_split(order_idx, k)
    elif vmethod == "split":
        n_train = int(round(float(validation.get("train_fraction", 0.8)) * m))
        n_train = min(max(n_train, 1), m - 1)
        folds = [order_idx[n_train:]]
    else:
        raise FitError(f"validation method must be 'k-fold' or 'split', got {vmethod!r}")

    def rows(structs):
        return np.concatenate([np.arange(s * n_rows, (s + 1) * n_rows) for s in structs])

    val_rmse, val_pred, val_true = [], [], []
    for fold in folds:
        train = np.setdiff1d(np.arange(m), fold)
        At, yt = A_free[rows(train)], y_free[rows(train)]
        if A_extra is not None:
            At = np.vstack([At, A_extra[0][:, free]])
            yt = np.concatenate([yt, A_extra[1]])
        p = _fit(At, yt, method, fit_kwargs)
        pred = A_free[rows(fold)] @ p
        val_rmse.append(_rmse(pred, y_free[rows(fold)]))
        val_pred.append(pred + fixed_forces[rows(fold)])
        val_true.append(y[rows(fold)])

    def fit_structures(structs):
        At, yt = A_free[rows(structs)], y_free[rows(structs)]
        if A_extra is not None:
            At = np.vstack([At, A_extra[0][:, free]])
            yt = np.concatenate([yt, A_extra[1]])
        p = params_fixed.copy()
        p[free] = _fit(At, yt, method, fit_kwargs)
        if rotational_sum_rules:
            p = enforce_rotational_sum_rules(cs, p, list(rotational_sum_rules))
        return p

    params = fit_structures(np.arange(m))
    members, oob_rmse = [], []
    if ensemble_size:
        from .ensemble import BOOTSTRAP_METHOD, bootstrap_structure_sets, out_of_bag

        for structs in bootstrap_structure_sets(m, ensemble_size, ensemble_seed):
            members.append(fit_structures(structs))
            oob = out_of_bag(structs, m)
            if oob.size:
                pred = A_free[rows(oob)] @ members[-1][free] + fixed_forces[rows(oob)]
                oob_rmse.append(_rmse(pred, y[rows(oob)]))
    full_fc2 = harmonic == "fixed" and harmonic_fc2 is not None
    pred_train = A[:, free] @ params[free] + fixed_forces if full_fc2 else A @ params
    vp, vt = np.concatenate(val_pred), np.concatenate(val_true)
    force_rms = float(np.sqrt(np.mean(y**2)))
    scores = {
        "rmse_train": _rmse(pred_train, y),
        "r2_train": _r2(pred_train, y),
        "rmse_validation": _rmse(vp, vt),
        "r2_validation": _r2(vp, vt),
        "rmse_validation_splits": [float(v) for v in val_rmse],
        "force_rms": force_rms,
        "relative_rmse_validation": _rmse(vp, vt) / force_rms if force_rms > 0 else float("nan"),
        "validation": {"method": vmethod, "n_splits": len(folds)},
        "method": method,
        "harmonic": harmonic,
        "harmonic_fc2": (
            "full finite-displacement FC2 (no cutoff)"
            if full_fc2
            else "order-2 parameters of the cluster space"
        ),
        "cutoffs": {str(o): c for o, c in zip(orders, cut, strict=True)},
        "cutoffs_capped": capped,
        "cutoff_limit": cutoff_limit(ideal_supercell.cell),
        "n_structures": m,
        "n_parameters": {str(o): int(cs.get_n_dofs_by_order(o)) for o in orders},
        "n_nonzero": {
            str(o): int(np.count_nonzero(params[cs.get_parameter_indices(o)])) for o in orders
        },
        "rotational_sum_rules": list(rotational_sum_rules),
        "units": {"rmse": "eV/Å", "cutoffs": "Å", "cutoff_limit": "Å"},
    }
    if members:
        scores["ensemble"] = {
            "size": len(members),
            "seed": int(ensemble_seed),
            "method": BOOTSTRAP_METHOD,
            "rmse_out_of_bag": [float(v) for v in oob_rmse],
        }
    fcp = ForceConstantPotential(cs, params)
    return FitResult(fcp=fcp, cluster_space=cs, parameters=params, scores=scores, ensemble=members)


def _ordered_clusters(fcs, order: int, p2s):
    """All distinct orderings (first atom in ``p2s``) of the clusters of hiphive ``fcs``."""
    p2s_set = set(int(i) for i in p2s)
    atoms, values = [], []
    for cluster, tensor in fcs.get_fc_dict(order).items():
        if not p2s_set.intersection(cluster):
            continue
        done = set()
        for perm in itertools.permutations(range(order)):
            ordered = tuple(int(cluster[p]) for p in perm)
            if ordered[0] not in p2s_set or ordered in done:
                continue
            done.add(ordered)
            atoms.append(ordered)
            values.append(np.transpose(tensor, perm))
    return (
        np.array(atoms, dtype=np.int64).reshape(-1, order),
        np.array(values, dtype=float).reshape((-1,) + (3,) * order),
    )


def fcp_to_force_constants(fcp, setup, orders=(2, 3, 4), source: dict | None = None):
    """:class:`aiida_wigner.physics.forceconstants.ForceConstants` from a hiphive FCP.

    ``setup`` is a :class:`~aiida_wigner.physics.cell.SupercellSetup`; force constants
    are evaluated on its supercell (phonopy atom order).  FC2 and FC3 are stored compact
    (first index on primitive atoms), FC4 sparse; orders 5 and 6 stay in the ``.fcp``.
    An FC3 that is zero everywhere (e.g. every cubic parameter zeroed by a sparse fit) is
    left out and listed in ``source['zero_orders']``: a zero FC3 is refused by
    :class:`~aiida_wigner.physics.forceconstants.ForceConstants`.
    """
    from ..physics.forceconstants import ForceConstants, SparseForceConstants

    fcs = fcp.get_force_constants(setup.supercell.to_ase())
    have = set(int(o["order"]) for o in fcp.orbit_data)
    N, p2s = setup.n_super, setup.p2s
    fc2 = fcs.get_fc_array(2)[p2s]
    fc3 = fc4 = None
    if 3 in orders and 3 in have:
        atoms3, vals3 = _ordered_clusters(fcs, 3, p2s)
        fc3 = np.zeros((len(p2s), N, N, 3, 3, 3))
        first = (
            np.searchsorted(p2s, atoms3[:, 0])
            if np.all(np.diff(p2s) > 0)
            else np.array([int(np.nonzero(p2s == a)[0][0]) for a in atoms3[:, 0]])
        )
        fc3[first, atoms3[:, 1], atoms3[:, 2]] = vals3
        if not np.any(fc3):
            fc3 = None
            source = {**(source or {}), "zero_orders": [3]}
    if 4 in orders and 4 in have:
        atoms4, vals4 = _ordered_clusters(fcs, 4, p2s)
        fc4 = SparseForceConstants(4, atoms4, vals4)
    src = {"format": "hiphive-fcp", "orders_in_fcp": sorted(int(o) for o in have)}
    src.update(source or {})
    return ForceConstants(setup, fc2, fc3, fc4, src)


def fit_step(
    setup,
    parameters: dict,
    displacements,
    forces,
    harmonic_displacements=None,
    harmonic_forces=None,
    harmonic_force_constants=None,
):
    """Run the fit step of ``wigner.fit_hiphive`` and ``aiida-wigner-worker fit``.

    Parameters
    ----------
    setup : SupercellSetup
        The supercell of the training set (:class:`~aiida_wigner.physics.cell.SupercellSetup`).
    parameters : dict
        The calcfunction's parameters (cutoffs, method, harmonic, validation, ...;
        ``ensemble`` ``{"size": n, "seed": s}``, n >= 2: also the bootstrap members,
        :mod:`aiida_wigner.fitting.ensemble`).
    displacements : array_like of float, shape (m, N, 3)
        Training displacements, Å.
    forces : array_like of float, shape (>= m, N, 3)
        Their forces, eV/Å (only the first m force sets are used).
    harmonic_displacements, harmonic_forces : array_like of float, shape (k, N, 3), optional
        The finite-displacement dataset, Å and eV/Å.
    harmonic_force_constants : ForceConstants, optional
        The finite-displacement FC2 of the same supercell: the harmonic part with
        ``harmonic='fixed'``.

    Returns
    -------
    result : FitResult
        Scores, parameter counts and the fitted potential.
    fc : ForceConstants
        The force constants of orders ``fc_orders`` (eV/Å^n).
    members : list of ForceConstants
        The bootstrap members' force constants (empty without an ensemble).

    Raises
    ------
    TooManyParametersError
        If the cutoffs give more parameters than the data can determine.
    FitError
        For any other setup problem or unusable fitted numbers.
    """
    from ..physics.forceconstants import ForceConstants, ForceConstantsError

    p = parameters
    u = np.asarray(displacements)
    f = np.asarray(forces)[: len(u)]
    harmonic = p.get("harmonic", "fixed" if harmonic_displacements is not None else "joint")
    fixed_fc2 = harmonic_force_constants if harmonic == "fixed" else None
    if fixed_fc2 is not None and (
        fixed_fc2.setup.n_super != setup.n_super
        or not np.allclose(fixed_fc2.setup.supercell.lattice, setup.supercell.lattice, atol=1e-6)
    ):
        raise FitError(
            "the harmonic force constants belong to another supercell than the training set"
        )
    res = fit_force_constants(
        setup.primitive.to_ase(),
        setup.supercell.to_ase(),
        u,
        f,
        p["cutoffs"],
        method=p.get("method", "least-squares"),
        harmonic=harmonic,
        harmonic_displacements=harmonic_displacements,
        harmonic_forces=harmonic_forces,
        harmonic_fc2=None if fixed_fc2 is None else fixed_fc2.full_fc2(),
        validation=p.get("validation"),
        rotational_sum_rules=p.get("rotational_sum_rules", ()),
        fit_kwargs=p.get("fit_kwargs"),
        seed=int(p.get("seed", 42)),
        cap_cutoffs=bool(p.get("cap_cutoffs", False)),
        max_parameter_ratio=float(p.get("max_parameter_ratio", MAX_PARAMETER_RATIO)),
        **_ensemble_arguments(p.get("ensemble")),
    )
    source = {
        "method": f"hiphive {res.scores['method']}",
        "harmonic": res.scores["harmonic"],
        "harmonic_fc2": res.scores["harmonic_fc2"],
    }

    def force_constants(fcp, member=None):
        fc = fcp_to_force_constants(
            fcp,
            setup,
            tuple(p.get("fc_orders", (2, 3, 4))),
            source=source if member is None else {**source, "ensemble_member": member},
        )
        if fixed_fc2 is not None:
            fc = ForceConstants(setup, fixed_fc2.fc2, fc.fc3, fc.fc4, fc.source)
        return fc

    from hiphive import ForceConstantPotential

    try:
        fc = force_constants(res.fcp)
        members = [
            force_constants(ForceConstantPotential(res.cluster_space, params), b)
            for b, params in enumerate(res.ensemble)
        ]
    except ForceConstantsError as exc:  # e.g. NaN from a method on degenerate data
        raise FitError(
            f"the fit gave unusable force constants: {exc}; "
            f"check the training forces or use another method"
        ) from exc
    return res, fc, members


def _ensemble_arguments(ensemble) -> dict:
    """Return ``ensemble_size`` / ``ensemble_seed`` of :func:`fit_force_constants`.

    From the ``ensemble`` parameter ``{"size": n, "seed": s}`` (``None`` or size 0: none).
    """
    if not ensemble:
        return {}
    unknown = set(ensemble) - {"size", "seed"}
    if unknown:
        raise FitError(f"ensemble takes 'size' and 'seed', not {', '.join(sorted(unknown))}")
    size = int(ensemble.get("size", 0))
    if size == 0:
        return {}
    if size < 2:
        raise FitError(f"an ensemble needs at least 2 members (ensemble.size), got {size}")
    return {"ensemble_size": size, "ensemble_seed": int(ensemble.get("seed", 0))}

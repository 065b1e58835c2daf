"""Geometric estimate of a hiphive cluster space's size, in seconds instead of hours.

hiphive's ClusterSpace (the symmetry analysis of every cluster) takes up to hours for a
256-atom supercell at the seed's cut-offs (docs/performance.md §4) before the fit can
even count its parameters.  :func:`estimate_parameters` counts the clusters within the
cut-offs geometrically and divides by the point-group order; measured against hiphive on
CsCu4Se3 it runs 1–18 % below hiphive's eigentensor count, and the sum rules then remove
5–43 % of those, so the free parameters lie between :data:`FREE_FRACTION` × the estimate
and ~1.2 × the estimate.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

#: Lower bound of hiphive's free parameters (after sum rules) over the estimate: measured
#: 0.61 (order 4, 4.23 Å) to 1.19 (order 2, 8.0 Å) on CsCu4Se3, rounded down.
FREE_FRACTION = 0.5


def _components(parts) -> int:
    """Count the independent Cartesian components of a force-constant tensor.

    Its cluster holds each of its distinct atoms ``parts[i]`` times (symmetric within each
    repeated atom).
    """
    return math.prod(math.comb(m + 2, 2) for m in parts)


def _compositions(n: int, k: int):
    """Yield the ways to give k distinct atoms multiplicities summing to n (each at least 1)."""
    for cuts in itertools.combinations(range(1, n), k - 1):
        bounds = (0,) + cuts + (n,)
        yield [bounds[i + 1] - bounds[i] for i in range(k)]


def estimate_parameters(prim, order: int, cutoff: float, n_operations: int) -> float:
    """Estimate hiphive's eigentensor count of ``order`` at ``cutoff`` geometrically.

    Every cluster (a multiset of atoms whose distances are all within the cut-off) per
    primitive cell, times its independent tensor components, divided by the point-group
    order.  No symmetry search, so it costs seconds where hiphive's ClusterSpace takes
    hours; clusters on symmetry elements make it an underestimate (measured below 20 %).

    Parameters
    ----------
    prim : ase.Atoms
        The primitive cell.
    order : int
        Force-constant order (2, 3, ...).
    cutoff : float
        Cluster cutoff, Å.
    n_operations : int
        Point operations of the space group (:func:`point_operations`).

    Returns
    -------
    float
        The estimated number of eigentensors.
    """
    cell = prim.cell.array
    heights = prim.cell.volume / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    reach = [int(np.ceil(cutoff / h)) + 1 for h in heights]
    shifts = np.array(list(itertools.product(*[range(-m, m + 1) for m in reach])))
    pos = (prim.get_scaled_positions()[None] + shifts[:, None]).reshape(-1, 3) @ cell
    home = len(prim) * (len(shifts) // 2)  # the zero shift (shifts are symmetric about it)
    weight = {k: sum(_components(c) for c in _compositions(order, k)) for k in range(1, order + 1)}
    total = 0.0
    for p in range(len(prim)):
        d0 = np.linalg.norm(pos - pos[home + p], axis=1)
        near = pos[(d0 <= cutoff) & (d0 > 1e-8)]
        close = np.linalg.norm(near[:, None] - near[None], axis=-1) <= cutoff

        def grow(members, candidates, close=close):  # sets {p} ∪ members of mutually close atoms
            k = len(members) + 1
            nonlocal total
            total += weight[k] / k  # a cluster of k distinct atoms is counted from each
            if k == order:
                return
            for c in candidates:
                grow(members + [c], [x for x in candidates if x > c and close[c, x]])

        grow([], list(range(len(near))))
    return total / n_operations


def point_operations(prim) -> int:
    """Count the point operations of the space group of ``prim`` (ase.Atoms) with spglib."""
    import spglib

    cell = (prim.cell[:], prim.get_scaled_positions(), prim.numbers)
    return len(spglib.get_symmetry_dataset(cell).rotations)


def estimate_per_order(prim, cutoffs) -> dict[int, int]:
    """Estimate the eigentensors per order for ``cutoffs`` (Å for orders 2, 3, ...)."""
    n_ops = point_operations(prim)
    return {o: int(estimate_parameters(prim, o, c, n_ops)) for o, c in enumerate(cutoffs, 2)}

"""Bootstrap ensembles of force-constant fits, and the spread of what they give.

The fit uncertainty of the force constants is estimated by refitting the same cluster
space to training sets drawn from the original one with replacement, whole structures at a
time (the forces of one snapshot are correlated, so structures, not force components, are
the independent samples).  Each member is carried through the same SCP and κ steps as the
full fit; the spread of the members' κ is the fit's contribution to the error of κ.  The
reported value stays the full-data fit's; the members give its standard error.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: what ``scores['ensemble']['method']`` names
BOOTSTRAP_METHOD = "bootstrap over whole training structures"


def bootstrap_structure_sets(n_structures: int, size: int, seed: int = 0) -> NDArray[np.int64]:
    """Draw the training sets of an ensemble: ``size`` × ``n_structures`` indices, with replacement.

    Parameters
    ----------
    n_structures : int
        Number of structures in the full training set (at least 2).
    size : int
        Number of ensemble members (at least 2, since a spread needs two).
    seed : int
        Seed of ``numpy.random.default_rng``: the same seed gives the same sets.

    Returns
    -------
    ndarray of int, shape (size, n_structures)
        Row ``b`` lists the structures (repetitions allowed) member ``b`` is fitted to.
        A draw that holds fewer than two distinct structures is drawn again, so that every
        member has at least one structure to vary over.
    """
    if size < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {size}")
    if n_structures < 2:
        raise ValueError(
            f"a bootstrap ensemble needs at least 2 training structures, got {n_structures}"
        )
    rng = np.random.default_rng(seed)
    sets = np.empty((size, n_structures), dtype=np.int64)
    for b in range(size):  # one draw per member; redrawn only in the rare degenerate case
        draw = rng.integers(0, n_structures, n_structures)
        while np.unique(draw).size < 2:
            draw = rng.integers(0, n_structures, n_structures)
        sets[b] = draw
    return sets


def member_label(index: int) -> str:
    """Return the name of bootstrap member ``index``: ``member_000``, ...

    The output labels of the ``ensemble`` namespaces, and (with ``_``) the array prefix of
    the member in a worker's ``fit.npz``.
    """
    return f"member_{index:03d}"


def out_of_bag(structures: NDArray[np.int64], n_structures: int) -> NDArray[np.int64]:
    """Return the structures that a member's training set ``structures`` did not draw (sorted)."""
    return np.setdiff1d(np.arange(n_structures), structures)


def ensemble_spread(samples) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the mean and standard deviation (ddof = 1) over the members (axis 0) of ``samples``.

    ``samples`` (n_members, ...) in any unit; both results have the shape ``samples[0]``
    and the same unit.  The standard deviation of the members is the bootstrap estimate of
    the standard error of the full-data value.
    """
    values = np.asarray(samples, dtype=float)
    if values.shape[0] < 2:
        raise ValueError(f"the spread of an ensemble needs at least 2 members, got {len(values)}")
    return values.mean(axis=0), values.std(axis=0, ddof=1)

"""Core-set selection by k-center greedy (Sener & Savarese, ICLR 2018; ALGORITHMS.md §7.1)."""

from __future__ import annotations

import numpy as np

from activecv._progress import Progress
from activecv._validation import as_array, check_budget, check_finite, labeled_positions
from activecv.strategies._backends import NUMPY, Backend, NumpyPoints, Space
from activecv.strategies._distances import PROJECTION_RANK, PROJECTION_SAMPLE, PrunedMinDistances
from activecv.types import Selection


def greedy_kcenter(
    x: np.ndarray,
    labeled: np.ndarray,
    budget: int,
    rng: np.random.Generator | None,
    progress: Progress | None = None,
    backend: Backend = NUMPY,
) -> tuple[np.ndarray, np.ndarray]:
    """k-center greedy on validated ``x (N, D)`` against the ``labeled`` positions.

    Returns the chosen positions in order and each one's distance to its nearest centre at
    the moment it was chosen (the covering radius so far). With no labeled item the first
    centre is the item closest to the pool mean, or a random item when ``rng`` is given,
    and it counts toward the budget. Ties go to the lower position.

    The distances come from ``backend`` (numpy by default): to the nearest labeled item
    once, then to each new centre.
    """
    n = x.shape[0]
    space = backend.points(x)
    sq = space.sq
    available = np.ones(n, dtype=bool)
    available[labeled] = False
    chosen: list[int] = []
    radii: list[float] = []
    if labeled.size:
        d2 = space.min_squared_distances(labeled)
    else:  # cold start
        mean = x.mean(axis=0, dtype=np.float64)
        to_mean = np.maximum(sq - 2.0 * (x @ mean) + mean @ mean, 0.0)
        first = int(rng.integers(n)) if rng is not None else int(np.argmin(to_mean))
        chosen.append(first)
        radii.append(float(np.sqrt(to_mean[first])))
        available[first] = False
        d2 = space.squared_distances_to(first)
    total = min(budget, int(available.sum()) + len(chosen))
    d2[~available] = -np.inf  # taken: never the maximum, never updated
    pruned = _pruned(space, x, total - len(chosen))
    while len(chosen) < total:
        u = int(np.argmax(d2))  # first maximum: lowest position
        chosen.append(u)
        radii.append(float(np.sqrt(d2[u])))
        d2[u] = -np.inf
        if pruned is not None:
            pruned.update(d2, u)
        else:
            np.minimum(d2, space.squared_distances_to(u), out=d2)
        if progress is not None:
            progress.update(len(chosen))
    return np.asarray(chosen, dtype=np.int64), np.asarray(radii)


PRUNE_MIN_STEPS = 64
"""Greedy steps from which the numpy backend prunes its updates (the projection costs about
one product over the pool; each pruned step saves most of one)."""


def _pruned(space: Space, x: np.ndarray, steps: int) -> PrunedMinDistances | None:
    """Pruned updates for the numpy backend on a pool worth it: wide rows, many steps."""
    if not isinstance(space, NumpyPoints) or steps < PRUNE_MIN_STEPS:
        return None
    if x.shape[1] < 2 * PROJECTION_RANK or x.shape[0] < PROJECTION_SAMPLE:
        return None
    return PrunedMinDistances(space.x, space.sq, PROJECTION_RANK)


def kcenter_greedy(
    embeddings: object, budget: int, labeled: object = None, rng: np.random.Generator | None = None
) -> Selection:
    """Core-set batch: repeatedly take the item farthest from every labeled or chosen item.

    Parameters
    ----------
    embeddings : array, shape (N, D)
        Features of every item, labeled ones included (the paper: last dense layer).
    budget : int
    labeled : bool mask (N,) or indices, optional
        Items already labeled: the initial centres.
    rng : Generator, optional
        Only for a cold start: picks the first centre at random instead of nearest the mean.

    Returns
    -------
    Selection
        ``scores`` are the distances to the nearest centre when each item was chosen.

    Examples
    --------
    >>> x = np.array([[0.0], [1.0], [5.0], [10.0]])
    >>> kcenter_greedy(x, 2, labeled=[0]).indices.tolist()
    [3, 2]

    References
    ----------
    Sener, Savarese. Active Learning for Convolutional Neural Networks: A Core-Set Approach. ICLR 2018.
    """
    x = as_array(embeddings, "embeddings", "(N, D)", ndim=2)
    check_finite(x, "embeddings")
    indices, radii = greedy_kcenter(x, labeled_positions(labeled, x.shape[0]), check_budget(budget), rng)
    return Selection(indices, radii, "coreset")

"""When to stop annotating: agreement of successive models and the plateau of a validation
metric. numpy only, shared by ``sim`` (simulated rounds) and ``project`` (recorded rounds).

Stabilising predictions (Bloodgood & Vijay-Shanker 2009): each round's model labels one fixed
*stop set*; Cohen's kappa measures how far two successive rounds agree beyond chance; stop at
the first round where the mean kappa of the last ``window`` pairs of rounds reaches
``threshold`` (their defaults: 0.99 over 3 rounds).

Plateau: with a labeled validation set, stop at the first round whose last ``window`` rounds
improved the best metric seen before them by at most ``tolerance``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np

STOP_THRESHOLD = 0.99
STOP_WINDOW = 3
PLATEAU_TOLERANCE = 0.005


def cohen_kappa(first: np.ndarray, second: np.ndarray) -> float:
    """Cohen's kappa between two labelings of the same items: ``(p_o - p_e) / (1 - p_e)``,
    ``p_o`` the share of items labeled alike, ``p_e`` the agreement expected by chance from
    each labeling's class frequencies. Two identical labelings with one class give 1.

    Examples
    --------
    >>> cohen_kappa(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))
    0.5
    """
    a, b = np.asarray(first).ravel(), np.asarray(second).ravel()
    if a.shape != b.shape or a.size == 0:
        raise ValueError(
            f"kappa needs two labelings of the same items (one or more); got {a.shape} and {b.shape}."
        )
    classes, codes = np.unique(np.concatenate([a, b]), return_inverse=True)
    left, right = codes[: a.size], codes[a.size :]
    observed = float(np.mean(left == right))
    expected = float(
        np.dot(np.bincount(left, minlength=classes.size), np.bincount(right, minlength=classes.size))
    ) / (a.size * a.size)
    if expected >= 1.0:  # one class in both: they agree fully
        return 1.0
    return round((observed - expected) / (1.0 - expected), 12)


def successive_kappas(predictions: Sequence[np.ndarray]) -> list[float]:
    """Kappa of each round's predictions with the round before: ``len(predictions) - 1`` values."""
    return [cohen_kappa(a, b) for a, b in pairwise(predictions)]


def stabilised_at(
    kappas: Sequence[float | None], threshold: float = STOP_THRESHOLD, window: int = STOP_WINDOW
) -> int | None:
    """The first round at which predictions have stabilised, or None.

    ``kappas[r]`` is the agreement of round ``r`` with round ``r - 1`` (``kappas[0]``, round 0
    against nothing, is None). Round ``r`` stops when ``kappas[r - window + 1 .. r]`` all exist
    and their mean is at least ``threshold``.

    Examples
    --------
    >>> stabilised_at([None, 0.8, 0.99, 0.995, 1.0], window=3)
    4
    >>> stabilised_at([None, 0.8, 0.99, 0.995], window=3) is None
    True
    """
    _check(threshold, window)
    for r in range(window, len(kappas)):
        last = kappas[r - window + 1 : r + 1]
        if (
            all(k is not None for k in last)
            and float(np.mean(np.asarray(last, dtype=float))) >= threshold - 1e-12
        ):
            return r
    return None


def plateau_at(
    metrics: Sequence[float], window: int = STOP_WINDOW, tolerance: float = PLATEAU_TOLERANCE
) -> int | None:
    """The first round ``r`` (``r >= window``) whose last ``window`` rounds raised the best
    metric before them by at most ``tolerance``, or None.

    Examples
    --------
    >>> plateau_at([0.5, 0.7, 0.8, 0.802, 0.801, 0.803], window=3, tolerance=0.005)
    5
    """
    _check(0.5, window)
    values = np.asarray(metrics, dtype=np.float64)
    for r in range(window, values.shape[0]):
        if values[r - window + 1 : r + 1].max() - values[: r - window + 1].max() <= tolerance:
            return r
    return None


def _check(threshold: float, window: int) -> None:
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be an integer >= 1 (rounds); got {window!r}.")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be a kappa in (0, 1]; got {threshold!r}.")


def stop_set(n: int, size: int, seed: int | Sequence[int]) -> np.ndarray:
    """Sorted positions of a seeded subset of ``min(size, n)`` of ``n`` items: the fixed set
    every round's model labels."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, min(size, n), replace=False))

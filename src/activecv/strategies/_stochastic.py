"""Stochastic batch acquisition: sample a batch in proportion to a score (ALGORITHMS.md §3.3).

Sampling b items without replacement with ``p_n ∝ w_n`` equals taking the top-b of
``log w_n + G_n`` with Gumbel noise ``G_n`` (the Gumbel-top-k trick), which is O(N) and
streams chunk by chunk.
"""

from __future__ import annotations

import numpy as np

from activecv._validation import RngLike, as_array, as_rng, check_budget, check_finite
from activecv.strategies._base import check_choice, check_number
from activecv.strategies._ranking import top_k

MODES = ("power", "softmax", "softrank")
POWER_FLOOR = 1e-8
"""Power mode clamps scores to this floor: BALD can be <= 0 after rounding."""


def gumbel(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` standard Gumbel draws (``-log E`` with E ~ Exp(1)); drawn in sequence, so
    consecutive calls give the same stream as one call of the total size."""
    return -np.log(rng.standard_exponential(n))


def log_weights(scores: np.ndarray, mode: str, beta: float) -> np.ndarray:
    """Unnormalised log sampling weight of each item for ``power`` and ``softmax`` modes."""
    if mode == "power":
        return beta * np.log(np.maximum(scores, POWER_FLOOR))
    return beta * scores


def softrank_log_weights(scores: np.ndarray, beta: float) -> np.ndarray:
    """``-beta log r`` with r the rank (1 = largest score; ties by position)."""
    order = top_k(scores, scores.shape[0])
    ranks = np.empty(scores.shape[0], dtype=np.float64)
    ranks[order] = np.arange(1, scores.shape[0] + 1)
    return -beta * np.log(ranks)


def stochastic_sample(
    scores: object, budget: int, mode: str = "power", beta: float = 1.0, rng: RngLike = None
) -> np.ndarray:
    """Sample ``budget`` positions without replacement, with probability shaped by ``scores``.

    ``power``: ``p ∝ s^beta`` (scores clamped at 1e-8); ``softmax``: ``p ∝ exp(beta s)``;
    ``softrank``: ``p ∝ rank^-beta``. ``beta = 0`` is uniform; ``beta -> inf`` is top-k.

    Parameters
    ----------
    scores : array, shape (N,)
        Any per-item score, higher = label first.
    budget : int
    mode : {"power", "softmax", "softrank"}
    beta : float
        Coldness, >= 0.
    rng : int, Generator or None

    Returns
    -------
    ndarray of int64, shape (min(budget, N),), in sampled order.

    Examples
    --------
    >>> stochastic_sample(np.array([0.0, 5.0, 0.0]), 1, mode="softmax", beta=50.0, rng=0).tolist()
    [1]

    References
    ----------
    Kirsch et al. Stochastic Batch Acquisition: A Simple Baseline for Deep Active Learning. TMLR 2023.
    """
    arr = as_array(scores, "scores", "(N,)", ndim=1).astype(np.float64)
    check_finite(arr, "scores")
    budget = check_budget(budget)
    check_choice(mode, "mode", MODES)
    check_number(beta, "beta", 0)
    generator = as_rng(rng)
    weights = softrank_log_weights(arr, beta) if mode == "softrank" else log_weights(arr, mode, beta)
    return top_k(weights + gumbel(generator, arr.shape[0]), budget)

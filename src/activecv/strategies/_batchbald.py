"""BatchBALD: greedy maximisation of the joint mutual information of a batch (ALGORITHMS.md §3.2).

Notation: ``p (N, K, C)`` holds K consistent MC samples per item. For a set A of chosen items,
a configuration m of their labels has probability ``P[m, k] = prod_i p^k_i(y_i)`` under model k
and ``q_m = mean_k P[m, k]`` under the mixture. Adding candidate n, the joint entropy splits as

    H(y_A, y_n) = sum_m pi_m * ( -log q_m + H(r_m,n) ),   r_m,n = sum_k w[m, k] p^k_n,

with ``w[m] = P[m] / sum_k P[m, k]`` the posterior over models given configuration m. With the
exact table of all C^|A| configurations ``pi = q``; with M configurations sampled from the
mixture ``pi = 1/M`` (this is the importance-weighted estimator of the reference code,
rearranged so that no tiny q_m is ever divided by). Only ``sum_m pi_m H(r_m,n)`` depends on n,
so each greedy step costs one (M x K) @ (K x N C) product and N C M logarithms.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp, softmax

from activecv._progress import Progress
from activecv._validation import EPS, RngLike, as_rng, check_budget, check_positive_int
from activecv.strategies._bayesian import _expected_entropy, check_mc_probs
from activecv.types import Selection

BLOCK_ELEMENTS = 2**20
"""Elements of one (configurations x candidates x classes) block: 4 MB of float32, cache-sized."""


def _configurations(
    log_p: np.ndarray, chosen: list[int], num_samples: int, exact: bool, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """Label configurations of ``chosen``: (log P (M, K), counts (M,) or None when exact).

    ``exact``: all C^|chosen| configurations. Otherwise ``K * max(1, num_samples // K)``
    draws, ``num_samples // K`` from each model (so from the mixture); identical draws are
    merged and counted, which leaves the estimate unchanged and saves work on peaked models.
    """
    _, k, c = log_p.shape
    table = np.zeros((1, k))
    if exact:
        for i in chosen:
            table = (table[:, None, :] + log_p[i].T[None, :, :]).reshape(-1, k)
        return table, None
    per_model = max(1, num_samples // k)
    cdf = np.cumsum(np.exp(log_p[chosen]), axis=2).transpose(1, 0, 2)  # (K, |A|, C)
    draws = rng.random((k, per_model, len(chosen), 1))
    labels = np.minimum((draws > cdf[:, None, :, :]).sum(axis=3), c - 1)  # (K, S, |A|)
    labels, counts = _merge_duplicates(labels.reshape(k * per_model, len(chosen)))
    table = np.zeros((labels.shape[0], k))
    for column, i in enumerate(chosen):
        table += log_p[i][:, labels[:, column]].T
    return table, counts


def _merge_duplicates(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``labels`` (M, t) and their counts.

    Rows are sorted by a 64-bit hash and equal neighbours merged: exact whatever the hash
    does, since a collision can only leave two equal rows unmerged (same estimate, less saving).
    """
    multipliers = np.random.default_rng(0).integers(1, 2**63, size=labels.shape[1], dtype=np.uint64)
    keys = (labels.astype(np.uint64) * multipliers).sum(axis=1)  # wraps modulo 2^64
    rows = labels[np.argsort(keys, kind="stable")]
    starts = np.flatnonzero(np.r_[True, (rows[1:] != rows[:-1]).any(axis=1)])
    return rows[starts], np.diff(np.r_[starts, rows.shape[0]])


def _joint_entropies(table: np.ndarray, counts: np.ndarray | None, q_flat: np.ndarray, c: int) -> np.ndarray:
    """H(y_A, y_n) for every item n, shape (N,): exact (counts None) or sampled."""
    k = table.shape[1]
    log_q = logsumexp(table, axis=1) - np.log(k)  # (M,) log-probability under the mixture
    pi = np.exp(log_q) if counts is None else counts / counts.sum()
    h_a = float(-(pi * log_q).sum())
    weights = softmax(table, axis=1).astype(np.float32)  # (M, K): posterior over models
    pi32 = pi.astype(np.float32)
    n = q_flat.shape[1] // c
    out = np.empty(n)
    step = max(1, BLOCK_ELEMENTS // (table.shape[0] * c))
    for start in range(0, n, step):
        stop = min(n, start + step)
        r = weights @ q_flat[:, start * c : stop * c]  # (M, items * C) predictive given config
        plogp = np.log(np.maximum(r, np.float32(EPS)))
        plogp *= r
        out[start:stop] = -(pi32 @ plogp).astype(np.float64).reshape(stop - start, c).sum(axis=1)
    return h_a + out


def greedy_batchbald(
    p: np.ndarray,
    budget: int,
    available: np.ndarray,
    num_samples: int,
    rng: np.random.Generator,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy BatchBALD on validated float64 ``p (N, K, C)``.

    Returns the chosen positions in order and the batch mutual information after each choice.
    Only positions with ``available`` True are chosen; ties go to the lower position.
    Candidate blocks are computed in float32 (about 1e-6 relative error), sums in float64.
    """
    n, k, c = p.shape
    cond = _expected_entropy(p)
    log_p = np.log(np.clip(p, EPS, 1.0))
    q_flat = np.ascontiguousarray(p.transpose(1, 0, 2).reshape(k, n * c), dtype=np.float32)
    available = available.copy()
    chosen: list[int] = []
    batch_mi: list[float] = []
    for step in range(min(budget, int(available.sum()))):
        table, counts = _configurations(log_p, chosen, num_samples, c**step <= num_samples, rng)
        mi = _joint_entropies(table, counts, q_flat, c) - cond - cond[chosen].sum()
        mi[~available] = -np.inf
        best = int(np.argmax(mi))  # first maximum: the lowest position among ties
        chosen.append(best)
        batch_mi.append(float(mi[best]))
        available[best] = False
        if progress is not None:
            progress.update(step + 1)
    return np.asarray(chosen, dtype=np.int64), np.asarray(batch_mi)


def batchbald(mc_probs: object, budget: int, num_samples: int = 10_000, rng: RngLike = None) -> Selection:
    """Choose a batch greedily by BatchBALD's joint mutual information.

    Joint entropies are exact while the chosen set has at most ``num_samples``
    label configurations (C^|A|), then estimated from ``num_samples`` configurations
    sampled from the K-model mixture.

    Parameters
    ----------
    mc_probs : array, shape (N, K, C)
        Predictions of K *consistent* sampled models (the same K dropout masks for every item).
    budget : int
    num_samples : int
        Configurations M of the sampled estimator (reference: 10,000).
    rng : int, Generator or None
        Draws the sampled configurations.

    Returns
    -------
    Selection
        ``scores[t]`` is the mutual information of the first t+1 chosen items jointly.

    Examples
    --------
    >>> a, b = [0.999, 0.001], [0.001, 0.999]
    >>> m = np.array([[a, a, b, b], [a, a, b, b], [a, b, a, b]])
    >>> batchbald(m, 2).indices.tolist()
    [0, 2]

    References
    ----------
    Kirsch, van Amersfoort, Gal. BatchBALD: Efficient and Diverse Batch Acquisition for Deep
    Bayesian Active Learning. NeurIPS 2019.
    """
    p = np.asarray(check_mc_probs(mc_probs), dtype=np.float64)
    budget = check_budget(budget)
    num_samples = check_positive_int(num_samples, "num_samples")
    available = np.ones(p.shape[0], dtype=bool)
    indices, scores = greedy_batchbald(p, budget, available, num_samples, as_rng(rng))
    return Selection(indices, scores, "batchbald")

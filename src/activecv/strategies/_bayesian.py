"""Scores over K stochastic predictions per item: MC dropout or ensembles (ALGORITHMS.md §3.1).

Input ``mc_probs`` has shape (N, K, C): item, sampled model, class. Scores are float64 (N,),
higher = label first.
"""

from __future__ import annotations

import numpy as np

from activecv._chunks import iter_row_chunks, map_rows
from activecv._errors import InputError
from activecv._validation import EPS, SUM_TOL, as_array, check_log_simplex, check_simplex
from activecv.strategies._ranking import scratch
from activecv.strategies._uncertainty import U64, _entropy, _unit_roundoff

MC_SHAPE = "(N, K, C) with K >= 1 and C >= 2"


def check_mc_probs(mc_probs: object, name: str = "mc_probs", log: bool = False) -> np.ndarray:
    """``mc_probs`` (or ``mc_log_probs`` with ``log``) validated as (N, K, C) (not copied)."""
    arr = as_array(mc_probs, name, MC_SHAPE, ndim=3)
    if arr.shape[1] < 1 or arr.shape[2] < 2:
        raise InputError(f"{name} must have shape {MC_SHAPE}; got {arr.shape} {arr.dtype}.")
    check = check_log_simplex if log else check_simplex
    for start, rows in iter_row_chunks(arr):
        check(rows, name, start)
    return arr


def _predictive_entropy(p: np.ndarray) -> np.ndarray:
    return _entropy(p.mean(axis=1))


def _expected_entropy(p: np.ndarray) -> np.ndarray:
    """``(1/K) sum_k H(p^k)``: the aleatoric part, shape (N,)."""
    return _entropy(p).mean(axis=1)


def _bald(p: np.ndarray) -> np.ndarray:
    return _predictive_entropy(p) - _expected_entropy(p)


def _variation_ratio(p: np.ndarray) -> np.ndarray:
    n, k, c = p.shape
    votes = p.argmax(axis=2) + c * np.arange(n)[:, None]
    counts = np.bincount(votes.ravel(), minlength=n * c).reshape(n, c)
    return 1.0 - counts.max(axis=1) / k


def _mean_std(p: np.ndarray) -> np.ndarray:
    mean = p.mean(axis=1)
    variance = np.maximum((p * p).mean(axis=1) - mean * mean, 0.0)
    return np.sqrt(variance).mean(axis=1)


# Screens (see _ranking.Screen and the uncertainty screens): blocks (n, K, C) in their own
# precision. numpy's reductions over a short last axis (C = 10) pay a per-row overhead larger
# than the arithmetic, so sums over C are sums of the C column slices, and means over K are
# one small matrix product each.

_SMALL_C = 32
"""Below this many classes a sum over classes goes slice by slice."""


def _class_sums(flat: np.ndarray) -> np.ndarray:
    """Row sums of ``flat (m, C)`` in its precision."""
    c = flat.shape[1]
    if c >= _SMALL_C:
        return np.vecdot(flat, np.ones(c, dtype=flat.dtype))
    total = flat[:, 0].copy()
    for j in range(1, c):
        total += flat[:, j]
    return total


def _quick_mc_simplex(p: np.ndarray) -> bool:
    """Like ``quick_simplex`` over the classes of every (item, sample) row of ``p (n, K, C)``."""
    flat = p.reshape(-1, p.shape[2])
    if not flat.min() >= 0:
        return False
    return bool(np.all(np.abs(_class_sums(flat) - 1) <= SUM_TOL / 2))


def _mean_over_samples(p: np.ndarray) -> np.ndarray:
    """``p.mean(axis=1)`` for ``p (n, K, C)`` as one product ``(n, K C) @ (K C, C)``; each
    mean is a K-term sum of products with the rounded 1/K: relative error <= (K + 2)u."""
    n, k, c = p.shape
    stacked = np.tile(np.eye(c, dtype=p.dtype), (k, 1)) / p.dtype.type(k)
    return p.reshape(n, k * c) @ stacked


def _entropy_terms(p: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``-sum p log clip(p)`` over all but the first axis of ``p``, into ``out``."""
    flat = p.reshape(p.shape[0], -1)
    logp = scratch(flat.shape, p.dtype, slot=1)
    np.clip(flat, EPS, 1.0, out=logp)
    np.log(logp, out=logp)
    return np.negative(np.vecdot(flat, logp), out=out)


def _bald_parts(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predictive entropy H(pbar) and expected entropy (1/K) sum_k H(p_k), in p's precision."""
    n, k, _ = p.shape
    predictive = _entropy_terms(_mean_over_samples(p), np.empty(n, dtype=p.dtype))
    expected = _entropy_terms(p, np.empty(n, dtype=p.dtype))
    expected /= p.dtype.type(k)
    return predictive, expected


def _predictive_error(p: np.ndarray, predictive: np.ndarray) -> float:
    """Bound on |H(pbar) - exact|: pbar is off by (K + 2)u relatively, which moves each term
    p log p by at most (K + 2)u p |1 + log p| (in all (K + 2)u (H + 1)); the entropy's own
    rounding adds (C + 10)u H. The float64 kernel's rounding adds the same with U64."""
    _, k, c = p.shape
    h = float(predictive.max())
    return (k + c + 12) * (_unit_roundoff(p) + U64) * (h + 1.0)


def _predictive_entropy_screen(p: np.ndarray, out: np.ndarray, checked: bool = False) -> tuple[float, bool]:
    if not checked and not _quick_mc_simplex(p):
        return 0.0, False
    _entropy_terms(_mean_over_samples(p), out)
    return 2.0 * _predictive_error(p, out), True


def _bald_screen(p: np.ndarray, out: np.ndarray, checked: bool = False) -> tuple[float, bool]:
    """H(pbar) - E_k H(p_k): the predictive part's bound plus the expected entropy's, a
    K C-term sum of terms of one sign: (K C + 12)(u + U64) E."""
    if not checked and not _quick_mc_simplex(p):
        return 0.0, False
    predictive, expected = _bald_parts(p)
    np.subtract(predictive, expected, out=out)
    _, k, c = p.shape
    expected_error = (k * c + 12) * (_unit_roundoff(p) + U64) * float(expected.max())
    return 2.0 * (_predictive_error(p, predictive) + expected_error), True


def _variation_ratio_screen(p: np.ndarray, out: np.ndarray, checked: bool = False) -> tuple[float, bool]:
    """Exact arg-max votes (the precision does not change an arg-max of the same values);
    only ``1 - f/K`` rounds (|error| <= u)."""
    if not checked and not _quick_mc_simplex(p):
        return 0.0, False
    n, k, c = p.shape
    votes = p.argmax(axis=2)
    votes += c * np.arange(n)[:, None]
    counts = np.bincount(votes.ravel(), minlength=n * c).reshape(n, c)
    mode = counts[:, 0].copy()
    for j in range(1, c):
        np.maximum(mode, counts[:, j], out=mode)
    np.subtract(1, mode / p.dtype.type(k), out=out, casting="unsafe")
    return 2.0 * (_unit_roundoff(p) + U64), True


def _mean_std_screen(p: np.ndarray, out: np.ndarray, checked: bool = False) -> tuple[float, bool]:
    """``mean_c sqrt(max(0, E[p^2] - pbar^2))`` in p's precision. Both means are off by
    (K + 3)u relatively, so the variance by (3K + 11)u E[p_c^2] and each std by its square
    root; averaged over classes, with sum_c E[p_c^2] <= 1 (Jensen), at most
    sqrt((3K + 11)u / C). The float64 kernel computes the same way (U64 in place of u)."""
    if not checked and not _quick_mc_simplex(p):
        return 0.0, False
    _, k, c = p.shape
    mean = _mean_over_samples(p)
    squares = scratch(p.shape, p.dtype, slot=1)
    np.multiply(p, p, out=squares)
    variance = _mean_over_samples(squares)
    variance -= mean * mean
    np.maximum(variance, 0, out=variance)
    np.sqrt(variance, out=variance)
    np.divide(_class_sums(variance), p.dtype.type(c), out=out)
    u = _unit_roundoff(p)
    bound = np.sqrt((3 * k + 11) * u / c) + np.sqrt((3 * k + 11) * U64 / c) + (c + 4) * u
    return 2.0 * float(bound), True


def predictive_entropy(mc_probs: object) -> np.ndarray:
    """Entropy of the mean prediction ``H[y|x] = -sum_c pbar_c log pbar_c``, shape (N,).

    Examples
    --------
    >>> m = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    >>> predictive_entropy(m).round(4).tolist()
    [0.6931]

    References
    ----------
    Gal, Islam, Ghahramani. Deep Bayesian Active Learning with Image Data. ICML 2017.
    """
    return map_rows(_predictive_entropy, check_mc_probs(mc_probs))


def bald(mc_probs: object) -> np.ndarray:
    """Mutual information ``I[y; w | x] = H[y|x] - E_w H[y|x, w]``, shape (N,).

    The raw value is returned: rounding can make it slightly negative (about -1e-16), and
    ranking uses it as it is.

    Examples
    --------
    >>> m = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.5, 0.5], [0.5, 0.5]]])
    >>> bald(m).round(4).tolist()
    [0.6931, 0.0]

    References
    ----------
    Houlsby et al. Bayesian Active Learning for Classification and Preference Learning. 2011.
    """
    return map_rows(_bald, check_mc_probs(mc_probs))


def variation_ratio(mc_probs: object) -> np.ndarray:
    """``1 - f_mode / K`` where ``f_mode`` counts the most frequent arg-max over K passes.

    Examples
    --------
    >>> m = np.array([[[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]]])
    >>> variation_ratio(m).tolist()
    [0.25]
    """
    return map_rows(_variation_ratio, check_mc_probs(mc_probs))


def mean_std(mc_probs: object) -> np.ndarray:
    """``(1/C) sum_c std_k(p_c^k)`` (population std over the K passes), shape (N,).

    Examples
    --------
    >>> m = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    >>> mean_std(m).tolist()
    [0.5]
    """
    return map_rows(_mean_std, check_mc_probs(mc_probs))

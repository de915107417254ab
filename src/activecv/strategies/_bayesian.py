"""Scores over K stochastic predictions per item: MC dropout or ensembles (ALGORITHMS.md §3.1).

Input ``mc_probs`` has shape (N, K, C): item, sampled model, class. Scores are float64 (N,),
higher = label first.
"""

from __future__ import annotations

import numpy as np

from activecv._chunks import iter_row_chunks, map_rows
from activecv._errors import InputError
from activecv._validation import as_array, check_log_simplex, check_simplex
from activecv.strategies._uncertainty import _entropy

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

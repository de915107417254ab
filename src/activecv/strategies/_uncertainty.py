"""Uncertainty of a single deterministic model (ALGORITHMS.md §2).

Every function returns float64 scores of shape (N,) where higher means "label first".
Kernels (``_name``) take a validated float64 chunk; public functions validate once.
"""

from __future__ import annotations

import numpy as np

from activecv._chunks import iter_row_chunks, map_rows
from activecv._errors import InputError
from activecv._validation import EPS, SUM_TOL, as_array, check_finite, check_simplex
from activecv.strategies._ranking import scratch

PROBS_SHAPE = "(N, C) with C >= 2"


def check_probs(probs: object, name: str = "probs") -> np.ndarray:
    """``probs`` validated as an (N, C) array of probability rows, C >= 2 (not copied)."""
    arr = as_array(probs, name, PROBS_SHAPE, ndim=2)
    if arr.shape[1] < 2:
        raise InputError(f"{name} must have shape {PROBS_SHAPE}; got {arr.shape} {arr.dtype}.")
    for start, rows in iter_row_chunks(arr):
        check_simplex(rows, name, start)
    return arr


def check_logits(logits: object, temperature: float = 1.0) -> np.ndarray:
    """``logits`` validated as a finite (N, C) array, C >= 2, and a positive temperature."""
    arr = as_array(logits, "logits", PROBS_SHAPE, ndim=2)
    if arr.shape[1] < 2:
        raise InputError(f"logits must have shape {PROBS_SHAPE}; got {arr.shape} {arr.dtype}.")
    check_temperature(temperature)
    for start, rows in iter_row_chunks(arr):
        check_finite(rows, "logits", start)
    return arr


def check_temperature(temperature: float) -> None:
    if not (isinstance(temperature, (int, float)) and np.isfinite(temperature) and temperature > 0):
        raise InputError(f"temperature must be a positive finite number; got {temperature!r}.")


def _softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=-1, keepdims=True)  # max subtraction: exp never overflows
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def softmax(logits: object, temperature: float = 1.0) -> np.ndarray:
    """Probabilities ``softmax(logits / temperature)`` as float64, shape (N, C).

    Examples
    --------
    >>> softmax(np.array([[0.0, 0.0]])).tolist()
    [[0.5, 0.5]]
    """
    arr = check_logits(logits, temperature)
    out = np.empty(arr.shape, dtype=np.float64)
    for start, rows in iter_row_chunks(arr):
        out[start : start + rows.shape[0]] = _softmax(np.asarray(rows, np.float64), temperature)
    return out


def _entropy(p: np.ndarray) -> np.ndarray:
    """Entropy in nats over the last axis, with 0 log 0 = 0."""
    logp = np.clip(p, EPS, 1.0)
    np.log(logp, out=logp)
    logp *= p
    return 0.0 - logp.sum(axis=-1)  # 0.0 - 0.0 is +0.0, where -(0.0) would print as -0.0


def _least_confidence(p: np.ndarray) -> np.ndarray:
    return 1.0 - p.max(axis=1)


def _top_two(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest and second-largest value of each row."""
    rows = np.arange(p.shape[0])
    best = p.argmax(axis=1)
    p1 = p[rows, best]
    rest = p.copy()
    rest[rows, best] = -np.inf
    return p1, rest.max(axis=1)


def _margin(p: np.ndarray) -> np.ndarray:
    p1, p2 = _top_two(p)
    return 1.0 - (p1 - p2)


def _ratio(p: np.ndarray) -> np.ndarray:
    p1, p2 = _top_two(p)
    return p2 / p1  # p1 >= 1/C > 0 on the simplex


# Screens (see _ranking.Screen): approximate scores of a block in its own precision (float32
# or float64) with a bound on their distance to the float64 kernels above. u is the unit
# roundoff of the block's precision; the float64 kernel's own rounding adds U64. Every bound
# has a safety factor of 2 over the error analysis written beside it.

U64 = 2.0**-53


def _unit_roundoff(p: np.ndarray) -> float:
    return float(np.finfo(p.dtype).eps) / 2


def quick_simplex(p: np.ndarray) -> bool:
    """True when every row over the last axis is surely a probability vector: its minimum is
    >= 0 and each sum is within half the tolerance of 1 in the block's precision (a NaN or an
    inf fails both). False sends the block to the exact check, which decides and words the error."""
    flat = p.reshape(-1, p.shape[-1])
    if not flat.min() >= 0:
        return False
    sums = flat @ np.ones(flat.shape[1], dtype=flat.dtype)  # a BLAS gemv: faster than vecdot
    return bool(np.all(np.abs(sums - 1) <= SUM_TOL / 2))


def _entropy_screen(p: np.ndarray, out: np.ndarray, checked: bool = False) -> tuple[float, bool]:
    """Entropy in the block's precision. Each term ``p log p`` is within ~10u of its value
    relatively (log within 4 ulp, the product 1), all terms have one sign, and a sum of C of
    them adds (C - 1)u relatively: |H - H_exact| <= (C + 10)(u + U64) H. ``EPS`` is not
    representable in float32; below it the terms differ by less than 1e-18 in all."""
    if not checked and not quick_simplex(p):
        return 0.0, False
    logp = scratch(p.shape, p.dtype)
    np.clip(p, EPS, 1.0, out=logp)
    np.log(logp, out=logp)
    np.negative(np.vecdot(p, logp), out=out)
    c = p.shape[1]
    return 2.0 * ((c + 10) * (_unit_roundoff(p) + U64) * float(out.max()) + c * 1e-18), True


def _top_two_screen(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest and second-largest value of each row, exactly (a repeated maximum is both)."""
    rows = np.arange(p.shape[0])
    first = p.argmax(axis=1)  # argmax has a vectorised loop; a row max reduction has not
    p1 = p[rows, first]
    rest = scratch(p.shape, p.dtype)
    np.copyto(rest, p)
    rest[rows, first] = -np.inf
    return p1, rest[rows, rest.argmax(axis=1)]


def _least_confidence_screen(p: np.ndarray, out: np.ndarray, checked: bool = False) -> tuple[float, bool]:
    """``1 - p1``: p1 is exact, the difference rounds once (|error| <= u)."""
    if not checked and not quick_simplex(p):
        return 0.0, False
    rows = np.arange(p.shape[0])
    np.subtract(1, p[rows, p.argmax(axis=1)], out=out)
    return 2.0 * (_unit_roundoff(p) + U64), True


def _margin_screen(p: np.ndarray, out: np.ndarray, checked: bool = False) -> tuple[float, bool]:
    """``1 - (p1 - p2)``: two roundings of values <= 1 (|error| <= 2u)."""
    if not checked and not quick_simplex(p):
        return 0.0, False
    p1, p2 = _top_two_screen(p)
    np.subtract(1, p1 - p2, out=out)
    return 2.0 * 2 * (_unit_roundoff(p) + U64), True


def _ratio_screen(p: np.ndarray, out: np.ndarray, checked: bool = False) -> tuple[float, bool]:
    """``p2 / p1`` <= 1: one rounding (|error| <= u)."""
    if not checked and not quick_simplex(p):
        return 0.0, False
    p1, p2 = _top_two_screen(p)
    np.divide(p2, p1, out=out)
    return 2.0 * (_unit_roundoff(p) + U64), True


def entropy(probs: object, normalize: bool = False) -> np.ndarray:
    """Shannon entropy ``-sum_c p_c log p_c`` in nats, shape (N,); in [0, log C].

    Parameters
    ----------
    probs : array, shape (N, C)
        Rows are probability vectors.
    normalize : bool
        Divide by ``log C`` so the score lies in [0, 1] (ranking unchanged).

    Examples
    --------
    >>> entropy(np.array([[0.5, 0.5], [1.0, 0.0]])).round(4).tolist()
    [0.6931, 0.0]
    """
    arr = check_probs(probs)
    scores = map_rows(_entropy, arr)
    return scores / np.log(arr.shape[1]) if normalize else scores


def least_confidence(probs: object, normalize: bool = False) -> np.ndarray:
    """``1 - max_c p_c``, shape (N,); in [0, 1 - 1/C], or [0, 1] with ``normalize``.

    Examples
    --------
    >>> least_confidence(np.array([[0.7, 0.2, 0.1]])).round(4).tolist()
    [0.3]
    """
    arr = check_probs(probs)
    scores = map_rows(_least_confidence, arr)
    c = arr.shape[1]
    return scores * c / (c - 1) if normalize else scores


def margin(probs: object) -> np.ndarray:
    """``1 - (p(1) - p(2))`` from the two largest probabilities, shape (N,); in [0, 1].

    Examples
    --------
    >>> margin(np.array([[0.7, 0.2, 0.1]])).round(4).tolist()
    [0.5]
    """
    return map_rows(_margin, check_probs(probs))


def ratio(probs: object) -> np.ndarray:
    """``p(2) / p(1)`` from the two largest probabilities, shape (N,); in [0, 1].

    Examples
    --------
    >>> ratio(np.array([[0.5, 0.25, 0.25]])).round(4).tolist()
    [0.5]
    """
    return map_rows(_ratio, check_probs(probs))


def uncertainty_measures(probs: object, *, validate: bool = True) -> dict[str, np.ndarray]:
    """``least_confidence``, ``margin``, ``ratio`` and ``entropy`` of every row from one pass,
    float64 (N,) each, as the functions of those names define them. ``validate=False`` skips
    the probability check, for rows the caller computed itself (its own softmax).

    Examples
    --------
    >>> {k: v.round(4).tolist() for k, v in uncertainty_measures(np.array([[0.5, 0.25, 0.25]])).items()}
    {'least_confidence': [0.5], 'margin': [0.75], 'ratio': [0.5], 'entropy': [1.0397]}
    """
    arr = check_probs(probs) if validate else np.asarray(probs)
    out = {name: np.empty(arr.shape[0]) for name in ("least_confidence", "margin", "ratio", "entropy")}
    for start, rows in iter_row_chunks(arr):
        p = np.asarray(rows, dtype=np.float64)
        p1, p2 = _top_two(p)
        stop = start + p.shape[0]
        out["least_confidence"][start:stop] = 1.0 - p1
        out["margin"][start:stop] = 1.0 - (p1 - p2)
        out["ratio"][start:stop] = p2 / p1
        out["entropy"][start:stop] = _entropy(p)
    return out

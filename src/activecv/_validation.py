"""Validation of user input at the public boundary (numpy only).

Checks work on one chunk of rows at a time, so validating a pool that does not fit in memory
costs no more memory than scoring it. Row numbers in messages are positions in the whole pool.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from activecv._errors import InputError, InputTypeError

EPS = 1e-12
"""Probabilities are clipped to [EPS, 1] before a logarithm (0 log 0 = 0)."""
SUM_TOL = 1e-4
"""Tolerance on a probability vector summing to 1."""

RngLike = int | np.random.Generator | None


def describe(value: Any) -> str:
    """What a value is, for error messages: shape and dtype of arrays, the type otherwise."""
    if isinstance(value, np.ndarray):
        return f"{value.shape} {value.dtype}"
    return type(value).__name__


def as_array(value: Any, name: str, shape: str, ndim: int, kind: str = "float") -> np.ndarray:
    """``value`` as an ndarray of ``ndim`` dimensions holding numbers of ``kind``.

    ``kind`` is "float" (any real dtype accepted, bool and int included), "int", or "mask"
    (booleans).
    Memory-mapped arrays stay memory-mapped: nothing is copied here.
    """
    if value is None or isinstance(value, (str, bytes, dict)):
        raise InputTypeError(f"{name} must be an array of shape {shape}; got {describe(value)}.")
    try:
        arr = np.asarray(value)
    except ValueError as exc:  # ragged nested lists
        raise InputError(f"{name} must be a rectangular array of shape {shape}; {exc}") from None
    allowed = {"int": "iu", "mask": "b"}.get(kind, "fiub")
    if arr.dtype.kind not in allowed:
        expected = {"int": "integers", "mask": "booleans (True = not counted)"}.get(kind, "real numbers")
        raise InputTypeError(f"{name} must hold {expected}; got dtype {arr.dtype}.")
    if arr.ndim != ndim:
        hint = " For one image pass x[None, ...]." if arr.ndim == ndim - 1 else ""
        raise InputError(f"{name} must have shape {shape}; got {describe(arr)}.{hint}")
    return arr


def _first_bad_row(bad: np.ndarray) -> int:
    """Index of the first row (axis 0) with any True in ``bad``."""
    rows = bad.reshape(bad.shape[0], -1).any(axis=1)
    return int(np.flatnonzero(rows)[0])


def check_finite(chunk: np.ndarray, name: str, offset: int = 0, allow_neg_inf: bool = False) -> None:
    """Raise on NaN or infinite values (``-inf`` allowed for log-probabilities)."""
    if allow_neg_inf:
        bad = np.isnan(chunk) | (chunk == np.inf)
        if not bad.any():
            return
    else:
        ok = np.isfinite(chunk)
        if ok.all():
            return
        bad = ~ok
    row = offset + _first_bad_row(bad)
    raise InputError(
        f"{name} must be finite; got NaN or inf (first at row {row}). "
        "Fix the model output; nothing is replaced silently."
    )


def check_simplex(chunk: np.ndarray, name: str, offset: int = 0) -> None:
    """Raise unless the last axis holds probability vectors (finite, >= 0, summing to 1)."""
    check_finite(chunk, name, offset)
    if chunk.size == 0:
        return
    negative = chunk < 0
    if negative.any():
        row = offset + _first_bad_row(negative)
        raise InputError(
            f"{name} must be probabilities (>= 0); got {float(chunk.min()):.6g} (first negative "
            f"at row {row}). Pass logits= instead if these are raw model outputs."
        )
    sums = chunk.sum(axis=-1, dtype=np.float64)
    off = np.abs(sums - 1.0) > SUM_TOL
    if off.any():
        first = np.unravel_index(int(np.flatnonzero(off)[0]), off.shape)
        row = offset + int(first[0])
        raise InputError(
            f"{name} rows must sum to 1 (tolerance {SUM_TOL:g}); row {row} sums to "
            f"{float(sums[first]):.6g}. Pass logits= for raw outputs, or normalise with "
            "p / p.sum(axis=-1, keepdims=True)."
        )


def check_pixel_simplex(
    chunk: np.ndarray, name: str, offset: int = 0, axis: int = 1, precision: np.dtype[Any] | None = None
) -> None:
    """Raise unless ``axis`` holds a probability vector at every pixel of every image (finite,
    >= 0, summing to 1; maps stored in ``precision``, float16 say, get the tolerance it allows).

    Two passes over the chunk when it is valid (its sums and its minimum: a NaN or an inf
    shows in both); the precise message is looked for only when something is wrong."""
    if chunk.size == 0:
        return
    stored = chunk.dtype if precision is None else precision
    eps = float(np.finfo(stored).eps) if stored.kind == "f" else 0.0
    tolerance = max(SUM_TOL, chunk.shape[axis] * eps)
    sums = chunk.sum(axis=axis, dtype=np.float64 if chunk.dtype == np.float64 else np.float32)
    off = ~(np.abs(sums - 1.0) <= tolerance)
    low = chunk.min()
    if np.isfinite(low) and low >= 0 and not off.any():
        return
    check_finite(chunk, name, offset)
    negative = chunk < 0
    if negative.any():
        raise InputError(
            f"{name} must be probabilities (>= 0); got {float(chunk.min()):.6g} (first negative in image "
            f"{offset + _first_bad_row(negative)}).{_raw_hint(name)}"
        )
    where = np.unravel_index(int(np.flatnonzero(off)[0]), off.shape)
    raise InputError(
        f"{name} must sum to 1 over the classes at every pixel (tolerance {tolerance:.2g}); image "
        f"{offset + int(where[0])} sums to {float(sums[where]):.6g} at pixel (y={where[-2]}, "
        f"x={where[-1]}).{_raw_hint(name)}"
    )


def _raw_hint(name: str) -> str:
    """Raw outputs have their own input, except MC samples (softmax each one first)."""
    if name.startswith("seg_mc_probs"):
        return " Apply a softmax over the class axis of each MC sample first."
    return " Pass seg_logits= if these are raw model outputs."


def check_log_simplex(chunk: np.ndarray, name: str, offset: int = 0) -> None:
    """Raise unless the last axis holds log-probability vectors (logsumexp == 0)."""
    check_finite(chunk, name, offset, allow_neg_inf=True)
    if chunk.size == 0:
        return
    positive = chunk > SUM_TOL
    if positive.any():
        row = offset + _first_bad_row(positive)
        raise InputError(
            f"{name} must be log-probabilities (<= 0); got {float(chunk.max()):.6g} (first "
            f"positive at row {row}). Pass mc_probs= for probabilities."
        )
    check_simplex(np.exp(chunk.astype(np.float64)), name, offset)


def check_budget(budget: Any) -> int:
    """``budget`` as a positive int."""
    return check_positive_int(budget, "budget")


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an int >= 1, for parameters such as ``candidates`` or ``num_samples``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputTypeError(f"{name} must be a positive integer; got {describe(value)} {value!r}.")
    if value < 1:
        raise InputError(f"{name} must be a positive integer; got {value}.")
    return int(value)


def as_rng(rng: RngLike) -> np.random.Generator:
    """A numpy Generator from a seed, a Generator, or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise InputTypeError(
        f"rng must be an int seed, a numpy.random.Generator or None; got {describe(rng)}. "
        "Legacy RandomState is not accepted: use np.random.default_rng(seed)."
    )


def labeled_positions(labeled: Any, n_items: int | None) -> np.ndarray:
    """Sorted unique int64 positions of labeled items from a boolean mask or an index array.

    ``n_items`` is the pool size when known (None for a stream of chunks, checked later).
    """
    if labeled is None:
        return np.empty(0, dtype=np.int64)
    arr = np.asarray(labeled)
    if arr.ndim != 1:
        raise InputError(
            f"labeled must be a boolean mask of shape (N,) or a 1-D array of indices; got {describe(arr)}."
        )
    if arr.dtype == bool:
        if n_items is not None and arr.shape[0] != n_items:
            raise InputError(
                f"labeled mask must have one entry per pool item, shape ({n_items},); got {describe(arr)}."
            )
        return np.flatnonzero(arr).astype(np.int64)
    if arr.size and arr.dtype.kind not in "iu":
        raise InputTypeError(f"labeled must be a boolean mask or integer indices; got dtype {arr.dtype}.")
    idx = np.unique(arr.astype(np.int64))
    if idx.size and (idx[0] < 0 or (n_items is not None and idx[-1] >= n_items)):
        bound = f"[0, {n_items})" if n_items is not None else "[0, N)"
        bad = idx[0] if idx[0] < 0 else idx[-1]
        raise InputError(f"labeled indices must lie in {bound}; got {bad}.")
    return idx

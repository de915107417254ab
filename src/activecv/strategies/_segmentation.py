"""Semantic segmentation (ALGORITHMS.md §9): per-pixel uncertainty and its per-image aggregate.

Maps follow the pool's layout: probabilities (n, C, H, W), MC samples (n, K, C, H, W), an
ignore mask (n, H, W) (True = the pixel does not count). Kernels take validated float64
chunks; every score is float64, higher = label first.
"""

from __future__ import annotations

import math

import numpy as np

from activecv._errors import InputError
from activecv._validation import EPS

PIXEL_MEASURES = ("entropy", "margin", "least_confidence")
AGGREGATES = ("mean", "max", "top_q")


def pixel_entropy(probs: np.ndarray, axis: int = -3) -> np.ndarray:
    """``-sum_c p_c log p_c`` over the class ``axis``, in nats, 0 log 0 = 0."""
    logp = np.clip(probs, EPS, 1.0)  # the one temporary: a map is big, fresh memory is not free
    np.log(logp, out=logp)
    logp *= probs
    return 0.0 - logp.sum(axis=axis)


def pixel_uncertainty(probs: np.ndarray, measure: str) -> np.ndarray:
    """Per-pixel uncertainty of class maps (..., C, H, W) -> (..., H, W), higher = less sure:
    ``entropy``, ``margin`` (1 - (p1 - p2)) or ``least_confidence`` (1 - p1).

    Examples
    --------
    >>> p = np.array([[[0.5, 1.0]], [[0.5, 0.0]]])  # C=2, H=1, W=2
    >>> pixel_uncertainty(p, "margin").tolist()
    [[1.0, 0.0]]
    """
    if measure == "entropy":
        return pixel_entropy(probs)
    c = probs.shape[-3]
    top = np.partition(probs, c - 2, axis=-3)  # the two largest last along the class axis
    p1, p2 = top[..., c - 1, :, :], top[..., c - 2, :, :]
    if measure == "margin":
        return 1.0 - (p1 - p2)
    if measure == "least_confidence":
        return 1.0 - p1
    raise InputError(f"measure must be one of {', '.join(PIXEL_MEASURES)}; got {measure!r}.")


def class_argmax(probs: np.ndarray) -> np.ndarray:
    """The arg-max over the class axis of maps (..., C, H, W): (..., H, W) int64, the first
    class on ties, as ``np.argmax``; one pass per class, much faster for this layout.

    Examples
    --------
    >>> class_argmax(np.array([[[0.2, 0.5]], [[0.8, 0.5]]])).tolist()
    [[1, 0]]
    """
    classes = np.moveaxis(probs, -3, 0)
    best = classes[0].copy()
    index = np.zeros(best.shape, dtype=np.int64)
    for c in range(1, classes.shape[0]):
        higher = classes[c] > best
        np.copyto(index, c, where=higher)  # far faster than index[higher] = c
        np.maximum(best, classes[c], out=best)
    return index


def pixel_bald(mc_probs: np.ndarray) -> np.ndarray:
    """Per-pixel mutual information of K samples (..., K, C, H, W) -> (..., H, W):
    the entropy of the mean minus the mean entropy (ALGORITHMS.md §3.1, pixel by pixel)."""
    mean = mc_probs.mean(axis=-4)
    return np.maximum(pixel_entropy(mean) - pixel_entropy(mc_probs).mean(axis=-3), 0.0)


def class_weights(counts: np.ndarray) -> np.ndarray:
    """Class-balance weights ``w_c`` proportional to ``1 / (n_c + 1)`` for the labeled pixels
    ``n_c`` of each class (+1: a class never labeled gets the largest finite weight), scaled to
    mean 1 over the classes.

    Examples
    --------
    >>> class_weights(np.array([99.0, 0.0])).round(4).tolist()
    [0.0198, 1.9802]
    """
    inverse = 1.0 / (np.asarray(counts, dtype=np.float64) + 1.0)
    return inverse / inverse.mean()


def image_scores(
    uncertainty: np.ndarray,
    how: str,
    q: float = 0.1,
    valid: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Per-image scores (n,) from per-pixel uncertainty (n, H, W): the ``mean``, the ``max``, or
    the mean of the ``top_q`` fraction of pixels (at least one), over the ``valid`` pixels only,
    each pixel first multiplied by its ``weights`` when given. An image with no valid pixel
    scores 0: there is nothing to label in it.

    Examples
    --------
    >>> u = np.array([[[0.1, 0.2], [0.3, 0.9]]])
    >>> [float(image_scores(u, how)[0]) for how in ("mean", "max")], float(image_scores(u, "top_q", q=0.5)[0])
    ([0.375, 0.9], 0.6)
    """
    n = uncertainty.shape[0]
    values = uncertainty.reshape(n, -1)
    if weights is not None:
        values = values * weights.reshape(n, -1)
    if valid is None and how == "mean":
        return values.sum(axis=1, dtype=np.float64) / max(values.shape[1], 1)
    keep = np.ones_like(values, dtype=bool) if valid is None else valid.reshape(n, -1)
    counts = keep.sum(axis=1)
    if how == "mean":
        return np.where(keep, values, 0.0).sum(axis=1, dtype=np.float64) / np.maximum(counts, 1)
    if how == "max":
        return np.where(keep, values, -np.inf).max(axis=1, initial=-np.inf).clip(min=0.0).astype(np.float64)
    if how != "top_q":
        raise InputError(f"aggregate must be one of {', '.join(AGGREGATES)}; got {how!r}.")
    out = np.zeros(n)
    for i in range(n):
        chosen = values[i][keep[i]]
        if chosen.size:
            k = max(1, math.ceil(q * chosen.size))
            out[i] = np.partition(chosen, chosen.size - k)[chosen.size - k :].mean(dtype=np.float64)
    return out

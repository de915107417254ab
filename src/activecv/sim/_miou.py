"""Semantic-segmentation accuracy: per-class IoU, mIoU and pixel accuracy from one confusion
matrix (numpy only)."""

from __future__ import annotations

from typing import Any

import numpy as np

from activecv._errors import InputError, InputTypeError
from activecv._validation import check_positive_int

CHUNK = 1 << 22
"""Pixels counted per np.bincount call: memory stays bounded for a large (memory-mapped) pool."""


def _labels(value: Any, name: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        raise InputTypeError(f"{name} must hold integer class ids; got dtype {arr.dtype}.")
    return arr


def mean_iou(predicted: Any, truth: Any, n_classes: int, ignore_index: int = 255) -> dict[str, Any]:
    """Accuracy of predicted class maps against the truth, any equal shapes (e.g. (N, H, W)).

    Pixels whose truth is ``ignore_index`` do not count. From the confusion matrix
    ``confusion[t, p]`` (pixels of true class t predicted p): per class
    ``IoU_c = TP / (TP + FP + FN)``, NaN for a class absent from both truth and prediction;
    ``miou`` the mean over the other classes; ``pixel_accuracy`` the share of counted pixels
    predicted right.

    Returns
    -------
    dict
        ``iou`` (C,) float64, ``miou`` float, ``pixel_accuracy`` float, ``confusion`` (C, C)
        int64.

    Examples
    --------
    >>> result = mean_iou(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 255]), n_classes=3)
    >>> result["iou"].round(3).tolist(), round(result["miou"], 3), round(result["pixel_accuracy"], 3)
    ([0.5, 0.5, nan], 0.5, 0.667)
    """
    n_classes = check_positive_int(n_classes, "n_classes")
    pred, true = _labels(predicted, "predicted"), _labels(truth, "truth")
    if pred.shape != true.shape:
        raise InputError(
            f"predicted and truth must have the same shape; got {pred.shape} and {true.shape}. "
            "Pass one class map per image for both."
        )
    pred, true = pred.reshape(-1), true.reshape(-1)
    confusion = np.zeros(n_classes * n_classes, dtype=np.int64)
    for start in range(0, true.size, CHUNK):
        t, p = true[start : start + CHUNK], pred[start : start + CHUNK]
        counted = t != ignore_index
        t, p = t[counted].astype(np.int64), p[counted].astype(np.int64)
        for values, name in ((t, "truth"), (p, "predicted")):
            bad = (values < 0) | (values >= n_classes)
            if bad.any():
                extra = f" or ignore_index={ignore_index}" if name == "truth" else ""
                raise InputError(
                    f"{name} must hold classes in [0, {n_classes}){extra}; got {int(values[bad][0])}."
                )
        confusion += np.bincount(t * n_classes + p, minlength=n_classes * n_classes)
    matrix = confusion.reshape(n_classes, n_classes)
    total = int(matrix.sum())
    if total == 0:
        raise InputError(f"truth has no counted pixel: every pixel is ignore_index={ignore_index}.")
    hits = np.diag(matrix).astype(np.float64)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - hits
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, hits / union, np.nan)
    return {
        "iou": iou,
        "miou": float(np.nanmean(iou)),
        "pixel_accuracy": float(hits.sum() / total),
        "confusion": matrix,
    }

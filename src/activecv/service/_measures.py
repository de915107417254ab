"""Active-learning measures of one prediction, and the policy that decides "annotate this"."""

from __future__ import annotations

import base64
import bisect
import io
import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from activecv._errors import InputError
from activecv.strategies import (
    box_distributions,
    box_uncertainty,
    image_scores,
    pixel_uncertainty,
    uncertainty_measures,
)
from activecv.types import Detections

CLASSIFICATION_METRICS = ("least_confidence", "margin", "ratio", "entropy")
DETECTION_METRICS = ("entropy_max", "entropy_mean", "entropy_sum")
SEGMENTATION_METRICS = ("entropy_mean", "entropy_top", "margin_mean", "margin_top")
TOP_SHARE = 0.1  # the top fraction of pixels the *_top measures average


def metric_names(task: str) -> tuple[str, ...]:
    return {"classification": CLASSIFICATION_METRICS, "segmentation": SEGMENTATION_METRICS}.get(
        task, DETECTION_METRICS
    )


def classification_measures(
    probs: np.ndarray, classes: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, float]]:
    """The prediction (class, its probability, every class's probability in ``classes``
    order, as ``GET /health`` lists them) and every uncertainty measure of one image (higher =
    more uncertain), as the strategies of the same names define them."""
    row = probs[None, :]  # rows from the service's own softmax: no need to validate them again
    best = int(np.argmax(probs))
    prediction = {
        "class": classes[best],
        "probability": float(probs[best]),
        "probabilities": probs.tolist(),
    }
    measures = {name: float(values[0]) for name, values in uncertainty_measures(row, validate=False).items()}
    return prediction, measures


def detection_measures(det: Detections, classes: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, float]]:
    """Boxes with their class, score and per-box entropy (normalised to [0, 1]), least
    confidence and margin; the image's sum, mean and max of the box entropies."""
    mode = "full" if det.class_probs is not None else "binary_top1"
    k = box_distributions(det, mode).shape[1] if len(det) else 2
    per_box = {m: box_uncertainty(det, m, mode) for m in ("entropy", "least_confidence", "margin")}
    per_box["entropy"] = per_box["entropy"] / math.log(k)
    boxes = [
        {
            "box": box,
            "class": classes[label],
            "score": score,
            **{f"{name}": float(values[i]) for name, values in per_box.items()},
        }
        for i, (box, label, score) in enumerate(
            zip(det.boxes.tolist(), det.labels.tolist(), det.scores.tolist(), strict=True)
        )
    ]
    e = per_box["entropy"]
    measures = {
        "entropy_max": float(e.max()) if len(e) else 0.0,
        "entropy_mean": float(e.mean()) if len(e) else 0.0,
        "entropy_sum": float(e.sum()),
        "boxes": float(len(e)),
    }
    return {"boxes": boxes}, measures


def segmentation_measures(
    probs: np.ndarray, classes: tuple[str, ...], size: tuple[int, int]
) -> tuple[dict[str, Any], dict[str, float]]:
    """The prediction of one image's class maps (C, H, W): the arg-max mask at the image's own
    ``size`` (width, height), as base64 PNG, and each class's share of it; the mean and the
    top-10% mean of the pixel entropy (nats) and margin (1 - (p1 - p2)), as the segmentation
    strategies define them."""
    from PIL import Image

    maps = probs[None]
    measures = {}
    for name in ("entropy", "margin"):
        pixel = pixel_uncertainty(maps, name)
        measures[f"{name}_mean"] = float(image_scores(pixel, "mean")[0])
        measures[f"{name}_top"] = float(image_scores(pixel, "top_q", q=TOP_SHARE)[0])
    small = Image.fromarray(np.argmax(probs, axis=0).astype(np.uint8), mode="L")
    mask = np.asarray(small.resize(size, Image.Resampling.NEAREST))
    shares = np.bincount(mask.ravel(), minlength=len(classes)) / mask.size
    buffer = io.BytesIO()
    Image.fromarray(mask, mode="L").save(buffer, format="PNG")
    prediction = {
        "classes": {name: float(share) for name, share in zip(classes, shares, strict=False) if share},
        "mask_png": base64.b64encode(buffer.getvalue()).decode("ascii"),
    }
    return prediction, measures


@dataclass
class AnnotatePolicy:
    """Decides ``annotate`` from one measure: ``value >= threshold``, or (with ``top``) the
    value ranks in the top ``top`` fraction of the last ``window`` requests, itself included.

    The top-fraction rule says nothing until the window holds ``ceil(1 / top)`` values:
    the top 10% of fewer than ten images is not defined.
    """

    metric: str
    threshold: float | None = None
    top: float | None = None
    window: int = 1000
    _recent: deque[float] = field(init=False, repr=False)  # arrival order
    _ranked: list[float] = field(init=False, repr=False)  # the same values, sorted
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if (self.threshold is None) == (self.top is None):
            raise InputError("the annotate policy needs exactly one of threshold and top (a fraction).")
        if self.top is not None and not 0 < self.top < 1:
            raise InputError(f"top must be a fraction in (0, 1); got {self.top}.")
        if self.window < 1:
            raise InputError(f"window must be >= 1; got {self.window}.")
        if self.top is not None and self.window < math.ceil(1 / self.top):
            raise InputError(
                f"window must hold at least 1 / top = {math.ceil(1 / self.top)} requests; got {self.window}."
            )
        self._recent = deque()
        self._ranked = []

    def check_metric(self, task: str) -> None:
        if self.metric not in metric_names(task):
            raise InputError(
                f"annotate metric for {task} must be one of {', '.join(metric_names(task))}; "
                f"got {self.metric!r}."
            )

    def decide(self, value: float) -> bool:
        if self.threshold is not None:
            return value >= self.threshold
        assert self.top is not None
        with self._lock:
            if len(self._recent) == self.window:
                oldest = self._recent.popleft()
                del self._ranked[bisect.bisect_left(self._ranked, oldest)]
            self._recent.append(value)
            bisect.insort(self._ranked, value)
            n = len(self._ranked)
            if n < math.ceil(1 / self.top):
                return False
            above = n - bisect.bisect_right(self._ranked, value)
            return above < math.ceil(self.top * n)

    def describe(self) -> dict[str, Any]:
        rule = (
            {"threshold": self.threshold}
            if self.threshold is not None
            else {"top": self.top, "window": self.window}
        )
        return {"metric": self.metric, **rule}

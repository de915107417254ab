"""Active-learning measures of one prediction, and the policy that decides "annotate this"."""

from __future__ import annotations

import bisect
import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from activecv._errors import InputError
from activecv.strategies import box_distributions, box_uncertainty, uncertainty_measures
from activecv.types import Detections

CLASSIFICATION_METRICS = ("least_confidence", "margin", "ratio", "entropy")
DETECTION_METRICS = ("entropy_max", "entropy_mean", "entropy_sum")


def metric_names(task: str) -> tuple[str, ...]:
    return CLASSIFICATION_METRICS if task == "classification" else DETECTION_METRICS


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


def label_studio_score(metric: str, value: float, n_classes: int) -> float:
    """The measure as Label Studio's prediction score (lower = label first): one minus the
    measure scaled to [0, 1], or 1 / (1 + value) for the unbounded ``entropy_sum``."""
    if metric == "entropy_sum":
        return 1.0 / (1.0 + value)
    scale = {"entropy": math.log(n_classes), "least_confidence": (n_classes - 1) / n_classes}.get(metric, 1.0)
    return float(min(max(1.0 - value / scale, 0.0), 1.0))


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

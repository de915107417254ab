"""Containers shared by every strategy (numpy only): a Selection, a RegionSelection, one
image's Detections."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from activecv._errors import InputError
from activecv._validation import as_array, check_finite


@dataclass(frozen=True)
class Selection:
    """The items a strategy chose, best first.

    Attributes
    ----------
    indices : ndarray of int64, shape (n,)
        Unique positions into the pool as the caller passed it, best first.
    scores : ndarray of float64, shape (n,)
        The score behind each choice (higher = label first); for batch methods the value
        at the moment the item was chosen (e.g. the distance to the nearest centre).
    strategy : str
        Canonical name of the strategy that made the selection.
    info : Mapping
        Method-specific diagnostics (read-only).
    """

    indices: np.ndarray
    scores: np.ndarray
    strategy: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        indices = np.array(self.indices, dtype=np.int64)  # copies: the caller's arrays stay writable
        scores = np.array(self.scores, dtype=np.float64)
        if indices.shape != scores.shape or indices.ndim != 1:
            raise InputError(
                "Selection indices and scores must be 1-D of one length; "
                f"got {indices.shape} and {scores.shape}."
            )
        indices.flags.writeable = False
        scores.flags.writeable = False
        object.__setattr__(self, "indices", indices)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "info", MappingProxyType(dict(self.info)))

    def __len__(self) -> int:
        return int(self.indices.shape[0])


@dataclass(frozen=True)
class RegionSelection:
    """Regions of images to label, best first: region ``regions[j]`` of the region map of pool
    image ``images[j]``, its score, its cost in clicks and the model's dominant class in it.

    Attributes
    ----------
    images, regions : ndarray of int64, shape (M,)
    scores, costs : ndarray of float64, shape (M,)
    classes : ndarray of int64, shape (M,)
        The class most pixels of the region are predicted as (its pre-annotation).
    info : Mapping
        ``budget`` (clicks), ``candidates`` (regions scored), ``cost`` (the cost model: dominant,
        classes or own); ``clicks`` is what the selection spends.
    """

    images: np.ndarray
    regions: np.ndarray
    scores: np.ndarray
    costs: np.ndarray
    classes: np.ndarray
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        arrays = {
            "images": np.array(self.images, dtype=np.int64),
            "regions": np.array(self.regions, dtype=np.int64),
            "scores": np.array(self.scores, dtype=np.float64),
            "costs": np.array(self.costs, dtype=np.float64),
            "classes": np.array(self.classes, dtype=np.int64),
        }
        if len({a.shape for a in arrays.values()}) != 1 or arrays["images"].ndim != 1:
            raise InputError(
                f"RegionSelection fields must be 1-D of one length; got {[a.shape for a in arrays.values()]}."
            )
        for name, arr in arrays.items():
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "info", MappingProxyType(dict(self.info)))

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def clicks(self) -> float:
        """The cost of every selected region together."""
        return float(self.costs.sum())

    def by_image(self) -> dict[int, np.ndarray]:
        """The selected region ids of each image, images in the order of their best region."""
        out: dict[int, list[int]] = {}
        for image, region in zip(self.images.tolist(), self.regions.tolist(), strict=True):
            out.setdefault(image, []).append(region)
        return {image: np.array(found, dtype=np.int64) for image, found in out.items()}


def _field(value: Any, name: str, ndim: int, kind: str = "float") -> np.ndarray:
    arr = as_array(value, f"Detections {name}", "(M,)" if ndim == 1 else "(M, K)", ndim, kind)
    dtype = np.int64 if kind == "int" else np.float32 if arr.dtype == np.float32 else np.float64
    arr = np.array(arr, dtype=dtype)  # an own, read-only copy; float32 stays float32 (features)
    arr.flags.writeable = False
    return arr


def _optional_matrix(value: Any, name: str, m: int) -> np.ndarray | None:
    """An (M, K) field; for an image without boxes an empty list counts as absent."""
    if value is None or (m == 0 and np.size(value) == 0 and np.ndim(value) != 2):
        return None
    return _field(value, name, 2)


def _check_rows(arr: np.ndarray, name: str, m: int) -> None:
    if arr.shape[0] != m:
        raise InputError(f"Detections {name} must have one row per box ({m}); got {arr.shape[0]}.")


def _checked_boxes(value: Any) -> np.ndarray:
    """(M, 4) finite ``x1, y1, x2, y2`` boxes with x2 >= x1 and y2 >= y1; empty input gives (0, 4)."""
    boxes = _field(value if np.size(value) else np.zeros((0, 4)), "boxes", 2)
    if boxes.shape[1] != 4:
        raise InputError(f"Detections boxes must have shape (M, 4); got {boxes.shape}.")
    check_finite(boxes, "Detections boxes")
    bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"Detections boxes must be x1, y1, x2, y2 with x2 >= x1 and y2 >= y1; "
            f"box {row} is {boxes[row].tolist()}."
        )
    return boxes


def _checked_class_probs(value: Any, background_index: int | None, m: int) -> np.ndarray | None:
    """(M, K) finite probabilities in [0, 1] with at least one foreground column, or None."""
    probs = _optional_matrix(value, "class_probs", m)
    if probs is None:
        if background_index is not None:
            raise InputError("background_index needs class_probs.")
        return None
    _check_rows(probs, "class_probs", m)
    check_finite(probs, "Detections class_probs")
    if ((probs < 0) | (probs > 1)).any():
        raise InputError("Detections class_probs must lie in [0, 1]; got values outside.")
    if background_index is not None and not 0 <= background_index < probs.shape[1]:
        raise InputError(
            f"background_index must be a column of class_probs, in [0, {probs.shape[1]}); "
            f"got {background_index}."
        )
    if probs.shape[1] - (background_index is not None) < 1:
        raise InputError("Detections class_probs need at least one foreground column.")
    return probs


def _checked_labels(value: Any, foreground: np.ndarray | None, m: int) -> np.ndarray:
    """(M,) int64 foreground class ids: as given and in range, else the argmax of ``foreground``."""
    if value is None:
        if foreground is None and m:
            raise InputError("Detections need class_probs, or labels and scores.")
        labels = np.argmax(foreground, axis=1) if foreground is not None else np.zeros(0, dtype=np.int64)
        return _field(labels, "labels", 1, "int")
    labels = _field(value if m else np.zeros(0, dtype=np.int64), "labels", 1, "int")
    _check_rows(labels, "labels", m)
    top = foreground.shape[1] if foreground is not None else None
    if m and (labels.min() < 0 or (top is not None and labels.max() >= top)):
        bound = f"[0, {top})" if top is not None else ">= 0"
        raise InputError(f"Detections labels must be class ids {bound}; got {labels.min()}..{labels.max()}.")
    return labels


def _checked_scores(value: Any, foreground: np.ndarray | None, labels: np.ndarray, m: int) -> np.ndarray:
    """(M,) confidences in [0, 1]: as given, else the ``foreground`` probability of each label."""
    if value is None:
        if foreground is None and m:
            raise InputError("Detections need class_probs, or labels and scores.")
        return _field(
            foreground[np.arange(m), labels] if foreground is not None else np.zeros(0), "scores", 1
        )
    scores = _field(value if m else np.zeros(0), "scores", 1)
    _check_rows(scores, "scores", m)
    if ((scores < 0) | (scores > 1) | ~np.isfinite(scores)).any():
        raise InputError("Detections scores must lie in [0, 1].")
    return scores


def _checked_features(value: Any, m: int) -> np.ndarray | None:
    """(M, D) box features, finite except whole rows of NaN (a box without features), or None."""
    features = _optional_matrix(value, "features", m)
    if features is not None:
        _check_rows(features, "features", m)
        partial = np.isnan(features).any(axis=1) & ~np.isnan(features).all(axis=1)
        if partial.any() or np.isinf(features).any():
            raise InputError(
                "Detections features must be finite (a whole row of NaN marks a box without features)."
            )
    return features


@dataclass(frozen=True)
class Detections:
    """One image's detections: an immutable structure of arrays; M may be 0.

    Parameters
    ----------
    boxes : (M, 4)
        ``x1, y1, x2, y2`` in pixels, after the detector's own NMS.
    class_probs : (M, C) or (M, C + 1), optional
        Full class probabilities of each box (softmax rows, or independent sigmoid scores).
        With a background column, ``background_index`` says which (torchvision: 0,
        mmdetection: the last).
    labels : (M,) int, optional
        Predicted foreground class in [0, C); default: argmax of the foreground columns.
    scores : (M,), optional
        Confidence of the predicted class; default: its probability.
    features : (M, D), optional
        One appearance vector per box (ENMS and EBAL need them). A row of NaN marks a box
        without features: it is dissimilar to every other box.

    Without ``class_probs``, ``labels`` and ``scores`` are required.

    Examples
    --------
    >>> d = Detections(boxes=[[0, 0, 10, 10]], class_probs=[[0.2, 0.7, 0.1]], background_index=0)
    >>> d.labels.tolist(), d.scores.tolist(), d.num_classes
    ([0], [0.7], 2)
    """

    boxes: Any
    class_probs: Any = None
    labels: Any = None
    scores: Any = None
    features: Any = None
    background_index: int | None = None

    def __post_init__(self) -> None:
        boxes = _checked_boxes(self.boxes)
        m = boxes.shape[0]
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(
            self, "class_probs", _checked_class_probs(self.class_probs, self.background_index, m)
        )
        foreground = self.foreground_probs
        labels = _checked_labels(self.labels, foreground, m)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "scores", _checked_scores(self.scores, foreground, labels, m))
        object.__setattr__(self, "features", _checked_features(self.features, m))

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @property
    def foreground_probs(self) -> np.ndarray | None:
        """class_probs without the background column (None without class_probs)."""
        if self.class_probs is None:
            return None
        if self.background_index is None:
            return self.class_probs
        return np.delete(self.class_probs, self.background_index, axis=1)

    @property
    def num_classes(self) -> int | None:
        """C, the number of foreground classes (None without class_probs)."""
        foreground = self.foreground_probs
        return None if foreground is None else int(foreground.shape[1])

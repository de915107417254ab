"""Detections from files and arrays: COCO detection results JSON and YOLO-style arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from activecv._errors import InputError
from activecv.io._annotations import read_json
from activecv.types import Detections


@dataclass(frozen=True)
class DetectionPool:
    """Detections per image, in ``image_ids`` order, and the category id of each class index."""

    image_ids: list[Any]
    detections: list[Detections]
    category_ids: list[int]


def _coco_images_and_categories(dataset: Any, path: str | Path) -> tuple[list[Any], list[int]]:
    if not isinstance(dataset, dict) or "images" not in dataset:
        raise InputError(f"{str(path)!r} must be a COCO dataset with an 'images' list.")
    image_ids = [image["id"] for image in dataset["images"]]
    categories = sorted(int(c["id"]) for c in dataset.get("categories", []))
    return image_ids, categories


def load_coco_detections(
    results: str | Path,
    images: str | Path | dict[str, Any] | None = None,
    background_index: int | None = None,
    *,
    image_ids: Sequence[Any] | None = None,
    category_ids: Sequence[int] | None = None,
) -> DetectionPool:
    """Read a COCO detection results file (a list of ``{image_id, category_id, bbox: [x, y, w,
    h], score}``) with optional per-detection ``class_probs`` and ``feature`` lists.

    The pool is, in this order of precedence: the ``images`` of a COCO dataset JSON (a path,
    or the parsed object), whose ``categories`` also define the classes; or ``image_ids``
    (with ``category_ids``, the classes in column order); or else the images that have
    detections, in first-seen order, with the category ids seen, sorted. Images without any
    detection are in the pool with none. ``class_probs`` must have one column per class,
    plus one at ``background_index`` when given.
    """
    records = read_json(results, "detection results")
    if not isinstance(records, list):
        raise InputError(
            f"{str(results)!r} must hold a JSON list of detections; got {type(records).__name__}."
        )
    categories: list[int] = [int(c) for c in category_ids] if category_ids is not None else []
    if images is not None:
        dataset = images if isinstance(images, dict) else read_json(images, "COCO dataset")
        pool_ids, categories = _coco_images_and_categories(
            dataset, "images" if isinstance(images, dict) else images
        )
    elif image_ids is not None:
        pool_ids = list(image_ids)
    else:
        pool_ids = list(dict.fromkeys(r.get("image_id") for r in records if isinstance(r, dict)))
    if not categories:
        seen = {r.get("category_id") for r in records if isinstance(r, dict)}
        categories = sorted(c for c in seen if isinstance(c, int) and not isinstance(c, bool))
    class_of = {c: i for i, c in enumerate(categories)}
    per_image: dict[Any, list[tuple[int, dict[str, Any]]]] = {i: [] for i in pool_ids}
    for k, record in enumerate(records):
        if not isinstance(record, dict) or not {"image_id", "category_id", "bbox", "score"} <= set(record):
            raise InputError(
                f"detection {k} of {str(results)!r} must have image_id, category_id, bbox and score; "
                f"got {record!r}."
            )
        image_id, category_id = record["image_id"], record["category_id"]
        # An exact type: 2.0 and True equal the ids 2 and 1, but name no image.
        if type(image_id) not in (int, str) or image_id not in per_image:
            raise InputError(
                f"detection {k} of {str(results)!r} names image_id {image_id!r}, which is not an "
                "image of the pool."
            )
        if isinstance(category_id, bool) or not isinstance(category_id, int) or category_id not in class_of:
            raise InputError(
                f"detection {k} names category_id {record['category_id']}, which is not a category."
            )
        per_image[record["image_id"]].append((k, record))
    detections = [
        _coco_image(items, class_of, background_index, str(results)) for items in per_image.values()
    ]
    return DetectionPool(list(per_image), detections, categories)


def _coco_image(
    items: list[tuple[int, dict[str, Any]]],
    class_of: dict[int, int],
    background_index: int | None,
    source: str,
) -> Detections:
    if not items:
        return Detections(boxes=np.zeros((0, 4)))
    first = items[0][0]
    try:
        xywh = np.array([r["bbox"] for _, r in items], dtype=np.float64)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        has_probs = ["class_probs" in r for _, r in items]
        has_features = ["feature" in r for _, r in items]
        if len(set(has_probs)) > 1 or len(set(has_features)) > 1:
            raise InputError("either every detection of an image has class_probs (feature) or none does")
        return Detections(
            boxes=boxes,
            class_probs=[r["class_probs"] for _, r in items] if has_probs[0] else None,
            labels=[class_of[int(r["category_id"])] for _, r in items],
            scores=[r["score"] for _, r in items],
            features=[r["feature"] for _, r in items] if has_features[0] else None,
            background_index=background_index if has_probs[0] else None,
        )
    except (ValueError, TypeError) as exc:  # InputError is a ValueError: add where it happened
        raise InputError(
            f"{source}: the detections of one image (from detection {first} on): {exc}"
        ) from None


def from_yolo(
    arrays: Sequence[Any], box_format: str = "xyxy", features: Sequence[Any] | None = None
) -> list[Detections]:
    """YOLO-style per-image arrays ``(M, 4 + 1 + C)``: box, objectness, C class probabilities.

    ``box_format`` "xyxy" or "cxcywh". Labels are the arg-max class, scores objectness times
    that class's probability, and ``class_probs`` the C (sigmoid) class probabilities: use
    ``entropy_mode="sigmoid_plus_bg"`` or ``"binary_top1"`` with them.
    """
    if box_format not in ("xyxy", "cxcywh"):
        raise InputError(f"box_format must be 'xyxy' or 'cxcywh'; got {box_format!r}.")
    if features is not None and len(features) != len(arrays):
        raise InputError(f"features must have one entry per image ({len(arrays)}); got {len(features)}.")
    out = []
    for i, raw in enumerate(arrays):
        arr = np.asarray(raw, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] < 6:
            raise InputError(f"YOLO array {i} must have shape (M, 4 + 1 + C) with C >= 1; got {arr.shape}.")
        boxes = arr[:, :4]
        if box_format == "cxcywh":
            half = boxes[:, 2:] / 2
            boxes = np.concatenate([boxes[:, :2] - half, boxes[:, :2] + half], axis=1)
        probs = arr[:, 5:]
        labels = probs.argmax(axis=1) if arr.shape[0] else np.zeros(0, dtype=np.int64)
        scores = arr[:, 4] * probs[np.arange(arr.shape[0]), labels]
        feats = None if features is None else features[i]
        out.append(Detections(boxes=boxes, class_probs=probs, labels=labels, scores=scores, features=feats))
    return out


def count_coco_boxes(dataset: str | Path, category_ids: Sequence[int]) -> np.ndarray:
    """Ground-truth boxes per class in a COCO annotations file: ``labeled_class_counts``."""
    data = read_json(dataset, "COCO annotations")
    if not isinstance(data, dict) or "annotations" not in data:
        raise InputError(f"{str(dataset)!r} must be a COCO dataset with an 'annotations' list.")
    index = {c: i for i, c in enumerate(category_ids)}
    counts = np.zeros(len(category_ids))
    for k, annotation in enumerate(data["annotations"]):
        category = int(annotation.get("category_id", -1))
        if category not in index:
            raise InputError(
                f"annotation {k} of {str(dataset)!r} has category_id {category}, not a known class."
            )
        counts[index[category]] += 1
    return counts

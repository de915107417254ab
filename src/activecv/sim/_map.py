"""Detection accuracy with the COCO evaluator (pycocotools): mAP@0.5 and mAP@[.5:.95]."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from activecv._errors import missing_extra
from activecv.types import Detections


def coco_map(
    detections: Sequence[Detections],
    gt_boxes: Sequence[np.ndarray],
    gt_labels: Sequence[np.ndarray],
    num_classes: int,
) -> dict[str, float]:
    """``{"map50": ..., "map": ...}`` of the detections against the ground truth (xyxy boxes,
    class ids in [0, C)); images are matched by position."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise missing_extra("pycocotools", "sim") from None
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for i, (boxes, labels, det) in enumerate(zip(gt_boxes, gt_labels, detections, strict=True)):
        images.append({"id": i})
        for (x1, y1, x2, y2), c in zip(boxes, labels, strict=True):
            w, h = float(x2 - x1), float(y2 - y1)
            annotations.append(
                {"id": len(annotations) + 1, "image_id": i, "category_id": int(c) + 1,
                 "bbox": [float(x1), float(y1), w, h], "area": w * h, "iscrowd": 0}
            )  # fmt: skip
        for (x1, y1, x2, y2), c, s in zip(det.boxes, det.labels, det.scores, strict=True):
            results.append(
                {
                    "image_id": i,
                    "category_id": int(c) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": float(s),
                }
            )
    if not results:
        return {"map50": 0.0, "map": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        truth = COCO()
        truth.dataset = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": c + 1} for c in range(num_classes)],
        }
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return {"map50": float(evaluation.stats[1]), "map": float(evaluation.stats[0])}

"""Readers and writers: predictions files and selection exports."""

from activecv.io._detections import DetectionPool, count_coco_boxes, from_yolo, load_coco_detections
from activecv.io._example import make_example_predictions
from activecv.io._predictions import (
    PredictionsFile,
    load_predictions,
    save_predictions,
    write_review_csv,
    write_selection_csv,
)

__all__ = [
    "DetectionPool",
    "PredictionsFile",
    "count_coco_boxes",
    "from_yolo",
    "load_coco_detections",
    "load_predictions",
    "make_example_predictions",
    "save_predictions",
    "write_review_csv",
    "write_selection_csv",
]

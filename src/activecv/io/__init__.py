"""Readers and writers: predictions files, selection exports, and annotation tools' files."""

from activecv.io._annotations import Annotation, AnnotationFile, Label
from activecv.io._detections import DetectionPool, count_coco_boxes, from_yolo, load_coco_detections
from activecv.io._example import make_example_predictions
from activecv.io._label_files import (
    read_class_folders,
    read_coco_annotations,
    read_label_csv,
    write_selection_rows,
)
from activecv.io._predictions import (
    PredictionsFile,
    StrategyInputs,
    load_predictions,
    read_strategy_inputs,
    save_predictions,
    write_review_csv,
    write_selection_csv,
)
from activecv.io.labelstudio import TaskItem, label_config, label_studio_tasks, read_label_studio_export

__all__ = [
    "Annotation",
    "AnnotationFile",
    "DetectionPool",
    "Label",
    "PredictionsFile",
    "StrategyInputs",
    "TaskItem",
    "count_coco_boxes",
    "from_yolo",
    "label_config",
    "label_studio_tasks",
    "load_coco_detections",
    "load_predictions",
    "make_example_predictions",
    "read_class_folders",
    "read_coco_annotations",
    "read_label_csv",
    "read_label_studio_export",
    "read_strategy_inputs",
    "save_predictions",
    "write_review_csv",
    "write_selection_csv",
    "write_selection_rows",
]

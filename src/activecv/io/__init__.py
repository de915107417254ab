"""Readers and writers: predictions files, selection exports, and annotation tools' files."""

from activecv.io._annotations import UNLABELED, Annotation, AnnotationFile, Label
from activecv.io._detections import DetectionPool, count_coco_boxes, from_yolo, load_coco_detections
from activecv.io._example import make_example_predictions
from activecv.io._label_files import (
    read_class_folders,
    read_coco_annotations,
    read_label_csv,
    read_mask_folder,
    write_selection_rows,
)
from activecv.io._labelstudio_client import LabelStudioClient, LabelStudioError
from activecv.io._masks import (
    brush_decode,
    brush_encode,
    coco_rle_decode,
    coco_rle_encode,
    percent_polygon_to_mask,
    polygons_to_mask,
    read_index_mask,
    write_index_mask,
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
from activecv.io.labelstudio import (
    TaskItem,
    label_config,
    label_studio_annotations,
    label_studio_tasks,
    read_label_studio_export,
)

__all__ = [
    "UNLABELED",
    "Annotation",
    "AnnotationFile",
    "DetectionPool",
    "Label",
    "LabelStudioClient",
    "LabelStudioError",
    "PredictionsFile",
    "StrategyInputs",
    "TaskItem",
    "brush_decode",
    "brush_encode",
    "coco_rle_decode",
    "coco_rle_encode",
    "count_coco_boxes",
    "from_yolo",
    "label_config",
    "label_studio_annotations",
    "label_studio_tasks",
    "load_coco_detections",
    "load_predictions",
    "make_example_predictions",
    "percent_polygon_to_mask",
    "polygons_to_mask",
    "read_class_folders",
    "read_coco_annotations",
    "read_index_mask",
    "read_label_csv",
    "read_label_studio_export",
    "read_mask_folder",
    "read_strategy_inputs",
    "save_predictions",
    "write_index_mask",
    "write_review_csv",
    "write_selection_csv",
    "write_selection_rows",
]

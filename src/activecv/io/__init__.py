"""Readers and writers: predictions files and selection exports."""

from activecv.io._example import make_example_predictions
from activecv.io._predictions import (
    PredictionsFile,
    load_predictions,
    save_predictions,
    write_review_csv,
    write_selection_csv,
)

__all__ = [
    "PredictionsFile",
    "load_predictions",
    "make_example_predictions",
    "save_predictions",
    "write_review_csv",
    "write_selection_csv",
]

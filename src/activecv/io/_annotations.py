"""Annotations as read from an annotation tool's file, before they meet a project's ledger."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from activecv._errors import InputError
from activecv._files import read_text

Box = tuple[float, float, float, float]  # xyxy, absolute pixels
UNLABELED = 255  # a mask pixel no label covers


@dataclass(frozen=True)
class Label:
    """One class label: of the whole image (``box`` None) or of one box."""

    class_name: str
    box: Box | None = None


@dataclass(frozen=True)
class Annotation:
    """Everything one annotator said about one image: its labels, possibly none (an image
    with no objects).

    ``item`` is the project's item id (int) or the image's path as registered (str).
    ``image_size`` is (width, height) as the tool saw the image, when the file says.

    Segmentation: ``mask`` (H, W) holds a class index per pixel, ``UNLABELED`` (255) where
    the annotator said nothing; the indices refer to ``mask_classes`` (class names), or to
    the project's classes in order when that is None. ``uncovered`` says what the pixels no
    label covers are: the project's first class, the background (what an annotation tool's
    brushes and polygons mean); not labeled (an index-mask PNG's 255); or, for a region
    round's annotation, whatever the image's current mask says there ("merge").
    """

    item: int | str
    labels: tuple[Label, ...]
    annotator: str
    source_key: str | None = None
    image_size: tuple[int, int] | None = None
    mask: np.ndarray | None = field(default=None, compare=False, repr=False)
    mask_classes: tuple[str, ...] | None = None
    uncovered: str = "background"  # background | unlabeled | merge


def composed(layers: list[tuple[str, np.ndarray]]) -> tuple[np.ndarray, tuple[str, ...]]:
    """One index mask from (class name, (H, W) bool) layers, a later layer winning a pixel,
    and the class name of each index; pixels no layer covers are UNLABELED."""
    names = tuple(dict.fromkeys(name for name, _ in layers))
    mask = np.full(layers[0][1].shape, UNLABELED, dtype=np.uint8)
    for name, pixels in layers:
        if pixels.shape != mask.shape:
            raise InputError(f"the masks of one image differ in size: {pixels.shape} and {mask.shape}.")
        mask[pixels] = names.index(name)
    return mask, names


@dataclass(frozen=True)
class AnnotationFile:
    """A file's annotations, the format they came in, and the project the file was exported
    from when it says (``project_id``)."""

    source: str
    annotations: list[Annotation]
    project_id: str | None = None
    skipped: int = 0  # cancelled or empty annotations that carry no label


def read_json(path: str | Path, what: str) -> Any:
    """Parse a JSON file, with an error naming the file for a missing or malformed one."""
    try:
        return json.loads(read_text(path, what))
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} {str(path)!r} is not valid JSON: {exc}.") from None

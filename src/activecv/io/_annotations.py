"""Annotations as read from an annotation tool's file, before they meet a project's ledger."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activecv._errors import InputError
from activecv._files import read_text

Box = tuple[float, float, float, float]  # xyxy, absolute pixels


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
    """

    item: int | str
    labels: tuple[Label, ...]
    annotator: str
    source_key: str | None = None
    image_size: tuple[int, int] | None = None


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

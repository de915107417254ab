"""The Label Studio ML-backend side: the labeling interface, task images, prediction results."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from activecv.io._labelstudio import FROM_NAME, TO_NAME

LOCAL_FILES = "/data/local-files/"


class TaskImageError(Exception):
    """A task whose image this service will not read."""


@dataclass(frozen=True)
class Interface:
    """Names the results must use: the control (``from_name``), the image (``to_name``), and
    the task data key holding the image."""

    from_name: str = FROM_NAME
    to_name: str = TO_NAME
    image_key: str = "image"


def interface(label_config: str | None) -> Interface:
    """The first Choices or RectangleLabels control of a labeling config and its Image."""
    if not label_config:
        return Interface()
    from defusedxml import ElementTree

    try:
        root = ElementTree.fromstring(label_config)
    except Exception:  # defusedxml raises several types for hostile or broken XML
        return Interface()
    control = next((e for e in root.iter() if e.tag in ("Choices", "RectangleLabels")), None)
    if control is None:
        return Interface()
    to_name = control.get("toName", TO_NAME)
    image = next((e for e in root.iter("Image") if e.get("name") == to_name), None)
    key = (image.get("value", "$image") if image is not None else "$image").lstrip("$")
    return Interface(control.get("name", FROM_NAME), to_name, key)


def task_image(reference: Any, root: Path | None) -> Path:
    """The file of a task's image: a Label Studio local-files URL or a path, under ``root``."""
    if not isinstance(reference, str) or not reference:
        raise TaskImageError(f"the task's image reference must be a non-empty string; got {reference!r}.")
    parsed = urlparse(reference)
    if parsed.path.rstrip("/") == LOCAL_FILES.rstrip("/") and not parsed.netloc:
        relative = parse_qs(parsed.query).get("d", [""])[0]
    elif parsed.scheme in ("", "file") and not parsed.netloc:
        relative = unquote(parsed.path)
    else:
        raise TaskImageError(
            f"image {reference!r} is a remote URL; this service reads images from its images root only "
            "(Label Studio local-files URLs or paths under the root)."
        )
    if root is None:
        raise TaskImageError(f"image {reference!r} is a local path, and this service has no images root.")
    file = (root / relative).resolve()
    if not file.is_relative_to(root):
        raise TaskImageError(f"image {reference!r} is outside the images root; refused.")
    if not file.is_file():
        raise TaskImageError(f"image {reference!r} does not exist under the images root.")
    return file

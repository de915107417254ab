"""Label Studio, both ways: the labeling config (written and parsed), local-files image URLs
(written and parsed), tasks JSON out with the model's pre-annotations, and annotations back in
(its JSON export, or one annotation as its webhook sends it).

Label Studio orders tasks under "Uncertainty sampling" by the prediction ``score``, lowest
first, among predictions whose ``model_version`` is the project's, and shows it as a
percentage beside the model's labels, where it reads as the model's confidence. So the score
sent is the model's certainty, one minus the uncertainty scaled to [0, 1] (12% = very unsure),
wherever a round's measure has such a scale and its order is activecv's; batch strategies
(core-set, BADGE, ...) rank by no per-image measure, and there the score is the rank mapped
into [0, 1): ``(rank - 1) / n``. The raw score travels in the task data.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse
from xml.sax.saxutils import quoteattr

import numpy as np

from activecv._errors import InputError
from activecv._files import resolve_under
from activecv.io._annotations import Annotation, AnnotationFile, Box, Label, composed, read_json
from activecv.io._masks import brush_decode, brush_encode, percent_polygon_to_mask

FROM_NAME = "label"
TO_NAME = "image"
LOCAL_FILES = "/data/local-files/"
CONTROLS = ("Choices", "RectangleLabels", "BrushLabels", "PolygonLabels")
MASK_RESULTS = ("brushlabels", "polygonlabels")
ANONYMOUS = "labelstudio-user-"  # an annotator known by id only, until an export names them
# Round strategies whose scores have a known range, so that one minus the scaled score reads
# as the model's certainty: entropies and BALD's mutual information lie in [0, log C].
BOUNDED_STRATEGIES = ("entropy", "bald", "least_confidence", "margin", "ratio")
LOG_C_SCALED = ("entropy", "entropy_mean", "entropy_top", "bald")


class TaskImageError(InputError):
    """A task whose image will not be read: remote, outside the images root, or missing."""


# ---- the labeling config -------------------------------------------------------------------


def label_config(task: str, classes: Sequence[str]) -> str:
    """The labeling interface (XML) for a project: choices for classification, rectangle labels
    for detection, brush labels for segmentation (the first class is the background: pixels no
    brush covers); the names match what :func:`label_studio_tasks` and the import expect."""
    if task == "classification":
        tag, item = "Choices", "Choice"
        extra = ' choice="single" showInline="true"'
    else:
        tag, item, extra = ("BrushLabels" if task == "segmentation" else "RectangleLabels"), "Label", ""
    options = "\n".join(f"    <{item} value={quoteattr(name)}/>" for name in classes)
    return (
        f'<View>\n  <Image name="{TO_NAME}" value="$image"/>\n'
        f'  <{tag} name="{FROM_NAME}" toName="{TO_NAME}"{extra}>\n{options}\n  </{tag}>\n</View>\n'
    )


@dataclass(frozen=True)
class Interface:
    """Names results must use: the control (``from_name``), the image (``to_name``), and the
    task data key holding the image."""

    from_name: str = FROM_NAME
    to_name: str = TO_NAME
    image_key: str = "image"


def interface(config: str | None) -> Interface:
    """The first Choices or RectangleLabels control of a labeling config, and its Image;
    the defaults of :func:`label_config` for a config that is absent or unreadable."""
    if not config:
        return Interface()
    from defusedxml import ElementTree

    try:
        root = ElementTree.fromstring(config)
    except Exception:  # defusedxml raises several types for hostile or broken XML
        return Interface()
    control = next((e for e in root.iter() if e.tag in CONTROLS), None)
    if control is None:
        return Interface()
    to_name = control.get("toName", TO_NAME)
    image = next((e for e in root.iter("Image") if e.get("name") == to_name), None)
    key = (image.get("value", "$image") if image is not None else "$image").lstrip("$")
    return Interface(control.get("name", FROM_NAME), to_name, key)


# ---- local-files URLs ----------------------------------------------------------------------


def local_files_url(relative: str) -> str:
    """The URL under which Label Studio serves ``relative`` (a POSIX path under its local-files
    document root)."""
    return f"{LOCAL_FILES}?d={quote(relative)}"


def local_files_path(reference: Any) -> str:
    """The path a task's image reference names: the ``d`` of a local-files URL, or a plain
    (or ``file:``) path; remote URLs are refused."""
    if not isinstance(reference, str) or not reference:
        raise TaskImageError(f"the task's image reference must be a non-empty string; got {reference!r}.")
    parsed = urlparse(reference)
    if parsed.path.rstrip("/") == LOCAL_FILES.rstrip("/") and not parsed.netloc:
        return parse_qs(parsed.query).get("d", [""])[0]
    if parsed.scheme in ("", "file") and not parsed.netloc:
        return unquote(parsed.path)
    raise TaskImageError(
        f"image {reference!r} is a remote URL; images are read from the images root only "
        "(Label Studio local-files URLs or paths under the root)."
    )


def task_image(reference: Any, root: Path | None, document_root: Path | None = None) -> Path:
    """The file of a task's image reference, which must lie under ``root``. A local-files URL
    is relative to Label Studio's document root (``document_root``, default ``root``), a plain
    path to ``root``."""
    relative = local_files_path(reference)
    if root is None:
        raise TaskImageError(
            f"image {reference!r} is a local path, and there is no images root to read it from."
        )
    if "\0" in relative:
        raise TaskImageError(f"image {reference!r} holds a NUL character; refused.")
    base = document_root if document_root is not None and reference.startswith(LOCAL_FILES) else root
    try:
        file = resolve_under(base, relative)
    except InputError as exc:
        raise TaskImageError(f"image {reference[:200]!r}: {exc}") from None
    if file is None or not file.is_relative_to(root.resolve()):
        raise TaskImageError(f"image {reference!r} is outside the images root; refused.")
    if not file.is_file():
        raise TaskImageError(f"image {reference!r} does not exist under the images root.")
    return file


def image_reference(data: dict[str, Any], key: str = "image") -> Any:
    """A task's image: its ``key`` field, else the first local-files URL among its fields."""
    if key in data:
        return data[key]
    return next((v for v in data.values() if isinstance(v, str) and v.startswith(LOCAL_FILES)), None)


# ---- tasks out -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskItem:
    """One selected image as it goes to Label Studio."""

    item_id: int
    path: str
    url: str
    rank: int
    score: float
    round: int | None  # None for images from the prediction service's queue
    prediction: dict[str, Any] | None  # {"class": name, "score": p} or {"boxes": [...]}
    width: int | None = None
    height: int | None = None
    regions: list[int] | None = None  # a region round: the regions of the image to label


def label_studio_score(metric: str, value: float, n_classes: int) -> float:
    """A measure as Label Studio's prediction score (lower = label first): the model's certainty,
    one minus the measure scaled to [0, 1], or 1 / (1 + value) for the unbounded ``entropy_sum``."""
    if metric == "entropy_sum":
        return 1.0 / (1.0 + value)
    scale = 1.0  # margin, ratio, and the per-box measures of detection, already in [0, 1]
    if metric in LOG_C_SCALED:
        scale = math.log(n_classes)
    elif metric == "least_confidence":
        scale = (n_classes - 1) / n_classes
    return float(min(max(1.0 - value / scale, 0.0), 1.0))


def certainty_scores(items: Sequence[TaskItem], measure: str | None, n_classes: int) -> list[float]:
    """Each task's prediction score, in the order of ``items`` (best first): the certainty of
    ``measure`` where it has a scale and keeps activecv's order, else ``(rank - 1) / n``. A
    vanishing rank term breaks ties, so Label Studio hands out equal scores in rank order."""
    n = len(items)
    ranked = [(item.rank - 1) / n for item in items]
    if measure not in BOUNDED_STRATEGIES:
        return ranked
    certain = [label_studio_score(measure, item.score, n_classes) for item in items]
    if any(a > b for a, b in itertools.pairwise(certain)):  # not ordered by this measure
        return ranked
    return [c + 1e-9 * r for c, r in zip(certain, ranked, strict=True)]


def label_studio_tasks(
    items: Sequence[TaskItem],
    *,
    project_id: str,
    task: str,
    model_version: str,
    measure: str | None = None,
    n_classes: int = 2,
) -> list[dict[str, Any]]:
    """Label Studio tasks, best first, each with the model's pre-annotation as a prediction
    scored by :func:`certainty_scores` (``measure``: the round's strategy)."""
    scores = certainty_scores(items, measure, n_classes)
    tasks = []
    for item, score in zip(items, scores, strict=True):
        data = {
            "image": item.url,
            "activecv_project": project_id,
            "activecv_item": item.item_id,
            "activecv_path": item.path,
            "activecv_round": item.round,
            "activecv_rank": item.rank,
            "activecv_score": item.score,
        }
        if item.regions is not None:
            data["activecv_regions"] = item.regions
        prediction = {
            "model_version": model_version,
            "score": score,
            "result": model_results(task, item.prediction, item.width, item.height),
        }
        tasks.append({"data": data, "predictions": [prediction]})
    return tasks


def model_results(
    task: str,
    prediction: dict[str, Any] | None,
    width: int | None,
    height: int | None,
    from_name: str = FROM_NAME,
    to_name: str = TO_NAME,
) -> list[dict[str, Any]]:
    """A model's labels as Label Studio results: ``{"class": name}`` becomes a choice,
    ``{"boxes": [{"box": xyxy, "class", "score"}]}`` rectangles in percent of the image,
    ``{"masks": [{"class": name, "mask": (H, W) bool}]}`` brushes."""
    if prediction is None:
        return []
    if task == "segmentation":
        return [
            _brush(m["class"], m["mask"], from_name, to_name) for m in prediction["masks"] if m["mask"].any()
        ]
    if task == "classification":
        choice = {"choices": [prediction["class"]]}
        return [{"from_name": from_name, "to_name": to_name, "type": "choices", "value": choice}]
    if not width or not height:
        return []  # boxes need the image size to become percentages
    results = []
    for box in prediction["boxes"]:
        x0, y0, x1, y1 = box["box"]
        value: dict[str, Any] = {
            "x": 100 * x0 / width,
            "y": 100 * y0 / height,
            "width": 100 * (x1 - x0) / width,
            "height": 100 * (y1 - y0) / height,
            "rotation": 0,
            "rectanglelabels": [box["class"]],
        }
        results.append(
            {
                "from_name": from_name,
                "to_name": to_name,
                "type": "rectanglelabels",
                "original_width": width,
                "original_height": height,
                "value": value,
                "score": box["score"],
            }
        )
    return results


# ---- annotations in ------------------------------------------------------------------------


def _brush(name: str, mask: np.ndarray, from_name: str, to_name: str) -> dict[str, Any]:
    height, width = mask.shape
    return {
        "from_name": from_name,
        "to_name": to_name,
        "type": "brushlabels",
        "original_width": width,
        "original_height": height,
        "value": {"format": "rle", "rle": brush_encode(mask), "brushlabels": [name]},
    }


def read_label_studio_export(path: str | Path) -> AnnotationFile:
    """Annotations from Label Studio's JSON export (a list of tasks with ``annotations``).

    Choices become image labels, rectangle labels become boxes in pixels (percentages times
    ``original_width``/``original_height``; a rotated rectangle becomes its axis-aligned hull).
    Cancelled (skipped) annotations are left out and counted in ``skipped``.
    """
    return label_studio_annotations(read_json(path, "Label Studio export"), str(path))


def label_studio_annotations(tasks: Any, source: str) -> AnnotationFile:
    """The annotations of Label Studio's JSON export, already parsed; ``source`` names where it
    came from in errors."""
    if not isinstance(tasks, list):
        raise InputError(
            f"Label Studio export {source!r} must be a JSON list of tasks (Export -> JSON); "
            f"got {type(tasks).__name__}."
        )
    annotations: list[Annotation] = []
    projects: set[str] = set()
    skipped = 0
    for t, task in enumerate(tasks):
        where = f"task {t} of {source!r}"
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict):
            raise InputError(f"{where} has no 'data' object; is this a Label Studio export?")
        item = task_item(data, where)
        if "activecv_project" in data:
            projects.add(str(data["activecv_project"]))
        found = task.get("annotations", [])
        if not isinstance(found, list):
            raise InputError(f"{where}: 'annotations' must be a list; got {type(found).__name__}.")
        for annotation in found:
            converted = annotation_of(item, annotation, where, uncovered_of(data))
            if converted is None:
                skipped += 1
            else:
                annotations.append(converted)
    if len(projects) > 1:
        raise InputError(f"{source!r} mixes tasks of several activecv projects: {sorted(projects)}.")
    return AnnotationFile("labelstudio", annotations, projects.pop() if projects else None, skipped)


def task_item(data: dict[str, Any], where: str) -> int | str:
    """The image a task's data names: ``activecv_item`` (an item id), else ``activecv_path``
    or ``image`` (a path as registered)."""
    if "activecv_item" in data:
        item = data["activecv_item"]
        if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item < 2**63:
            raise InputError(
                f"{where}: data.activecv_item must be an integer item id; "
                f"got {item!r} ({type(item).__name__})."
            )
        return item
    for key in ("activecv_path", "image"):
        if key in data:
            if not isinstance(data[key], str) or not data[key]:
                raise InputError(f"{where}: data.{key} must be a non-empty string; got {data[key]!r}.")
            return str(data[key])
    raise InputError(f"{where} names no image: its data has no 'activecv_item' or 'image'.")


def uncovered_of(data: dict[str, Any]) -> str:
    """What pixels no brush covers are, for a task: a region round's task labels its regions
    only ("merge" into the image's mask); any other, the whole image ("background")."""
    return "merge" if data.get("activecv_regions") is not None else "background"


def annotation_of(
    item: int | str, annotation: Any, where: str, uncovered: str = "background"
) -> Annotation | None:
    """One Label Studio annotation of ``item``; None for a cancelled (skipped) one. Brushes
    and polygons become one index mask; ``uncovered`` as :class:`Annotation` defines it."""
    if not isinstance(annotation, dict):
        raise InputError(f"{where}: each annotation must be an object; got {annotation!r}.")
    if annotation.get("was_cancelled"):
        return None
    read = _labels(annotation.get("result", []), where)
    mask, classes = composed(list(read.layers)) if read.layers else (None, None)
    # Without the tool's id an annotation cannot be recognised again: every one is new.
    known = annotation.get("id")
    key = None if known is None else f"{known}@{annotation.get('updated_at', '')}"
    who = _annotator(annotation.get("completed_by"))
    return Annotation(item, read.labels, who, key, read.size, mask, classes, uncovered)


def _annotator(completed_by: Any) -> str:
    if isinstance(completed_by, dict):
        completed_by = completed_by.get("email") or completed_by.get("id")
        if isinstance(completed_by, str):
            return completed_by
    return f"{ANONYMOUS}{'unknown' if completed_by is None else completed_by}"


@dataclass(frozen=True)
class _Read:
    """What one annotation's results say: labels, the image size, mask layers (class, pixels)."""

    labels: tuple[Label, ...]
    size: tuple[int, int] | None
    layers: tuple[tuple[str, np.ndarray], ...]


def _labels(results: Any, where: str) -> _Read:
    if not isinstance(results, list):
        raise InputError(f"{where}: an annotation's 'result' must be a list; got {type(results).__name__}.")
    labels: list[Label] = []
    layers: list[tuple[str, np.ndarray]] = []
    size = None
    for result in results:
        value = result.get("value") if isinstance(result, dict) else None
        if not isinstance(value, dict):
            raise InputError(f"{where}: each result must be an object with a 'value' object; got {result!r}.")
        kind = result.get("type")
        if kind == "choices":
            labels.extend(Label(name) for name in _names(value, "choices", where))
        elif kind == "rectanglelabels":
            size = _image_size(result, where)
            box = _pixel_box(value, *size, where)
            labels.extend(Label(name, box) for name in _names(value, "rectanglelabels", where))
        elif kind in MASK_RESULTS:
            size = _image_size(result, where)
            pixels = _mask_of(kind, value, size, where)
            layers.extend((name, pixels) for name in _names(value, kind, where))
        else:
            raise InputError(
                f"{where} has a result of type {kind!r}; activecv imports 'choices', 'rectanglelabels', "
                "'brushlabels' and 'polygonlabels'."
            )
    return _Read(tuple(labels), size, tuple(layers))


def _mask_of(kind: str, value: dict[str, Any], size: tuple[int, int], where: str) -> np.ndarray:
    """The pixels of a brush (RLE) or a polygon (points in percent) result, (H, W) bool."""
    width, height = size
    try:
        if kind == "brushlabels":
            if value.get("format", "rle") != "rle" or not isinstance(value.get("rle"), list):
                raise InputError(
                    f"a brush needs value.rle, a list of numbers; got format {value.get('format')!r}"
                )
            return brush_decode(value["rle"], width, height)
        return percent_polygon_to_mask(value.get("points"), width, height)  # type: ignore[arg-type]
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


def _names(value: dict[str, Any], key: str, where: str) -> list[str]:
    names = value.get(key, [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InputError(f"{where}: {key} must be a list of class names; got {names!r}.")
    return names


def _image_size(result: dict[str, Any], where: str) -> tuple[int, int]:
    """``original_width`` and ``original_height``: the size the percentages refer to."""
    size = (result.get("original_width"), result.get("original_height"))
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**31 for v in size):
        names = {"rectanglelabels": "a rectangle", "brushlabels": "a brush"}
        shape = names.get(str(result.get("type")), "a polygon")
        raise InputError(
            f"{shape} in {where} needs original_width and original_height as positive integers "
            f"(pixels); got {size}."
        )
    return size  # type: ignore[return-value]


def _number(value: dict[str, Any], key: str, where: str, default: float | None = None) -> float:
    raw = value.get(key, default)
    try:
        number = float(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else math.nan
    except OverflowError:  # an integer with hundreds of digits
        number = math.inf
    if not math.isfinite(number):
        raise InputError(f"a rectangle in {where} needs {key} as a finite number (percent); got {raw!r}.")
    return number


def _pixel_box(value: dict[str, Any], width: int, height: int, where: str) -> Box:
    """Percent ``x, y, width, height`` (rotated by ``rotation`` degrees about the top-left
    corner, as Label Studio draws it) to the pixel xyxy box that holds it."""
    x, y = _number(value, "x", where) * width / 100, _number(value, "y", where) * height / 100
    w, h = _number(value, "width", where) * width / 100, _number(value, "height", where) * height / 100
    angle = math.radians(_number(value, "rotation", where, 0.0))
    cos, sin = math.cos(angle), math.sin(angle)
    corners = [
        (x + dx * cos - dy * sin, y + dx * sin + dy * cos) for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))
    ]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    return (min(xs), min(ys), max(xs), max(ys))

"""Label Studio: tasks JSON out (with the model's pre-annotations), its JSON export back in.

Label Studio orders tasks under "Uncertainty sampling" by the prediction ``score``, lowest
first, among predictions whose ``model_version`` is the project's. activecv's scores are the
other way round (higher = label first) and on no common scale, so a task's prediction score
is its rank mapped into [0, 1): ``(rank - 1) / n``. The raw score travels in the task data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from activecv._errors import InputError
from activecv.io._annotations import Annotation, AnnotationFile, Box, Label, read_json

FROM_NAME = "label"
TO_NAME = "image"


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


def label_config(task: str, classes: Sequence[str]) -> str:
    """The labeling interface (XML) for a project: choices for classification, rectangle labels
    for detection; the names match what :func:`label_studio_tasks` and the import expect."""
    if task == "classification":
        tag, item = "Choices", "Choice"
        extra = ' choice="single" showInline="true"'
    else:
        tag, item, extra = "RectangleLabels", "Label", ""
    options = "\n".join(f"    <{item} value={quoteattr(name)}/>" for name in classes)
    return (
        f'<View>\n  <Image name="{TO_NAME}" value="$image"/>\n'
        f'  <{tag} name="{FROM_NAME}" toName="{TO_NAME}"{extra}>\n{options}\n  </{tag}>\n</View>\n'
    )


def label_studio_tasks(
    items: Sequence[TaskItem], *, project_id: str, task: str, model_version: str
) -> list[dict[str, Any]]:
    """Label Studio tasks, best first, each with the model's pre-annotation as a prediction."""
    n = len(items)
    tasks = []
    for item in items:
        data = {
            "image": item.url,
            "activecv_project": project_id,
            "activecv_item": item.item_id,
            "activecv_path": item.path,
            "activecv_round": item.round,
            "activecv_rank": item.rank,
            "activecv_score": item.score,
        }
        prediction = {
            "model_version": model_version,
            "score": (item.rank - 1) / n,
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
    ``{"boxes": [{"box": xyxy, "class", "score"}]}`` rectangles in percent of the image."""
    if prediction is None:
        return []
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


def read_label_studio_export(path: str | Path) -> AnnotationFile:
    """Annotations from Label Studio's JSON export (a list of tasks with ``annotations``).

    Choices become image labels, rectangle labels become boxes in pixels (percentages times
    ``original_width``/``original_height``; a rotated rectangle becomes its axis-aligned hull).
    Cancelled (skipped) annotations are left out and counted in ``skipped``.
    """
    tasks = read_json(path, "Label Studio export")
    where = str(path)
    if not isinstance(tasks, list):
        raise InputError(
            f"Label Studio export {where!r} must be a JSON list of tasks (Export -> JSON); "
            f"got {type(tasks).__name__}."
        )
    annotations: list[Annotation] = []
    projects: set[str] = set()
    skipped = 0
    for t, task in enumerate(tasks):
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict):
            raise InputError(f"task {t} of {where!r} has no 'data' object; is this a Label Studio export?")
        item = data.get("activecv_item", data.get("activecv_path", data.get("image")))
        if item is None:
            raise InputError(
                f"task {t} of {where!r} names no image: its data has no 'activecv_item' or 'image'."
            )
        if "activecv_project" in data:
            projects.add(str(data["activecv_project"]))
        for annotation in task.get("annotations", []):
            converted = annotation_of(item, annotation, f"task {t} of {where!r}")
            if converted is None:
                skipped += 1
            else:
                annotations.append(converted)
    if len(projects) > 1:
        raise InputError(f"{where!r} mixes tasks of several activecv projects: {sorted(projects)}.")
    return AnnotationFile("labelstudio", annotations, projects.pop() if projects else None, skipped)


def annotation_of(item: int | str, annotation: dict[str, Any], where: str) -> Annotation | None:
    """One Label Studio annotation of ``item``; None for a cancelled (skipped) one."""
    if annotation.get("was_cancelled"):
        return None
    labels, size = _labels(annotation.get("result", []), where)
    return Annotation(
        item=item,
        labels=labels,
        annotator=_annotator(annotation.get("completed_by")),
        source_key=f"{annotation.get('id')}@{annotation.get('updated_at', '')}",
        image_size=size,
    )


def _annotator(completed_by: Any) -> str:
    if isinstance(completed_by, dict):
        return str(completed_by.get("email") or completed_by.get("id"))
    return f"labelstudio-user-{completed_by}"


def _labels(results: Any, where: str) -> tuple[tuple[Label, ...], tuple[int, int] | None]:
    labels: list[Label] = []
    size = None
    for result in results:
        kind, value = result.get("type"), result.get("value", {})
        if kind == "choices":
            labels.extend(Label(str(name)) for name in value.get("choices", []))
        elif kind == "rectanglelabels":
            try:
                size = (int(result["original_width"]), int(result["original_height"]))
                box = _pixel_box(value, *size)
            except (KeyError, TypeError, ValueError) as exc:
                raise InputError(
                    f"a rectangle in {where} lacks {exc}: rectangles need x, y, width, height in "
                    "percent and original_width/original_height."
                ) from None
            labels.extend(Label(str(name), box) for name in value.get("rectanglelabels", []))
        else:
            raise InputError(
                f"{where} has a result of type {kind!r}; activecv imports 'choices' and 'rectanglelabels'."
            )
    return tuple(labels), size


def _pixel_box(value: dict[str, Any], width: int, height: int) -> Box:
    """Percent ``x, y, width, height`` (rotated by ``rotation`` degrees about the top-left
    corner, as Label Studio draws it) to the pixel xyxy box that holds it."""
    x, y = float(value["x"]) * width / 100, float(value["y"]) * height / 100
    w, h = float(value["width"]) * width / 100, float(value["height"]) * height / 100
    angle = math.radians(float(value.get("rotation", 0.0)))
    cos, sin = math.cos(angle), math.sin(angle)
    corners = [
        (x + dx * cos - dy * sin, y + dx * sin + dy * cos) for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))
    ]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    return (min(xs), min(ys), max(xs), max(ys))

"""Exports of a project's images: Label Studio tasks, CSV and COCO, each written atomically."""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from activecv.io import (
    UNLABELED,
    TaskItem,
    coco_rle_encode,
    label_config,
    label_studio_tasks,
    write_index_mask,
    write_selection_rows,
)
from activecv.io.labelstudio import local_files_url
from activecv.project import _masks as masks
from activecv.project import _region_rounds as region_rounds
from activecv.project._discover import is_uri
from activecv.project._project import Project
from activecv.project._records import ProjectError, QueuedItem

FORMATS = ("labelstudio", "csv", "coco", "masks")
ITEM_SETS = ("selection", "queue", "suspect", "labeled", "unlabeled", "all")


@dataclass(frozen=True)
class ExportRow:
    """One image going out: a selected one (round, rank, score, the model's labels), a queued
    one (ranked by its measure), or any item (no rank)."""

    id: int
    path: str
    width: int | None
    height: int | None
    round: int | None = None
    rank: int | None = None
    score: float | None = None
    prediction: dict[str, Any] | None = None
    model_version: str | None = None


def export(
    project: Project,
    fmt: str,
    out: str | Path,
    *,
    round_number: int | None = None,
    items: str = "selection",
    image_url: str | None = None,
    local_files_root: str | Path | None = None,
    model_version: str | None = None,
) -> int:
    """Write a round's selection (default: the latest round) or a set of items to ``out``;
    returns how many images were written.

    Label Studio needs an image URL per task: ``image_url`` + the item's path, or by default a
    Label Studio local-files URL relative to ``local_files_root`` (default: the images root;
    Label Studio's ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT`` must be that folder). It also
    writes the labeling interface beside ``out`` as ``<stem>.label_config.xml``.
    """
    if fmt not in FORMATS:
        raise ProjectError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}.")
    if items not in ITEM_SETS:
        raise ProjectError(f"items must be one of {', '.join(ITEM_SETS)}; got {items!r}.")
    if items != "selection" and round_number is not None:
        raise ProjectError(f"round selects a round's selection; it cannot be combined with items={items!r}.")
    if fmt == "labelstudio" and items not in ("selection", "queue", "suspect"):
        raise ProjectError(
            "Label Studio tasks are made from a round's selection, the queue or the suspect labels; "
            f"got items={items!r}."
        )
    if fmt == "masks" and project.task != "segmentation":
        raise ProjectError(f"masks are the labels of a segmentation project; this one is {project.task}.")
    out = Path(out)
    rows = rows_of(project, items, round_number)
    if fmt == "csv":
        fields = [
            {"path": r.path, "rank": r.rank, "score": r.score, "round": r.round, "id": r.id} for r in rows
        ]
        _atomic(out, lambda f: write_selection_rows(f, fields))
    elif fmt == "coco":
        dataset = _coco(project, rows, rows[0].round if rows else None)
        _atomic(out, lambda f: Path(f).write_text(json.dumps(dataset), encoding="utf-8"))
    elif fmt == "masks":
        return _write_masks(project, rows, out)
    else:
        _write_label_studio(
            project, rows, out, url_maker(project, image_url, local_files_root), model_version
        )
    return len(rows)


def rows_of(project: Project, items: str, round_number: int | None) -> list[ExportRow]:
    if items == "selection":
        return [
            ExportRow(r.id, r.path, r.width, r.height, r.round, r.rank, r.score, r.prediction)
            for r in project.selection(round_number)
        ]
    if items == "queue":  # most uncertain first, ranked like a round
        queued = sorted(_whole_queue(project), key=lambda q: (-q.value, q.id))
        return [
            ExportRow(q.id, q.path, q.width, q.height, None, rank, q.value, None, q.model_version)
            for rank, q in enumerate(queued, 1)
        ]
    if items == "suspect":  # labels a review found likely wrong, most suspect first
        found = [(s, project.item(s.item_id)) for s in project.suspects()]
        return [ExportRow(i.id, i.path, i.width, i.height, None, s.rank, s.score) for s, i in found]
    return [ExportRow(i.id, i.path, i.width, i.height) for i in project.items(items)]


def _whole_queue(project: Project) -> list[QueuedItem]:
    """Every image of the queue not labeled yet, read page by page."""
    rows: list[QueuedItem] = []
    while page := project.queue(limit=10_000, after=rows[-1].id if rows else None):
        rows += page
    return rows


def _write_label_studio(
    project: Project,
    rows: list[ExportRow],
    out: Path,
    url_of: Callable[[str], str],
    model_version: str | None,
) -> None:
    tasks = label_studio_tasks_of(project, rows, url_of, model_version)
    config = label_config(project.task, project.classes)
    _atomic(out, lambda f: Path(f).write_text(json.dumps(tasks, indent=1), encoding="utf-8"))
    _atomic(
        out.with_name(out.stem + ".label_config.xml"), lambda f: Path(f).write_text(config, encoding="utf-8")
    )


def label_studio_tasks_of(
    project: Project, rows: list[ExportRow], url_of: Callable[[str], str], model_version: str | None
) -> list[dict[str, Any]]:
    """Label Studio tasks of ``rows`` (one round's selection, or the queue), scored by the
    round's strategy where its scores read as certainty."""
    number = rows[0].round if rows else None
    record = next((r for r in project.rounds() if r.number == number), None) if number else None
    return label_studio_tasks(
        [_task_item(project, r, url_of(r.path)) for r in rows],
        project_id=project.id,
        task=project.task,
        model_version=model_version or model_version_of(project, rows),
        measure=record.strategy if record is not None and project.task == "classification" else None,
        n_classes=len(project.classes),
    )


def _task_item(project: Project, row: ExportRow, url: str) -> TaskItem:
    """One task; a segmentation prediction becomes one brush per class, or per region to label."""
    prediction, regions = row.prediction, None
    if project.task == "segmentation" and prediction is not None:
        if "regions" in prediction:
            region_map = region_rounds.region_map(prediction)
            regions = [entry["region"] for entry in prediction["regions"]]
            layers = [{"class": e["class"], "mask": region_map == e["region"]} for e in prediction["regions"]]
        else:
            mask = masks.from_png(base64.b64decode(prediction["mask_png"]))
            layers = [
                {"class": project.classes[c], "mask": mask == c} for c in range(1, len(project.classes))
            ]
        prediction = {"masks": layers}
    return TaskItem(
        row.id,
        row.path,
        url,
        row.rank or 0,
        row.score or 0.0,
        row.round,
        prediction,
        row.width,
        row.height,
        regions,
    )


def _write_masks(project: Project, rows: list[ExportRow], out: Path) -> int:
    """The current mask of every labeled image among ``rows`` as ``out/<its path>.png``
    (suffix replaced); images without a mask are left out. Returns how many were written."""
    written = 0
    for row in rows:
        mask = project.mask(row.id)
        if mask is None or is_uri(row.path):
            continue
        target = out / Path(row.path).with_suffix(".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        write_index_mask(target, mask)
        written += 1
    return written


def model_version_of(project: Project, rows: list[ExportRow]) -> str:
    """The round's recorded model version (the service's, for the queue), else ``activecv-round-K``."""
    if not rows:
        return "activecv"
    number = rows[0].round
    if number is None:
        return str(rows[0].model_version)
    record = next(r for r in project.rounds() if r.number == number)
    return record.model_version or f"activecv-round-{number}"


def url_maker(
    project: Project, image_url: str | None, local_files_root: str | Path | None
) -> Callable[[str], str]:
    if image_url is not None:
        return lambda path: path if is_uri(path) else image_url + quote(path)
    root = Path(local_files_root).resolve() if local_files_root is not None else project.root

    def local_files(path: str) -> str:
        if is_uri(path):
            return path
        full = project.local_path(path)
        if not full.is_relative_to(root):
            raise ProjectError(
                f"image {path!r} ({str(full)!r}) is outside local_files_root {str(root)!r}; Label Studio "
                "serves local files only under its document root."
            )
        return local_files_url(full.relative_to(root).as_posix())

    return local_files


def _coco(project: Project, rows: list[ExportRow], round_number: int | None) -> dict[str, Any]:
    labels = project.labels()
    category = {name: k for k, name in enumerate(project.classes, 1)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for row in rows:
        if not is_uri(row.path):
            project.local_path(row.path)  # refuses a path that escapes the root
        images.append({"id": row.id, "file_name": row.path, "width": row.width, "height": row.height})
        if project.task == "segmentation":
            found = _coco_masks(project, row.id, len(annotations))
            annotations += found.annotations
            if found.complete is False:  # pixels no segmentation covers are not labeled
                images[-1]["activecv_complete"] = False
            continue
        for label in labels.get(row.id, []):
            record: dict[str, Any] = {
                "id": len(annotations) + 1,
                "image_id": row.id,
                "category_id": category[label.class_name],
                "iscrowd": 0,
            }
            if label.box is not None:
                x0, y0, x1, y1 = label.box
                record.update(bbox=[x0, y0, x1 - x0, y1 - y0], area=(x1 - x0) * (y1 - y0))
            annotations.append(record)
    return {
        "info": {
            "description": "exported by activecv",
            "activecv_project": project.id,
            "round": round_number,
        },
        "images": images,
        "annotations": annotations,
        "categories": [{"id": k, "name": name} for name, k in category.items()],
    }


@dataclass(frozen=True)
class CocoMasks:
    annotations: list[dict[str, Any]]
    complete: bool | None  # None: the image has no mask


def _coco_masks(project: Project, item_id: int, before: int) -> CocoMasks:
    """One COCO annotation per class in the image's mask: RLE segmentation, area, bbox."""
    mask = project.mask(item_id)
    if mask is None:
        return CocoMasks([], None)
    out: list[dict[str, Any]] = []
    for c in range(len(project.classes)):
        pixels = mask == c
        if not pixels.any():
            continue
        rows, cols = np.flatnonzero(pixels.any(axis=1)), np.flatnonzero(pixels.any(axis=0))
        x0, y0, x1, y1 = int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
        out.append(
            {
                "id": before + len(out) + 1,
                "image_id": item_id,
                "category_id": c + 1,
                "iscrowd": 0,
                "segmentation": coco_rle_encode(pixels),
                "area": int(pixels.sum()),
                "bbox": [x0, y0, x1 - x0, y1 - y0],
            }
        )
    return CocoMasks(out, not (mask == UNLABELED).any())


def _atomic(out: Path, write: Callable[[str], object]) -> None:
    """Write through a temporary file and rename, so ``out`` is never half written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

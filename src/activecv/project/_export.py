"""Exports of a project's images: Label Studio tasks, CSV and COCO, each written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from activecv.io import TaskItem, label_config, label_studio_tasks, write_selection_rows
from activecv.io.labelstudio import local_files_url
from activecv.project._discover import is_uri
from activecv.project._project import Project
from activecv.project._records import ProjectError, QueuedItem

FORMATS = ("labelstudio", "csv", "coco")
ITEM_SETS = ("selection", "queue", "labeled", "unlabeled", "all")


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
    if fmt == "labelstudio" and items not in ("selection", "queue"):
        raise ProjectError(
            f"Label Studio tasks are made from a round's selection or the queue; got items={items!r}."
        )
    out = Path(out)
    rows = _rows(project, items, round_number)
    if fmt == "csv":
        fields = [
            {"path": r.path, "rank": r.rank, "score": r.score, "round": r.round, "id": r.id} for r in rows
        ]
        _atomic(out, lambda f: write_selection_rows(f, fields))
    elif fmt == "coco":
        dataset = _coco(project, rows, rows[0].round if rows else None)
        _atomic(out, lambda f: Path(f).write_text(json.dumps(dataset), encoding="utf-8"))
    else:
        _write_label_studio(
            project, rows, out, _url_maker(project, image_url, local_files_root), model_version
        )
    return len(rows)


def _rows(project: Project, items: str, round_number: int | None) -> list[ExportRow]:
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
    tasks = label_studio_tasks(
        [
            TaskItem(
                r.id,
                r.path,
                url_of(r.path),
                r.rank or 0,
                r.score or 0.0,
                r.round,
                r.prediction,
                r.width,
                r.height,
            )
            for r in rows
        ],
        project_id=project.id,
        task=project.task,
        model_version=model_version or _model_version(project, rows),
    )
    config = label_config(project.task, project.classes)
    _atomic(out, lambda f: Path(f).write_text(json.dumps(tasks, indent=1), encoding="utf-8"))
    _atomic(
        out.with_name(out.stem + ".label_config.xml"), lambda f: Path(f).write_text(config, encoding="utf-8")
    )


def _model_version(project: Project, rows: list[ExportRow]) -> str:
    """The round's recorded model version (the service's, for the queue), else ``activecv-round-K``."""
    if not rows:
        return "activecv"
    number = rows[0].round
    if number is None:
        return str(rows[0].model_version)
    record = next(r for r in project.rounds() if r.number == number)
    return record.model_version or f"activecv-round-{number}"


def _url_maker(
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

"""Labels from COCO, CSV and class folders; COCO and CSV for selections going out."""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from activecv._errors import InputError
from activecv._files import IMAGE_SUFFIXES, file_sha256, read_text
from activecv.io._annotations import Annotation, AnnotationFile, Label, read_json


def read_coco_annotations(path: str | Path, annotator: str = "coco") -> AnnotationFile:
    """Annotations from a COCO dataset: one per listed image, keyed by ``file_name``.

    Boxes (``bbox`` ``[x, y, w, h]``) become xyxy pixels; an annotation without ``bbox`` is an
    image label; a listed image with no annotation is one annotated as holding no object.
    """
    dataset = read_json(path, "COCO annotations")
    where = str(path)
    if not isinstance(dataset, dict) or not isinstance(dataset.get("images"), list):
        raise InputError(
            f"{where!r} must be a COCO dataset: an object with 'images', 'annotations', 'categories'."
        )
    try:
        names = {c["id"]: str(c["name"]) for c in dataset.get("categories", [])}
        files = {image["id"]: str(image["file_name"]) for image in dataset["images"]}
        labels: dict[Any, list[Label]] = {image_id: [] for image_id in files}
        for a, record in enumerate(dataset.get("annotations", [])):
            if record["image_id"] not in files:
                raise InputError(
                    f"annotation {a} of {where!r} names image_id {record['image_id']!r}, not in 'images'."
                )
            if record["category_id"] not in names:
                raise InputError(
                    f"annotation {a} of {where!r} names category_id {record['category_id']!r}, "
                    "not in 'categories'."
                )
            box = None
            if record.get("bbox") is not None:
                x, y, w, h = (float(v) for v in record["bbox"])
                if not all(math.isfinite(v) for v in (x, y, w, h)):
                    raise InputError(f"annotation {a} of {where!r} has a bbox that is not finite numbers.")
                box = (x, y, x + w, y + h)
            labels[record["image_id"]].append(Label(names[record["category_id"]], box))
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{where!r} is not a valid COCO dataset: missing or malformed {exc}.") from None
    project = (
        dataset.get("info", {}).get("activecv_project") if isinstance(dataset.get("info"), dict) else None
    )
    sizes = {image["id"]: (image.get("width"), image.get("height")) for image in dataset["images"]}
    annotations = [
        Annotation(
            files[image_id],
            tuple(found),
            annotator,
            image_size=sizes[image_id] if None not in sizes[image_id] else None,
        )
        for image_id, found in labels.items()
    ]
    return AnnotationFile("coco", annotations, project)


def read_label_csv(path: str | Path, annotator: str = "csv") -> AnnotationFile:
    """Annotations from a CSV: ``path,label`` rows (or ``id,label``); detection boxes add
    ``x0,y0,x1,y1`` columns, one row per box. An ``annotator`` column overrides the default."""
    path = Path(path)
    rows = list(csv.DictReader(io.StringIO(read_text(path, "label CSV"), newline="")))
    columns = set(rows[0]) if rows else set()
    key = "path" if "path" in columns else "id"
    if key not in columns or "label" not in columns:
        raise InputError(
            f"label CSV {str(path)!r} must have a 'path' (or 'id') column and a 'label' column; "
            f"got columns {sorted(columns)}."
        )
    has_boxes = {"x0", "y0", "x1", "y1"} <= columns
    grouped: dict[tuple[Any, str], list[Label]] = defaultdict(list)
    for r, row in enumerate(rows, 2):
        if not (row.get("label") or "").strip() or not (row.get(key) or "").strip():
            raise InputError(
                f"line {r} of {str(path)!r}: the {'label' if row.get(key) else key} is empty; "
                f"every row needs a {key} and a label."
            )
        item: int | str = row[key]
        if key == "id":
            if not row[key].strip().isdigit() or int(row[key]) >= 2**63:
                raise InputError(
                    f"line {r} of {str(path)!r}: id must be an integer in [0, 2**63); got {row[key]!r}."
                )
            item = int(row[key])
        box = None
        if has_boxes:
            try:
                box = (float(row["x0"]), float(row["y0"]), float(row["x1"]), float(row["y1"]))
            except ValueError:
                raise InputError(f"line {r} of {str(path)!r}: x0,y0,x1,y1 must be numbers.") from None
        grouped[(item, row.get("annotator") or annotator)].append(Label(row["label"], box))
    annotations = [Annotation(item, tuple(labels), who) for (item, who), labels in grouped.items()]
    return AnnotationFile("csv", annotations)


def read_class_folders(root: str | Path, annotator: str = "folder") -> tuple[AnnotationFile, dict[str, str]]:
    """Image labels from ROOT/<class>/<image>; images are matched to a project by content, so
    each annotation's ``item`` is the file's SHA-256. Also returns each hash's file path."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"label folder {str(root)!r} is not a directory (expected ROOT/<class>/<image>).")
    annotations, paths = [], {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for file in sorted(folder.rglob("*")):
            if file.suffix.lower() in IMAGE_SUFFIXES:
                digest = file_sha256(file)
                paths[digest] = str(file)
                annotations.append(Annotation(digest, (Label(folder.name),), annotator))
    if not annotations:
        raise InputError(f"label folder {str(root)!r} holds no images in class subfolders.")
    return AnnotationFile("folder", annotations), paths


def write_selection_rows(path: str | Path, rows: Sequence[dict[str, Any]]) -> None:
    """A CSV of selected images, one row each: ``path,rank,score,round,id``, best first."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["path", "rank", "score", "round", "id"])
        writer.writeheader()
        writer.writerows(rows)

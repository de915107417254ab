"""Labels from COCO, CSV and class folders; COCO and CSV for selections going out."""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from activecv._errors import InputError
from activecv._files import IMAGE_SUFFIXES, file_sha256, read_text
from activecv.io._annotations import Annotation, AnnotationFile, Label, composed, read_json
from activecv.io._masks import coco_rle_decode, polygons_to_mask, read_index_mask


def read_coco_annotations(path: str | Path, annotator: str = "coco", masks: bool = False) -> AnnotationFile:
    """Annotations from a COCO dataset: one per listed image, keyed by ``file_name``.

    Boxes (``bbox`` ``[x, y, w, h]``) become xyxy pixels; an annotation without ``bbox`` is an
    image label; a listed image with no annotation is one annotated as holding no object.
    With ``masks``, each annotation's ``segmentation`` (RLE, compressed or not, or polygons)
    paints its category into the image's index mask instead (images need width and height).
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
        layers: dict[Any, list[tuple[str, np.ndarray]]] = {image_id: [] for image_id in files}
        sizes = {image["id"]: (image.get("width"), image.get("height")) for image in dataset["images"]}
        # activecv marks a mask with unlabeled pixels: what no segmentation covers is not background
        complete = {image["id"]: image.get("activecv_complete") for image in dataset["images"]}
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
            if masks:
                pixels = _segmentation(record, sizes[record["image_id"]], f"annotation {a} of {where!r}")
                layers[record["image_id"]].append((names[record["category_id"]], pixels))
                continue
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
    annotations = []
    for image_id, found in labels.items():
        mask, classes = composed(layers[image_id]) if layers[image_id] else (None, None)
        size = sizes[image_id] if None not in sizes[image_id] else None
        uncovered = "unlabeled" if complete.get(image_id) is False else "background"
        annotations.append(
            Annotation(files[image_id], tuple(found), annotator, None, size, mask, classes, uncovered)
        )
    return AnnotationFile("coco", annotations, project)


def _segmentation(record: dict[str, Any], size: tuple[Any, Any], where: str) -> np.ndarray:
    """The pixels of one COCO annotation's ``segmentation``: RLE or polygons."""
    width, height = size
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size):
        raise InputError(f"{where}: its image needs width and height (pixels) to read a segmentation.")
    segmentation = record.get("segmentation")
    if isinstance(segmentation, dict):
        return coco_rle_decode(segmentation, width, height)
    if isinstance(segmentation, list) and segmentation:
        return polygons_to_mask(segmentation, width, height)
    raise InputError(f"{where} has no segmentation (RLE or polygons); got {segmentation!r}.")


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


def read_mask_folder(root: str | Path, annotator: str = "masks") -> AnnotationFile:
    """Index-mask PNGs under ``root``, one per image: ``ROOT/<the image's registered path, any
    image suffix replaced by .png>``; pixel value = the project's class index, 255 = not
    labeled. Each annotation's ``item`` is the mask's path without ``.png``: a project finds
    its image by trying the image suffixes."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"mask folder {str(root)!r} is not a directory (expected ROOT/<image path>.png).")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() == ".png" and p.is_file())
    if not files:
        raise InputError(f"mask folder {str(root)!r} holds no .png masks.")
    annotations = []
    for file in files:
        mask = read_index_mask(file)
        stem = file.relative_to(root).with_suffix("").as_posix()
        size = (mask.shape[1], mask.shape[0])
        annotations.append(Annotation(stem, (), annotator, None, size, mask, None, "unlabeled"))
    return AnnotationFile("masks", annotations)


def write_selection_rows(path: str | Path, rows: Sequence[dict[str, Any]]) -> None:
    """A CSV of selected images, one row each: ``path,rank,score,round,id``, best first."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["path", "rank", "score", "round", "id"])
        writer.writeheader()
        writer.writerows(rows)

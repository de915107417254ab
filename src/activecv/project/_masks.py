"""Segmentation labels in the ledger: an index mask per annotation (PNG in the ``masks``
table), the pixels of each class beside it (``labels.pixels``), region annotations merged into
the image's current mask."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
from typing import Any

import numpy as np

from activecv.io import UNLABELED, Annotation
from activecv.project._records import ProjectError

MAX_CLASSES = UNLABELED  # indices 0..254 are classes, 255 is "not labeled"
UNCOVERED = ("background", "unlabeled", "merge")


def checked_mask(annotation: Annotation, classes: tuple[str, ...], size: tuple[int, int]) -> np.ndarray:
    """The annotation's mask in the project's class indices (UNLABELED kept), checked against
    the image size and the classes; an annotation without a mask says "no object": all
    background (the first class)."""
    where = f"the annotation of {annotation.item!r}"
    width, height = size
    if annotation.labels:
        raise ProjectError(
            f"{where} has class or box labels, but this is a segmentation project: label images with "
            "masks (brushes, polygons, COCO segmentations or index-mask PNGs)."
        )
    if annotation.uncovered not in UNCOVERED:
        raise ProjectError(
            f"{where}: uncovered must be one of {', '.join(UNCOVERED)}; got {annotation.uncovered!r}."
        )
    if annotation.mask is None:  # nothing drawn: no object, unless only some regions were asked for
        return np.full(
            (height, width), 0 if annotation.uncovered == "background" else UNLABELED, dtype=np.uint8
        )
    mask = np.asarray(annotation.mask)
    if mask.ndim != 2 or mask.dtype.kind not in "iub":
        raise ProjectError(
            f"{where} has a mask that is not a 2-D array of class indices; got {mask.shape} {mask.dtype}."
        )
    if mask.shape != (height, width):
        raise ProjectError(
            f"{where} has a {mask.shape[1]}x{mask.shape[0]} mask, but the image is {width}x{height} "
            "(width x height)."
        )
    names = annotation.mask_classes or classes
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise ProjectError(
            f"{where} uses unknown classes {unknown}; this project's classes are {list(classes)}."
        )
    values = np.unique(mask)
    outside = [int(v) for v in values if v != UNLABELED and not 0 <= v < len(names)]
    if outside:
        raise ProjectError(
            f"{where} has class indices {outside[:5]} outside the {len(names)} classes (0..{len(names) - 1}; "
            f"{UNLABELED} = not labeled)."
        )
    lookup = np.full(256, UNLABELED, dtype=np.uint8)
    lookup[: len(names)] = [classes.index(name) for name in names]
    return lookup[mask.astype(np.int64)]


def final_mask(conn: sqlite3.Connection, item_id: int, mask: np.ndarray, uncovered: str) -> np.ndarray:
    """What the annotation makes the image's mask, in the write's own transaction: uncovered
    pixels become background, or stay unlabeled, or (a region round's annotation) keep the
    current mask, each asked-for region first filled with its dominant annotated class."""
    if uncovered == "background":
        return np.where(mask == UNLABELED, 0, mask).astype(np.uint8)
    if uncovered == "unlabeled":
        return mask.astype(np.uint8)
    base = current(conn, item_id)
    if base is None:
        base = np.full(mask.shape, UNLABELED, dtype=np.uint8)
    if base.shape != mask.shape:
        raise ProjectError(
            f"the mask of item {item_id} is {base.shape}; a region annotation of {mask.shape} "
            "cannot add to it."
        )
    filled = _fill_regions(conn, item_id, mask)
    return np.where(filled == UNLABELED, base, filled).astype(np.uint8)


def _fill_regions(conn: sqlite3.Connection, item_id: int, mask: np.ndarray) -> np.ndarray:
    """Each region the item's latest region round asked for, filled with the class most of its
    annotated pixels have (dominant labeling: the annotator may mark a region with a stroke)."""
    from PIL import Image

    found = conn.execute(
        "SELECT regions, chosen FROM selection_regions WHERE item_id = ? ORDER BY round_id DESC LIMIT 1",
        (item_id,),
    ).fetchone()
    if found is None:
        return mask
    with Image.open(io.BytesIO(found[0])) as image:
        regions = np.asarray(image, dtype=np.int64)
    if regions.shape != mask.shape:
        return mask
    out = mask.copy()
    for entry in json.loads(found[1]):
        inside = regions == entry["region"]
        marked = mask[inside]
        marked = marked[marked != UNLABELED]
        if marked.size:
            out[inside] = np.bincount(marked).argmax()
    return out


def current(conn: Any, item_id: int) -> np.ndarray | None:
    """The mask of the item's current annotation, None when it has none (``conn``: a
    connection or a ledger)."""
    found = conn.execute(
        "SELECT png FROM masks WHERE annotation_id = (SELECT MAX(id) FROM annotations WHERE item_id = ?)",
        (item_id,),
    ).fetchone()
    return None if found is None else from_png(found[0])


def fingerprint(item_id: int, annotator: str, mask: np.ndarray) -> str:
    digest = hashlib.sha256(f"{item_id}\0{annotator}\0{mask.shape}".encode())
    digest.update(np.ascontiguousarray(mask).tobytes())
    return digest.hexdigest()


def class_pixels(mask: np.ndarray, n_classes: int) -> dict[int, int]:
    """Pixels of each class present (project index -> count)."""
    counts = np.bincount(mask.ravel(), minlength=256)[:n_classes]
    return {int(c): int(n) for c, n in enumerate(counts) if n}


def store(conn: sqlite3.Connection, annotation_id: int, mask: np.ndarray) -> None:
    conn.execute(
        "INSERT INTO masks (annotation_id, width, height, png, complete) VALUES (?, ?, ?, ?, ?)",
        (annotation_id, mask.shape[1], mask.shape[0], to_png(mask), int(not (mask == UNLABELED).any())),
    )


def at_size(mask: np.ndarray, size: tuple[int | None, int | None]) -> np.ndarray:
    """A model's mask at the image's (width, height), by nearest neighbour when the model
    predicted at another resolution (Label Studio's brushes are in the image's pixels)."""
    from PIL import Image

    width, height = size
    if width is None or height is None or mask.shape == (height, width):
        return mask
    return np.asarray(Image.fromarray(mask, mode="L").resize((width, height), Image.Resampling.NEAREST))


def to_png(mask: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def from_png(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image, dtype=np.uint8).copy()

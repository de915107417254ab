"""Labels: checking a file's annotations against the project, storing them with their history,
and reading the current labels back. Per-item work is keyed: an import of k labels costs
O(k log N) on a pool of N images."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from activecv._errors import shown
from activecv.io import Annotation, AnnotationFile, Label
from activecv.io.labelstudio import ANONYMOUS
from activecv.project import _masks as masks
from activecv.project import _pool as pool
from activecv.project._ledger import Ledger, batches, marks
from activecv.project._records import HistoryEntry, ImportReport, ProjectError

BOX_TOLERANCE = 0.5  # pixels a box may overhang the image (rounding in annotation tools)
CURRENT = "SELECT MAX(id) AS id FROM annotations GROUP BY item_id"  # each item's current annotation


@dataclass(frozen=True)
class Checked:
    """One annotation ready to store: its items and validated labels (None: no label), or its
    mask in the project's class indices (segmentation)."""

    annotation: Annotation
    item_ids: list[int]
    labels: tuple[Label, ...] | None
    mask: np.ndarray | None = None


@dataclass(frozen=True)
class Schema:
    """What labels must fit: the project's task and classes."""

    task: str
    classes: tuple[str, ...]


def import_annotations(ledger: Ledger, schema: Schema, file: AnnotationFile) -> ImportReport:
    """Store a file's annotations, all or none (see :meth:`Project.import_annotations`)."""
    resolved = _resolve(ledger, file)
    rows = [
        _checked(ledger, schema, annotation, ids)
        for annotation, ids in zip(file.annotations, resolved, strict=True)
    ]
    class_id = {name: i for i, name in enumerate(schema.classes, 1)}
    added = relabeled = unchanged = 0
    skipped = file.skipped
    with ledger.write() as conn:
        current = _current_fingerprints(conn, sorted({i for row in rows for i in row.item_ids}))
        delivered = _delivered(conn, file.source, [r.annotation.source_key for r in rows])
        when = pool.now()
        for row in rows:
            if row.labels is None:
                skipped += 1
                continue
            key = row.annotation.source_key
            if key is not None and key in delivered:
                unchanged += len(row.item_ids)
                _name_annotator(conn, file.source, key, delivered[key], row.annotation.annotator)
                continue
            for n, item_id in enumerate(row.item_ids):
                stored = _stored_form(conn, row, item_id, schema.classes)
                if current.get(item_id) == stored.fingerprint:
                    unchanged += 1
                    continue
                relabeled += item_id in current
                added += item_id not in current
                _store(
                    conn,
                    item_id,
                    row.annotation.annotator,
                    stored,
                    file.source,
                    key if n == 0 else None,
                    when,
                    class_id,
                )
                current[item_id] = stored.fingerprint
            if key is not None:
                delivered[key] = row.annotation.annotator
    return ImportReport(added, relabeled, unchanged, skipped)


@dataclass(frozen=True)
class Stored:
    """An annotation as the ledger writes it: its labels (class, box, pixels), its mask."""

    labels: Sequence[tuple[str, tuple[float, float, float, float] | None, int | None]]
    mask: np.ndarray | None
    fingerprint: str


def _stored_form(conn: sqlite3.Connection, row: Checked, item_id: int, classes: tuple[str, ...]) -> Stored:
    """A mask becomes what it makes of the image (a region annotation adds to its current mask)."""
    annotator = row.annotation.annotator
    if row.mask is None:
        assert row.labels is not None  # rows without labels are skipped by the caller
        boxes = [(label.class_name, label.box, None) for label in row.labels]
        return Stored(boxes, None, _fingerprint(item_id, annotator, row.labels))
    mask = masks.final_mask(conn, item_id, row.mask, row.annotation.uncovered)
    pixels = [(classes[c], None, count) for c, count in masks.class_pixels(mask, len(classes)).items()]
    return Stored(pixels, mask, masks.fingerprint(item_id, annotator, mask))


def _store(
    conn: sqlite3.Connection,
    item_id: int,
    annotator: str,
    stored: Stored,
    source: str,
    key: str | None,
    when: str,
    class_id: dict[str, int],
) -> None:
    """One annotation and its labels; the item leaves the open work (selections, queue, leases)."""
    cursor = conn.execute(
        "INSERT INTO annotations (item_id, annotator, source, source_key, fingerprint, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (item_id, annotator, source, key, stored.fingerprint, when),
    )
    annotation_id = int(cursor.lastrowid or 0)
    conn.executemany(
        "INSERT INTO labels (annotation_id, class_id, x0, y0, x1, y1, pixels) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (annotation_id, class_id[name], *(box or (None,) * 4), pixels)
            for name, box, pixels in stored.labels
        ],
    )
    if stored.mask is not None:
        masks.store(conn, annotation_id, stored.mask)
    conn.execute("UPDATE selections SET open = 0 WHERE item_id = ? AND open = 1", (item_id,))
    conn.execute("UPDATE queue SET open = 0 WHERE item_id = ? AND open = 1", (item_id,))
    conn.execute("DELETE FROM leases WHERE item_id = ?", (item_id,))


def _current_fingerprints(conn: sqlite3.Connection, item_ids: Sequence[int]) -> dict[int, str]:
    current: dict[int, str] = {}
    for batch in batches(item_ids):
        current.update(
            conn.execute(
                "SELECT item_id, fingerprint FROM annotations WHERE id IN (SELECT MAX(id) FROM annotations "
                f"WHERE item_id IN ({marks(len(batch))}) GROUP BY item_id)",
                batch,
            )
        )
    return current


def _delivered(conn: sqlite3.Connection, source: str, keys: Sequence[str | None]) -> dict[str, str]:
    """The tool ids among ``keys`` already stored from ``source``, with their annotators."""
    wanted = sorted({k for k in keys if k is not None})
    found: dict[str, str] = {}
    for batch in batches(wanted):
        found.update(
            conn.execute(
                "SELECT source_key, annotator FROM annotations "
                f"WHERE source = ? AND source_key IN ({marks(len(batch))})",
                [source, *batch],
            )
        )
    return found


def _name_annotator(conn: sqlite3.Connection, source: str, key: str, stored: str, given: str) -> None:
    """A tool's annotation stored under a stand-in name (a webhook knows a user's id, not
    their email) takes the name a later delivery gives, in every version stored of it (its
    key is ``id@updated_at``: the versions share the prefix up to ``@``)."""
    if stored != given and stored.startswith(ANONYMOUS) and not given.startswith(ANONYMOUS):
        prefix = key.partition("@")[0] + "@"
        conn.execute(
            "UPDATE annotations SET annotator = ? WHERE source = ? AND source_key >= ? "
            "AND source_key < ? AND annotator = ?",
            (given, source, prefix, prefix[:-1] + chr(ord("@") + 1), stored),
        )


def _resolve(ledger: Ledger, file: AnnotationFile) -> list[list[int]]:
    """The item ids each annotation is for: by id, by path, (class folders) by content, or
    (mask folders) by path with an image suffix."""
    if file.source == "masks":
        return [[i] for i in pool.ids_of_stems(ledger, [str(a.item) for a in file.annotations])]
    if file.source != "folder":
        found = pool.item_ids(ledger, [a.item for a in file.annotations], "images in the label file")
        return [[i] for i in found]
    by_hash = pool.ids_by_content(ledger, [str(a.item) for a in file.annotations])
    unknown = [a.item for a in file.annotations if a.item not in by_hash]
    if unknown:
        raise ProjectError(
            f"{len(unknown)} images in the label folder are not in this project (matched by content, "
            f"SHA-256): {shown(unknown)}."
        )
    return [by_hash[str(a.item)] for a in file.annotations]


def _checked(ledger: Ledger, schema: Schema, annotation: Annotation, item_ids: list[int]) -> Checked:
    """The annotation's labels, validated against the task, classes and image size; None
    for a classification annotation that carries no label."""
    where = f"the annotation of {annotation.item!r}"
    unknown = sorted({label.class_name for label in annotation.labels} - set(schema.classes))
    if unknown:
        raise ProjectError(
            f"{where} uses unknown classes {unknown}; this project's classes are {list(schema.classes)}."
        )
    if schema.task == "segmentation":
        mask = masks.checked_mask(annotation, schema.classes, _size(ledger, item_ids[0], annotation))
        return Checked(annotation, item_ids, (), mask)
    if schema.task == "classification":
        if any(label.box is not None for label in annotation.labels):
            raise ProjectError(f"{where} has boxes, but this is a classification project.")
        if len(annotation.labels) > 1:
            names = [label.class_name for label in annotation.labels]
            raise ProjectError(
                f"{where} has {len(names)} classes {names}; a classification label is one class."
            )
        return Checked(annotation, item_ids, tuple(annotation.labels) or None)
    if any(label.box is None for label in annotation.labels):
        raise ProjectError(f"{where} has a label without a box, but this is a detection project.")
    width, height = _size(ledger, item_ids[0], annotation)
    return Checked(
        annotation, item_ids, tuple(_clipped(label, width, height, where) for label in annotation.labels)
    )


def _clipped(label: Label, width: int, height: int, where: str) -> Label:
    """The box inside the image (an overhang of BOX_TOLERANCE is clipped), or an error."""
    assert label.box is not None  # checked by the caller
    x0, y0, x1, y1 = label.box
    inside = (
        -BOX_TOLERANCE <= x0 < x1 <= width + BOX_TOLERANCE
        and -BOX_TOLERANCE <= y0 < y1 <= height + BOX_TOLERANCE
    )
    if not inside:
        raise ProjectError(
            f"{where} has a {label.class_name!r} box {[x0, y0, x1, y1]} (xyxy) that is empty or "
            f"outside the {width}x{height} image."
        )
    return Label(
        label.class_name, (max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height)))
    )


def _size(ledger: Ledger, item_id: int, annotation: Annotation) -> tuple[int, int]:
    width, height = pool.size(ledger, item_id)
    if width is not None and height is not None:
        return int(width), int(height)
    if annotation.image_size is None:
        raise ProjectError(
            f"the size of {annotation.item!r} is unknown, so its boxes or mask cannot be checked."
        )
    return annotation.image_size


def _fingerprint(item_id: int, annotator: str, labels: tuple[Label, ...]) -> str:
    content = sorted(
        (label.class_name, [round(v, 3) for v in label.box] if label.box else None) for label in labels
    )
    return hashlib.sha256(json.dumps([item_id, annotator, content]).encode()).hexdigest()


def labels(ledger: Ledger) -> dict[int, list[Label]]:
    """The current labels of every labeled item (its latest annotation), by item id."""
    rows = ledger.execute(
        "SELECT a.item_id, c.name, l.x0, l.y0, l.x1, l.y1 FROM annotations a "
        f"JOIN ({CURRENT}) latest ON a.id = latest.id "
        "LEFT JOIN labels l ON l.annotation_id = a.id LEFT JOIN classes c ON c.id = l.class_id "
        "ORDER BY a.item_id, l.rowid"
    )
    current: dict[int, list[Label]] = defaultdict(list)
    for item, name, *box in rows:
        current[item]  # an image annotated as holding no object has no label row
        if name is not None:
            current[item].append(Label(name, None if box[0] is None else tuple(box)))
    return dict(current)


def history(ledger: Ledger, item_id: int) -> list[HistoryEntry]:
    """Every annotation of one item, oldest first."""
    heads: dict[int, tuple[str, str, str]] = {}
    found: dict[int, list[Label]] = defaultdict(list)
    for annotation_id, who, source, created, name, *box in ledger.execute(
        "SELECT a.id, a.annotator, a.source, a.created_at, c.name, l.x0, l.y0, l.x1, l.y1 "
        "FROM annotations a LEFT JOIN labels l ON l.annotation_id = a.id "
        "LEFT JOIN classes c ON c.id = l.class_id WHERE a.item_id = ? ORDER BY a.id, l.rowid",
        (item_id,),
    ):
        heads[annotation_id] = (who, source, created)
        if name is not None:
            found[annotation_id].append(Label(name, None if box[0] is None else tuple(box)))
    return [HistoryEntry(*head, found[annotation_id]) for annotation_id, head in heads.items()]


def class_balance(ledger: Ledger, classes: Sequence[str]) -> dict[str, int]:
    """Current labels per class: images (classification), boxes (detection) or pixels (segmentation)."""
    counts = dict(
        ledger.execute(
            # pixels for segmentation; images (classification) or boxes (detection) otherwise
            f"SELECT l.class_id, COALESCE(SUM(l.pixels), COUNT(*)) FROM labels l JOIN ({CURRENT}) latest "
            "ON l.annotation_id = latest.id GROUP BY l.class_id"
        )
    )
    return {name: counts.get(k, 0) for k, name in enumerate(classes, 1)}


def current_mask(ledger: Ledger, item_id: int) -> np.ndarray | None:
    """The mask of the item's current annotation (segmentation), None when it has none."""
    return masks.current(ledger, item_id)


def labeled_count(ledger: Ledger) -> int:
    return int(ledger.execute("SELECT COUNT(DISTINCT item_id) FROM annotations").fetchone()[0])


def labels_by_annotator(ledger: Ledger) -> dict[str, tuple[int, int]]:
    """Per annotator: annotations given and images annotated (a summary of the whole ledger)."""
    rows = ledger.execute(
        "SELECT annotator, COUNT(*), COUNT(DISTINCT item_id) FROM annotations "
        "GROUP BY annotator ORDER BY annotator"
    )
    return {who: (int(given), int(images)) for who, given, images in rows}

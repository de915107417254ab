"""The project ledger: pool, labels with their history, rounds, leases; one SQLite file.

Every write is one ``BEGIN IMMEDIATE`` transaction, so a process killed at any point leaves
the ledger as it was before the operation or after it, never between; WAL with
``synchronous=FULL`` keeps a committed transaction through a crash.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from activecv._errors import InputError
from activecv.io._annotations import Annotation, AnnotationFile, Label
from activecv.io._label_files import file_sha256
from activecv.project._pool import ItemFile, describe, find_images, is_uri, read_manifest
from activecv.project._rounds import plan_round
from activecv.project._schema import migrate
from activecv.strategies import get_strategy

LEDGER = "ledger.sqlite"
TASKS = ("classification", "detection")
CURRENT = "SELECT MAX(id) AS id FROM annotations GROUP BY item_id"  # each item's current annotation
BOX_TOLERANCE = 0.5  # pixels a box may overhang the image (rounding in annotation tools)


class ProjectError(InputError):
    """A project operation that cannot be done as asked; the ledger is unchanged."""


@dataclass(frozen=True)
class RegisterReport:
    """What registering images did: new items, ones already there, files whose content changed
    since they were registered (left as they were), and groups of paths with the same content."""

    added: int
    existing: int
    changed: list[str] = field(default_factory=list)
    duplicates: list[list[str]] = field(default_factory=list)


@dataclass(frozen=True)
class ImportReport:
    """What an import did: items labeled for the first time, items relabeled (the earlier
    label kept as history), annotations already in the ledger, and annotations the file
    carried without a label (skipped or cancelled)."""

    added: int
    relabeled: int
    unchanged: int
    skipped: int


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _shown(values: Sequence[Any], limit: int = 5) -> str:
    text = ", ".join(repr(v) for v in values[:limit])
    return text + (f" and {len(values) - limit} more" if len(values) > limit else "")


class Project:
    """An annotation project in ``directory``: open an existing one, or create it with
    :meth:`Project.init`.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from PIL import Image
    >>> from activecv.project import Project
    >>> folder = Path(tempfile.mkdtemp())
    >>> for i in range(3):
    ...     Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(folder / f"{i}.png")
    >>> project = Project.init(folder / "project", task="classification", classes=["a", "b"], images=folder)
    >>> project.status()["items"]
    3
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.registered: RegisterReport | None = None  # what init's registration did
        path = self.directory / LEDGER
        if not path.is_file():
            raise ProjectError(
                f"{str(self.directory)!r} is not an activecv project (no {LEDGER}); "
                "create one with: activecv project init DIR --images PATH --task T --classes A,B"
            )
        self._conn = _connect(path)
        migrate(self._conn, str(path))
        meta = dict(self._conn.execute("SELECT key, value FROM meta"))
        if "project_id" not in meta:
            raise ProjectError(f"{str(path)!r} was left by an interrupted init; run the same init again.")
        self.id: str = meta["project_id"]
        self.task: str = meta["task"]
        self.root = Path(meta["root"])
        self.classes: tuple[str, ...] = tuple(
            name for (name,) in self._conn.execute("SELECT name FROM classes ORDER BY id")
        )

    @classmethod
    def init(
        cls,
        directory: str | Path,
        *,
        task: str,
        classes: Sequence[str],
        images: str | Path | None = None,
        manifest: str | Path | None = None,
        root: str | Path | None = None,
    ) -> Project:
        """Create a project (or re-register into an existing one with the same task and
        classes) over the images of a folder or glob (``images``) or a CSV/JSONL ``manifest``."""
        if task not in TASKS:
            raise ProjectError(f"task must be one of {', '.join(TASKS)}; got {task!r}.")
        classes = [str(c) for c in classes]
        if not classes or len(set(classes)) != len(classes) or not all(c.strip() for c in classes):
            raise ProjectError(f"classes must be distinct non-empty names; got {classes!r}.")
        if images is not None and manifest is None:
            base, paths = find_images(images)
        elif manifest is not None and images is None:
            base, paths = read_manifest(manifest, root)
        else:
            raise ProjectError(
                "pass exactly one of images (a folder or glob) and manifest (a CSV/JSONL file)."
            )
        files = describe(base, paths)
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        conn = _connect(directory / LEDGER)
        try:
            migrate(conn, str(directory / LEDGER))
            with _transaction(conn):  # a no-op for an existing project; completes a killed init
                if conn.execute("SELECT COUNT(*) FROM meta").fetchone()[0] == 0:
                    meta = {
                        "project_id": uuid.uuid4().hex,
                        "task": task,
                        "root": str(base),
                        "created_at": _now(),
                    }
                    conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
                    conn.executemany("INSERT INTO classes (name) VALUES (?)", [(c,) for c in classes])
        finally:
            conn.close()
        project = cls(directory)
        project._check_same(task, classes, base)
        project.registered = project.register(files)
        return project

    def _check_same(self, task: str, classes: Sequence[str], root: Path) -> None:
        if task != self.task or tuple(classes) != self.classes or root != self.root:
            raise ProjectError(
                f"{str(self.directory)!r} already holds a project with task {self.task!r}, classes "
                f"{list(self.classes)} and images root {str(self.root)!r}; got task {task!r}, classes "
                f"{list(classes)} and root {str(root)!r}."
            )

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with _transaction(self._conn) as conn:
            yield conn

    # ---- items ---------------------------------------------------------------------------

    def register(self, files: Sequence[ItemFile]) -> RegisterReport:
        """Add images to the pool; paths already there are left as they are (idempotent)."""
        with self._write() as conn:
            known = {path: digest for path, digest in conn.execute("SELECT path, sha256 FROM items")}
            new = [f for f in files if f.path not in known]
            changed = [f.path for f in files if f.path in known and f.sha256 != known[f.path]]
            now = _now()
            conn.executemany(
                "INSERT INTO items (path, sha256, bytes, width, height, added_at) VALUES (?, ?, ?, ?, ?, ?)",
                [(f.path, f.sha256, f.bytes, f.width, f.height, now) for f in new],
            )
            groups = conn.execute(
                "SELECT group_concat(path, char(0)) FROM items WHERE sha256 IS NOT NULL "
                "GROUP BY sha256 HAVING COUNT(*) > 1"
            ).fetchall()
        return RegisterReport(len(new), len(files) - len(new), changed, [g.split("\0") for (g,) in groups])

    def item_ids(self, keys: Sequence[int | str], what: str = "ids") -> list[int]:
        """Item ids of items named by id (int) or registered path (str); unknown ones raise."""
        by_path = dict(self._conn.execute("SELECT path, id FROM items"))
        valid = set(by_path.values())
        found, unknown = [], []
        for key in keys:
            item = by_path.get(key) if isinstance(key, str) else int(key) if int(key) in valid else None
            if item is None:
                unknown.append(key)
            found.append(item)
        if unknown:
            raise ProjectError(
                f"{len(unknown)} {what} name no image of this project: {_shown(unknown)}. "
                "Use the item ids or the paths as registered (activecv project export --items all)."
            )
        return found  # type: ignore[return-value]

    def items(self, which: str = "all") -> list[dict[str, Any]]:
        """Items as dicts (id, path, sha256, width, height, labeled): all, labeled or unlabeled."""
        labeled = self._labeled_ids()
        rows = self._conn.execute("SELECT id, path, sha256, width, height FROM items ORDER BY id")
        items = [
            {"id": i, "path": p, "sha256": s, "width": w, "height": h, "labeled": i in labeled}
            for i, p, s, w, h in rows
        ]
        if which == "all":
            return items
        if which in ("labeled", "unlabeled"):
            return [item for item in items if item["labeled"] == (which == "labeled")]
        raise ProjectError(f"items must be all, labeled or unlabeled; got {which!r}.")

    def local_path(self, path: str) -> Path:
        """The file of a registered path; refuses one that leaves the images root."""
        if is_uri(path):
            raise ProjectError(f"{path!r} is a URI, not a file under the images root.")
        full = (self.root / path).resolve()
        if not full.is_relative_to(self.root):
            raise ProjectError(f"item path {path!r} escapes the project's images root {str(self.root)!r}.")
        return full

    def enqueue(
        self, data: bytes, suffix: str, size: tuple[int, int], metric: str, value: float, model_version: str
    ) -> int:
        """Store an image flagged for annotation once (by content) under ``incoming/`` of the
        images root, register it and put it in the annotation queue; returns its item id."""
        digest = hashlib.sha256(data).hexdigest()
        found = self._conn.execute(
            "SELECT id FROM items WHERE sha256 = ? ORDER BY id LIMIT 1", (digest,)
        ).fetchone()
        if found is None:
            path = f"incoming/{digest}{suffix}"
            file = self.root / path
            if not file.is_file():  # written before the transaction: a crash leaves at most a file
                file.parent.mkdir(parents=True, exist_ok=True)
                temporary = file.with_name(f".{file.name}.partial")
                temporary.write_bytes(data)
                temporary.replace(file)
            self.register([ItemFile(path, digest, len(data), *size)])
            found = self._conn.execute("SELECT id FROM items WHERE path = ?", (path,)).fetchone()
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO queue VALUES (?, ?, ?, ?, ?)",
                (found[0], metric, value, model_version, _now()),
            )
        return int(found[0])

    def queue(self, limit: int = 100, offset: int = 0, include_labeled: bool = False) -> list[dict[str, Any]]:
        """Images the prediction service flagged, oldest first (unlabeled ones unless asked)."""
        labeled = "" if include_labeled else "WHERE q.item_id NOT IN (SELECT item_id FROM annotations) "
        rows = self._conn.execute(
            "SELECT q.item_id, i.path, i.sha256, i.width, i.height, q.metric, q.value, q.model_version, "
            "q.flagged_at "
            f"FROM queue q JOIN items i ON i.id = q.item_id {labeled}"
            "ORDER BY q.flagged_at, q.item_id LIMIT ? OFFSET ?",
            (limit, offset),
        )
        names = ("id", "path", "sha256", "width", "height", "metric", "value", "model_version", "flagged_at")
        return [dict(zip(names, row, strict=True)) for row in rows]

    # ---- labels --------------------------------------------------------------------------

    def _labeled_ids(self) -> set[int]:
        return {i for (i,) in self._conn.execute("SELECT DISTINCT item_id FROM annotations")}

    def labels(self) -> dict[int, list[Label]]:
        """The current labels of every labeled item (its latest annotation), by item id."""
        rows = self._conn.execute(
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

    def history(self, item: int | str) -> list[dict[str, Any]]:
        """Every annotation of one item, oldest first: annotator, source, time and labels."""
        (item_id,) = self.item_ids([item], "items")
        history = []
        for annotation_id, who, source, created in self._conn.execute(
            "SELECT id, annotator, source, created_at FROM annotations WHERE item_id = ? ORDER BY id",
            (item_id,),
        ):
            labels = [
                Label(name, None if box[0] is None else tuple(box))
                for name, *box in self._conn.execute(
                    "SELECT c.name, l.x0, l.y0, l.x1, l.y1 FROM labels l JOIN classes c ON c.id = l.class_id "
                    "WHERE l.annotation_id = ? ORDER BY l.rowid",
                    (annotation_id,),
                )
            ]
            history.append({"annotator": who, "source": source, "created_at": created, "labels": labels})
        return history

    def import_annotations(self, file: AnnotationFile) -> ImportReport:
        """Store a file's annotations, all or none.

        Everything is checked before anything is written: the file's project, every image,
        every class, every box. An annotation equal to the item's current one, or one the
        tool already delivered (same tool id and time), is not stored again, so a repeated
        import changes nothing; a different one becomes the item's label, the earlier kept.
        """
        if file.project_id is not None and file.project_id != self.id:
            raise ProjectError(
                f"this label file belongs to activecv project {file.project_id}, not to "
                f"{str(self.directory)!r} ({self.id}); import it into the project it was exported from."
            )
        items = self._resolve(file)
        rows = [
            self._checked(annotation, item) for annotation, item in zip(file.annotations, items, strict=True)
        ]
        class_id = {name: i for i, name in enumerate(self.classes, 1)}
        added = relabeled = unchanged = 0
        skipped = file.skipped
        with self._write() as conn:
            current = dict(
                conn.execute(
                    "SELECT a.item_id, a.fingerprint FROM annotations a "
                    f"JOIN ({CURRENT}) latest ON a.id = latest.id"
                )
            )
            now = _now()
            for annotation, item_ids, labels in rows:
                if labels is None:
                    skipped += 1
                    continue
                key = annotation.source_key
                if (
                    key is not None
                    and conn.execute(
                        "SELECT 1 FROM annotations WHERE source = ? AND source_key = ?", (file.source, key)
                    ).fetchone()
                ):
                    unchanged += len(item_ids)
                    continue
                for n, item_id in enumerate(item_ids):
                    fingerprint = _fingerprint(item_id, annotation.annotator, labels)
                    if current.get(item_id) == fingerprint:
                        unchanged += 1
                        continue
                    relabeled += item_id in current
                    added += item_id not in current
                    cursor = conn.execute(
                        "INSERT INTO annotations (item_id, annotator, source, source_key, fingerprint, "
                        "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            item_id,
                            annotation.annotator,
                            file.source,
                            key if n == 0 else None,
                            fingerprint,
                            now,
                        ),
                    )
                    conn.executemany(
                        "INSERT INTO labels VALUES (?, ?, ?, ?, ?, ?)",
                        [
                            (cursor.lastrowid, class_id[label.class_name], *(label.box or (None,) * 4))
                            for label in labels
                        ],
                    )
                    current[item_id] = fingerprint
                    conn.execute("DELETE FROM leases WHERE item_id = ?", (item_id,))
        return ImportReport(added, relabeled, unchanged, skipped)

    def _resolve(self, file: AnnotationFile) -> list[list[int]]:
        """The item ids each annotation is for: by id, by path, or (class folders) by content."""
        if file.source != "folder":
            return [
                [i] for i in self.item_ids([a.item for a in file.annotations], "images in the label file")
            ]
        by_hash: dict[str, list[int]] = defaultdict(list)
        for item_id, digest in self._conn.execute("SELECT id, sha256 FROM items WHERE sha256 IS NOT NULL"):
            by_hash[digest].append(item_id)
        unknown = [a.item for a in file.annotations if a.item not in by_hash]
        if unknown:
            raise ProjectError(
                f"{len(unknown)} images in the label folder are not in this project (matched by content, "
                f"SHA-256): {_shown(unknown)}."
            )
        return [by_hash[str(a.item)] for a in file.annotations]

    def _checked(
        self, annotation: Annotation, item_ids: list[int]
    ) -> tuple[Annotation, list[int], tuple[Label, ...] | None]:
        """The annotation's labels, validated against the task, classes and image size; None
        for a classification annotation that carries no label."""
        where = f"the annotation of {annotation.item!r}"
        unknown = sorted({label.class_name for label in annotation.labels} - set(self.classes))
        if unknown:
            raise ProjectError(
                f"{where} uses unknown classes {unknown}; this project's classes are {list(self.classes)}."
            )
        if self.task == "classification":
            if any(label.box is not None for label in annotation.labels):
                raise ProjectError(f"{where} has boxes, but this is a classification project.")
            if len(annotation.labels) > 1:
                names = [label.class_name for label in annotation.labels]
                raise ProjectError(
                    f"{where} has {len(names)} classes {names}; a classification label is one class."
                )
            return annotation, item_ids, tuple(annotation.labels) or None
        if any(label.box is None for label in annotation.labels):
            raise ProjectError(f"{where} has a label without a box, but this is a detection project.")
        width, height = self._size(item_ids[0], annotation)
        boxes = []
        for label in annotation.labels:
            assert label.box is not None  # checked above
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
            box = (max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height)))
            boxes.append(Label(label.class_name, box))
        return annotation, item_ids, tuple(boxes)

    def _size(self, item_id: int, annotation: Annotation) -> tuple[int, int]:
        width, height = self._conn.execute(
            "SELECT width, height FROM items WHERE id = ?", (item_id,)
        ).fetchone()
        if width is not None:
            return int(width), int(height)
        if annotation.image_size is None:
            raise ProjectError(f"the size of {annotation.item!r} is unknown, so its boxes cannot be checked.")
        return annotation.image_size

    # ---- rounds and work distribution ---------------------------------------------------

    def round(
        self,
        predictions: str | Path,
        strategy: str,
        budget: int,
        *,
        params: dict[str, Any] | None = None,
        candidates: int | None = None,
        seed: int = 0,
        model_version: str | None = None,
        background_index: int | None = None,
        progress: bool = False,
    ) -> list[dict[str, Any]]:
        """Select the next ``budget`` images from a predictions file (``ids`` + arrays, or COCO
        detection results whose ``image_id`` are item ids) and record the round: strategy,
        parameters, seed, model version, the predictions file's hash, every score computed and
        the selection, in one transaction. Items labeled or selected in an earlier round are
        never selected. The same request again returns the round it made (nothing is selected
        twice); returns the round's selection, best first.
        """
        if budget < 1:
            raise ProjectError(f"budget must be >= 1; got {budget}.")
        path = Path(predictions)
        if not path.is_file():
            raise ProjectError(f"predictions file {str(path)!r} does not exist.")
        params = dict(params or {})
        chosen = get_strategy(strategy, **params)
        digest = file_sha256(path)
        request = hashlib.sha256(
            json.dumps(
                [chosen.name, params, seed, budget, candidates, model_version, background_index, digest],
                sort_keys=True,
            ).encode()
        ).hexdigest()
        done = self._conn.execute("SELECT id FROM rounds WHERE request = ?", (request,)).fetchone()
        if done:
            return self.selection(done[0])
        started = _now()
        plan = plan_round(
            path,
            chosen,
            budget,
            item_ids_of=self.item_ids,
            excluded=self._labeled_ids() | self.selected_ids(),
            classes=self.classes,
            detection_pool=lambda: (
                [i for (i,) in self._conn.execute("SELECT id FROM items ORDER BY id")],
                np.array(list(self._class_balance().values())),
            ),
            candidates=candidates,
            seed=seed,
            background_index=background_index,
            progress=progress,
        )
        try:
            with self._write() as conn:
                done = conn.execute("SELECT id FROM rounds WHERE request = ?", (request,)).fetchone()
                if done:  # another process made this very round while this one computed
                    number = done[0]
                else:
                    number = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM rounds").fetchone()[0]
                    conn.execute(
                        "INSERT INTO rounds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            number,
                            chosen.name,
                            json.dumps(params, sort_keys=True),
                            seed,
                            budget,
                            model_version,
                            str(path),
                            digest,
                            plan.n_candidates,
                            request,
                            started,
                            _now(),
                        ),
                    )
                    conn.executemany(
                        "INSERT INTO scores VALUES (?, ?, ?)",
                        [(number, i, s) for i, s in plan.all_scores.items()],
                    )
                    conn.executemany(
                        "INSERT INTO selections VALUES (?, ?, ?, ?, ?)",
                        [
                            (number, rank, item_id, score, None if p is None else json.dumps(p))
                            for rank, (item_id, score, p) in enumerate(
                                zip(plan.item_ids, plan.scores, plan.predictions, strict=True), 1
                            )
                        ],
                    )
        except sqlite3.IntegrityError:
            raise ProjectError(
                "another round selected some of the same images while this one was computed; "
                "run the round again: it will select among what is left."
            ) from None
        return self.selection(number)

    def selected_ids(self) -> set[int]:
        return {i for (i,) in self._conn.execute("SELECT item_id FROM selections")}

    def rounds(self) -> list[dict[str, Any]]:
        """Every round's record (strategy, params, seed, model version, ...), oldest first."""
        cursor = self._conn.execute(
            "SELECT id, strategy, params, seed, budget, model_version, predictions, predictions_sha256, "
            "n_candidates, started_at, created_at FROM rounds ORDER BY id"
        )
        names = [d[0] for d in cursor.description]
        rounds = [dict(zip(names, row, strict=True)) for row in cursor]
        for record in rounds:
            record["number"] = record.pop("id")
            record["params"] = json.loads(record["params"])
        return rounds

    def selection(self, round_number: int | None = None) -> list[dict[str, Any]]:
        """One round's selected items (default: the latest round), best first."""
        if round_number is None:
            round_number = self._conn.execute("SELECT MAX(id) FROM rounds").fetchone()[0]
            if round_number is None:
                raise ProjectError(
                    "this project has no round yet; create one with: activecv project round DIR ..."
                )
        elif not self._conn.execute("SELECT 1 FROM rounds WHERE id = ?", (round_number,)).fetchone():
            last = self._conn.execute("SELECT MAX(id) FROM rounds").fetchone()[0]
            raise ProjectError(f"round must be a round of this project (1..{last or 0}); got {round_number}.")
        rows = self._conn.execute(
            "SELECT s.rank, s.item_id, i.path, s.score, s.prediction, i.width, i.height FROM selections s "
            "JOIN items i ON i.id = s.item_id WHERE s.round_id = ? ORDER BY s.rank",
            (round_number,),
        )
        return [
            {
                "round": round_number,
                "rank": rank,
                "id": item_id,
                "path": path,
                "score": score,
                "prediction": json.loads(prediction) if prediction else None,
                "width": width,
                "height": height,
            }
            for rank, item_id, path, score, prediction, width, height in rows
        ]

    def scores(self, round_number: int) -> dict[int, float]:
        """Every score a round computed, by item id."""
        return dict(
            self._conn.execute("SELECT item_id, score FROM scores WHERE round_id = ?", (round_number,))
        )

    def next(self, annotator: str, n: int, lease_seconds: float = 3600.0) -> list[dict[str, Any]]:
        """Hand ``n`` selected, unlabeled images to ``annotator`` under a lease: no one else gets
        them until the lease expires or a label arrives. The annotator's own unexpired leases
        come back first, so asking again gives the same images."""
        if n < 1:
            raise ProjectError(f"n must be >= 1; got {n}.")
        if not annotator:
            raise ProjectError("annotator must be a non-empty name.")
        now = datetime.now(timezone.utc)
        with self._write() as conn:
            conn.execute("DELETE FROM leases WHERE expires_at <= ?", (now.isoformat(),))
            queue = conn.execute(
                "SELECT s.item_id FROM selections s LEFT JOIN leases l ON l.item_id = s.item_id "
                "WHERE s.item_id NOT IN (SELECT item_id FROM annotations) "
                "AND (l.annotator IS NULL OR l.annotator = ?) "
                "ORDER BY (l.annotator IS NULL), s.round_id, s.rank LIMIT ?",
                (annotator, n),
            ).fetchall()
            expires = (now + timedelta(seconds=lease_seconds)).isoformat()
            conn.executemany(
                "INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?)",
                [(item_id, annotator, now.isoformat(), expires) for (item_id,) in queue],
            )
        paths = dict(
            self._conn.execute(
                f"SELECT id, path FROM items WHERE id IN ({','.join('?' * len(queue))})",
                [i for (i,) in queue],
            )
        )
        return [{"id": item_id, "path": paths[item_id], "expires_at": expires} for (item_id,) in queue]

    def _class_balance(self) -> dict[str, int]:
        """Current labels per class (images for classification, boxes for detection)."""
        counts = dict(
            self._conn.execute(
                f"SELECT l.class_id, COUNT(*) FROM labels l JOIN ({CURRENT}) latest "
                "ON l.annotation_id = latest.id GROUP BY l.class_id"
            )
        )
        return {name: counts.get(k, 0) for k, name in enumerate(self.classes, 1)}

    def status(self) -> dict[str, Any]:
        """Counts: items, labeled, per round (selected, labeled), class balance, pending leases."""
        labeled = self._conn.execute("SELECT COUNT(DISTINCT item_id) FROM annotations").fetchone()[0]
        per_round = [
            {"round": number, "strategy": strategy, "selected": selected, "labeled": done}
            for number, strategy, selected, done in self._conn.execute(
                "SELECT r.id, r.strategy, COUNT(s.item_id), "
                "SUM(s.item_id IN (SELECT item_id FROM annotations)) FROM rounds r "
                "LEFT JOIN selections s ON s.round_id = r.id GROUP BY r.id ORDER BY r.id"
            )
        ]
        total = self._conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        leases = self._conn.execute(
            "SELECT annotator, COUNT(*) FROM leases WHERE expires_at > ? GROUP BY annotator ORDER BY 1",
            (datetime.now(timezone.utc).isoformat(),),
        ).fetchall()
        return {
            "project_id": self.id,
            "task": self.task,
            "items": total,
            "labeled": labeled,
            "unlabeled": total - labeled,
            "rounds": per_round,
            "class_balance": self._class_balance(),
            "leases": dict(leases),
        }


def _fingerprint(item_id: int, annotator: str, labels: tuple[Label, ...]) -> str:
    content = sorted(
        (label.class_name, [round(v, 3) for v in label.box] if label.box else None) for label in labels
    )
    return hashlib.sha256(json.dumps([item_id, annotator, content]).encode()).hexdigest()


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=60.0)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")

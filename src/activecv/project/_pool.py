"""The pool: registering images and finding them by id, path or content, by keyed queries."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from activecv._errors import shown
from activecv._files import IMAGE_SUFFIXES, resolve_under
from activecv.io import PredictionsFile
from activecv.project._discover import ItemFile, is_uri
from activecv.project._ledger import Ledger, batches, marks
from activecv.project._records import Item, ProjectError, RegisterReport

# A lookup of more keys than this share of the pool (item ids are never reused, so the largest
# id is its size) reads the whole index once instead of probing it key by key: whole-pool
# work, such as a round over every image.
SCAN_SHARE = 0.25


def iso(moment: datetime) -> str:
    """The one timestamp format of the ledger: UTC, milliseconds (sorts as it compares)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def now() -> str:
    return iso(datetime.now(timezone.utc))


def register(conn: sqlite3.Connection, files: Sequence[ItemFile]) -> RegisterReport:
    """Add images to the pool inside the caller's transaction; paths already there are left as
    they are (idempotent). Cost grows with ``len(files)``, not with the pool."""
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS incoming "
        "(path TEXT PRIMARY KEY, sha256 TEXT, bytes INTEGER, width INTEGER, height INTEGER)"
    )
    try:
        conn.executemany(
            "INSERT OR IGNORE INTO incoming VALUES (?, ?, ?, ?, ?)",
            [(f.path, f.sha256, f.bytes, f.width, f.height) for f in files],
        )
        listed = conn.execute("SELECT COUNT(*) FROM incoming").fetchone()[0]
        changed = [
            path
            for (path,) in conn.execute(
                "SELECT n.path FROM incoming n JOIN items i ON i.path = n.path "
                "WHERE i.sha256 IS NOT n.sha256 ORDER BY n.path"
            )
        ]
        added = conn.execute(
            "INSERT INTO items (path, sha256, bytes, width, height, added_at) "
            "SELECT path, sha256, bytes, width, height, ? FROM incoming n "
            "WHERE NOT EXISTS (SELECT 1 FROM items i WHERE i.path = n.path) ORDER BY n.rowid",
            (now(),),
        ).rowcount
        groups = conn.execute(
            "SELECT group_concat(path, char(0)) FROM (SELECT sha256, path FROM items WHERE sha256 IN "
            "(SELECT sha256 FROM incoming WHERE sha256 IS NOT NULL) ORDER BY id) "
            "GROUP BY sha256 HAVING COUNT(*) > 1"
        ).fetchall()
    finally:
        conn.execute("DELETE FROM incoming")
    return RegisterReport(
        added, listed - added, changed, [g.split("\0") for (g,) in groups], len(files) - listed
    )


def check_item_key(key: Any, what: str) -> int | str:
    """An item id (int) or a registered path (str); refuses what would be silently coerced."""
    if isinstance(key, np.generic):
        key = key.item()
    if isinstance(key, bytes):
        try:
            key = key.decode("utf-8")
        except UnicodeDecodeError:
            raise ProjectError(f"{what} must be item ids or UTF-8 paths; got bytes {key!r}.") from None
    if isinstance(key, bool) or not isinstance(key, (int, str)):
        raise ProjectError(
            f"{what} must be item ids (integers) or registered paths (strings); got {key!r} "
            f"({type(key).__name__})."
        )
    if isinstance(key, int) and not 0 <= key < 2**63:
        raise ProjectError(f"{what} must be item ids in [0, 2**63); got {key}.")
    return key


def item_ids(ledger: Ledger, keys: Sequence[Any] | np.ndarray, what: str = "ids") -> list[int]:
    """Item ids of items named by id (int) or registered path (str); unknown ones raise."""
    if isinstance(keys, np.ndarray) and keys.dtype.kind in "Uiu":  # one type: nothing to check
        checked: list[Any] = keys.tolist()
    else:
        checked = [check_item_key(key, what) for key in keys]
    paths = [k for k in checked if isinstance(k, str)]
    by_path = _by_path(ledger, paths)
    if len(paths) == len(checked):
        found = list(map(by_path.get, checked))
    else:
        known = _known_ids(ledger, [k for k in checked if not isinstance(k, str)])
        found = [by_path.get(k) if isinstance(k, str) else (k if k in known else None) for k in checked]
    if None in found:
        unknown = [key for key, item in zip(checked, found, strict=True) if item is None]
        raise ProjectError(
            f"{len(unknown)} {what} name no image of this project: {shown(unknown)}. "
            "Use the item ids or the paths as registered (activecv project export --items all)."
        )
    return found  # type: ignore[return-value]


def check_class_columns(file: PredictionsFile, n_classes: int) -> None:
    """A predictions file's class axis must follow the project's classes."""
    found = file.class_axis()
    if found is None:
        return
    name, axis = found
    if file.shape(name)[axis] != n_classes:
        raise ProjectError(
            f"{name!r} in {str(file.path)!r} has shape {file.shape(name)}, but the project has "
            f"{n_classes} classes; columns must follow the project's classes, in order."
        )


def _many(ledger: Ledger, keys: Sequence[Any]) -> bool:
    """Whether reading the whole index is cheaper than probing it key by key."""
    size = ledger.execute("SELECT COALESCE(MAX(id), 0) FROM items").fetchone()[0]
    return len(keys) > SCAN_SHARE * int(size)


def _by_path(ledger: Ledger, paths: Sequence[str]) -> dict[str, int]:
    if not paths:
        return {}
    if _many(ledger, paths):
        return dict(ledger.execute("SELECT path, id FROM items"))
    found: dict[str, int] = {}
    for batch in batches(paths):
        found.update(ledger.execute(f"SELECT path, id FROM items WHERE path IN ({marks(len(batch))})", batch))
    return found


def _known_ids(ledger: Ledger, numbers: Sequence[int]) -> set[int]:
    if _many(ledger, numbers):
        return {i for (i,) in ledger.execute("SELECT id FROM items")}
    known: set[int] = set()
    for batch in batches(numbers):
        found = ledger.execute(f"SELECT id FROM items WHERE id IN ({marks(len(batch))})", batch)
        known.update(i for (i,) in found)
    return known


def ids_of_stems(ledger: Ledger, stems: Sequence[str]) -> list[int]:
    """The item whose path is each stem plus an image suffix (``a/b`` -> ``a/b.jpg``), keyed."""
    candidates = [stem + suffix for stem in stems for suffix in sorted(IMAGE_SUFFIXES)]
    by_path = _by_path(ledger, sorted(set(candidates)))
    found, problems = [], []
    for stem in stems:
        matches = [by_path[stem + s] for s in sorted(IMAGE_SUFFIXES) if stem + s in by_path]
        if len(matches) != 1:
            problems.append(stem)
        found.append(matches[0] if matches else -1)
    if problems:
        raise ProjectError(
            f"{len(problems)} masks name no single image of this project (a mask is the image's registered "
            f"path with .png for its suffix): {shown(problems)}."
        )
    return found


def ids_by_content(ledger: Ledger, digests: Sequence[str]) -> dict[str, list[int]]:
    """Item ids of each SHA-256 among ``digests`` (several when copies are registered)."""
    found: dict[str, list[int]] = defaultdict(list)
    for batch in batches(sorted(set(digests))):
        for item_id, digest in ledger.execute(
            f"SELECT id, sha256 FROM items WHERE sha256 IN ({marks(len(batch))}) ORDER BY id", batch
        ):
            found[digest].append(item_id)
    return dict(found)


def count(ledger: Ledger) -> int:
    return int(ledger.execute("SELECT COUNT(*) FROM items").fetchone()[0])


def size(ledger: Ledger, item_id: int) -> tuple[int | None, int | None]:
    width, height = ledger.execute("SELECT width, height FROM items WHERE id = ?", (item_id,)).fetchone()
    return width, height


def items(ledger: Ledger, which: str = "all") -> list[Item]:
    """Every item (all, labeled or unlabeled), in id order."""
    conditions = {
        "all": "",
        "labeled": "WHERE EXISTS (SELECT 1 FROM annotations a WHERE a.item_id = i.id)",
        "unlabeled": "WHERE NOT EXISTS (SELECT 1 FROM annotations a WHERE a.item_id = i.id)",
    }
    if which not in conditions:
        raise ProjectError(f"items must be all, labeled or unlabeled; got {which!r}.")
    rows = ledger.execute(
        "SELECT i.id, i.path, i.sha256, i.width, i.height, "
        "EXISTS (SELECT 1 FROM annotations a WHERE a.item_id = i.id) "
        f"FROM items i {conditions[which]} ORDER BY i.id"
    )
    return [Item(i, p, s, w, h, bool(labeled)) for i, p, s, w, h, labeled in rows]


def item(ledger: Ledger, item_id: int) -> Item:
    """One item, by its id (a keyed lookup)."""
    i, p, s, w, h, labeled = ledger.execute(
        "SELECT i.id, i.path, i.sha256, i.width, i.height, "
        "EXISTS (SELECT 1 FROM annotations a WHERE a.item_id = i.id) FROM items i WHERE i.id = ?",
        (item_id,),
    ).fetchone()
    return Item(i, p, s, w, h, bool(labeled))


def local_path(root: Path, path: str) -> Path:
    """The file of a registered path; refuses one that leaves the images root."""
    if is_uri(path):
        raise ProjectError(f"{path!r} is a URI, not a file under the images root.")
    full = resolve_under(root, path)
    if full is None:
        raise ProjectError(f"item path {path!r} escapes the project's images root {str(root)!r}.")
    return full

"""Work to hand out: leases on selected images, and the prediction service's queue. Both walk
an index of open work (images not labeled yet), so each call costs the same on any pool."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from activecv.project import _pool as pool
from activecv.project._discover import ItemFile
from activecv.project._ledger import Ledger, marks
from activecv.project._records import Lease, ProjectError, QueuedItem

MAX_ITEMS = 10_000  # images one call hands out or lists
MAX_LEASE = 365 * 24 * 3600.0
QUEUE_COLUMNS = (
    "q.item_id, i.path, i.sha256, i.width, i.height, q.metric, q.value, q.model_version, q.flagged_at"
)


def next_work(ledger: Ledger, annotator: str, n: int, lease_seconds: float) -> list[Lease]:
    """Hand ``n`` selected, unlabeled images to ``annotator`` under a lease; the annotator's
    own unexpired leases come first, in round and rank order."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_ITEMS:
        raise ProjectError(f"n must be an integer in [1, {MAX_ITEMS}]; got {n!r}.")
    if not isinstance(annotator, str) or not annotator.strip():
        raise ProjectError(f"annotator must be a non-empty name; got {annotator!r}.")
    if not isinstance(lease_seconds, (int, float)) or not 0 < lease_seconds <= MAX_LEASE:
        raise ProjectError(
            f"the lease must last more than 0 and at most {MAX_LEASE:g} seconds (a year); got "
            f"{lease_seconds!r} seconds. A lease of zero or less would hand one image to two annotators."
        )
    now = datetime.now(timezone.utc)
    expires = pool.iso(now + timedelta(seconds=lease_seconds))
    with ledger.write() as conn:
        conn.execute("DELETE FROM leases WHERE expires_at <= ?", (pool.iso(now),))
        mine = conn.execute(
            "SELECT s.item_id FROM leases l JOIN selections s ON s.item_id = l.item_id "
            "WHERE l.annotator = ? AND s.open = 1 ORDER BY s.round_id, s.rank LIMIT ?",
            (annotator, n),
        ).fetchall()
        # Walks the open selections in order; it passes over at most the other annotators' leases.
        free = conn.execute(
            "SELECT s.item_id FROM selections s WHERE s.open = 1 "
            "AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.item_id = s.item_id) "
            "ORDER BY s.round_id, s.rank LIMIT ?",
            (n - len(mine),),
        ).fetchall()
        chosen = [item_id for (item_id,) in mine + free]
        conn.executemany(
            "INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?)",
            [(item_id, annotator, pool.iso(now), expires) for item_id in chosen],
        )
        paths = dict(conn.execute(f"SELECT id, path FROM items WHERE id IN ({marks(len(chosen))})", chosen))
    return [Lease(item_id, paths[item_id], expires) for item_id in chosen]


def enqueue(
    ledger: Ledger,
    root: Path,
    data: bytes,
    suffix: str,
    size: tuple[int, int],
    metric: str,
    value: float,
    model_version: str,
) -> int:
    """Store a flagged image once (by content) under ``incoming/`` of the images root,
    register it and put it in the queue; returns its item id."""
    digest = hashlib.sha256(data).hexdigest()
    found = pool.ids_by_content(ledger, [digest]).get(digest)
    path = f"incoming/{digest}{suffix}"
    if not found:
        file = root / path
        if not file.is_file():  # written before the transaction: a crash leaves at most a file
            file.parent.mkdir(parents=True, exist_ok=True)
            temporary = file.with_name(f".{file.name}.{uuid.uuid4().hex}.partial")  # one per writer
            with open(temporary, "wb") as handle:
                handle.write(data)
                os.fsync(handle.fileno())  # on disk before the ledger row that points at it
            temporary.replace(file)
            directory = os.open(file.parent, os.O_RDONLY)
            try:
                os.fsync(directory)  # and the name too
            finally:
                os.close(directory)
    with ledger.write() as conn:
        if not found:
            pool.register(conn, [ItemFile(path, digest, len(data), *size)])
        (item_id,) = conn.execute(
            "SELECT id FROM items WHERE sha256 = ? ORDER BY id LIMIT 1", (digest,)
        ).fetchone()
        conn.execute(
            "INSERT OR IGNORE INTO queue (item_id, metric, value, model_version, flagged_at, open) "
            "VALUES (?, ?, ?, ?, ?, NOT EXISTS (SELECT 1 FROM annotations WHERE item_id = ?))",
            (item_id, metric, value, model_version, pool.now(), item_id),
        )
    return int(item_id)


def queue(ledger: Ledger, limit: int, after: int | None, include_labeled: bool) -> list[QueuedItem]:
    """Flagged images, oldest first (only those not labeled yet unless asked), from the one
    after item ``after`` (the last of the previous page): a walk of the index, never a skip."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_ITEMS:
        raise ProjectError(f"limit must be an integer in [1, {MAX_ITEMS}]; got {limit!r}.")
    where = [] if include_labeled else ["q.open = 1"]
    params: list[Any] = []
    if after is not None:
        found = ledger.execute("SELECT flagged_at FROM queue WHERE item_id = ?", (after,)).fetchone()
        if found is None:
            raise ProjectError(f"after must be the id of a queued image (the last of a page); got {after!r}.")
        where.append("(q.flagged_at, q.item_id) > (?, ?)")
        params += [found[0], after]
    condition = f"WHERE {' AND '.join(where)} " if where else ""
    rows = ledger.execute(
        f"SELECT {QUEUE_COLUMNS} FROM queue q JOIN items i ON i.id = q.item_id {condition}"
        "ORDER BY q.flagged_at, q.item_id LIMIT ?",
        (*params, limit),
    )
    return [QueuedItem(*row) for row in rows]


def leases_by_annotator(ledger: Ledger) -> dict[str, int]:
    rows = ledger.execute(
        "SELECT annotator, COUNT(*) FROM leases WHERE expires_at > ? GROUP BY annotator ORDER BY 1",
        (pool.now(),),
    )
    return dict(rows.fetchall())

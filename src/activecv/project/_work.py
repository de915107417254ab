"""Work to hand out: leases on selected images, and the prediction service's queue. Both walk
an index of open work (images not labeled yet), so each call costs the same on any pool."""

from __future__ import annotations

import hashlib
import math
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from activecv.project import _pool as pool
from activecv.project._discover import ItemFile
from activecv.project._ledger import Ledger, marks
from activecv.project._records import Lease, ProjectError, QueuedItem

QUEUE_COLUMNS = (
    "q.item_id, i.path, i.sha256, i.width, i.height, q.metric, q.value, q.model_version, q.flagged_at"
)


def next_work(ledger: Ledger, annotator: str, n: int, lease_seconds: float) -> list[Lease]:
    """Hand ``n`` selected, unlabeled images to ``annotator`` under a lease; the annotator's
    own unexpired leases come first, in round and rank order."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ProjectError(f"n must be an integer >= 1; got {n!r}.")
    if not isinstance(annotator, str) or not annotator.strip():
        raise ProjectError(f"annotator must be a non-empty name; got {annotator!r}.")
    if not isinstance(lease_seconds, (int, float)) or not math.isfinite(lease_seconds) or lease_seconds <= 0:
        raise ProjectError(
            f"the lease must last a positive, finite time; got {lease_seconds!r} seconds. "
            "A lease of zero or less would hand the same image to two annotators."
        )
    now = datetime.now(timezone.utc)
    expires = (now + timedelta(seconds=lease_seconds)).isoformat()
    with ledger.write() as conn:
        conn.execute("DELETE FROM leases WHERE expires_at <= ?", (now.isoformat(),))
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
            [(item_id, annotator, now.isoformat(), expires) for item_id in chosen],
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
            temporary.write_bytes(data)
            temporary.replace(file)
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


def queue(ledger: Ledger, limit: int, offset: int, include_labeled: bool) -> list[QueuedItem]:
    """Flagged images, oldest first (only those not labeled yet unless asked)."""
    where = "" if include_labeled else "WHERE q.open = 1 "
    rows = ledger.execute(
        f"SELECT {QUEUE_COLUMNS} FROM queue q JOIN items i ON i.id = q.item_id {where}"
        "ORDER BY q.flagged_at, q.item_id LIMIT ? OFFSET ?",
        (limit, offset),
    )
    return [QueuedItem(*row) for row in rows]


def leases_by_annotator(ledger: Ledger) -> dict[str, int]:
    rows = ledger.execute(
        "SELECT annotator, COUNT(*) FROM leases WHERE expires_at > ? GROUP BY annotator ORDER BY 1",
        (datetime.now(timezone.utc).isoformat(),),
    )
    return dict(rows.fetchall())

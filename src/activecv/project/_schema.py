"""The ledger's SQLite schema and its migrations, versioned by ``PRAGMA user_version``."""

from __future__ import annotations

import sqlite3

from activecv._errors import InputError

# MIGRATIONS[k] takes a ledger from version k to k + 1. Never edit a released entry: append.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE classes (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
    CREATE TABLE items (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,        -- relative to the images root, or a URI
        sha256 TEXT,                      -- NULL for a URI that is not a local file
        bytes INTEGER,
        width INTEGER,
        height INTEGER,
        added_at TEXT NOT NULL
    );
    CREATE INDEX items_sha256 ON items (sha256);
    CREATE TABLE annotations (
        id INTEGER PRIMARY KEY,
        item_id INTEGER NOT NULL REFERENCES items (id),
        annotator TEXT NOT NULL,
        source TEXT NOT NULL,             -- labelstudio | coco | csv | folder | api | webhook
        source_key TEXT,                  -- the tool's own id of this annotation, if any
        fingerprint TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX annotations_item ON annotations (item_id, id);
    CREATE UNIQUE INDEX annotations_source_key ON annotations (source, source_key)
        WHERE source_key IS NOT NULL;
    CREATE TABLE labels (
        annotation_id INTEGER NOT NULL REFERENCES annotations (id),
        class_id INTEGER NOT NULL REFERENCES classes (id),
        x0 REAL, y0 REAL, x1 REAL, y1 REAL     -- NULL for a classification label
    );
    CREATE INDEX labels_annotation ON labels (annotation_id);
    CREATE TABLE rounds (
        id INTEGER PRIMARY KEY,           -- the round number, from 1
        strategy TEXT NOT NULL,
        params TEXT NOT NULL,             -- JSON
        seed INTEGER,
        budget INTEGER NOT NULL,
        model_version TEXT,
        predictions TEXT NOT NULL,        -- the predictions file as given
        predictions_sha256 TEXT NOT NULL,
        n_candidates INTEGER NOT NULL,
        request TEXT NOT NULL UNIQUE,     -- fingerprint of everything above: re-runs find it
        started_at TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE scores (
        round_id INTEGER NOT NULL REFERENCES rounds (id),
        item_id INTEGER NOT NULL REFERENCES items (id),
        score REAL NOT NULL,
        PRIMARY KEY (round_id, item_id)
    ) WITHOUT ROWID;
    CREATE TABLE selections (
        round_id INTEGER NOT NULL REFERENCES rounds (id),
        rank INTEGER NOT NULL,            -- 1 = label first
        item_id INTEGER NOT NULL UNIQUE REFERENCES items (id),  -- never selected twice
        score REAL NOT NULL,
        prediction TEXT,                  -- JSON pre-annotation: the model's own labels
        PRIMARY KEY (round_id, rank)
    );
    CREATE TABLE leases (
        item_id INTEGER PRIMARY KEY REFERENCES items (id),
        annotator TEXT NOT NULL,
        leased_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    """,
    # 2: images the prediction service flagged for annotation
    """
    CREATE TABLE queue (
        item_id INTEGER PRIMARY KEY REFERENCES items (id),
        metric TEXT NOT NULL,
        value REAL NOT NULL,
        model_version TEXT NOT NULL,
        flagged_at TEXT NOT NULL
    );
    """,
    # 3: per-request work independent of the pool size. `open` marks a selected or queued
    # image not labeled yet (cleared when its first label arrives), so `next` and the queue
    # walk an index of open work instead of skipping labeled images one by one.
    """
    ALTER TABLE selections ADD COLUMN open INTEGER NOT NULL DEFAULT 1;
    UPDATE selections SET open = 0
        WHERE EXISTS (SELECT 1 FROM annotations a WHERE a.item_id = selections.item_id);
    CREATE INDEX selections_open ON selections (round_id, rank) WHERE open = 1;
    ALTER TABLE queue ADD COLUMN open INTEGER NOT NULL DEFAULT 1;
    UPDATE queue SET open = 0
        WHERE EXISTS (SELECT 1 FROM annotations a WHERE a.item_id = queue.item_id);
    CREATE INDEX queue_flagged ON queue (flagged_at, item_id);
    CREATE INDEX queue_open ON queue (flagged_at, item_id) WHERE open = 1;
    CREATE INDEX leases_expiry ON leases (expires_at);
    CREATE INDEX leases_annotator ON leases (annotator);
    """,
    # 4: semantic segmentation: an index mask per annotation, the pixels of each class, and the
    # regions a region round asks to label.
    """
    ALTER TABLE labels ADD COLUMN pixels INTEGER;  -- segmentation: the class's pixels in the mask
    CREATE TABLE masks (
        annotation_id INTEGER PRIMARY KEY REFERENCES annotations (id),
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        png BLOB NOT NULL,                -- 8-bit index mask: class index, 255 = not labeled
        complete INTEGER NOT NULL         -- 1 when every pixel is labeled
    );
    CREATE TABLE selection_regions (
        round_id INTEGER NOT NULL REFERENCES rounds (id),
        item_id INTEGER NOT NULL REFERENCES items (id),
        regions BLOB NOT NULL,            -- 16-bit PNG: the image's region map
        chosen TEXT NOT NULL,             -- JSON: [{region, class, score, cost}], best first
        PRIMARY KEY (round_id, item_id)
    );
    """,
    # 5: the Label Studio project a project is pushed to (meta labelstudio_*), and each image's
    # task there, so a push never imports an image twice and pages can link to its task.
    """
    CREATE TABLE labelstudio_tasks (
        item_id INTEGER PRIMARY KEY REFERENCES items (id),
        task_id INTEGER NOT NULL
    );
    """,
    # 6: labels a review found likely wrong (review-labels: AUM or confident learning), to send
    # back for relabeling; a new review list replaces the old one.
    """
    CREATE TABLE suspects (
        item_id INTEGER PRIMARY KEY REFERENCES items (id),
        method TEXT NOT NULL,             -- aum | confident
        rank INTEGER NOT NULL,            -- 1 = most suspect
        score REAL NOT NULL,              -- AUM or self-confidence: lower = more suspect
        suggested TEXT,                   -- the class the model prefers (confident learning)
        flagged_at TEXT NOT NULL          -- ISO 8601, UTC
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Bring the ledger to SCHEMA_VERSION, each step in its own transaction.

    A step that fails rolls back whole, leaving the ledger at the last version it reached.
    """
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise InputError(
            f"ledger {path!r} has schema version {version}, newer than this activecv knows "
            f"({SCHEMA_VERSION}). Upgrade activecv: pip install -U activecv"
        )
    for step in range(version, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while this one waited for the lock.
            if conn.execute("PRAGMA user_version").fetchone()[0] == step:
                for statement in _statements(MIGRATIONS[step]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {step + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def _statements(script: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit on its own)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements

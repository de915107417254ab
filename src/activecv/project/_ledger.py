"""The ledger file: opening it, one SQLite connection per thread, transactions, migrations.

Every write is one ``BEGIN IMMEDIATE`` transaction, so a process killed at any point leaves
the ledger as it was before the operation or after it, never between; WAL with
``synchronous=FULL`` keeps a committed transaction through a crash.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from activecv.project._records import ProjectError
from activecv.project._schema import migrate

LEDGER = "ledger.sqlite"
BATCH = 5000  # keys per IN (...) list: well under SQLite's 32766 variables
T = TypeVar("T")


class Ledger:
    """An open ledger: each thread that uses it gets its own connection (SQLite connections
    must not be shared across threads), all closed by :meth:`close`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            migrate(self.conn, str(path))
            self.meta: dict[str, str] = dict(self.conn.execute("SELECT key, value FROM meta"))
        except sqlite3.DatabaseError as exc:
            self.close()
            if is_damage(exc):
                raise damaged(path, exc) from None
            raise
        except BaseException:
            self.close()
            raise

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.DatabaseError as exc:
            raise damaged(self.path, exc) if is_damage(exc) else exc from None

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction on this thread's connection: committed whole or rolled back."""
        try:
            with transaction(self.conn) as conn:
                yield conn
        except sqlite3.DatabaseError as exc:
            if is_damage(exc):
                raise damaged(self.path, exc) from None
            raise

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


def is_damage(exc: sqlite3.DatabaseError) -> bool:
    """Whether SQLite found the file corrupt or not a database (not a locked or bad query)."""
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def damaged(path: Path, exc: sqlite3.DatabaseError) -> ProjectError:
    return ProjectError(
        f"ledger {str(path)!r} cannot be read as an activecv ledger (sqlite: {exc}); the file is "
        "damaged or not a ledger. Restore it from a backup, or create a new project with: "
        "activecv project init"
    )


def connect(path: Path) -> sqlite3.Connection:
    # check_same_thread=False only so that close() can run from any thread; each thread
    # otherwise uses the connection it opened.
    conn = sqlite3.connect(path, isolation_level=None, timeout=60.0, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def batches(values: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    """``values`` in slices of at most ``size``, for IN (...) lists of bound parameters."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def marks(n: int) -> str:
    """``?, ?, ...``: ``n`` parameter marks for an IN list."""
    return ",".join("?" * n)

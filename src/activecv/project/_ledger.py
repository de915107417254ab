"""The ledger file: opening it, one SQLite connection per thread, transactions, migrations.

Every write is one ``BEGIN IMMEDIATE`` transaction, so a process killed at any point leaves
the ledger as it was before the operation or after it, never between; WAL with
``synchronous=FULL`` keeps a committed transaction through a crash.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
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
    must not be shared across threads); the connections of threads that ended are closed when
    a new one opens, and all by :meth:`close`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._connections: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._lock = threading.Lock()
        try:
            self._guarded(migrate, self.conn, str(path))
            self.meta: dict[str, str] = dict(self.execute("SELECT key, value FROM meta"))
        except BaseException:
            self.close()
            raise

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._guarded(connect, self.path)
            self._local.conn = conn
            with self._lock:  # a worker pool ends idle threads: their connections go with them
                for thread, old in self._connections:
                    if not thread.is_alive():
                        old.close()
                self._connections = [(t, c) for t, c in self._connections if t.is_alive()]
                self._connections.append((threading.current_thread(), conn))
        return conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """Rows of one statement, read lazily; damage found while reading them is reported."""
        return Rows(self, self._guarded(self.conn.execute, sql, params))

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction on this thread's connection: committed whole or rolled back."""
        with self._errors(), transaction(self.conn, "BEGIN IMMEDIATE") as conn:
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads that see one state of the ledger, however many statements they take."""
        with self._errors(), transaction(self.conn, "BEGIN"):
            yield

    def _guarded(self, call: Callable[..., T], *args: Any) -> T:
        with self._errors():
            return call(*args)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite's failures on what the caller gave, or on a damaged file, as ProjectErrors."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if is_damage(exc):
                raise damaged(self.path, exc) from None
            raise
        except OverflowError:
            raise ProjectError("a number is too large for the ledger (integers have 64 bits).") from None
        except UnicodeEncodeError as exc:
            raise ProjectError(
                f"text {exc.object[:80]!r} is not valid Unicode ({exc.reason}); the ledger holds UTF-8 text."
            ) from None

    def close(self) -> None:
        with self._lock:
            for _, conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


class Rows:
    """A cursor's rows, iterated under the ledger's error checks."""

    def __init__(self, ledger: Ledger, cursor: sqlite3.Cursor) -> None:
        self._ledger, self._cursor = ledger, cursor

    def __iter__(self) -> Iterator[Any]:
        with self._ledger._errors():
            yield from self._cursor

    def fetchone(self) -> Any:
        return self._ledger._guarded(self._cursor.fetchone)

    def fetchall(self) -> list[Any]:
        return self._ledger._guarded(self._cursor.fetchall)


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
def transaction(conn: sqlite3.Connection, begin: str = "BEGIN IMMEDIATE") -> Iterator[sqlite3.Connection]:
    """``begin`` ... COMMIT; on any failure, COMMIT's own included, a rollback if SQLite has not
    already rolled back, so the connection is never left inside a transaction."""
    conn.execute(begin)
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def check_same_project(
    conn: sqlite3.Connection, directory: Path, task: str, classes: list[str], root: Path
) -> None:
    """Refuses an init into a ledger that holds another project."""
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    known = [name for (name,) in conn.execute("SELECT name FROM classes ORDER BY id")]
    if task != meta["task"] or classes != known or str(root) != meta["root"]:
        raise ProjectError(
            f"{str(directory)!r} already holds a project with task {meta['task']!r}, classes "
            f"{known} and images root {meta['root']!r}; got task {task!r}, classes "
            f"{classes} and root {str(root)!r}."
        )


def batches(values: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    """``values`` in slices of at most ``size``, for IN (...) lists of bound parameters."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def marks(n: int) -> str:
    """``?, ?, ...``: ``n`` parameter marks for an IN list."""
    return ",".join("?" * n)

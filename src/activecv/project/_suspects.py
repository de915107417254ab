"""Labels a review found likely wrong (schema v6), ranked, to send back for relabeling."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from activecv.project._ledger import Ledger


@dataclass(frozen=True)
class Suspect:
    """One flagged label: the item, how it was found, its rank (1 = most suspect) and score
    (AUM or self-confidence: lower = more suspect), and the class the model prefers."""

    item_id: int
    method: str
    rank: int
    score: float
    suggested: str | None
    flagged_at: str


def replace(ledger: Ledger, rows: Sequence[tuple[int, str, int, float, str | None]]) -> None:
    """The review list becomes ``rows`` (item id, method, rank, score, suggested), in one
    transaction: a new review supersedes the previous one."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with ledger.write() as conn:
        conn.execute("DELETE FROM suspects")
        conn.executemany("INSERT INTO suspects VALUES (?, ?, ?, ?, ?, ?)", [(*row, now) for row in rows])


def suspects(ledger: Ledger) -> list[Suspect]:
    """The review list, most suspect first."""
    rows = ledger.execute(
        "SELECT item_id, method, rank, score, suggested, flagged_at FROM suspects ORDER BY rank"
    )
    return [Suspect(*row) for row in rows]

"""The ledger's record of the Label Studio project a project is pushed to, and of each image's
task there (schema v5)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from activecv.project._ledger import Ledger, batches, marks

KEYS = ("labelstudio_url", "labelstudio_project", "labelstudio_document_root")


@dataclass(frozen=True)
class LabelStudioLink:
    """Where a project's tasks live: the server, its project id, and the local-files document
    root its image URLs are relative to (None when images are served by URL)."""

    url: str
    project: int
    document_root: Path | None

    def task_url(self, task_id: int) -> str:
        """The page of one task in Label Studio."""
        return f"{self.url}/projects/{self.project}/data?task={task_id}"


def link(ledger: Ledger) -> LabelStudioLink | None:
    meta = dict(ledger.execute(f"SELECT key, value FROM meta WHERE key IN ({marks(len(KEYS))})", KEYS))
    if "labelstudio_url" not in meta:
        return None
    root = meta.get("labelstudio_document_root")
    return LabelStudioLink(
        meta["labelstudio_url"], int(meta["labelstudio_project"]), Path(root) if root else None
    )


def record(ledger: Ledger, new: LabelStudioLink, tasks: Mapping[int, int]) -> None:
    """Point the project at ``new`` and record item -> task ids, in one transaction; a link to
    another Label Studio project forgets the tasks of the old one."""
    old = link(ledger)
    values = (new.url, str(new.project), "" if new.document_root is None else str(new.document_root))
    with ledger.write() as conn:
        if old is None or (old.url, old.project) != (new.url, new.project):
            conn.execute("DELETE FROM labelstudio_tasks")
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", zip(KEYS, values, strict=True))
        conn.executemany("INSERT OR REPLACE INTO labelstudio_tasks VALUES (?, ?)", tasks.items())


def task_ids(ledger: Ledger, item_ids: Sequence[int]) -> dict[int, int]:
    """The Label Studio task of each of ``item_ids`` that has one."""
    found: dict[int, int] = {}
    for batch in batches(sorted(set(item_ids))):
        found.update(
            ledger.execute(
                f"SELECT item_id, task_id FROM labelstudio_tasks WHERE item_id IN ({marks(len(batch))})",
                batch,
            )
        )
    return found

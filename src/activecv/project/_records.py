"""What the ledger hands back: typed rows and reports, and the error of a refused operation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from activecv._errors import InputError
from activecv.io import Label


class ProjectError(InputError):
    """A project operation that cannot be done as asked; the ledger is unchanged."""


@dataclass(frozen=True)
class Row:
    """Base of the ledger's rows: ``as_dict()`` gives them as JSON-ready dicts."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Item(Row):
    """One image of the pool."""

    id: int
    path: str  # POSIX path relative to the images root, or a URI
    sha256: str | None
    width: int | None
    height: int | None
    labeled: bool


@dataclass(frozen=True)
class SelectedItem(Row):
    """One image of a round's selection, with the model's pre-annotation."""

    round: int
    rank: int  # 1 = label first
    id: int
    path: str
    score: float
    prediction: dict[str, Any] | None  # {"class": name, "score": p} or {"boxes": [...]}
    width: int | None
    height: int | None


@dataclass(frozen=True)
class QueuedItem(Row):
    """One image the prediction service flagged for annotation."""

    id: int
    path: str
    sha256: str | None
    width: int | None
    height: int | None
    metric: str
    value: float
    model_version: str
    flagged_at: str


@dataclass(frozen=True)
class Lease(Row):
    """One image handed to an annotator, theirs until ``expires_at`` (ISO 8601, UTC)."""

    id: int
    path: str
    expires_at: str


@dataclass(frozen=True)
class RoundRecord(Row):
    """Everything a round was made from. A round budgeted in annotation cost has ``cost``:
    ``{"budget", "spent", and "column" or "seconds_per_box" and "seconds_per_image"}``, and
    ``budget`` is then the number of images it bought."""

    number: int
    strategy: str
    params: dict[str, Any]
    seed: int | None
    budget: int
    model_version: str | None
    predictions: str
    predictions_sha256: str
    n_candidates: int
    started_at: str
    created_at: str
    cost: dict[str, Any] | None = None


@dataclass(frozen=True)
class HistoryEntry(Row):
    """One annotation of an image: who, from where, when, and its labels."""

    annotator: str
    source: str
    created_at: str
    labels: list[Label]


@dataclass(frozen=True)
class RoundProgress(Row):
    round: int
    strategy: str
    selected: int
    labeled: int


@dataclass(frozen=True)
class ProjectStatus(Row):
    """Counts of a project: items, labeled, per round, class balance, pending leases."""

    project_id: str
    task: str
    items: int
    labeled: int
    unlabeled: int
    rounds: list[RoundProgress]
    class_balance: dict[str, int]  # images per class (classification) or boxes (detection)
    leases: dict[str, int]  # unexpired leases per annotator


@dataclass(frozen=True)
class RegisterReport(Row):
    """What registering images did: new items, ones already there, files whose content changed
    since they were registered (left as they were), groups of paths with the same content,
    and entries that named a file already listed (a repeated entry, or a link inside the root)."""

    added: int
    existing: int
    changed: list[str] = field(default_factory=list)
    duplicates: list[list[str]] = field(default_factory=list)
    repeated: int = 0


@dataclass(frozen=True)
class ImportReport(Row):
    """What an import did: items labeled for the first time, items relabeled (the earlier
    label kept as history), annotations already in the ledger, and annotations the file
    carried without a label (skipped or cancelled)."""

    added: int
    relabeled: int
    unchanged: int
    skipped: int

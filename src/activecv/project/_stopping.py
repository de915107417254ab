"""When to stop annotating a project: do successive rounds' models still disagree?

Each round records its predictions file (path and SHA-256). The stop set is a seeded subset
(seeded by the project id) of up to ``STOP_SET`` items present in every usable file; each
file's arg-max class of those items is compared with the previous usable round's by Cohen's
kappa (activecv._stopping). A missing file, or one whose content changed since its round, is
reported and left out, never fatal; so are files without class probabilities (detections,
segmentation maps).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from activecv._errors import ActiveCVError
from activecv._files import file_sha256
from activecv._stopping import STOP_THRESHOLD, STOP_WINDOW, cohen_kappa, stabilised_at, stop_set
from activecv.io import PredictionsFile
from activecv.project._records import RoundRecord

STOP_SET = 2000
CLASS_PROBS = ("probs", "logits", "mc_probs", "mc_log_probs")


@dataclass(frozen=True)
class RoundAgreement:
    """One round's part in the signal: ``status`` "ok" (then ``kappa`` with the previous usable
    round, None for the first), "missing", "changed" or "no class probabilities"."""

    round: int
    predictions: str
    status: str
    kappa: float | None = None


@dataclass(frozen=True)
class StoppingSignal:
    """Stabilising predictions over a project's rounds; ``stable_since`` is the round at which
    the mean kappa of the last ``window`` usable pairs reached ``threshold`` (None: not yet)."""

    rounds: list[RoundAgreement]
    stop_set: int
    threshold: float
    window: int
    stable_since: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _usable(record: RoundRecord, directory: Path) -> tuple[str, PredictionsFile | None]:
    path = Path(record.predictions)
    if not path.is_absolute() and not path.is_file():
        path = directory / path
    if not path.is_file():
        return "missing", None
    if file_sha256(path) != record.predictions_sha256:
        return "changed", None
    if path.suffix.lower() not in (".npz", ".parquet"):
        return "no class probabilities", None
    try:
        file = PredictionsFile(path)
    except ActiveCVError:
        return "no class probabilities", None
    if not any(name in file.names for name in CLASS_PROBS) or "ids" not in file.names:
        return "no class probabilities", None
    return "ok", file


def stopping_signal(
    records: list[RoundRecord],
    project_id: str,
    directory: Path,
    threshold: float = STOP_THRESHOLD,
    window: int = STOP_WINDOW,
    size: int = STOP_SET,
) -> StoppingSignal:
    """The stabilising-predictions signal over ``records`` (oldest first)."""
    checked = [(r, *_usable(r, directory)) for r in records]
    files = {r.number: f for r, _, f in checked if f is not None}
    ids = {n: [str(i) for i in f.ids().tolist()] for n, f in files.items()}
    common = sorted(set.intersection(*(set(v) for v in ids.values()))) if ids else []
    seed = int(hashlib.sha256(project_id.encode()).hexdigest()[:16], 16)
    chosen = [common[i] for i in stop_set(len(common), size, seed)] if common else []
    kappas: dict[int, float | None] = {}
    previous: np.ndarray | None = None
    for number, file in files.items():
        where = {key: row for row, key in enumerate(ids[number])}
        probs = file.class_probs(np.array([where[key] for key in chosen], dtype=np.int64))
        labels = None if probs is None or not chosen else np.argmax(probs, axis=1)
        kappas[number] = None if labels is None or previous is None else cohen_kappa(previous, labels)
        previous = labels
    order = list(kappas)
    stable = stabilised_at([kappas[n] for n in order], threshold, window) if order else None
    return StoppingSignal(
        [RoundAgreement(r.number, r.predictions, status, kappas.get(r.number)) for r, status, _ in checked],
        len(chosen),
        threshold,
        window,
        None if stable is None else order[stable],
    )

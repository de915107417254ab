"""The review list as CSV: written by ``review-labels``, read back into a project's ledger."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from activecv._errors import InputError
from activecv.review._confident import LabelIssues

CONFIDENT_COLUMNS = ["rank", "id", "label", "suggested", "self_confidence", "normalized_margin"]


def write_label_issues_csv(
    path: str | Path,
    ids: Sequence[Any],
    class_names: Sequence[str],
    labels: Any,
    issues: LabelIssues,
    probs: Any,
) -> int:
    """Write the flagged items, most suspect first, as ``rank,id,label,suggested,self_confidence,
    normalized_margin`` rows (the first three as in the AUM list); returns the rows written."""
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CONFIDENT_COLUMNS)
        for rank, i in enumerate(issues.indices.tolist(), 1):
            others = np.delete(p[i], y[i])
            margin = (p[i, y[i]] - others.max() + 1.0) / 2.0
            writer.writerow(
                [
                    rank,
                    ids[i],
                    class_names[y[i]],
                    class_names[issues.suggested[i]],
                    repr(float(issues.self_confidence[i])),
                    repr(float(margin)),
                ]
            )
    return int(issues.indices.shape[0])


def read_review_csv(path: str | Path) -> list[tuple[int | str, str, int, float, str | None]]:
    """``review-labels``' CSV (AUM or confident learning) as (id, method, rank, score, suggested)
    rows in rank order; an id of digits only is read as an item id, any other as a path."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        if columns[:3] != ["rank", "id", "label"] or not {"aum", "self_confidence"} & set(columns):
            raise InputError(
                f"review file {str(path)!r} must have the columns rank,id,label then aum (AUM) or "
                f"suggested,self_confidence (confident learning); got {','.join(columns) or 'nothing'}. "
                "Write it with: activecv review-labels --out"
            )
        method, column = ("aum", "aum") if "aum" in columns else ("confident", "self_confidence")
        rows: list[tuple[int | str, str, int, float, str | None]] = []
        for row in reader:
            key: int | str = int(row["id"]) if row["id"].isdigit() else row["id"]
            rows.append((key, method, int(row["rank"]), float(row[column]), row.get("suggested")))
    return sorted(rows, key=lambda r: r[2])

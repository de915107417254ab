"""Rounds: selecting the next images from a predictions file and recording everything the
selection was made from, in one transaction."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import math
import numbers
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import activecv
from activecv._errors import PoolExhaustedError
from activecv._files import file_sha256
from activecv.io import PredictionsFile, load_coco_detections, read_strategy_inputs
from activecv.project import _labels as labels
from activecv.project import _masks as masks
from activecv.project import _pool as pool
from activecv.project import _region_rounds as region_rounds
from activecv.project._ledger import Ledger
from activecv.project._records import ProjectError, RoundProgress, RoundRecord, SelectedItem
from activecv.strategies import ScoreStrategy, Strategy, get_strategy
from activecv.types import Detections, Selection

COST_KEY = "annotation_cost"  # where a cost round's budget and spending sit in the params JSON


@dataclass(frozen=True)
class CostBudget:
    """A round's budget in annotation cost instead of images: ``budget`` to spend (seconds, say),
    each image's cost read from the predictions file's ``column``, or, on COCO detection
    results, ``seconds_per_box`` x its predicted boxes + ``seconds_per_image``."""

    budget: float
    column: str | None = None
    seconds_per_box: float | None = None
    seconds_per_image: float | None = None

    def recorded(self, spent: float) -> dict[str, Any]:
        """What the round's record keeps: the budget, what was spent, where costs came from."""
        source = {k: v for k, v in dataclasses.asdict(self).items() if k != "budget" and v is not None}
        return {"budget": self.budget, "spent": spent, **source}


@dataclass(frozen=True)
class RoundRequest:
    """Everything a round is made from; two equal requests make one round."""

    predictions: Path
    strategy: Strategy
    params: dict[str, Any]
    budget: int | None  # images; None when ``cost`` budgets the round
    candidates: int | None
    seed: int
    model_version: str | None
    background_index: int | None
    cost: CostBudget | None = None

    def fingerprint(self, digest: str) -> str:
        fields: list[Any] = [
            self.strategy.name,
            self.params,
            self.seed,
            self.budget,
            self.candidates,
            self.model_version,
            self.background_index,
            digest,
        ]
        if self.cost is not None:  # appended, so an image round's fingerprint is what it always was
            fields.append(dataclasses.asdict(self.cost))
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class PlannedRound:
    """What a round will write: selected item ids best first, their scores and pre-annotations,
    every score computed (by item id), and how many items were candidates."""

    item_ids: list[int]
    scores: list[float]
    predictions: list[dict[str, Any] | None]
    all_scores: dict[int, float]
    n_candidates: int
    cost_spent: float | None = None


def _amount(value: object, name: str, positive: bool) -> float:
    """``value`` as a finite float, > 0 (``positive``) or >= 0."""
    amount = math.nan if isinstance(value, bool) or not isinstance(value, numbers.Real) else float(value)
    if not math.isfinite(amount) or (amount <= 0 if positive else amount < 0):
        raise ProjectError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}; got {value!r}.")
    return amount


def cost_budget_of(
    path: Path,
    cost_budget: float | None,
    costs_column: str | None,
    seconds_per_box: float | None,
    seconds_per_image: float | None,
    candidates: int | None,
) -> CostBudget | None:
    """The checked cost budget of a round (None: a budget in images): costs from a column of a
    predictions file, or from the predicted boxes of COCO results."""
    sources = {"costs_column": costs_column, "seconds_per_box": seconds_per_box}
    sources["seconds_per_image"] = seconds_per_image
    if cost_budget is None:
        given = [k for k, v in sources.items() if v is not None]
        if given:
            raise ProjectError(f"{' and '.join(given)} apply with cost_budget; pass cost_budget too.")
        return None
    budget = _amount(cost_budget, "cost_budget", positive=True)
    if candidates is not None:
        raise ProjectError(
            f"cost_budget spends over the whole unlabeled pool; drop candidates (got {candidates!r})."
        )
    if path.suffix.lower() == ".json":
        if costs_column is not None:
            raise ProjectError(
                f"costs_column reads a predictions file (.npz/.parquet); on COCO results {str(path)!r} "
                "pass seconds_per_box (and seconds_per_image) instead."
            )
        if seconds_per_box is None:
            raise ProjectError(
                f"cost_budget on COCO results {str(path)!r} needs seconds_per_box: an image costs "
                "seconds_per_image + seconds_per_box x its predicted boxes."
            )
        per_box = _amount(seconds_per_box, "seconds_per_box", positive=False)
        per_image = _amount(seconds_per_image or 0.0, "seconds_per_image", positive=False)
        return CostBudget(budget, seconds_per_box=per_box, seconds_per_image=per_image)
    if seconds_per_box is not None or seconds_per_image is not None:
        raise ProjectError(
            f"seconds_per_box and seconds_per_image price COCO detection results (.json); "
            f"{str(path)!r} is a predictions file: pass costs_column, its column of per-image costs."
        )
    if not isinstance(costs_column, str) or not costs_column:
        raise ProjectError(
            f"cost_budget on predictions file {str(path)!r} needs costs_column, the name of its "
            f"column of per-image costs; got {costs_column!r}."
        )
    return CostBudget(budget, column=costs_column)


def request(
    predictions: str | Path,
    strategy: str,
    budget: int | None,
    params: dict[str, Any] | None,
    candidates: int | None,
    seed: int,
    model_version: str | None,
    background_index: int | None,
    *,
    cost_budget: float | None = None,
    costs_column: str | None = None,
    seconds_per_box: float | None = None,
    seconds_per_image: float | None = None,
) -> RoundRequest:
    """A checked round request (the strategy and its parameters built, the file present), with
    a budget in images or in annotation cost."""
    if (budget is None) == (cost_budget is None):
        raise ProjectError(
            "a round needs budget (images) or cost_budget (annotation cost, e.g. seconds), not both; "
            f"got budget={budget!r} and cost_budget={cost_budget!r}."
        )
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
        raise ProjectError(f"budget must be an integer >= 1; got {budget!r}.")
    path = Path(predictions)
    cost = cost_budget_of(path, cost_budget, costs_column, seconds_per_box, seconds_per_image, candidates)
    if not path.is_file():
        raise ProjectError(f"predictions file {str(path)!r} does not exist.")
    params = dict(params or {})
    return RoundRequest(
        path,
        get_strategy(strategy, **params),
        params,
        budget,
        candidates,
        seed,
        model_version,
        background_index,
        cost,
    )


def make_round(ledger: Ledger, schema: labels.Schema, asked: RoundRequest, progress: bool) -> int:
    """Select and record a round; the same request again returns the round it made."""
    digest = file_sha256(asked.predictions)
    key = asked.fingerprint(digest)
    done = ledger.execute("SELECT id FROM rounds WHERE request = ?", (key,)).fetchone()
    if done:
        return int(done[0])
    started = pool.now()
    plan = _plan(ledger, schema, asked, progress)
    try:
        with ledger.write() as conn:
            done = conn.execute("SELECT id FROM rounds WHERE request = ?", (key,)).fetchone()
            if done:  # another process made this very round while this one computed
                return int(done[0])
            return _record(conn, asked, digest, key, started, plan)
    except sqlite3.IntegrityError:
        raise ProjectError(
            "another round selected some of the same images while this one was computed; "
            "run the round again: it will select among what is left."
        ) from None


def _record(
    conn: sqlite3.Connection, asked: RoundRequest, digest: str, key: str, started: str, plan: PlannedRound
) -> int:
    number = int(conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM rounds").fetchone()[0])
    conn.execute(
        "INSERT INTO rounds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            number,
            asked.strategy.name,
            json.dumps(_recorded_params(asked, plan), sort_keys=True),
            asked.seed,
            len(plan.item_ids) if asked.budget is None else asked.budget,  # a cost round: images bought
            asked.model_version,
            str(asked.predictions),
            digest,
            plan.n_candidates,
            key,
            started,
            pool.now(),
        ),
    )
    conn.executemany(
        "INSERT INTO scores VALUES (?, ?, ?)", [(number, i, s) for i, s in plan.all_scores.items()]
    )
    conn.executemany(
        "INSERT INTO selections (round_id, rank, item_id, score, prediction) VALUES (?, ?, ?, ?, ?)",
        [
            (number, rank, item_id, score, None if p is None else json.dumps(p))
            for rank, (item_id, score, p) in enumerate(
                zip(plan.item_ids, plan.scores, plan.predictions, strict=True), 1
            )
        ],
    )
    # An image labeled while the round was computed is selected, but not open work.
    conn.execute(
        "UPDATE selections SET open = 0 WHERE round_id = ? "
        "AND EXISTS (SELECT 1 FROM annotations a WHERE a.item_id = selections.item_id)",
        (number,),
    )
    return number


def _recorded_params(asked: RoundRequest, plan: PlannedRound) -> dict[str, Any]:
    """The strategy's parameters, and a cost round's budget and spending under COST_KEY (read
    back into ``RoundRecord.cost``): no schema change, and image rounds are recorded as before."""
    if asked.cost is None or plan.cost_spent is None:
        return asked.params
    return {**asked.params, COST_KEY: asked.cost.recorded(plan.cost_spent)}


def _costs(cost: CostBudget, file: PredictionsFile | None, inputs: dict[str, Any], path: Path) -> np.ndarray:
    """Each pool image's annotation cost: the file's column, or boxes x seconds (COCO results)."""
    if file is None:
        per_image = cost.seconds_per_image or 0.0
        return activecv.detection_costs(inputs["detections"], cost.seconds_per_box or 0.0, per_image)
    assert cost.column is not None  # checked by cost_budget_of
    if cost.column not in file.names:
        raise ProjectError(
            f"costs_column {cost.column!r} is not in {str(path)!r}; it holds {', '.join(file.names)}."
        )
    return np.asarray(file.load(cost.column))


def _plan(ledger: Ledger, schema: labels.Schema, asked: RoundRequest, progress: bool) -> PlannedRound:
    """Select among the images neither labeled nor selected in an earlier round."""
    strategy, path = asked.strategy, asked.predictions
    scored = isinstance(strategy, ScoreStrategy)
    file: PredictionsFile | None = None
    if path.suffix.lower() == ".json":
        all_ids = [i for (i,) in ledger.execute("SELECT id FROM items ORDER BY id")]
        found = load_coco_detections(
            path,
            background_index=asked.background_index,
            image_ids=all_ids,
            category_ids=range(1, len(schema.classes) + 1),
        )
        item_ids = np.array(found.image_ids, dtype=np.int64)
        counts = np.array(list(labels.class_balance(ledger, schema.classes).values()))
        inputs: dict[str, Any] = {"detections": found.detections, "labeled_class_counts": counts}
    else:
        # a segmentation project's labeled pixels per class are the ledger's (class_balanced)
        counted = ("labeled_class_counts",) if schema.task == "segmentation" else ()
        stream = scored and asked.candidates is None and asked.cost is None
        read = read_strategy_inputs(path, strategy, stream=stream, supplied=counted)
        file, inputs = read.file, read.inputs
        if counted and "labeled_class_counts" in strategy.inputs_among([*file.names, *counted], ""):
            pixels = labels.class_balance(ledger, schema.classes)
            inputs["labeled_class_counts"] = np.array(list(pixels.values()))
        pool.check_class_columns(file, len(schema.classes))
        item_ids = np.array(pool.item_ids(ledger, read.ids, "ids in the predictions file"), np.int64)
    excluded = np.isin(item_ids, _excluded(ledger))
    if excluded.all():
        raise PoolExhaustedError(
            f"every image in {str(path)!r} is labeled or already selected in an earlier round: "
            "nothing to select."
        )
    if asked.cost is not None:
        costs = _costs(asked.cost, file, inputs, path)
        selection = activecv.select_within_cost(  # a sampled score per second means nothing
            strategy,
            asked.cost.budget,
            costs,
            rng=asked.seed,
            labeled=excluded,
            normalise=not strategy.stochastic,
            **inputs,
        )
        if len(selection) == 0:
            raise ProjectError(
                f"no image fits cost_budget {asked.cost.budget:g}: the cheapest of the "
                f"{int((~excluded).sum())} candidates costs {float(costs[~excluded].min()):g}; "
                "raise cost_budget."
            )
    else:
        assert asked.budget is not None  # request() gives a round one budget: images or cost
        selection = activecv.select(
            strategy,
            asked.budget,
            rng=asked.seed,
            labeled=excluded,
            candidates=asked.candidates,
            progress=progress,
            pool_scores=scored,
            **inputs,
        )
    rows = selection.indices
    predictions: list[dict[str, Any] | None]
    if file is not None and schema.task == "segmentation":
        maps = file.class_maps(rows)
        sizes = [pool.size(ledger, int(item_ids[r])) for r in rows]
        predictions = (
            [None] * len(rows)
            if maps is None
            else [{"mask_png": png_text(masks.at_size(m, size))} for m, size in zip(maps, sizes, strict=True)]
        )
    elif file is not None:
        probs = file.class_probs(rows)
        predictions = (
            [None] * len(rows) if probs is None else [_class_prediction(p, schema.classes) for p in probs]
        )
    else:
        predictions = [_box_prediction(inputs["detections"][i], schema.classes) for i in rows]
    unlabeled = int((~excluded).sum())
    return PlannedRound(
        item_ids[rows].tolist(),
        selection.scores.tolist(),
        predictions,
        _recorded_scores(selection, item_ids),
        unlabeled if asked.candidates is None else min(asked.candidates, unlabeled),
        None if asked.cost is None else float(selection.info["cost_spent"]),
    )


def _excluded(ledger: Ledger) -> np.ndarray:
    """Ids of the images labeled (in part or whole) or selected before, by image or region
    rounds: never candidates again."""
    rows = ledger.execute(
        "SELECT item_id FROM annotations UNION SELECT item_id FROM selections "
        "UNION SELECT item_id FROM selection_regions"
    ).fetchall()
    return np.array([i for (i,) in rows], dtype=np.int64)


def _recorded_scores(selection: Selection, item_ids: np.ndarray) -> dict[int, float]:
    """Every score the strategy computed (score strategies), else the selection's scores."""
    every = selection.info.get("pool_scores")
    if every is None:
        return dict(zip(item_ids[selection.indices].tolist(), selection.scores.tolist(), strict=True))
    scored = np.flatnonzero(~np.isnan(every))
    return dict(zip(item_ids[scored].tolist(), every[scored].tolist(), strict=True))


def png_text(mask: np.ndarray) -> str:
    """A mask as base64 PNG text, for a selection's JSON pre-annotation."""
    return base64.b64encode(masks.to_png(mask)).decode("ascii")


def _class_prediction(probs: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    best = int(np.argmax(probs))
    return {"class": classes[best], "score": float(probs[best])}


def _box_prediction(detections: Detections, classes: Sequence[str]) -> dict[str, Any]:
    labels_ = detections.labels.tolist() if detections.labels is not None else []
    scores = detections.scores.tolist() if detections.scores is not None else [None] * len(labels_)
    return {
        "boxes": [
            {"box": box, "class": classes[label], "score": score}
            for box, label, score in zip(detections.boxes.tolist(), labels_, scores, strict=True)
        ]
    }


def rounds(ledger: Ledger) -> list[RoundRecord]:
    """Every round's record, oldest first."""
    cursor = ledger.execute(
        "SELECT id, strategy, params, seed, budget, model_version, predictions, predictions_sha256, "
        "n_candidates, started_at, created_at FROM rounds ORDER BY id"
    )
    records = []
    for number, strategy, params, *rest in cursor:
        values = json.loads(params)
        cost = values.pop(COST_KEY, None) if isinstance(values, dict) else None
        records.append(dataclasses.replace(RoundRecord(number, strategy, values, *rest), cost=cost))
    return records


def last_round(ledger: Ledger) -> int | None:
    found = ledger.execute("SELECT MAX(id) FROM rounds").fetchone()[0]
    return None if found is None else int(found)


def selection(ledger: Ledger, round_number: int | None) -> list[SelectedItem]:
    """One round's selected items (default: the latest round), best first."""
    if round_number is None:
        round_number = last_round(ledger)
        if round_number is None:
            raise ProjectError(
                "this project has no round yet; create one with: activecv project round DIR ..."
            )
    else:
        round_number = _check_round(ledger, round_number)
    if region_rounds.is_region_round(ledger, round_number):
        return region_rounds.region_selection(ledger, round_number)
    rows = ledger.execute(
        "SELECT s.rank, s.item_id, i.path, s.score, s.prediction, i.width, i.height FROM selections s "
        "JOIN items i ON i.id = s.item_id WHERE s.round_id = ? ORDER BY s.rank",
        (round_number,),
    )
    return [
        SelectedItem(round_number, rank, item_id, path, score, json.loads(p) if p else None, width, height)
        for rank, item_id, path, score, p, width, height in rows
    ]


MAX_PAGE = 1000  # items on one page of a round's selection


def selection_page(ledger: Ledger, round_number: int, after_rank: int, limit: int) -> list[SelectedItem]:
    """The ``limit`` items a round ranked after ``after_rank``, best first: a range of the
    selections' primary key (round, rank), so a page costs the same in a round of any size.
    A region round (its images bounded by its budget of clicks) pages by position."""
    round_number = _check_round(ledger, round_number)
    if isinstance(after_rank, bool) or not isinstance(after_rank, int) or after_rank < 0:
        raise ProjectError(f"after_rank must be an integer >= 0 (0: the first page); got {after_rank!r}.")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise ProjectError(f"limit must be an integer from 1 to {MAX_PAGE}; got {limit!r}.")
    if region_rounds.is_region_round(ledger, round_number):
        return region_rounds.region_selection(ledger, round_number, after_rank, limit)
    rows = ledger.execute(
        "SELECT s.rank, s.item_id, i.path, s.score, s.prediction, i.width, i.height FROM selections s "
        "JOIN items i ON i.id = s.item_id WHERE s.round_id = ? AND s.rank > ? ORDER BY s.rank LIMIT ?",
        (round_number, after_rank, limit),
    )
    return [
        SelectedItem(round_number, rank, item_id, path, score, json.loads(p) if p else None, width, height)
        for rank, item_id, path, score, p, width, height in rows
    ]


def round_balance(ledger: Ledger, round_number: int, classes: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Per class, in one round: what it selected by the model's prediction (images for
    classification, boxes for detection, regions for a region round) and the current labels of
    its images (images, boxes or pixels). Reads the round's rows once: a summary, not a page."""
    round_number = _check_round(ledger, round_number)
    if region_rounds.is_region_round(ledger, round_number):
        predicted = (
            "SELECT json_extract(g.value, '$.class') AS name "
            "FROM selection_regions r, json_each(r.chosen) g WHERE r.round_id = ?"
        )
        images = "SELECT item_id FROM selection_regions WHERE round_id = ?"
    else:
        predicted = (
            "SELECT COALESCE(json_extract(b.value, '$.class'), json_extract(s.prediction, '$.class')) "
            "AS name FROM selections s LEFT JOIN json_each(s.prediction, '$.boxes') b WHERE s.round_id = ?"
        )
        images = "SELECT item_id FROM selections WHERE round_id = ?"
    selected = dict(
        ledger.execute(f"SELECT name, COUNT(*) FROM ({predicted}) GROUP BY name", (round_number,))
    )
    labeled = dict(
        ledger.execute(
            "SELECT c.name, COALESCE(SUM(l.pixels), COUNT(*)) FROM labels l "
            "JOIN classes c ON c.id = l.class_id WHERE l.annotation_id IN "
            "(SELECT (SELECT MAX(a.id) FROM annotations a WHERE a.item_id = x.item_id) "
            f"FROM ({images}) x) GROUP BY c.name",
            (round_number,),
        )
    )
    return {name: (int(selected.get(name, 0)), int(labeled.get(name, 0))) for name in classes}


def scores(ledger: Ledger, round_number: int) -> dict[int, float]:
    """Every score a round recorded, by item id."""
    _check_round(ledger, round_number)
    return dict(ledger.execute("SELECT item_id, score FROM scores WHERE round_id = ?", (round_number,)))


def progress(ledger: Ledger) -> list[RoundProgress]:
    """Per round: how many images it selected and how many of those are labeled."""
    return [
        RoundProgress(number, strategy, selected, selected - still_open)
        for number, strategy, selected, still_open in ledger.execute(
            # A region round's image is still open until an annotation of it comes after the round.
            "SELECT r.id, r.strategy, "
            "(SELECT COUNT(*) FROM selections s WHERE s.round_id = r.id) "
            "+ (SELECT COUNT(*) FROM selection_regions g WHERE g.round_id = r.id), "
            "(SELECT COALESCE(SUM(s.open), 0) FROM selections s WHERE s.round_id = r.id) "
            "+ (SELECT COUNT(*) FROM selection_regions g WHERE g.round_id = r.id AND NOT EXISTS "
            "(SELECT 1 FROM annotations a WHERE a.item_id = g.item_id AND a.created_at >= r.created_at)) "
            "FROM rounds r ORDER BY r.id"
        )
    ]


def _check_round(ledger: Ledger, round_number: object) -> int:
    last = last_round(ledger) or 0
    if isinstance(round_number, bool) or not isinstance(round_number, int) or not 1 <= round_number <= last:
        raise ProjectError(f"round must be a round of this project (1..{last}); got {round_number!r}.")
    return round_number

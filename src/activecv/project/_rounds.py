"""A round's selection from a predictions file: which items, their scores, the model's labels."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import activecv
from activecv._errors import InputError, PoolExhaustedError
from activecv.io import PredictionsFile, load_coco_detections
from activecv.strategies import ScoreStrategy, Strategy
from activecv.types import Detections


@dataclass(frozen=True)
class PlannedRound:
    """What a round will write: selected item ids best first, their scores and pre-annotations,
    every score computed (by item id), and how many items were candidates."""

    item_ids: list[int]
    scores: list[float]
    predictions: list[dict[str, Any] | None]
    all_scores: dict[int, float]
    n_candidates: int


def plan_round(
    path: Path,
    strategy: Strategy,
    budget: int,
    *,
    item_ids_of: Callable[[Sequence[Any], str], list[int]],
    excluded: set[int],
    classes: Sequence[str],
    detection_pool: Callable[[], tuple[list[int], np.ndarray]],
    candidates: int | None,
    seed: int,
    background_index: int | None,
    progress: bool,
) -> PlannedRound:
    """Select ``budget`` items among those not labeled and not selected before (``excluded``).

    ``detection_pool`` gives, for detection, every item id and the labeled boxes per class.
    """
    if path.suffix.lower() == ".json":
        all_item_ids, counts = detection_pool()
        images = {
            "images": [{"id": i} for i in all_item_ids],
            "categories": [{"id": k, "name": name} for k, name in enumerate(classes, 1)],
        }
        pool = load_coco_detections(path, images=images, background_index=background_index)
        item_ids = list(pool.image_ids)
        inputs: dict[str, Any] = {"detections": pool.detections, "labeled_class_counts": counts}
    else:
        file = PredictionsFile(path)
        if "ids" not in file.names:
            raise InputError(
                f"predictions file {str(path)!r} must hold 'ids' naming each image; it holds {file.names}."
            )
        item_ids = item_ids_of(file.load("ids").tolist(), "ids in the predictions file")
        inputs = {name: file.load(name) for name in file.inputs_for(strategy)}
        for name, array in inputs.items():
            if array.shape[0] != len(item_ids):
                raise InputError(
                    f"{name!r} has {array.shape[0]} rows but 'ids' has {len(item_ids)}; one id per row."
                )
        probs = _class_probs(file, len(classes))
    if len(set(item_ids)) != len(item_ids):
        raise InputError(
            f"the predictions in {str(path)!r} name some image more than once; one row per image."
        )
    mask = np.array([i in excluded for i in item_ids], dtype=bool)
    if mask.all():
        raise PoolExhaustedError(
            f"every image in {str(path)!r} is labeled or already selected in an earlier round: "
            "nothing to select."
        )
    selection = activecv.select(
        strategy, budget, rng=seed, labeled=mask, candidates=candidates, progress=progress, **inputs
    )
    rows = selection.indices.tolist()
    if isinstance(strategy, ScoreStrategy) and candidates is None:
        values = activecv.score(strategy, **{k: v for k, v in inputs.items() if k != "labeled_class_counts"})
        all_scores = {item_ids[i]: float(values[i]) for i in np.flatnonzero(~mask)}
    else:
        all_scores = {item_ids[i]: float(s) for i, s in zip(rows, selection.scores.tolist(), strict=True)}
    predictions: list[dict[str, Any] | None]
    if "detections" in inputs:
        predictions = [_box_prediction(inputs["detections"][i], classes) for i in rows]
    else:
        predictions = [None if probs is None else _class_prediction(probs[i], classes) for i in rows]
    n_candidates = int((~mask).sum()) if candidates is None else min(candidates, int((~mask).sum()))
    return PlannedRound(
        [item_ids[i] for i in rows], selection.scores.tolist(), predictions, all_scores, n_candidates
    )


def _class_probs(file: PredictionsFile, n_classes: int) -> np.ndarray | None:
    """Class probabilities from probs, logits or mean MC samples, for the pre-annotations."""
    if "probs" in file.names:
        probs = file.load("probs")
    elif "logits" in file.names:
        logits = file.load("logits")
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
    elif "mc_probs" in file.names:
        probs = file.load("mc_probs").mean(axis=1)
    else:
        return None
    if probs.ndim != 2 or probs.shape[1] != n_classes:
        raise InputError(
            f"the predictions have class probabilities of shape {probs.shape}, but the project has "
            f"{n_classes} classes; columns must follow the project's classes, in order."
        )
    return probs


def _class_prediction(probs: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    best = int(np.argmax(probs))
    return {"class": classes[best], "score": float(probs[best])}


def _box_prediction(detections: Detections, classes: Sequence[str]) -> dict[str, Any]:
    labels = detections.labels.tolist() if detections.labels is not None else []
    scores = detections.scores.tolist() if detections.scores is not None else [None] * len(labels)
    return {
        "boxes": [
            {"box": box, "class": classes[label], "score": score}
            for box, label, score in zip(detections.boxes.tolist(), labels, scores, strict=True)
        ]
    }

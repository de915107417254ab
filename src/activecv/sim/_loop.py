"""One (strategy, seed) run of the pool-based loop: train, evaluate, select, repeat."""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import numpy as np

from activecv._errors import InputError
from activecv._stopping import cohen_kappa, stop_set
from activecv.io import UNLABELED
from activecv.sim._config import BASELINE, MI_AOD_DETECTOR, REGIONS, SimulationConfig
from activecv.sim._data import SimulationData
from activecv.strategies import (
    detection_costs,
    draw_candidates,
    get_strategy,
    score,
    select,
    select_within_cost,
    take_within_budget,
)
from activecv.types import Detections


def initial_set(labels: np.ndarray, size: int, mode: str, seed: int) -> np.ndarray:
    """Sorted positions of the initial labeled set; depends on the seed only, never on the strategy.

    "balanced" takes ``size // C`` items per class (the remainder from random classes).
    """
    rng = np.random.default_rng([seed, 0])
    if mode == "random":
        return np.sort(rng.choice(labels.shape[0], size, replace=False))
    classes = np.unique(labels)
    per_class = np.full(classes.shape[0], size // classes.shape[0])
    per_class[rng.choice(classes.shape[0], size % classes.shape[0], replace=False)] += 1
    chosen = []
    for c, count in zip(classes, per_class, strict=True):
        members = np.flatnonzero(labels == c)
        if members.shape[0] < count:
            raise InputError(
                f"a class-balanced initial set needs {count} items of class {c}; it has {members.shape[0]}."
            )
        chosen.append(rng.choice(members, count, replace=False))
    return np.sort(np.concatenate(chosen))


def _epochs(config: SimulationConfig, n_labeled: int) -> int:
    if config.epochs is not None:
        return config.epochs
    return max(1, math.ceil(config.train_steps * config.batch_size / n_labeled))


class _Classification:
    """Train with ``fit``, measure test accuracy, select from the model with the adapters.

    The loop's protocol: ``start`` with the initial set, ``fit`` on what is labeled, ``measure``,
    ``acquire`` a round's budget; ``spent`` is the x-axis (labeled images here)."""

    def __init__(self, config: SimulationConfig, data: SimulationData, strategy: str) -> None:
        self.config, self.data, self.strategy = config, data, strategy
        self.learning_loss: Any = None
        self.labeled = np.zeros(data.y_pool.shape[0], dtype=bool)

    def start(self, initial: np.ndarray) -> None:
        self.labeled[initial] = True

    def spent(self) -> float:
        return int(self.labeled.sum())

    def annotation_seconds(self) -> float | None:
        """Seconds spent labeling so far: ``seconds_per_image`` an image."""
        return self.config.seconds_per_image * float(self.labeled.sum())

    def exhausted(self) -> bool:
        return bool(self.labeled.all())

    def fit(self, model: Any, seed: int) -> int:
        """Train on the labeled set; returns how many images it holds."""
        index = np.flatnonzero(self.labeled)
        self.train(model, index, seed)
        return int(index.shape[0])

    def acquire(self, model: Any, strategy: Any, rng: np.random.Generator, seed: int) -> None:
        self.labeled[self.select(model, strategy, self.labeled, rng, seed)] = True

    def build(self) -> Any:
        from activecv.adapters.torch import LearningLoss, build_model

        model = build_model(self.config.model, len(self.data.class_names), self.data.input_shape)
        if self.strategy == "learning_loss":  # the module is trained with (and kept with) its model
            layers = self.config.loss_layers or getattr(model, "stage_names", None)
            if not layers:
                raise InputError("learning_loss needs loss_layers: the module names whose outputs it reads.")
            self.learning_loss = LearningLoss(model, layers)
        return model

    def train(self, model: Any, index: np.ndarray, seed: int) -> None:
        from activecv.adapters.torch import fit

        c = self.config
        fit(
            model,
            self.data.x_pool[index],
            self.data.y_pool[index],
            epochs=_epochs(c, index.shape[0]),
            batch_size=c.batch_size,
            optimizer=c.optimizer,
            lr=c.lr,
            momentum=c.momentum,
            weight_decay=c.weight_decay,
            schedule=c.schedule,
            augment=c.augment,
            seed=seed,
            callbacks=[self.learning_loss] if self.learning_loss is not None else [],
        )

    def measure(self, model: Any) -> float:
        from activecv.adapters.torch import predict

        return float((predict(model, self.data.x_test).argmax(axis=1) == self.data.y_test).mean())

    def train_metric(self, model: Any) -> float | None:
        """Accuracy on the labeled set the model was trained on (an under-fit model's
        uncertainty scores are noise)."""
        from activecv.adapters.torch import predict

        index = np.flatnonzero(self.labeled)
        return float(
            (predict(model, self.data.x_pool[index]).argmax(axis=1) == self.data.y_pool[index]).mean()
        )

    def stop_predictions(self, model: Any, positions: np.ndarray) -> np.ndarray | None:
        """The model's labels of the stop set (pool positions), for stabilising predictions."""
        from activecv.adapters.torch import predict

        return np.asarray(predict(model, self.data.x_pool[positions]).argmax(axis=1))

    def picked(self, before: np.ndarray) -> list[int] | None:
        """Per class, how many items the last acquisition labeled."""
        new = self.labeled & ~before
        return np.bincount(self.data.y_pool[new], minlength=len(self.data.class_names)).tolist()

    def select(
        self, model: Any, strategy: Any, labeled: np.ndarray, rng: np.random.Generator, seed: int
    ) -> np.ndarray:
        from activecv.adapters.torch import select

        c = self.config
        return select(
            strategy,
            c.budget,
            model=model,
            data=self.data.x_pool,
            labeled=labeled,
            candidates=c.candidates,
            rng=rng,
            layer=c.embedding_layer,
            k=c.mc_samples,
            seed=seed,
            learning_loss=self.learning_loss,
        ).indices


class _Detection(_Classification):
    """Train the grid detector, measure mAP@0.5, select from its detections on the candidates."""

    def build(self) -> Any:
        from activecv.adapters.torch import GridDetector

        return GridDetector(len(self.data.class_names), self.data.input_shape[0], width=32)

    def train_metric(self, model: Any) -> float | None:
        return None

    def stop_predictions(self, model: Any, positions: np.ndarray) -> np.ndarray | None:
        return None  # boxes have no one label per item to agree on

    def picked(self, before: np.ndarray) -> list[int] | None:
        return None

    def annotation_seconds(self) -> float | None:
        """Seconds spent labeling so far: the labeled scenes' true boxes x ``seconds_per_box``,
        plus ``seconds_per_image`` a scene."""
        assert self.data.boxes_pool is not None
        boxes = sum(len(self.data.boxes_pool[i]) for i in np.flatnonzero(self.labeled))
        return self.config.seconds_per_box * boxes + self.config.seconds_per_image * float(self.labeled.sum())

    def train(self, model: Any, index: np.ndarray, seed: int) -> None:
        from activecv.adapters.torch import train_detector

        assert self.data.boxes_pool is not None and self.data.labels_pool is not None
        c = self.config
        boxes = [self.data.boxes_pool[i] for i in index]
        labels = [self.data.labels_pool[i] for i in index]
        epochs = _epochs(c, index.shape[0])
        train_detector(model, self.data.x_pool[index], boxes, labels, epochs, c.batch_size, c.lr, seed=seed)

    def detect(self, model: Any, images: np.ndarray) -> list[Detections]:
        from activecv.adapters.torch import detect

        return detect(model, images)

    def measure(self, model: Any) -> float:
        from activecv.sim._map import coco_map

        assert self.data.boxes_test is not None and self.data.labels_test is not None
        found = self.detect(model, self.data.x_test)
        return coco_map(found, self.data.boxes_test, self.data.labels_test, len(self.data.class_names))[
            "map50"
        ]

    def select(
        self, model: Any, strategy: Any, labeled: np.ndarray, rng: np.random.Generator, seed: int
    ) -> np.ndarray:
        assert self.data.labels_pool is not None
        unlabeled = np.flatnonzero(~labeled)
        if self.config.candidates is not None:
            unlabeled = draw_candidates(unlabeled, self.config.candidates, rng)
        counts = np.zeros(len(self.data.class_names))
        for i in np.flatnonzero(labeled):
            np.add.at(counts, self.data.labels_pool[i], 1)
        found = self.detect(model, self.data.x_pool[unlabeled])
        if self.config.cost_budget is not None:
            return unlabeled[
                _within_cost(self.config, strategy, found, rng, detections=found, labeled_class_counts=counts)
            ]
        chosen = select(strategy, self.config.budget, detections=found, labeled_class_counts=counts, rng=rng)
        return unlabeled[chosen.indices]


def _within_cost(
    config: SimulationConfig,
    strategy: Any,
    found: list[Detections],
    rng: np.random.Generator,
    **inputs: Any,
) -> np.ndarray:
    """Positions among ``found`` bought with ``cost_budget`` seconds, each scene priced by its
    predicted boxes; ranked by score per second (the strategy's ``inputs``), or (random and
    other sampling strategies, whose scores are draws) in the sampled order, packed while they fit."""
    assert config.cost_budget is not None
    costs = detection_costs(found, config.seconds_per_box, config.seconds_per_image)
    chosen = select_within_cost(
        strategy,
        config.cost_budget,
        costs,
        rng=rng,
        normalise=not strategy.stochastic,
        **inputs,
    )
    return chosen.indices


class _Segmentation(_Classification):
    """Train the FCN on full masks (images chosen whole) and on the dominant label of each
    chosen superpixel (regions), measure mIoU; ``spent`` counts clicks: one per superpixel, an
    image costing all of its own (activecv.select_regions's "dominant" cost model)."""

    def __init__(self, config: SimulationConfig, data: SimulationData, strategy: str) -> None:
        super().__init__(config, data, strategy)
        assert data.regions_pool is not None and data.masks_pool is not None
        self.costs = np.array([np.unique(r).shape[0] for r in data.regions_pool], dtype=np.float64)
        self.regions: dict[int, set[int]] = {}  # image -> superpixels labeled (dominant label)
        self.clicks = 0.0

    def start(self, initial: np.ndarray) -> None:
        super().start(initial)
        self.clicks = float(self.costs[initial].sum())

    def spent(self) -> float:
        return self.clicks

    def annotation_seconds(self) -> float | None:
        return None  # its cost is the clicks of `spent`

    def build(self) -> Any:
        from activecv.adapters.torch import SegmentationFCN

        return SegmentationFCN(len(self.data.class_names), self.data.input_shape[0], width=16, dropout=0.1)

    def train_metric(self, model: Any) -> float | None:
        return None

    def stop_predictions(self, model: Any, positions: np.ndarray) -> np.ndarray | None:
        """Every pixel's predicted class over (at most 200 of) the stop set's images."""
        from activecv.adapters.torch import predict_masks

        return np.asarray(predict_masks(model, self.data.x_pool[positions[:200]])).ravel()

    def picked(self, before: np.ndarray) -> list[int] | None:
        return None

    def fit(self, model: Any, seed: int) -> int:
        from activecv.adapters.torch import train_segmenter

        index = np.array(sorted(set(np.flatnonzero(self.labeled)) | set(self.regions)), dtype=np.int64)
        masks = np.stack([self._mask(int(i)) for i in index])
        c = self.config
        train_segmenter(
            model, self.data.x_pool[index], masks, _epochs(c, index.shape[0]), c.batch_size, c.lr, seed
        )
        return int(index.shape[0])

    def _mask(self, image: int) -> np.ndarray:
        """The labels the oracle gave for an image: its true mask, or the dominant true class of
        each labeled superpixel (255 elsewhere)."""
        assert self.data.masks_pool is not None and self.data.regions_pool is not None
        truth = self.data.masks_pool[image]
        if self.labeled[image]:
            return truth
        regions = self.data.regions_pool[image]
        mask = np.full(truth.shape, UNLABELED, dtype=np.int64)
        for region in self.regions[image]:
            inside = regions == region
            mask[inside] = np.bincount(truth[inside]).argmax()
        return mask

    def measure(self, model: Any) -> float:
        from activecv.adapters.torch import predict_masks
        from activecv.sim._miou import mean_iou

        assert self.data.masks_test is not None
        found = predict_masks(model, self.data.x_test)
        return float(mean_iou(found, self.data.masks_test, len(self.data.class_names))["miou"])

    def acquire(self, model: Any, strategy: Any, rng: np.random.Generator, seed: int) -> None:
        pool = np.flatnonzero(~self.labeled)
        if self.config.candidates is not None:
            pool = draw_candidates(pool, self.config.candidates, rng)
        if strategy is None:
            self._acquire_regions(model, pool, seed)
        else:
            self._acquire_images(model, strategy, pool, rng, seed)

    def _maps(self, model: Any, pool: np.ndarray, bald: bool, seed: int) -> dict[str, Any]:
        """The model's class maps of the candidates, streamed batch by batch (MC for BALD)."""
        from activecv.adapters.torch import iter_predict

        mc = self.config.mc_samples if bald else None
        found = iter_predict(model, self.data.x_pool[pool], mc_samples=mc, seed=seed)
        return {"seg_mc_probs" if bald else "seg_probs": found}

    def _acquire_regions(self, model: Any, pool: np.ndarray, seed: int) -> None:
        from activecv.strategies import select_regions

        assert self.data.regions_pool is not None
        params = self.config.strategy_params.get(REGIONS, {})
        taken = {k: self.regions[int(i)] for k, i in enumerate(pool) if int(i) in self.regions}
        chosen = select_regions(
            self.config.budget,
            regions=list(self.data.regions_pool[pool]),
            labeled_regions=taken,
            **params,
            **self._maps(model, pool, params.get("measure") == "bald", seed),
        )
        for image, region in zip(chosen.images.tolist(), chosen.regions.tolist(), strict=True):
            self.regions.setdefault(int(pool[image]), set()).add(region)
        self.clicks += chosen.clicks

    def _acquire_images(
        self, model: Any, strategy: Any, pool: np.ndarray, rng: np.random.Generator, seed: int
    ) -> None:
        """Whole images in score order (random: a random order) while their clicks fit."""
        if strategy.name == BASELINE:
            scores = -rng.permutation(pool.shape[0]).astype(np.float64)
        else:
            scores = score(strategy, **self._maps(model, pool, strategy.name == "seg_bald", seed))
        taken = pool[take_within_budget(scores, self.costs[pool], float(self.config.budget))]
        self.labeled[taken] = True
        self.regions = {i: r for i, r in self.regions.items() if not self.labeled[i]}
        self.clicks += float(self.costs[taken].sum())


def run_strategy(
    config: SimulationConfig, data: SimulationData, strategy: str, seed: int, progress: bool = True
) -> list[dict[str, Any]]:
    """Rows (strategy, seed, round, n_labeled, metric, selection_seconds, training_seconds,
    train_metric, kappa, picked, annotation_seconds), one per round; round 0 is the initial set.
    ``annotation_seconds``: the labeling time spent so far (None for segmentation, which counts
    clicks in ``n_labeled``). ``train_metric``:
    accuracy on the labeled set (classification); ``kappa``: agreement of this round's labels of
    the stop set with the last round's; ``picked``: per class, the items the acquisition before
    this round labeled (classification)."""
    import torch

    chosen = (
        None if strategy == REGIONS else get_strategy(strategy, **config.strategy_params.get(strategy, {}))
    )
    kind = {"detection": _Detection, "segmentation": _Segmentation}.get(config.task, _Classification)
    if config.task == "detection" and (strategy == "mi_aod" or config.model == MI_AOD_DETECTOR):
        from activecv.sim._mi_aod import MIAODDetection  # it subclasses _Detection

        kind = MIAODDetection
    task = kind(config, data, strategy)
    task.start(initial_set(data.y_pool, config.initial, config.initial_mode, seed))
    rows: list[dict[str, Any]] = []
    model: Any = None
    selection_seconds = 0.0
    stop_positions = stop_set(data.y_pool.shape[0], config.stop_set, [seed, 7])
    previous: np.ndarray | None = None
    picked: list[int] | None = None
    for round_index in range(config.rounds + 1):
        start = time.perf_counter()
        if model is None or config.retrain == "scratch":
            with torch.random.fork_rng(devices=[]):  # the same initial weights for every strategy
                torch.manual_seed(seed * 1_000 + (round_index if config.retrain == "scratch" else 0))
                model = task.build()
        trained_on = task.fit(model, seed * 1_000 + round_index)
        training_seconds = time.perf_counter() - start
        metric = task.measure(model)
        labels = task.stop_predictions(model, stop_positions)
        rows.append(
            {
                "strategy": strategy,
                "seed": seed,
                "round": round_index,
                "n_labeled": task.spent(),
                "metric": metric,
                "selection_seconds": selection_seconds,
                "training_seconds": training_seconds,
                "train_metric": task.train_metric(model),
                "kappa": None if labels is None or previous is None else cohen_kappa(previous, labels),
                "picked": picked,
                "annotation_seconds": task.annotation_seconds(),
            }
        )
        previous = labels
        if progress:
            print(
                f"[{strategy} seed {seed}] round {round_index}/{config.rounds}: {task.spent():g} "
                f"{config.cost_name} ({trained_on} images trained on), "
                f"{config.metric_name} {metric:.4f} "
                f"(train {training_seconds:.1f} s, select {selection_seconds:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
        if round_index == config.rounds or task.exhausted():
            break
        start = time.perf_counter()
        rng = np.random.default_rng([seed, round_index + 1])
        before = task.labeled.copy()
        task.acquire(model, chosen, rng, seed * 1_000 + round_index)
        selection_seconds = time.perf_counter() - start
        picked = task.picked(before)
    return rows

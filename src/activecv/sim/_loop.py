"""One (strategy, seed) run of the pool-based loop: train, evaluate, select, repeat."""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import numpy as np

from activecv._errors import InputError
from activecv.sim._config import SimulationConfig
from activecv.sim._data import SimulationData
from activecv.strategies import draw_candidates, get_strategy, select


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
    """Train with ``fit``, measure test accuracy, select from the model with the adapters."""

    def __init__(self, config: SimulationConfig, data: SimulationData, strategy: str) -> None:
        self.config, self.data, self.strategy = config, data, strategy
        self.learning_loss: Any = None

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

    def train(self, model: Any, index: np.ndarray, seed: int) -> None:
        from activecv.adapters.torch import train_detector

        assert self.data.boxes_pool is not None and self.data.labels_pool is not None
        c = self.config
        boxes = [self.data.boxes_pool[i] for i in index]
        labels = [self.data.labels_pool[i] for i in index]
        epochs = _epochs(c, index.shape[0])
        train_detector(model, self.data.x_pool[index], boxes, labels, epochs, c.batch_size, c.lr, seed=seed)

    def measure(self, model: Any) -> float:
        from activecv.adapters.torch import detect
        from activecv.sim._map import coco_map

        assert self.data.boxes_test is not None and self.data.labels_test is not None
        found = detect(model, self.data.x_test)
        return coco_map(found, self.data.boxes_test, self.data.labels_test, len(self.data.class_names))[
            "map50"
        ]

    def select(
        self, model: Any, strategy: Any, labeled: np.ndarray, rng: np.random.Generator, seed: int
    ) -> np.ndarray:
        from activecv.adapters.torch import detect

        assert self.data.labels_pool is not None
        unlabeled = np.flatnonzero(~labeled)
        if self.config.candidates is not None:
            unlabeled = draw_candidates(unlabeled, self.config.candidates, rng)
        counts = np.zeros(len(self.data.class_names))
        for i in np.flatnonzero(labeled):
            np.add.at(counts, self.data.labels_pool[i], 1)
        found = detect(model, self.data.x_pool[unlabeled])
        chosen = select(strategy, self.config.budget, detections=found, labeled_class_counts=counts, rng=rng)
        return unlabeled[chosen.indices]


def run_strategy(
    config: SimulationConfig, data: SimulationData, strategy: str, seed: int, progress: bool = True
) -> list[dict[str, Any]]:
    """Rows (strategy, seed, round, n_labeled, metric, selection_seconds, training_seconds),
    one per round; round 0 is the initial set."""
    import torch

    chosen = get_strategy(strategy, **config.strategy_params.get(strategy, {}))
    task = (_Detection if config.task == "detection" else _Classification)(config, data, strategy)
    labeled = np.zeros(data.y_pool.shape[0], dtype=bool)
    labeled[initial_set(data.y_pool, config.initial, config.initial_mode, seed)] = True
    rows: list[dict[str, Any]] = []
    model: Any = None
    selection_seconds = 0.0
    for round_index in range(config.rounds + 1):
        start = time.perf_counter()
        if model is None or config.retrain == "scratch":
            with torch.random.fork_rng(devices=[]):  # the same initial weights for every strategy
                torch.manual_seed(seed * 1_000 + (round_index if config.retrain == "scratch" else 0))
                model = task.build()
        index = np.flatnonzero(labeled)
        task.train(model, index, seed * 1_000 + round_index)
        training_seconds = time.perf_counter() - start
        metric = task.measure(model)
        rows.append(
            {
                "strategy": strategy,
                "seed": seed,
                "round": round_index,
                "n_labeled": int(index.shape[0]),
                "metric": metric,
                "selection_seconds": selection_seconds,
                "training_seconds": training_seconds,
            }
        )
        if progress:
            print(
                f"[{strategy} seed {seed}] round {round_index}/{config.rounds}: {index.shape[0]} labeled, "
                f"{config.metric_name} {metric:.4f} "
                f"(train {training_seconds:.1f} s, select {selection_seconds:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
        if round_index == config.rounds or labeled.all():
            break
        start = time.perf_counter()
        rng = np.random.default_rng([seed, round_index + 1])
        labeled[task.select(model, chosen, labeled, rng, seed * 1_000 + round_index)] = True
        selection_seconds = time.perf_counter() - start
    return rows

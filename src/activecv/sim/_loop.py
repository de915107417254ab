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
from activecv.strategies import get_strategy


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


def run_strategy(
    config: SimulationConfig, data: SimulationData, strategy: str, seed: int, progress: bool = True
) -> list[dict[str, Any]]:
    """Rows (strategy, seed, round, n_labeled, accuracy, selection_seconds, training_seconds),
    one per round; round 0 is the initial set."""
    import torch

    from activecv.adapters.torch import LearningLoss, build_model, fit, predict
    from activecv.adapters.torch import select as select_from_model

    params = config.strategy_params.get(strategy, {})
    chosen = get_strategy(strategy, **params)
    n_classes = len(data.class_names)
    labeled = np.zeros(data.y_pool.shape[0], dtype=bool)
    labeled[initial_set(data.y_pool, config.initial, config.initial_mode, seed)] = True
    rows: list[dict[str, Any]] = []
    model: Any = None
    learning_loss: LearningLoss | None = None
    selection_seconds = 0.0
    for round_index in range(config.rounds + 1):
        start = time.perf_counter()
        if model is None or config.retrain == "scratch":
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed * 1_000 + (round_index if config.retrain == "scratch" else 0))
                model = build_model(config.model, n_classes, data.input_shape)
            if strategy == "learning_loss":  # the module is trained with (and kept with) its model
                layers = config.loss_layers or getattr(model, "stage_names", None)
                if not layers:
                    raise InputError(
                        "learning_loss needs loss_layers: the module names whose outputs it reads."
                    )
                learning_loss = LearningLoss(model, layers)
        index = np.flatnonzero(labeled)
        fit(
            model,
            data.x_pool[index],
            data.y_pool[index],
            epochs=_epochs(config, index.shape[0]),
            batch_size=config.batch_size,
            optimizer=config.optimizer,
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            schedule=config.schedule,
            augment=config.augment,
            seed=seed * 1_000 + round_index,
            callbacks=[learning_loss] if learning_loss is not None else [],
        )
        training_seconds = time.perf_counter() - start
        accuracy = float((predict(model, data.x_test).argmax(axis=1) == data.y_test).mean())
        rows.append(
            {
                "strategy": strategy,
                "seed": seed,
                "round": round_index,
                "n_labeled": int(index.shape[0]),
                "accuracy": accuracy,
                "selection_seconds": selection_seconds,
                "training_seconds": training_seconds,
            }
        )
        if progress:
            print(
                f"[{strategy} seed {seed}] round {round_index}/{config.rounds}: {index.shape[0]} labeled, "
                f"accuracy {accuracy:.4f} (train {training_seconds:.1f} s, select {selection_seconds:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
        if round_index == config.rounds or labeled.all():
            break
        start = time.perf_counter()
        selection = select_from_model(
            chosen,
            config.budget,
            model=model,
            data=data.x_pool,
            labeled=labeled,
            candidates=config.candidates,
            rng=np.random.default_rng([seed, round_index + 1]),
            layer=config.embedding_layer,
            k=config.mc_samples,
            seed=seed * 1_000 + round_index,
            learning_loss=learning_loss,
        )
        selection_seconds = time.perf_counter() - start
        labeled[selection.indices] = True
    return rows

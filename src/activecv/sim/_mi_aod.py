"""The detection task with MI-AOD: its own detector heads and training stages (ALGORITHMS.md §8)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from activecv.sim._config import SimulationConfig
from activecv.sim._loop import _Detection, _epochs, _within_cost
from activecv.strategies import draw_candidates, select
from activecv.types import Detections

TOP_K = 16
"""Instances averaged per scene: a quarter of the 64 cells, the share of RetinaNet's anchors the
paper's k = 10,000 is at 1000 x 600 (10-25 %)."""

STAGE_EPOCHS = 9
"""Label-set epochs of one MI-AOD cycle (3 + 2 x 3); each is ``repeat`` passes, chosen so that
the label-set training matches the other strategies' epochs and the min and max steps come on
top (MI-AOD's training cost)."""


class MIAODDetection(_Detection):
    """The grid detector's backbone and regressor with f1, f2 and f_mil, trained in MI-AOD's
    stages with the run's optimizer and learning rate; detections from f1 and the regressor.
    ``mi_aod`` chooses by the learned instance uncertainty, other strategies by the detections."""

    def build(self) -> Any:
        from activecv.adapters.torch import MIAODDetector

        return MIAODDetector.grid(len(self.data.class_names), self.data.input_shape[0], width=32)

    def train(self, model: Any, index: np.ndarray, seed: int) -> None:
        from activecv.adapters.torch import MIAODSettings, train_mi_aod

        assert self.data.boxes_pool is not None and self.data.labels_pool is not None
        c = self.config
        settings = MIAODSettings(
            repeat=max(1, math.ceil(_epochs(c, index.shape[0]) / STAGE_EPOCHS)),
            batch_size=c.batch_size,
            optimizer=c.optimizer,
            lr=c.lr,
            momentum=c.momentum,
            weight_decay=c.weight_decay,
            adversarial=not self.labeled.all(),  # the min and max steps need unlabeled scenes
        )
        boxes = [self.data.boxes_pool[i] for i in index]
        labels = [self.data.labels_pool[i] for i in index]
        unlabeled = self.data.x_pool[np.flatnonzero(~self.labeled)]
        train_mi_aod(model, self.data.x_pool[index], boxes, labels, unlabeled, settings, seed=seed)

    def detect(self, model: Any, images: np.ndarray) -> list[Detections]:
        from activecv.adapters.torch import detect_mi_aod

        return detect_mi_aod(model, images)

    def select(
        self, model: Any, strategy: Any, labeled: np.ndarray, rng: np.random.Generator, seed: int
    ) -> np.ndarray:
        from activecv.adapters.torch import mi_aod_uncertainty

        if strategy.name != "mi_aod":  # a post-hoc strategy on this detector's detections
            return super().select(model, _for_sigmoid_scores(strategy, self.config), labeled, rng, seed)
        unlabeled = np.flatnonzero(~labeled)
        if self.config.candidates is not None:
            unlabeled = draw_candidates(unlabeled, self.config.candidates, rng)
        uncertainty = mi_aod_uncertainty(model, self.data.x_pool[unlabeled], TOP_K)
        if self.config.cost_budget is not None:  # scenes priced by the boxes this detector predicts
            found = self.detect(model, self.data.x_pool[unlabeled])
            return unlabeled[
                _within_cost(self.config, strategy, found, rng, instance_uncertainty=uncertainty)
            ]
        chosen = select(strategy, self.config.budget, instance_uncertainty=uncertainty, rng=rng)
        return unlabeled[chosen.indices]


def _for_sigmoid_scores(strategy: Any, config: SimulationConfig) -> Any:
    """A detection strategy left at ``entropy_mode="full"`` reads this detector's independent
    sigmoid scores (no background column) as ``sigmoid_plus_bg``: a background mass of 1 - sum."""
    if getattr(strategy, "entropy_mode", None) != "full":
        return strategy
    if "entropy_mode" in config.strategy_params.get(strategy.name, {}):
        return strategy  # the user's choice
    return dataclasses.replace(strategy, entropy_mode="sigmoid_plus_bg")

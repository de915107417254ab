"""Area Under the Margin: find likely mislabeled training samples (Pleiss et al., NeurIPS 2020;
ALGORITHMS.md §4).

The margin of a sample at an epoch is its assigned-label logit minus the largest other logit,
taken from the training forward pass; AUM is its mean over epochs. Samples relabelled to a
fake extra class calibrate the cut: a sample is flagged when its AUM is below the 99th
percentile of those threshold samples' AUMs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from activecv._errors import InputError
from activecv._validation import RngLike, as_rng
from activecv.adapters.torch._train import Callback, fit


class AUMTracker(Callback):
    """Running mean of each sample's margin over the training steps that saw it.

    Works as a :func:`fit` callback, or call :meth:`update` from your own loop with the
    logits of the training forward pass, the assigned labels and the samples' dataset ids.
    """

    def __init__(self, n_samples: int) -> None:
        self.sums = np.zeros(n_samples)
        self.counts = np.zeros(n_samples, dtype=np.int64)

    def update(self, logits: torch.Tensor, targets: torch.Tensor, sample_ids: Any) -> None:
        z = logits.detach().float().cpu()
        y = targets.detach().cpu().long()
        assigned = z.gather(1, y[:, None]).squeeze(1)
        others = z.scatter(1, y[:, None], float("-inf")).max(dim=1).values
        ids = np.asarray(sample_ids, dtype=np.int64)
        np.add.at(self.sums, ids, (assigned - others).numpy())
        np.add.at(self.counts, ids, 1)

    def on_batch_end(self, indices: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor) -> None:
        self.update(logits, targets, indices.numpy())

    def aum(self) -> np.ndarray:
        """AUM of every sample, float64 (N,); NaN for a sample never seen."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0, self.sums / np.maximum(self.counts, 1), np.nan)


def make_threshold_sets(
    n_samples: int, num_classes: int, rng: RngLike = None
) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random sets of ``floor(N / (C + 1))`` samples to relabel as the fake class."""
    size = n_samples // (num_classes + 1)
    order = as_rng(rng).permutation(n_samples)
    return np.sort(order[:size]), np.sort(order[size : 2 * size])


def flag_mislabeled(aum: np.ndarray, threshold_ids: np.ndarray, q: float = 0.99) -> np.ndarray:
    """Samples whose AUM is below the ``q`` quantile of the threshold samples' AUMs.

    A sample is flagged when more than ``1 - q`` of the threshold AUMs are strictly larger
    than its own (the reference rule). Threshold samples themselves are never flagged.
    """
    thresholds = aum[threshold_ids]
    thresholds = np.sort(thresholds[np.isfinite(thresholds)])
    if thresholds.size == 0:
        raise InputError("flag_mislabeled needs threshold samples with an AUM; got none.")
    larger = thresholds.size - np.searchsorted(thresholds, aum, side="right")
    flags = (larger / thresholds.size > 1.0 - q) & np.isfinite(aum)
    flags[threshold_ids] = False
    return flags


@dataclass(frozen=True)
class MislabeledReport:
    """AUM per sample (mean over the runs where it kept its label), flags, and the cut per run."""

    aum: np.ndarray
    flagged: np.ndarray
    thresholds: tuple[float, ...]


def find_mislabeled(
    make_model: Callable[[int], nn.Module],
    x: Any,
    y: Any,
    num_classes: int,
    epochs: int = 20,
    seed: int = 0,
    q: float = 0.99,
    **fit_kwargs: Any,
) -> MislabeledReport:
    """The AUM procedure: two training runs with disjoint threshold sets, then the flags.

    ``make_model(n_outputs)`` builds a fresh model with ``num_classes + 1`` outputs (the fake
    class). A sample is flagged if flagged in any run where it kept its real label. With
    fewer than C + 1 samples thresholding is skipped: AUM from one run, nothing flagged.
    ``fit_kwargs`` go to :func:`fit` (lr, batch_size, optimizer...); keep the learning rate
    constant (no schedule), as AUM is defined before the first learning-rate drop.
    """
    labels = np.asarray(y, dtype=np.int64)
    n = labels.shape[0]
    if labels.min() < 0 or labels.max() >= num_classes:
        raise InputError(f"y must hold labels in [0, {num_classes}); got {labels.min()}..{labels.max()}.")
    sets = make_threshold_sets(n, num_classes, seed)
    runs = [s for s in sets if s.size] or [np.empty(0, dtype=np.int64)]
    sums, counts = np.zeros(n), np.zeros(n)
    flagged = np.zeros(n, dtype=bool)
    cuts = []
    for run, threshold_ids in enumerate(runs):
        relabelled = labels.copy()
        relabelled[threshold_ids] = num_classes
        tracker = AUMTracker(n)
        fit(
            make_model(num_classes + 1),
            x,
            relabelled,
            epochs=epochs,
            seed=seed + run,
            callbacks=[tracker],
            **fit_kwargs,
        )
        aum = tracker.aum()
        normal = np.ones(n, dtype=bool)
        normal[threshold_ids] = False
        sums[normal] += aum[normal]
        counts[normal] += 1
        if threshold_ids.size:
            flagged |= flag_mislabeled(aum, threshold_ids, q)
            cuts.append(float(np.quantile(aum[threshold_ids], q)))
    with np.errstate(invalid="ignore"):
        return MislabeledReport(sums / counts, flagged, tuple(cuts))

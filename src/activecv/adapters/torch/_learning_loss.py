"""Learning Loss for Active Learning (Yoo & Kweon, CVPR 2019), ALGORITHMS.md §5.

A small module reads intermediate features of the task model and predicts each item's loss;
it learns from a pairwise ranking loss against the true losses. The items with the highest
predicted loss are labeled next (strategy ``learning_loss``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from activecv._errors import InputError
from activecv.adapters.torch._predict import _eval_mode, _forward_all, _module
from activecv.adapters.torch._train import Callback, make_optimizer


def _global_average(feature: torch.Tensor) -> torch.Tensor:
    """(B, C, ...) -> (B, C): mean over every axis after the channels."""
    return feature.flatten(2).mean(dim=2) if feature.dim() > 2 else feature


class LossPredictionModule(nn.Module):
    """Per feature map: global average pooling -> Linear(c, hidden) -> ReLU; the concatenated
    branches -> Linear -> the predicted loss (B,), no activation.

    Parameters
    ----------
    channels : sequence of int
        Channels of each feature map, e.g. (64, 128, 256, 512) for a CIFAR ResNet-18.
    hidden : int
        Width of each branch (128 in the paper).
    """

    def __init__(self, channels: Sequence[int], hidden: int = 128) -> None:
        super().__init__()
        if len(channels) == 0 or any(int(c) < 1 for c in channels):
            raise InputError(f"channels must be a non-empty sequence of positive ints; got {channels!r}.")
        self.branches = nn.ModuleList(nn.Sequential(nn.Linear(int(c), hidden), nn.ReLU()) for c in channels)
        self.head = nn.Linear(hidden * len(channels), 1)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(features) != len(self.branches):
            raise InputError(
                f"features must hold one tensor per branch ({len(self.branches)}); got {len(features)}."
            )
        pooled = [branch(_global_average(f)) for branch, f in zip(self.branches, features, strict=True)]
        return self.head(torch.cat(pooled, dim=1)).squeeze(1)


def ranking_loss(predicted: torch.Tensor, target: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Pairwise margin ranking loss of LL4AL, averaged over the B // 2 pairs.

    Item i is paired with item B-1-i (the batch against its flip, as in the reference code);
    with an odd batch the middle item sits out. ``target`` (the true per-item losses) is
    detached. For a pair, ``max(0, margin - s * (pred_i - pred_j))`` with s = +1 when
    ``target_i > target_j`` and -1 otherwise.
    """
    if predicted.dim() != 1 or predicted.shape != target.shape:
        raise InputError(
            "predicted and target must both have shape (B,); "
            f"got {tuple(predicted.shape)} and {tuple(target.shape)}."
        )
    half = predicted.shape[0] // 2
    if half == 0:
        raise InputError(f"ranking_loss needs a batch of at least 2 items; got {predicted.shape[0]}.")
    gap = (predicted - predicted.flip(0))[:half]
    true_gap = (target - target.flip(0))[:half].detach()
    sign = torch.where(true_gap > 0, 1.0, -1.0).to(gap.dtype)
    return torch.clamp(margin - sign * gap, min=0).mean()


class LearningLoss(Callback):
    """Trains a loss-prediction module alongside the task model; plugs into :func:`fit`.

    Forward hooks on the named ``layers`` capture their outputs at every forward pass. At each
    training step the module predicts the batch's losses from them and ``weight *
    ranking_loss`` is added to the task loss; the module has its own optimizer, stepped after
    the model's.

    Parameters
    ----------
    model : nn.Module
        The task model; ``layers`` are names from ``model.named_modules()`` (the shipped
        ResNets list their stage outputs in ``model.stage_names``).
    channels : sequence of int, optional
        Channels of each layer's output; inferred at the first batch when omitted.
    weight, margin : float
        lambda and xi of §5.2 (both 1.0 in the paper).
    detach_after : int, optional
        From the epoch after this one (0-based) the features are detached before entering the
        module: it keeps learning but no longer shapes the backbone (120 of 200 epochs in the
        paper). None: never detach.
    optimizer, lr, momentum, weight_decay
        The module's optimizer ("adam" or "sgd"); the paper uses SGD, lr 0.1, momentum 0.9,
        weight decay 5e-4, as for the backbone.

    Examples
    --------
    With your own loop::

        ll = LearningLoss(model, layers=model.stage_names)
        logits = model(x)
        per_item = F.cross_entropy(logits, y, reduction="none")
        loss = per_item.mean() + ll.extra_loss(epoch, per_item)
        opt.zero_grad(); loss.backward(); opt.step(); ll.step()
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Sequence[str],
        channels: Sequence[int] | None = None,
        hidden: int = 128,
        weight: float = 1.0,
        margin: float = 1.0,
        detach_after: int | None = None,
        optimizer: str = "adam",
        lr: float = 1e-3,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
    ) -> None:
        if isinstance(layers, str) or len(layers) == 0:
            raise InputError(f"layers must be a non-empty sequence of module names; got {layers!r}.")
        self.model, self.layers, self.hidden = model, tuple(layers), hidden
        self.weight, self.margin, self.detach_after = weight, margin, detach_after
        self._optimizer_settings = (optimizer, lr, momentum, weight_decay)
        make_optimizer(optimizer, [nn.Parameter(torch.zeros(1))], lr, momentum, weight_decay)  # fail early
        self._captured: list[torch.Tensor | None] = [None] * len(self.layers)
        self._handles = [
            _module(model, name).register_forward_hook(self._capture(i)) for i, name in enumerate(self.layers)
        ]
        self.module: LossPredictionModule | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        if channels is not None:
            device = next(model.parameters()).device
            self._build(channels, device)

    def _capture(self, index: int) -> Any:
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            self._captured[index] = output

        return hook

    def _build(self, channels: Sequence[int], device: torch.device) -> None:
        self.module = LossPredictionModule(channels, self.hidden).to(device)
        name, lr, momentum, weight_decay = self._optimizer_settings
        self.optimizer = make_optimizer(name, self.module.parameters(), lr, momentum, weight_decay)

    def _take_features(self) -> list[torch.Tensor]:
        """The captured outputs of the latest forward pass; released here to free the graph."""
        features = [f for f in self._captured if f is not None]
        self._captured = [None] * len(self.layers)
        if len(features) != len(self.layers):
            raise InputError(f"layers {self.layers} produced no output; run the model's forward pass first.")
        if self.module is None:
            self._build([f.shape[1] for f in features], features[0].device)
        return features

    def extra_loss(self, epoch: int, per_sample_loss: torch.Tensor) -> torch.Tensor:
        """``weight * ranking_loss(predicted, true)`` for the model's latest forward pass."""
        features = self._take_features()
        if self.detach_after is not None and epoch > self.detach_after:
            features = [f.detach() for f in features]
        assert self.module is not None
        predicted = self.module(features)
        return self.weight * ranking_loss(predicted, per_sample_loss.detach(), self.margin)

    def step(self) -> None:
        """One optimizer step of the module, then clear its gradients."""
        if self.optimizer is not None:
            self.optimizer.step()
            self.optimizer.zero_grad()

    def on_batch_end(self, indices: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor) -> None:
        self.step()

    def remove(self) -> None:
        """Remove the forward hooks from the model."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._captured = [None] * len(self.layers)


def predict_loss(
    learning_loss: LearningLoss, data: Any, batch_size: int = 256, progress: bool = False
) -> np.ndarray:
    """Predicted loss of every item, float32 (N,): the ``predicted_loss`` input of the
    ``learning_loss`` strategy. The model runs in eval mode without gradients."""
    if learning_loss.module is None:
        raise InputError("the learning-loss module is untrained; train with fit(..., callbacks=[it]) first.")
    model, parts = learning_loss.model, []
    with _eval_mode(model), _eval_mode(learning_loss.module):
        for x in _forward_all(model, data, batch_size, "predict_loss", progress):
            model(x)
            parts.append(learning_loss.module(learning_loss._take_features()).float().cpu())
    return torch.cat(parts).numpy()

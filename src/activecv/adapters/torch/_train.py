"""A small trainer with seed control and callbacks, for the loops activecv runs itself.

Not a framework: the training-time methods are callbacks that also work in a user's own loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from activecv._errors import InputError
from activecv._progress import Progress


class Callback:
    """Hooks called by :func:`fit`; override the ones you need."""

    def on_epoch_begin(self, epoch: int) -> None:
        """Before the first batch of ``epoch``."""

    def extra_loss(self, epoch: int, per_sample_loss: torch.Tensor) -> torch.Tensor | None:
        """A term added to the batch loss before backward (None: nothing), given each item's
        cross-entropy right after the model's forward pass."""
        return None

    def on_batch_end(self, indices: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor) -> None:
        """After each optimisation step: dataset ``indices`` of the batch, its logits and targets."""

    def on_epoch_end(self, epoch: int, record: dict[str, float]) -> None:
        """After each epoch, with that epoch's metrics."""


@dataclass
class History:
    """Per-epoch metrics, the best epoch (by validation loss when given) and why training stopped."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False


def _as_tensor(value: Any, name: str) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, torch.Tensor):
        return value
    raise InputError(f"{name} must be a numpy array or a torch Tensor; got {type(value).__name__}.")


def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> tuple[float, float]:
    device = next(model.parameters()).device
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            logits = model(x[start : start + batch_size].to(device))
            target = y[start : start + batch_size].to(device)
            loss += float(nn.functional.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(dim=1) == target).sum())
    return loss / x.shape[0], correct / x.shape[0]


def flip_crop(x: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """Standard CIFAR augmentation of an image batch (B, C, H, W): random horizontal flip, then
    a random crop of the original size from the image zero-padded by ``pad`` pixels."""
    batch, _, height, width = x.shape
    flipped = torch.rand(batch) < 0.5
    x = torch.where(flipped.to(x.device)[:, None, None, None], x.flip(3), x)
    padded = nn.functional.pad(x, (pad, pad, pad, pad))
    offsets = torch.randint(0, 2 * pad + 1, (batch, 2)).tolist()
    return torch.stack(
        [padded[i, :, dy : dy + height, dx : dx + width] for i, (dy, dx) in enumerate(offsets)]
    )


def make_optimizer(
    name: str, params: Iterable[nn.Parameter], lr: float, momentum: float, weight_decay: float
) -> torch.optim.Optimizer:
    """Adam (``momentum`` unused) or SGD with momentum."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise InputError(f"optimizer must be 'adam' or 'sgd'; got {name!r}.")


def _make_scheduler(opt: torch.optim.Optimizer, schedule: str | None, epochs: int) -> Any:
    """The learning-rate scheduler of :func:`fit` (None: a constant rate); ``schedule`` is valid."""
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    if schedule == "step":
        return torch.optim.lr_scheduler.MultiStepLR(opt, [epochs // 2, 3 * epochs // 4], gamma=0.1)
    return None


def _batch_loss(per_sample: torch.Tensor, epoch: int, callbacks: Sequence[Callback]) -> torch.Tensor:
    """The mean cross-entropy plus every callback's extra term, added in callback order."""
    loss = per_sample.mean()
    for callback in callbacks:
        term = callback.extra_loss(epoch, per_sample)
        loss = loss if term is None else loss + term
    return loss


def _train_epoch(
    model: nn.Module,
    xs: torch.Tensor,
    ys: torch.Tensor,
    opt: torch.optim.Optimizer,
    device: torch.device,
    epoch: int,
    batch_size: int,
    augment: bool,
    callbacks: Sequence[Callback],
) -> tuple[float, int]:
    """One pass over a fresh shuffle of ``xs``: the summed cross-entropy and the correct count."""
    for callback in callbacks:
        callback.on_epoch_begin(epoch)
    model.train()
    order = torch.randperm(xs.shape[0])
    total, correct = 0.0, 0
    for start in range(0, xs.shape[0], batch_size):
        indices = order[start : start + batch_size]
        inputs, targets = xs[indices].to(device), ys[indices].to(device)
        if augment:
            inputs = flip_crop(inputs)
        logits = model(inputs)
        per_sample = nn.functional.cross_entropy(logits, targets, reduction="none")
        loss = _batch_loss(per_sample, epoch, callbacks)
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        total += float(per_sample.detach().sum())
        correct += int((logits.argmax(dim=1) == targets).sum())
        for callback in callbacks:
            callback.on_batch_end(indices, logits.detach(), targets)
    return total, correct


def fit(
    model: nn.Module,
    x: Any,
    y: Any,
    epochs: int = 20,
    batch_size: int = 64,
    optimizer: str = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    schedule: str | None = None,
    seed: int = 0,
    validation: tuple[Any, Any] | None = None,
    patience: int | None = None,
    augment: bool = False,
    callbacks: Sequence[Callback] = (),
    progress: bool = False,
) -> History:
    """Train ``model`` with cross-entropy on ``x`` (N, ...) and integer labels ``y`` (N,).

    Parameters
    ----------
    optimizer : {"adam", "sgd"}
    schedule : {None, "cosine", "step"}
        Learning-rate schedule over the epochs ("step" divides by 10 at 50% and 75%).
    seed : int
        Shuffling and dropout draw from torch's generator seeded here, inside
        ``torch.random.fork_rng`` so the caller's global RNG state is left untouched.
    validation : (x_val, y_val), optional
        Evaluated every epoch; with ``patience``, training stops after that many epochs
        without a lower validation loss and the best weights are restored.
    augment : bool
        Random horizontal flips and 4-pixel-padded random crops of each training batch.
    callbacks : sequence of Callback
        Training-time methods (AUM, learning loss, ...) plug in here.
    """
    xs, ys = _as_tensor(x, "x"), _as_tensor(y, "y").long()
    if xs.shape[0] != ys.shape[0] or xs.shape[0] == 0:
        raise InputError(
            f"x and y must have one row per item and at least one; got {xs.shape[0]} and {ys.shape[0]}."
        )
    if schedule not in (None, "cosine", "step"):
        raise InputError(f"schedule must be None, 'cosine' or 'step'; got {schedule!r}.")
    held_out = None
    if validation is not None:
        held_out = (
            _as_tensor(validation[0], "validation x"),
            _as_tensor(validation[1], "validation y").long(),
        )
    device = next(model.parameters()).device
    opt = make_optimizer(optimizer, model.parameters(), lr, momentum, weight_decay)
    scheduler = _make_scheduler(opt, schedule, epochs)
    history = History()
    best_loss, best_state, waited = float("inf"), None, 0
    report = Progress("fit", epochs, progress)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for epoch in range(epochs):
            total, correct = _train_epoch(model, xs, ys, opt, device, epoch, batch_size, augment, callbacks)
            if scheduler is not None:
                scheduler.step()
            record = {"epoch": float(epoch), "loss": total / xs.shape[0], "accuracy": correct / xs.shape[0]}
            if held_out is not None:
                record["val_loss"], record["val_accuracy"] = _evaluate(model, *held_out, 256)
            history.epochs.append(record)
            for callback in callbacks:
                callback.on_epoch_end(epoch, record)
            report.update(epoch + 1)
            monitored = record.get("val_loss", record["loss"])
            if monitored < best_loss:
                best_loss, history.best_epoch, waited = monitored, epoch, 0
                if patience is not None:
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                waited += 1
                if patience is not None and waited > patience:
                    history.stopped_early = True
                    break
    if best_state is not None and history.stopped_early:
        model.load_state_dict(best_state)
    model.eval()
    return history

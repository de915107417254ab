"""A small fully-convolutional segmenter that trains on CPU in seconds, for segmentation
active learning (ALGORITHMS.md §9): the model, its trainer (partial labels through
``ignore_index``) and arg-max masks. Probabilities and MC-dropout samples per pixel come from
``predict``, ``mc_predict`` and ``iter_predict``, which handle (B, C, H, W) outputs.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from activecv._errors import InputError, InputTypeError
from activecv._progress import Progress
from activecv._validation import as_array, check_finite, check_positive_int
from activecv.adapters.torch._predict import _check_positive, _device, _eval_mode, _logit_batches


def _block(cin: int, cout: int, dilation: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


class SegmentationFCN(nn.Module):
    """Class logits (N, C, H, W) at the input's size, for any H, W >= 2 (odd sizes included).

    ``stem``: two conv-BN-ReLU blocks at full resolution (``width`` channels); a 2x2 max-pool;
    ``context``: four blocks at half resolution (``2 * width`` channels, dilations 1, 2, 4, 8);
    bilinear up-sampling to the input's exact size, concatenated with the stem's features;
    ``features``: one block (``width`` channels); ``dropout`` (``nn.Dropout2d``, so MC dropout
    drops whole feature maps); ``classifier``: a 1x1 convolution. The receptive field is
    70 px (5 after the stem, 66 after the context, 70 at the output): every pixel of a 28 px
    digit sees all of it, which telling digits apart needs. Seed construction with
    ``torch.manual_seed``.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> net = SegmentationFCN(n_classes=11, width=8)
    >>> net(torch.zeros(2, 1, 10, 15)).shape
    torch.Size([2, 11, 10, 15])
    """

    def __init__(self, n_classes: int, in_channels: int = 1, width: int = 32, dropout: float = 0.2) -> None:
        super().__init__()
        check_positive_int(n_classes, "n_classes")
        check_positive_int(in_channels, "in_channels")
        check_positive_int(width, "width")
        if not 0 <= dropout < 1:
            raise InputError(f"dropout must be a probability in [0, 1); got {dropout!r}.")
        self.n_classes = n_classes
        self.stem = nn.Sequential(*_block(in_channels, width), *_block(width, width))
        self.pool = nn.MaxPool2d(2)
        self.context = nn.Sequential(
            *_block(width, 2 * width),
            *_block(2 * width, 2 * width, dilation=2),
            *_block(2 * width, 2 * width, dilation=4),
            *_block(2 * width, 2 * width, dilation=8),
        )
        self.features = nn.Sequential(*_block(3 * width, width))
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(width, n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fine = self.stem(x)
        coarse = nn.functional.interpolate(
            self.context(self.pool(fine)), size=fine.shape[-2:], mode="bilinear", align_corners=False
        )
        return self.classifier(self.dropout(self.features(torch.cat([coarse, fine], dim=1))))


def _check_training_set(
    model: nn.Module, images: Any, masks: Any, ignore_index: int
) -> tuple[np.ndarray, np.ndarray]:
    """images float (N, C, H, W) and masks int64 (N, H, W), checked against each other and
    against the model's output (one forward pass of one image, in eval mode)."""
    x = as_array(images, "images", "(N, C, H, W)", 4)
    check_finite(x, "images")
    y = as_array(masks, "masks", "(N, H, W)", 3, kind="int")
    expected = (x.shape[0], *x.shape[2:])
    if y.shape != expected:
        raise InputError(
            f"masks must have shape (N, H, W) = {expected} to match images {x.shape}; got {y.shape}. "
            "Give one class map per image, at the image's height and width."
        )
    labeled = y != ignore_index
    if not labeled.any():
        raise InputError(
            f"masks has no labeled pixel: every pixel is ignore_index={ignore_index}. "
            "Label at least one region before training."
        )
    with _eval_mode(model):
        probe = model(torch.from_numpy(np.ascontiguousarray(x[:1], dtype=np.float32)).to(_device(model)))
    if probe.ndim != 4 or tuple(probe.shape[2:]) != x.shape[2:]:
        raise InputError(
            f"the model must return logits (B, C, H, W) at the input's size {x.shape[2:]}; "
            f"got {tuple(probe.shape)}."
        )
    n_classes = int(probe.shape[1])
    bad = labeled & ((y < 0) | (y >= n_classes))
    if bad.any():
        image = int(np.flatnonzero(bad.reshape(bad.shape[0], -1).any(axis=1))[0])
        raise InputError(
            f"masks must hold classes in [0, {n_classes}) (the model's outputs) or "
            f"ignore_index={ignore_index}; got {int(y[bad][0])} (first in image {image})."
        )
    return x, y.astype(np.int64, copy=False)


@contextmanager
def _seeded(device: torch.device, seed: int) -> Iterator[None]:
    """The global RNG of ``device`` (dropout's, in training) seeded for the duration, then
    restored: the caller's random state is left as it was."""
    cuda = []
    if device.type == "cuda":
        cuda = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=cuda):
        torch.default_generator.manual_seed(seed)
        if device.type == "cuda":
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        yield


def train_segmenter(
    model: nn.Module,
    images: np.ndarray,
    masks: np.ndarray,
    epochs: int,
    batch_size: int = 16,
    lr: float = 1e-3,
    seed: int = 0,
    ignore_index: int = 255,
    progress: bool = False,
) -> list[float]:
    """Train a dense model on images (N, C, H, W) and class masks (N, H, W) with Adam and
    per-pixel cross-entropy; returns each epoch's mean loss over its labeled pixels.

    Pixels equal to ``ignore_index`` are not labeled and contribute nothing (neither loss nor
    gradient), so partially labeled images (only some regions labeled) train correctly; a
    batch without any labeled pixel is skipped. Shuffling draws from its own generator seeded
    with ``seed``; dropout draws from the global RNG seeded with ``seed`` and restored after,
    so training is deterministic and the caller's random state is untouched.

    After the last epoch, one gradient-free pass over ``images`` recomputes the batch-norm
    running statistics for the final weights (the running averages lag behind weights that
    move fast on small labeled sets, which spoils eval-mode predictions). The model is left
    in eval mode.

    Examples
    --------
    >>> import numpy as np, torch
    >>> _ = torch.manual_seed(0)
    >>> net = SegmentationFCN(n_classes=3, width=4)
    >>> images = np.random.default_rng(0).random((4, 1, 8, 8), dtype=np.float32)
    >>> masks = np.full((4, 8, 8), 255)
    >>> masks[:, :4] = (images[:, 0, :4] > 0.5) + 1  # only the top half is labeled
    >>> len(train_segmenter(net, images, masks, epochs=2, batch_size=2))
    2
    """
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    _check_positive(lr, "lr")
    index: Any = ignore_index
    if isinstance(index, bool) or not isinstance(index, numbers.Integral):
        raise InputTypeError(f"ignore_index must be an integer; got {type(index).__name__}.")
    ignore_index = int(index)
    x_np, y_np = _check_training_set(model, images, masks, ignore_index)
    x = torch.from_numpy(np.ascontiguousarray(x_np, dtype=np.float32))
    y = torch.from_numpy(np.ascontiguousarray(y_np))
    device = _device(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    shuffle = torch.Generator().manual_seed(seed)
    history = []
    report = Progress("train segmenter", epochs, progress)
    with _seeded(device, seed):
        for epoch in range(epochs):
            model.train()
            order = torch.randperm(x.shape[0], generator=shuffle)
            total, pixels = 0.0, 0
            for start in range(0, x.shape[0], batch_size):
                idx = order[start : start + batch_size]
                target = y[idx].to(device)
                labeled = int((target != ignore_index).sum())
                if labeled == 0:
                    continue
                loss = nn.functional.cross_entropy(
                    model(x[idx].to(device)), target, ignore_index=ignore_index
                )
                optimizer.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                total += float(loss.detach()) * labeled
                pixels += labeled
            history.append(total / pixels)
            report.update(epoch + 1)
    _recalibrate_batch_norm(model, x, batch_size, device)
    return history


def _recalibrate_batch_norm(model: nn.Module, x: torch.Tensor, batch_size: int, device: torch.device) -> None:
    """Batch-norm running statistics recomputed (equal-weight average over batches) for the
    final weights, everything else in eval mode; the model is left in eval mode.

    The running averages kept during training lag behind weights that move fast (small
    labeled sets, small batches), and eval-mode predictions suffer; one gradient-free pass
    over the training images fixes that.
    """
    model.eval()
    norms = [
        m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    try:
        with torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                model(x[start : start + batch_size].to(device))
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        model.eval()


def predict_masks(model: nn.Module, images: Any, batch_size: int = 32) -> np.ndarray:
    """Arg-max class masks (N, H, W) int64 of a dense model's logits (B, C, H, W); ``images``
    as :func:`predict` takes them (tensor, array, Dataset or DataLoader).

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> masks = predict_masks(SegmentationFCN(n_classes=4, width=4), torch.zeros(3, 1, 6, 8))
    >>> masks.shape, masks.dtype.name
    ((3, 6, 8), 'int64')
    """
    parts = []
    for logits in _logit_batches(model, images, batch_size, "predict_masks", False):
        if logits.ndim != 4:
            raise InputError(
                f"predict_masks needs a dense model returning logits (B, C, H, W); got {tuple(logits.shape)}."
            )
        parts.append(logits.argmax(dim=1).numpy().astype(np.int64, copy=False))
    if not parts:
        raise InputError("images is empty; predict_masks needs at least one image.")
    return np.concatenate(parts)

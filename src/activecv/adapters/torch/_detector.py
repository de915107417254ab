"""A small one-stage detector that trains on CPU in minutes, for detection benchmarks.

A grid detector in the YOLO-v1 manner: a convolutional backbone at stride 8; each cell
predicts C + 1 class logits (background last) and a box for an object centred in it. Every
detection carries its cell's full class probabilities and feature vector, which is what
the detection strategies (ENMS, EBAL) need.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from activecv._progress import Progress
from activecv.types import Detections

STRIDE = 8


def _block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class GridDetector(nn.Module):
    """Backbone at stride 8 (``features``), then 1x1 heads ``classify`` (C + 1) and ``regress``
    (centre offset in the cell, log width and height in cells)."""

    def __init__(self, num_classes: int, in_channels: int = 1, width: int = 64) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(
            *_block(in_channels, 32),
            nn.MaxPool2d(2),
            *_block(32, 64),
            nn.MaxPool2d(2),
            *_block(64, width),
            nn.MaxPool2d(2),
            *_block(width, width),
            *_block(width, width),
        )
        self.classify = nn.Conv2d(width, num_classes + 1, 1)
        self.regress = nn.Conv2d(width, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return self.classify(f), self.regress(f), f


def _targets(
    boxes: Sequence[np.ndarray], labels: Sequence[np.ndarray], grid: tuple[int, int], num_classes: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per cell: class (background = C), box target, and whether an object is centred there."""
    n = len(boxes)
    cls = torch.full((n, *grid), num_classes, dtype=torch.long)
    reg = torch.zeros((n, 4, *grid))
    positive = torch.zeros((n, *grid), dtype=torch.bool)
    for i, (b, lab) in enumerate(zip(boxes, labels, strict=True)):
        for (x1, y1, x2, y2), c in zip(b, lab, strict=True):
            cx, cy = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE
            row, col = min(int(cy), grid[0] - 1), min(int(cx), grid[1] - 1)
            cls[i, row, col] = int(c)
            reg[i, :, row, col] = torch.tensor(
                [cx - col, cy - row, np.log(max(x2 - x1, 1) / STRIDE), np.log(max(y2 - y1, 1) / STRIDE)]
            )
            positive[i, row, col] = True
    return cls, reg, positive


def box_loss(box: torch.Tensor, goal: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """Smooth-L1 between the regressed boxes (B, 4, H, W) of object cells and their targets
    (centre offsets through a sigmoid, log sizes as they are); zero without objects."""
    if not positive.any():
        return box.sum() * 0.0
    pred = box.permute(0, 2, 3, 1)[positive]
    pred = torch.cat([torch.sigmoid(pred[:, :2]), pred[:, 2:]], dim=1)
    return nn.functional.smooth_l1_loss(pred, goal.permute(0, 2, 3, 1)[positive])


def train_detector(
    model: GridDetector,
    images: np.ndarray,
    boxes: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 2e-3,
    positive_weight: float = 10.0,
    seed: int = 0,
    progress: bool = False,
) -> list[float]:
    """Cross-entropy over every cell (object cells weighted ``positive_weight``) plus smooth-L1
    on the boxes of object cells; Adam. Returns the mean loss of each epoch."""
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    device = next(model.parameters()).device
    with torch.no_grad():
        grid = tuple(model(x[:1].to(device))[0].shape[2:])
    cls, reg, positive = _targets(boxes, labels, (grid[0], grid[1]), model.num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    report = Progress("train detector", epochs, progress)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for epoch in range(epochs):
            model.train()
            order = torch.randperm(x.shape[0])
            total = 0.0
            for start in range(0, x.shape[0], batch_size):
                idx = order[start : start + batch_size]
                logits, box, _ = model(x[idx].to(device))
                target, pos = cls[idx].to(device), positive[idx].to(device)
                weights = 1.0 + (positive_weight - 1.0) * pos.float()
                loss = (nn.functional.cross_entropy(logits, target, reduction="none") * weights).mean()
                loss = loss + box_loss(box, reg[idx].to(device), pos)
                optimizer.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                total += float(loss.detach()) * idx.shape[0]
            history.append(total / x.shape[0])
            report.update(epoch + 1)
    model.eval()
    return history


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy NMS: indices kept, best first."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.clip(
            np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]), 0, None
        )
        h = np.clip(
            np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]), 0, None
        )
        overlap = w * h / np.maximum(area[i] + area[rest] - w * h, 1e-12)
        order = rest[overlap <= iou]
    return np.array(keep, dtype=np.int64)


def detect(
    model: GridDetector,
    images: np.ndarray,
    score_threshold: float = 0.05,
    nms_iou: float = 0.5,
    max_detections: int = 100,
    batch_size: int = 128,
) -> list[Detections]:
    """Detections per image: boxes after class-wise NMS, full class probabilities (background
    last), the predicted class and score, and each box's cell feature vector."""
    out: list[Detections] = []
    for logits, box, feats in forward_batches(model, images, batch_size):
        probs = torch.softmax(logits, dim=1)
        out.extend(decode_cells(probs, box, feats, True, score_threshold, nms_iou, max_detections))
    return out


def forward_batches(model: nn.Module, images: np.ndarray, batch_size: int) -> Iterator[Any]:
    """The model's outputs on ``images`` batch by batch, in eval mode and without gradients."""
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size], dtype=np.float32))
            yield model(x.to(device))


def decode_cells(
    probs: torch.Tensor,
    box: torch.Tensor,
    feats: torch.Tensor,
    background_last: bool,
    score_threshold: float,
    nms_iou: float,
    max_detections: int,
) -> list[Detections]:
    """Detections of a batch of per-cell outputs: class probabilities (B, K, H, W) (softmax
    with the background last, or independent sigmoid scores), boxes (B, 4, H, W), features."""
    probs_np = probs.permute(0, 2, 3, 1).cpu().numpy().astype(np.float64)
    box_np = box.permute(0, 2, 3, 1).cpu().numpy().astype(np.float64)
    feats_np = feats.permute(0, 2, 3, 1).cpu().numpy()
    rows, cols = np.meshgrid(np.arange(probs_np.shape[1]), np.arange(probs_np.shape[2]), indexing="ij")
    return [
        _decode(p, b, f, rows, cols, background_last, score_threshold, nms_iou, max_detections)
        for p, b, f in zip(probs_np, box_np, feats_np, strict=True)
    ]


def _decode(
    probs: np.ndarray,
    box: np.ndarray,
    feats: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    background_last: bool,
    score_threshold: float,
    nms_iou: float,
    max_detections: int,
) -> Detections:
    foreground = probs[..., :-1] if background_last else probs
    scores, labels = foreground.max(axis=-1), foreground.argmax(axis=-1)
    hit = scores > score_threshold
    cx = (cols[hit] + 1 / (1 + np.exp(-box[hit][:, 0]))) * STRIDE
    cy = (rows[hit] + 1 / (1 + np.exp(-box[hit][:, 1]))) * STRIDE
    w, h = np.exp(np.clip(box[hit][:, 2], -5, 5)) * STRIDE, np.exp(np.clip(box[hit][:, 3], -5, 5)) * STRIDE
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    hit_labels, hit_scores = labels[hit], scores[hit]
    kept = [np.zeros(0, dtype=np.int64)]
    for c in np.unique(hit_labels):  # class-wise NMS
        members = np.flatnonzero(hit_labels == c)
        kept.append(members[_nms(boxes[members], hit_scores[members], nms_iou)])
    keep = np.concatenate(kept)
    keep = keep[np.argsort(-hit_scores[keep], kind="stable")][:max_detections]
    return Detections(
        boxes=boxes[keep],
        class_probs=probs[hit][keep],
        labels=labels[hit][keep],
        scores=scores[hit][keep],
        features=feats[hit][keep],
        background_index=probs.shape[-1] - 1 if background_last else None,
    )

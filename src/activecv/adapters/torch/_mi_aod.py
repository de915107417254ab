"""MI-AOD: multiple instance active object detection (Yuan et al., CVPR 2021), ALGORITHMS.md §8.

Two adversarial instance classifiers f1, f2 on a one-stage detector's per-location features learn
instance uncertainty (their discrepancy); a multiple-instance-learning classifier f_mil scores
each instance's relevance to the image's classes and re-weights the discrepancy, so that
background instances do not dominate. Formulas follow the released code (yuantn/MI-AOD), which
produced the published numbers; where it departs from the paper's text the docstring says so.

What a detector must expose (``MIAODDetector``): a ``backbone`` mapping images (B, ...) to one
feature map (B, D, H, W) in which every location holds ``anchors`` instances, and a box
``regressor`` on that map. MI-AOD adds f1, f2 and f_mil; the detector's own box loss and the
assignment of a class to every instance (background included) train it with
:func:`train_mi_aod` (shown for the grid detector) or with the losses below in the user's loop.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from activecv._errors import InputError
from activecv._progress import Progress
from activecv._validation import check_positive_int
from activecv.adapters.torch._detector import (
    STRIDE,
    GridDetector,
    _targets,
    box_loss,
    decode_cells,
    forward_batches,
)
from activecv.adapters.torch._train import make_optimizer
from activecv.types import Detections

BoxLoss = Callable[[torch.Tensor], torch.Tensor]
"""The detector's own box loss of a labeled batch, from the regressor's output."""

CLAMP = 1e-5  # image scores are clamped to [CLAMP, 1 - CLAMP] before the BCE, as in the code


class MIAODOutput(NamedTuple):
    """One forward pass: per-instance logits (B, N, C) of f1, f2 and f_mil (N = H * W * anchors,
    in (row, column, anchor) order), the regressor's map and the feature map."""

    logits1: torch.Tensor
    logits2: torch.Tensor
    mil: torch.Tensor
    box: torch.Tensor
    features: torch.Tensor


def _classifier(channels: int, outputs: int, tower: int, prior: float) -> nn.Sequential:
    """``tower`` 3x3 conv + ReLU layers, then a 3x3 conv to ``outputs`` whose bias starts every
    sigmoid at ``prior`` (RetinaNet's initialisation, kept by MI-AOD)."""
    layers: list[nn.Module] = []
    for _ in range(tower):
        layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
    last = nn.Conv2d(channels, outputs, 3, padding=1)
    nn.init.normal_(last.weight, std=0.01)
    nn.init.constant_(last.bias, -float(np.log((1 - prior) / prior)))  # type: ignore[arg-type]
    layers.append(last)
    return nn.Sequential(*layers)


def _instances(x: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B, A * C, H, W) -> (B, H * W * A, C)."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, num_classes)


class MIAODDetector(nn.Module):
    """A one-stage detector with MI-AOD's heads: backbone g, regressor f_r, the instance
    classifiers f1 and f2 (independent sigmoid scores per class) and the MIL classifier f_mil.

    Parameters
    ----------
    backbone : nn.Module
        Images -> one feature map (B, channels, H, W).
    regressor : nn.Module
        Feature map -> boxes (B, 4 * anchors, H, W), in the detector's own encoding.
    channels, num_classes, anchors
        Feature channels, foreground classes C, instances per location.
    tower : int
        3x3 conv + ReLU layers before each classifier's output (4 in RetinaNet; each of f1, f2,
        f_mil has its own, as in the code).
    prior : float
        Initial foreground probability of f1 and f2.
    """

    def __init__(
        self,
        backbone: nn.Module,
        regressor: nn.Module,
        channels: int,
        num_classes: int,
        anchors: int = 1,
        tower: int = 1,
        prior: float = 0.01,
    ) -> None:
        super().__init__()
        for name, value in (("num_classes", num_classes), ("anchors", anchors), ("channels", channels)):
            check_positive_int(value, name)
        if tower != 0:
            check_positive_int(tower, "tower")
        if not 0 < prior < 1:
            raise InputError(f"prior must lie in (0, 1); got {prior!r}.")
        self.num_classes, self.anchors = num_classes, anchors
        self.backbone, self.regressor = backbone, regressor
        self.f1 = _classifier(channels, anchors * num_classes, tower, prior)
        self.f2 = _classifier(channels, anchors * num_classes, tower, prior)
        self.f_mil = _classifier(channels, anchors * num_classes, tower, prior)

    @classmethod
    def grid(cls, num_classes: int, in_channels: int = 1, width: int = 64, tower: int = 1) -> MIAODDetector:
        """The shipped grid detector (one instance per cell at stride 8) with MI-AOD's heads."""
        base = GridDetector(num_classes, in_channels, width)
        return cls(base.features, base.regress, width, num_classes, 1, tower)

    def forward(self, x: torch.Tensor) -> MIAODOutput:
        f = self.backbone(x)
        c = self.num_classes
        return MIAODOutput(
            _instances(self.f1(f), c),
            _instances(self.f2(f), c),
            _instances(self.f_mil(f), c),
            self.regressor(f),
            f,
        )

    def classifiers(self) -> list[nn.Parameter]:
        """The parameters of f1 and f2 (the only ones the max step trains)."""
        return [*self.f1.parameters(), *self.f2.parameters()]


# Losses. ``classes`` (B, N) holds every instance's class in [0, C], C for background.


def focal_loss(
    logits: torch.Tensor, classes: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """RetinaNet's sigmoid focal loss summed over instances and classes, divided by the number of
    positive instances (at least 1 per image, as mmdetection counts them)."""
    c = logits.shape[-1]
    target = nn.functional.one_hot(classes, c + 1)[..., :c].to(logits.dtype)
    p = torch.sigmoid(logits)
    ce = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    weight = (alpha * target + (1 - alpha) * (1 - target)) * (1 - p_t) ** gamma
    positives = torch.clamp((classes < c).sum(dim=1), min=1).sum()
    return (weight * ce).sum() / positives


def instance_classification_loss(
    out: MIAODOutput, classes: torch.Tensor, alpha: float, gamma: float
) -> torch.Tensor:
    """Both instance classifiers' focal losses, averaged: (FL(f1) + FL(f2)) / 2."""
    return (
        focal_loss(out.logits1, classes, alpha, gamma) + focal_loss(out.logits2, classes, alpha, gamma)
    ) / 2


def mil_weights(out: MIAODOutput) -> torch.Tensor:
    """Each instance's class relevance (B, N, C): softmax over classes of f_mil times a softmax
    over the image's instances of the largest mean score max_c sigmoid((f1 + f2) / 2), the
    latter detached. The code's form: the paper's Eq. 5 takes the softmax over instances per
    class."""
    mean_scores = torch.sigmoid((out.logits1 + out.logits2).detach() / 2)
    over_instances = torch.softmax(mean_scores.max(dim=2).values, dim=1)
    return torch.softmax(out.mil, dim=2) * over_instances.unsqueeze(2)


def image_scores(weights: torch.Tensor) -> torch.Tensor:
    """Image-level class scores (B, C): the instances' MIL weights summed, clamped for the BCE."""
    return weights.sum(dim=1).clamp(CLAMP, 1 - CLAMP)


def image_labels(classes: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Multi-hot image labels (B, C): 1 for every class with at least one instance."""
    return nn.functional.one_hot(classes, num_classes + 1)[..., :num_classes].amax(dim=1).float()


def pseudo_labels(out: MIAODOutput) -> tuple[torch.Tensor, bool]:
    """Image labels of unlabeled images: class c where some instance's mean score
    (sigmoid(f1) + sigmoid(f2)) / 2 reaches 0.5; and whether every image got one (the code
    drops the batch's image loss otherwise)."""
    with torch.no_grad():
        mean = (torch.sigmoid(out.logits1) + torch.sigmoid(out.logits2)) / 2
        labels = (mean.amax(dim=1) >= 0.5).float()
    return labels, bool((labels.sum(dim=1) > 0).all())


def mil_loss(weights: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The MIL image-classification loss: binary cross-entropy of the image scores, averaged
    over images and classes."""
    return nn.functional.binary_cross_entropy(image_scores(weights), labels)


def uniform_weights(out: MIAODOutput) -> torch.Tensor:
    """The weights of a MIL head that tells nothing, 1 / (N C) everywhere: the ablation without
    re-weighting, at the same scale as :func:`mil_weights`."""
    _, n, c = out.logits1.shape
    return torch.full_like(out.logits1, 1.0 / (n * c))


def discrepancy_loss(out: MIAODOutput, weights: torch.Tensor, lam: float, maximize: bool) -> torch.Tensor:
    """``lam * sum over instances and images of mean_c(|p1 - p2| * w)`` (the min step), or with
    ``maximize`` ``lam * sum mean_c((1 - |p1 - p2|) * w)``, the max step's form of -l_dis plus
    a constant. ``weights`` are detached."""
    gap = (torch.sigmoid(out.logits1) - torch.sigmoid(out.logits2)).abs()
    if maximize:
        gap = 1 - gap
    return lam * (gap * weights.detach()).mean(dim=2).sum()


def instance_uncertainty(out: MIAODOutput, top_k: int = 10_000) -> torch.Tensor:
    """Per image (B,): the mean of the ``top_k`` largest instance discrepancies
    ``mean_c (sigmoid(f1) - sigmoid(f2))^2`` (all instances when fewer). The code's selection
    score: squared, and not re-weighted by the MIL head."""
    per_instance = (torch.sigmoid(out.logits1) - torch.sigmoid(out.logits2)).pow(2).mean(dim=2)
    k = min(int(top_k), per_instance.shape[1])
    return per_instance.topk(k, dim=1).values.mean(dim=1)


@dataclass(frozen=True)
class MIAODSettings:
    """MI-AOD's schedule and switches; defaults from the released configuration.

    Each cycle: label-set training for ``labeled_epochs``, then ``outer_loops`` times: the min
    step (f1, f2 frozen) and the max step (only f1, f2 train) for ``unlabeled_epochs`` each,
    then label-set training again. An epoch is ``repeat`` passes over the labeled set; in the
    min and max steps every labeled batch is followed by an unlabeled one (each its own step),
    drawn from as many unlabeled images as there are labeled ones. A fresh optimizer starts
    every stage; the learning rate falls tenfold for the last epoch of the last stage.

    Ablation switches: ``adversarial`` False skips the min and max steps (no instance
    uncertainty learning); ``mil`` False drops f_mil's image-classification loss and its
    weights; ``reweight`` False keeps that loss but weights the discrepancy uniformly.
    """

    labeled_epochs: int = 3
    unlabeled_epochs: int = 1
    outer_loops: int = 2
    repeat: int = 2
    lam: float = 0.5
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    batch_size: int = 2
    optimizer: str = "sgd"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4  # what the released training code hard-codes (its config's 1e-4 is unread)
    adversarial: bool = True
    mil: bool = True
    reweight: bool = True

    def __post_init__(self) -> None:
        for name in ("labeled_epochs", "unlabeled_epochs", "outer_loops"):
            value = getattr(self, name)
            if value != 0:  # zero turns a part of the schedule off
                check_positive_int(value, name)
        for name in ("repeat", "batch_size"):
            check_positive_int(getattr(self, name), name)
        for name in ("lam", "focal_alpha", "focal_gamma", "momentum", "weight_decay", "lr"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise InputError(f"{name} must be a finite number; got {value!r}.")
            if value < 0 or (name == "lr" and value == 0):
                raise InputError(f"{name} must be {'> 0' if name == 'lr' else '>= 0'}; got {value!r}.")
        if self.optimizer not in ("adam", "sgd"):
            raise InputError(f"optimizer must be 'adam' or 'sgd'; got {self.optimizer!r}.")

    def stages(self) -> list[tuple[str, int]]:
        """(stage, epochs) in order: "labeled", then per outer loop "min", "max", "labeled"."""
        plan = [("labeled", self.labeled_epochs)]
        for _ in range(self.outer_loops):
            if self.adversarial:
                plan += [("min", self.unlabeled_epochs), ("max", self.unlabeled_epochs)]
            plan.append(("labeled", self.labeled_epochs))
        return [(stage, epochs) for stage, epochs in plan if epochs > 0]


STAGES = ("labeled", "min", "max")


def set_mi_aod_stage(model: MIAODDetector, stage: str) -> list[nn.Parameter]:
    """Put ``model`` in training for ``stage``; returns the parameters it trains. "labeled":
    all; "min": all but f1 and f2; "max": only f1 and f2, the frozen layers' normalisation
    statistics kept too."""
    if stage not in STAGES:
        raise InputError(f"stage must be one of {', '.join(STAGES)}; got {stage!r}.")
    classifiers = {id(p) for p in model.classifiers()}
    for p in model.parameters():
        p.requires_grad_({"min": id(p) not in classifiers, "max": id(p) in classifiers}.get(stage, True))
    model.train()
    if stage == "max":
        for module in (model.backbone, model.regressor, model.f_mil):
            module.eval()
    return [p for p in model.parameters() if p.requires_grad]


def _weights(out: MIAODOutput, settings: MIAODSettings) -> torch.Tensor:
    return mil_weights(out) if settings.mil and settings.reweight else uniform_weights(out)


def mi_aod_loss(
    model: MIAODDetector,
    images: torch.Tensor,
    stage: str,
    settings: MIAODSettings,
    classes: torch.Tensor | None = None,
    box_loss: BoxLoss | None = None,
) -> torch.Tensor:
    """The loss of one batch in one stage, as the released code sums it:

    - labeled batch (``classes`` (B, N) in [0, C], C for background, and ``box_loss``, the
      detector's own box loss of the regressor's output): both instance classifiers' focal
      losses averaged, the box loss, and the MIL loss on true image labels except in the max step;
    - unlabeled batch, min step: the weighted discrepancy plus the MIL loss on pseudo labels;
    - unlabeled batch, max step: the max form of the weighted discrepancy.
    """
    if stage not in STAGES:
        raise InputError(f"stage must be one of {', '.join(STAGES)}; got {stage!r}.")
    if stage == "labeled" and classes is None:
        raise InputError("the labeled stage trains on labeled batches only: pass classes (B, N); got None.")
    s = settings
    out = model(images)
    if classes is not None:
        if box_loss is None:
            raise InputError(
                "a labeled batch needs box_loss, the detector's box loss of the regressor output."
            )
        loss = instance_classification_loss(out, classes, s.focal_alpha, s.focal_gamma) + box_loss(out.box)
        if s.mil and stage != "max":
            loss = loss + mil_loss(mil_weights(out), image_labels(classes, model.num_classes))
        return loss
    loss = discrepancy_loss(out, _weights(out, s), s.lam, maximize=stage == "max")
    if s.mil and stage == "min":
        labels, every_image = pseudo_labels(out)
        if every_image:
            loss = loss + mil_loss(mil_weights(out), labels)
    return loss


def _grid_box_loss(goal: torch.Tensor, positive: torch.Tensor) -> BoxLoss:
    return lambda box: box_loss(box, goal, positive)


def _grid_targets(
    model: MIAODDetector, x: torch.Tensor, boxes: Sequence[np.ndarray], labels: Sequence[np.ndarray]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Grid-detector targets of every labeled image: classes (M, N), boxes, object cells."""
    model.eval()  # the probe must not move normalisation statistics
    with torch.no_grad():
        grid = tuple(model.backbone(x[:1].to(next(model.parameters()).device)).shape[2:])
    if (grid[0] * STRIDE, grid[1] * STRIDE) != tuple(x.shape[2:]):
        raise InputError(
            f"grid targets need a backbone at stride {STRIDE}: images {tuple(x.shape[2:])} gave a "
            f"{grid[0]} x {grid[1]} feature map, expected {x.shape[2] // STRIDE} x {x.shape[3] // STRIDE}."
        )
    cls, reg, positive = _targets(boxes, labels, (grid[0], grid[1]), model.num_classes)
    return cls.reshape(cls.shape[0], -1), reg, positive


def train_mi_aod(
    model: MIAODDetector,
    images: np.ndarray,
    boxes: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    unlabeled: np.ndarray,
    settings: MIAODSettings | None = None,
    seed: int = 0,
    progress: bool = False,
) -> list[tuple[str, float]]:
    """One MI-AOD cycle on the grid detector: the stages of ``settings`` on the labeled scenes
    (``images``, ``boxes`` (M_i, 4) xyxy in pixels, ``labels`` (M_i,)) and ``unlabeled`` images.
    Returns (stage, mean loss) per epoch."""
    s = settings or MIAODSettings()
    if images.shape[0] == 0 or images.shape[0] != len(boxes) or len(boxes) != len(labels):
        raise InputError(
            f"images, boxes and labels must be non-empty and of one length; got {images.shape[0]}, "
            f"{len(boxes)}, {len(labels)}."
        )
    if s.adversarial and unlabeled.shape[0] == 0:
        raise InputError("unlabeled must hold at least one image for the min and max steps; got 0.")
    if model.anchors != 1:
        raise InputError(
            f"train_mi_aod builds grid targets (one instance a cell): anchors must be 1; got {model.anchors}."
        )
    plan = s.stages()
    total = sum(epochs for _, epochs in plan)
    history: list[tuple[str, float]] = []
    report = Progress("train MI-AOD", total, progress)
    try:
        for entry in _run_stages(model, images, boxes, labels, unlabeled, s, plan, seed):
            history.append(entry)
            report.update(len(history))
    finally:  # trainable and in eval mode again, also after an interrupted stage
        for p in model.parameters():
            p.requires_grad_(True)
        model.eval()
    return history


def _run_stages(
    model: MIAODDetector,
    images: np.ndarray,
    boxes: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    unlabeled: np.ndarray,
    s: MIAODSettings,
    plan: list[tuple[str, int]],
    seed: int,
) -> Iterator[tuple[str, float]]:
    """The stages of ``plan``; yields (stage, mean loss) after each epoch."""
    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        draw = rng.choice(unlabeled.shape[0], min(images.shape[0], unlabeled.shape[0]), replace=False)
        u = torch.from_numpy(np.ascontiguousarray(unlabeled[np.sort(draw)], dtype=np.float32))
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
        cls, reg, positive = _grid_targets(model, x, boxes, labels)
        for number, (stage, epochs) in enumerate(plan):
            optimizer = make_optimizer(
                s.optimizer, set_mi_aod_stage(model, stage), s.lr, s.momentum, s.weight_decay
            )
            for epoch in range(epochs):
                if number == len(plan) - 1 and epoch == epochs - 1:
                    for group in optimizer.param_groups:
                        group["lr"] = s.lr * 0.1
                losses = []
                for _ in range(s.repeat):
                    order, u_order = torch.randperm(x.shape[0]), torch.randperm(u.shape[0])
                    for i, start in enumerate(range(0, x.shape[0], s.batch_size)):
                        idx = order[start : start + s.batch_size]
                        goal, pos = reg[idx].to(device), positive[idx].to(device)
                        steps: list[tuple[torch.Tensor, torch.Tensor | None, BoxLoss | None]] = [
                            (x[idx].to(device), cls[idx].to(device), _grid_box_loss(goal, pos))
                        ]
                        if stage != "labeled":
                            pick = u_order[(i * s.batch_size + torch.arange(s.batch_size)) % u.shape[0]]
                            steps.append((u[pick].to(device), None, None))
                        for batch, classes, boxes_of in steps:
                            loss = mi_aod_loss(model, batch, stage, s, classes, boxes_of)
                            optimizer.zero_grad()
                            loss.backward()  # type: ignore[no-untyped-call]
                            optimizer.step()
                            losses.append(float(loss.detach()))
                yield stage, float(np.mean(losses))


def mi_aod_uncertainty(
    model: MIAODDetector, images: np.ndarray, top_k: int = 10_000, batch_size: int = 128
) -> np.ndarray:
    """Each image's MI-AOD uncertainty, float64 (N,): the ``instance_uncertainty`` input of the
    ``mi_aod`` strategy (see :func:`instance_uncertainty`)."""
    check_positive_int(top_k, "top_k")
    parts = [
        instance_uncertainty(out, int(top_k)).double().cpu().numpy()
        for out in forward_batches(model, images, batch_size)
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def detect_mi_aod(
    model: MIAODDetector,
    images: np.ndarray,
    score_threshold: float = 0.05,
    nms_iou: float = 0.5,
    max_detections: int = 100,
    batch_size: int = 128,
) -> list[Detections]:
    """Detections of a grid MI-AOD detector: f1's sigmoid scores per class (as the code tests)
    and the regressor's boxes, after class-wise NMS."""
    if model.anchors != 1:
        raise InputError(f"detect_mi_aod decodes one box per cell: anchors must be 1; got {model.anchors}.")
    out: list[Detections] = []
    for o in forward_batches(model, images, batch_size):
        b, _, h, w = o.features.shape
        probs = torch.sigmoid(o.logits1).reshape(b, h, w, -1).permute(0, 3, 1, 2)
        out.extend(decode_cells(probs, o.box, o.features, False, score_threshold, nms_iou, max_detections))
    return out

"""Detection acquisition (ALGORITHMS.md §1, §10.1): per-box uncertainty aggregated per image,
ENMS (entropy-based NMS in feature space) and EBAL's DivProto stage.

Wu, Chen & Huang. Entropy-based Active Learning for Object Detection with Progressive
Diversity Constraint. CVPR 2022.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from activecv._errors import InputError
from activecv._validation import EPS
from activecv.strategies import _uncertainty as unc
from activecv.types import Detections

ENTROPY_MODES = ("full", "foreground_renorm", "binary_top1", "sigmoid_plus_bg")
MEASURES = ("entropy", "least_confidence", "margin")
AGGREGATIONS = ("sum", "mean", "max")


def box_distributions(det: Detections, mode: str) -> np.ndarray:
    """(M, K) probability rows whose uncertainty is the box's (§1.3 ``entropy_mode``).

    full: class_probs as given; foreground_renorm: without background, renormalised;
    binary_top1: (s, 1 - s) from the predicted-class score; sigmoid_plus_bg: a background
    mass 1 - sum appended when the scores sum below 1, renormalised when above.
    """
    if mode == "binary_top1":
        return np.stack([det.scores, 1.0 - det.scores], axis=1)
    if det.class_probs is None:
        raise InputError(
            f"entropy_mode {mode!r} needs class_probs on every image; an image has only labels and "
            "scores. Use entropy_mode='binary_top1'."
        )
    if mode == "full":
        return det.class_probs
    if mode == "foreground_renorm":
        p = det.foreground_probs
        assert p is not None
        return p / np.maximum(p.sum(axis=1, keepdims=True), EPS)
    total = det.class_probs.sum(axis=1, keepdims=True)
    rest = np.clip(1.0 - total, 0.0, None)
    p = np.concatenate([det.class_probs, rest], axis=1)
    return p / np.maximum(p.sum(axis=1, keepdims=True), EPS)


_BOX_MEASURES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "entropy": unc._entropy,
    "least_confidence": unc._least_confidence,
    "margin": unc._margin,
}


def box_uncertainty(det: Detections, measure: str, mode: str) -> np.ndarray:
    """Per-box uncertainty (M,) float64."""
    if len(det) == 0:
        return np.zeros(0)
    return _BOX_MEASURES[measure](np.asarray(box_distributions(det, mode), dtype=np.float64))


def aggregate(values: np.ndarray, how: str) -> float:
    """sum, mean or max over an image's boxes; 0 without boxes."""
    if values.shape[0] == 0:
        return 0.0
    if how == "sum":
        return float(values.sum())
    return float(values.mean() if how == "mean" else values.max())


def unit_features(det: Detections) -> np.ndarray:
    """L2-normalised box features; rows without features (NaN) become zero vectors."""
    if det.features is None:
        raise InputError(
            "enms and ebal need per-box features (Detections(features=...)) on every image with boxes; "
            "an image has none. Export the detector's per-box features, or use detection_entropy."
        )
    f = np.nan_to_num(det.features, nan=0.0)
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), EPS)


def enms(
    entropy: np.ndarray, labels: np.ndarray, features: np.ndarray, threshold: float
) -> tuple[float, np.ndarray]:
    """Entropy-based NMS of one image (§1.4): (score, kept box indices in keep order).

    Repeatedly keep the most uncertain box left (ties: lowest index) and drop the boxes of the
    same predicted class whose cosine similarity to it exceeds ``threshold``.
    """
    order = np.argsort(-entropy, kind="stable")
    suppress = (labels[:, None] == labels[None, :]) & (features @ features.T > threshold)
    alive = np.ones(entropy.shape[0], dtype=bool)
    keep = []
    for j in order:
        if alive[j]:
            keep.append(j)
            alive &= ~suppress[j]
    kept = np.array(keep, dtype=np.int64)
    return float(entropy[kept].sum()), kept


def prototypes(
    entropy: np.ndarray, labels: np.ndarray, features: np.ndarray, members: np.ndarray
) -> dict[int, np.ndarray]:
    """Entropy-weighted, unit-length class prototypes over the boxes ``members`` (§1.5)."""
    out = {}
    for c in np.unique(labels[members]):
        boxes = members[labels[members] == c]
        weights = entropy[boxes]
        if weights.sum() > 0:
            proto = weights @ features[boxes] / weights.sum()
        else:
            proto = features[boxes].mean(axis=0)
        out[int(c)] = proto / max(float(np.linalg.norm(proto)), EPS)
    return out


@dataclass
class ImageSummary:
    """What EBAL needs of one image after stage 1."""

    score: float  # E_enms
    score_sum: float  # E_sum
    keep: np.ndarray
    prototypes: dict[int, np.ndarray]
    presence: np.ndarray  # (C,) p_i(c) over the kept boxes


def summarize_image(
    det: Detections, num_classes: int, mode: str, t_enms: float, prototype_instances: str, presence: str
) -> ImageSummary:
    """Stage 1 of EBAL for one image: entropies, ENMS, prototypes and class presence."""
    present = np.zeros(num_classes)
    if len(det) == 0:
        return ImageSummary(0.0, 0.0, np.zeros(0, dtype=np.int64), {}, present)
    if det.num_classes is not None and det.num_classes != num_classes:
        raise InputError(
            f"labeled_class_counts has {num_classes} classes but an image's class_probs have "
            f"{det.num_classes} foreground columns."
        )
    if det.labels.max() >= num_classes:
        raise InputError(
            f"a box is labeled class {det.labels.max()}; labeled_class_counts has {num_classes}."
        )
    h = box_uncertainty(det, "entropy", mode)
    f = unit_features(det)
    score, keep = enms(h, det.labels, f, t_enms)
    members = keep if prototype_instances == "kept" else np.arange(len(det))
    foreground = det.foreground_probs
    if presence == "max_prob" and foreground is not None:
        present = foreground[keep].max(axis=0)
    else:
        np.maximum.at(present, det.labels[keep], det.scores[keep])
    return ImageSummary(score, float(h.sum()), keep, prototypes(h, det.labels, f, members), present)


@dataclass
class _Banks:
    """Unit prototypes of the images accepted so far, per class."""

    dim: int
    capacity: int
    rows: dict[int, np.ndarray] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)

    def similarity(self, c: int, proto: np.ndarray) -> float | None:
        n = self.counts.get(c, 0)
        return float((self.rows[c][:n] @ proto).max()) if n else None

    def add(self, protos: dict[int, np.ndarray]) -> None:
        for c, proto in protos.items():
            if c not in self.rows:
                self.rows[c] = np.empty((self.capacity, self.dim))
                self.counts[c] = 0
            self.rows[c][self.counts[c]] = proto
            self.counts[c] += 1


@dataclass(frozen=True)
class EbalParams:
    """§1.9 hyper-parameters."""

    t_enms: float = 0.5
    t_intra: float = 0.7
    t_inter: float = 0.3
    alpha: float = 0.5
    beta: float = 0.75
    entropy_mode: str = "full"
    prototype_instances: str = "kept"
    novel_class_policy: str = "accept"
    presence: str = "max_prob"
    fill_mode: str = "entropy"


def minority_quotas(
    labeled_class_counts: np.ndarray, alpha: float, beta: float, budget: int
) -> dict[int, int]:
    """The floor(alpha * C) classes with the fewest labeled boxes (ties: lower id) and their
    quotas max(1, floor(beta * budget / m)) (§1.7). alpha = 0 disables the balance test."""
    m = int(np.floor(alpha * labeled_class_counts.shape[0]))
    if alpha > 0 and m == 0:
        m = 1
    if m == 0:
        return {}
    minority = np.argsort(labeled_class_counts, kind="stable")[:m]
    quota = max(1, int(np.floor(beta * budget / m)))
    return {int(c): quota for c in minority}


def _intra_similarity(prototypes: dict[int, np.ndarray], banks: _Banks, novel_class_policy: str) -> float:
    """m_intra (§1.6): the lowest similarity of an image's class prototypes to the accepted
    prototypes of their class; -1 without any to compare.

    A class no accepted image has yet counts as -1 (the image is novel) under
    ``novel_class_policy`` "accept", and is left out otherwise.
    """
    sims = []
    for c, proto in prototypes.items():
        sim = banks.similarity(c, proto)
        if sim is not None:
            sims.append(sim)
        elif novel_class_policy == "accept":
            sims.append(-1.0)  # a class not covered yet makes the image novel
    return min(sims) if sims else -1.0


def _spend_quotas(active: dict[int, float], presence: np.ndarray, t_inter: float, amount: float) -> None:
    """``amount`` of quota (1 image, or the image's cost) off every minority class the accepted
    image shows (presence above ``t_inter``); classes whose quota is used up leave ``active``."""
    for c in [c for c in active if presence[c] > t_inter]:
        active[c] -= amount
        if active[c] <= 0:
            del active[c]


@dataclass
class _Allowance:
    """What is left of the budget: a count of images is a cost budget where every image costs 1."""

    costs: np.ndarray  # (n,) per unlabeled image
    left: float

    def fits(self, i: int) -> bool:
        return bool(self.costs[i] <= self.left)

    def spend(self, i: int) -> None:
        self.left -= float(self.costs[i])

    def exhausted(self) -> bool:
        return bool(self.left < self.costs.min())


def _fill(order: np.ndarray, taken: np.ndarray, allowance: _Allowance) -> list[int]:
    """The images of ``order`` not yet taken that still fit, in order (an image too dear for
    what is left is passed over for cheaper ones after it): the fill-up."""
    out = []
    for i in order:
        if not taken[i] and allowance.fits(int(i)):
            allowance.spend(int(i))
            out.append(int(i))
    return out


def _quotas(
    labeled_class_counts: np.ndarray, params: EbalParams, budget: float, costs: np.ndarray | None
) -> dict[int, float]:
    """Minority quotas in images (§1.7), or with ``costs`` in annotation cost: the share
    ``beta`` of the cost budget, split evenly over the minority classes."""
    quotas = minority_quotas(labeled_class_counts, params.alpha, params.beta, max(1, int(budget)))
    if costs is None or not quotas:
        return {c: float(q) for c, q in quotas.items()}
    return {c: params.beta * budget / len(quotas) for c in quotas}


def ebal_select(
    images: Sequence[ImageSummary],
    positions: np.ndarray,
    labeled_class_counts: np.ndarray,
    budget: float,
    params: EbalParams,
    *,
    costs: np.ndarray | None = None,
    normalise: bool = True,
) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    """Stage 2 of EBAL (§1.6-1.8) over unlabeled ``images`` at pool ``positions``.

    ``budget`` counts images; with ``costs`` (one positive cost per image) it is an annotation
    cost budget instead: the walk visits images by ENMS score per unit cost (by score with
    ``normalise=False``), accepts an image only if it also fits what is left of the budget
    (passing over a dear one for cheaper ones after it), the minority quotas are shares of the
    cost and are spent by the cost of each accepted image.

    Returns the accepted pool positions in acceptance order, their ENMS scores and diagnostics.
    """
    scores = np.array([image.score for image in images])
    unit = np.ones(len(images)) if costs is None else costs
    keys = scores / unit if costs is not None and normalise else scores
    order = np.argsort(-keys, kind="stable")  # ties: lower position first
    allowance = _Allowance(unit, float(budget))
    if unit.sum() <= budget:  # everything is taken: no diversity to enforce
        return positions[order], scores[order], {"stage2": "skipped: budget >= unlabeled pool"}
    dims = [p.shape[0] for image in images for p in image.prototypes.values()]
    banks = _Banks(dims[0] if dims else 1, min(len(images), int(budget // unit.min()) + 1))
    quotas = _quotas(labeled_class_counts, params, budget, costs)
    active = dict(quotas)
    accepted: list[int] = []
    taken = np.zeros(len(images), dtype=bool)
    rejected = {"intra": 0, "inter": 0} | ({"too_dear": 0} if costs is not None else {})
    m_intra_of: dict[int, float] = {}
    m_inter_of: dict[int, float] = {}

    def walk(t_intra: float, use_inter: bool) -> None:
        for i in order:
            if allowance.exhausted():
                return
            if taken[i]:
                continue
            if not allowance.fits(int(i)):
                rejected["too_dear"] = rejected.get("too_dear", 0) + 1  # cost budgets only
                continue
            image = images[i]
            m_intra = _intra_similarity(image.prototypes, banks, params.novel_class_policy)
            m_intra_of[int(positions[i])] = m_intra
            if m_intra > t_intra:
                rejected["intra"] += 1
                continue
            if use_inter and active:
                m_inter = float(image.presence[list(active)].max())
                m_inter_of[int(positions[i])] = m_inter
                if m_inter <= params.t_inter:
                    rejected["inter"] += 1
                    continue
            accepted.append(int(i))
            taken[i] = True
            allowance.spend(int(i))
            banks.add(image.prototypes)
            if use_inter:
                _spend_quotas(active, image.presence, params.t_inter, float(unit[i]))

    walk(params.t_intra, use_inter=True)
    n_diverse = len(accepted)
    if params.fill_mode == "relax":
        walk(params.t_intra + 0.1, use_inter=False)
    n_relaxed = len(accepted) - n_diverse
    accepted += _fill(order, taken, allowance)
    chosen = np.array(accepted, dtype=np.int64)
    info: dict[str, object] = {
        "accepted_by_diversity": n_diverse,
        "accepted_by_relaxed_walk": n_relaxed,
        "filled_by_score": len(accepted) - n_diverse - n_relaxed,
        "rejected": rejected,
        "minority_quotas": quotas if costs is not None else {c: int(q) for c, q in quotas.items()},
        "quotas_left": {c: active.get(c, 0) if costs is not None else int(active.get(c, 0)) for c in quotas},
        "m_intra": m_intra_of,
        "m_inter": m_inter_of,
    }
    if costs is not None:
        info["cost_spent"] = float(unit[chosen].sum())
    return positions[chosen], scores[chosen], info

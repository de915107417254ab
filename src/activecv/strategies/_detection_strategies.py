"""Registered detection strategies: per-box uncertainty per image, ENMS and EBAL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from activecv._progress import Progress
from activecv.strategies._base import (
    BatchStrategy,
    Context,
    Requirements,
    ScoreStrategy,
    check_choice,
    check_number,
    register,
)
from activecv.strategies._detection import (
    AGGREGATIONS,
    ENTROPY_MODES,
    MEASURES,
    EbalParams,
    aggregate,
    box_uncertainty,
    ebal_select,
    enms,
    summarize_image,
    unit_features,
)
from activecv.strategies._pool import Pool
from activecv.types import Selection


@register
@dataclass(frozen=True)
class DetectionUncertainty(ScoreStrategy):
    """Per-box uncertainty aggregated per image (ALGORITHMS.md §10.1).

    Parameters
    ----------
    aggregation : {"sum", "mean", "max"}
        Over the image's boxes; an image without boxes scores 0.
    measure : {"entropy", "least_confidence", "margin"}
    entropy_mode : {"full", "foreground_renorm", "binary_top1", "sigmoid_plus_bg"}
        Which probability vector a box's uncertainty is computed on (§1.3); "binary_top1" needs
        only scores, "sigmoid_plus_bg" suits sigmoid heads.
    """

    name: ClassVar[str] = "detection_entropy"
    description: ClassVar[str] = "per-box entropy (or margin, least confidence) summed per image"
    requires: ClassVar[Requirements] = (("detections",),)
    aggregation: str = "sum"
    measure: str = "entropy"
    entropy_mode: str = "full"

    def __post_init__(self) -> None:
        check_choice(self.aggregation, "aggregation", AGGREGATIONS)
        check_choice(self.measure, "measure", MEASURES)
        check_choice(self.entropy_mode, "entropy_mode", ENTROPY_MODES)

    def score_chunk(self, chunk: dict[str, np.ndarray], rows: int, rng: np.random.Generator) -> np.ndarray:
        return np.array(
            [
                aggregate(box_uncertainty(det, self.measure, self.entropy_mode), self.aggregation)
                for det in chunk["detections"]
            ]
        )


@register
@dataclass(frozen=True)
class Enms(ScoreStrategy):
    """Summed box entropy after entropy-based NMS in feature space (Wu et al. 2022, stage 1):
    same-class boxes that look alike count once.

    Parameters
    ----------
    t_enms : float
        Cosine similarity above which a same-class box is redundant (0.5).
    entropy_mode : str
        As for ``detection_entropy``.
    """

    name: ClassVar[str] = "enms"
    description: ClassVar[str] = "summed box entropy after entropy-based NMS in feature space (EBAL stage 1)"
    requires: ClassVar[Requirements] = (("detections",),)
    t_enms: float = 0.5
    entropy_mode: str = "full"

    def __post_init__(self) -> None:
        check_number(self.t_enms, "t_enms", -1.0)
        check_choice(self.entropy_mode, "entropy_mode", ENTROPY_MODES)

    def score_chunk(self, chunk: dict[str, np.ndarray], rows: int, rng: np.random.Generator) -> np.ndarray:
        out = np.zeros(rows)
        for i, det in enumerate(chunk["detections"]):
            if len(det):
                h = box_uncertainty(det, "entropy", self.entropy_mode)
                out[i] = enms(h, det.labels, unit_features(det), self.t_enms)[0]
        return out


@register
@dataclass(frozen=True)
class Ebal(EbalParams, BatchStrategy):
    """EBAL (Wu, Chen & Huang, CVPR 2022): ENMS scores, then a greedy walk that accepts an image
    only if a class prototype of it is new (intra-class diversity) and, while minority classes
    have quota, it likely shows one (inter-class balance); fill-up by score.

    Parameters follow ALGORITHMS.md §1.9: ``t_enms`` 0.5, ``t_intra`` 0.7 (re-tune for features
    not from the detector), ``t_inter`` 0.3, ``alpha`` 0.5 (fraction of classes that are
    minority; 0 disables the balance test), ``beta`` 0.75 (budget share reserved for them),
    ``entropy_mode``, ``prototype_instances`` ("kept" | "all"), ``novel_class_policy``
    ("accept" | "ignore"), ``presence`` ("max_prob" | "pred_label"), ``fill_mode``
    ("entropy" | "relax").

    ``Selection.info`` holds every image's ENMS and summed-entropy scores, the kept boxes, the
    M_intra / M_inter of each visited image, reject counts and the quotas.
    """

    name: ClassVar[str] = "ebal"
    description: ClassVar[str] = "ENMS + diverse class prototypes + minority-class budget (Wu et al. 2022)"
    requires: ClassVar[Requirements] = (("detections", "labeled_class_counts"),)

    def __post_init__(self) -> None:
        for name in ("t_enms", "t_intra", "t_inter"):
            check_number(getattr(self, name), name, -1.0)
        for name in ("alpha", "beta"):
            check_number(getattr(self, name), name, 0.0)
        check_choice(self.entropy_mode, "entropy_mode", ENTROPY_MODES)
        check_choice(self.prototype_instances, "prototype_instances", ("kept", "all"))
        check_choice(self.novel_class_policy, "novel_class_policy", ("accept", "ignore"))
        check_choice(self.presence, "presence", ("max_prob", "pred_label"))
        check_choice(self.fill_mode, "fill_mode", ("entropy", "relax"))

    def select(self, pool: Pool, budget: int, ctx: Context) -> Selection:
        return self._select(pool, budget, ctx, None, normalise=True)

    def select_within_cost(
        self, pool: Pool, cost_budget: float, costs: np.ndarray, ctx: Context, normalise: bool
    ) -> Selection:
        """EBAL under an annotation cost budget (``costs`` (N,) per pool image, validated):
        see ``ebal_select``; ``info["cost_spent"]`` is what the selection costs."""
        return self._select(pool, cost_budget, ctx, costs, normalise)

    def _select(
        self, pool: Pool, budget: float, ctx: Context, costs: np.ndarray | None, normalise: bool
    ) -> Selection:
        detections = pool.full("detections")
        counts = pool.shared("labeled_class_counts")
        positions = np.flatnonzero(ctx.unlabeled(0, detections.shape[0]))
        progress = Progress("ebal stage 1", positions.shape[0], ctx.progress)
        images = []
        for done, i in enumerate(positions, 1):
            images.append(
                summarize_image(
                    detections[i],
                    counts.shape[0],
                    self.entropy_mode,
                    self.t_enms,
                    self.prototype_instances,
                    self.presence,
                )
            )
            progress.update(done)
        indices, scores, info = ebal_select(
            images,
            positions,
            counts,
            budget,
            self,
            costs=None if costs is None else costs[positions],
            normalise=normalise,
        )
        info.update(
            positions=positions,
            enms_scores=np.array([image.score for image in images]),
            entropy_sums=np.array([image.score_sum for image in images]),
            kept=tuple(image.keep for image in images),
        )
        return Selection(indices, scores, self.name, info)

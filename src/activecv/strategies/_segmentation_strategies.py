"""Registered image-level strategies for semantic segmentation: a per-pixel uncertainty
(entropy, margin, least confidence, or BALD from MC samples) aggregated per image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from activecv._errors import InputError
from activecv.strategies import _segmentation as seg
from activecv.strategies._base import Requirements, ScoreStrategy, check_choice, check_number, register
from activecv.strategies._pool import Pool


@dataclass(frozen=True)
class _SegmentationScore(ScoreStrategy):
    """Per-image score: the ``aggregate`` ("mean", "max", or "top_q": the mean of the ``q``
    most uncertain fraction) of the pixels' uncertainty, over pixels not in ``ignore_mask``.
    With ``class_balanced``, each pixel is first weighted by its predicted class's weight
    ``w_c`` proportional to ``1 / (n_c + 1)`` for the labeled pixels ``n_c`` of the class
    (``labeled_class_counts``), scaled to mean 1 (ALGORITHMS.md §9)."""

    aggregate: str = "mean"
    q: float = 0.1
    class_balanced: bool = False
    measure: ClassVar[str] = "entropy"  # per pixel: entropy, margin, least_confidence, bald
    maps: ClassVar[str] = "seg_probs"

    def __post_init__(self) -> None:
        check_choice(self.aggregate, "aggregate", seg.AGGREGATES)
        check_number(self.q, "q", 0.0, low_inclusive=False)
        if self.q > 1:
            raise InputError(f"q must be a fraction in (0, 1]; got {self.q!r}.")
        if not isinstance(self.class_balanced, bool):
            raise InputError(f"class_balanced must be true or false; got {self.class_balanced!r}.")

    def requirements(self) -> Requirements:
        extra = ("labeled_class_counts",) if self.class_balanced else ()
        return ((self.maps, *extra),)

    def inputs_needed(self, pool: Pool) -> tuple[str, ...]:
        super().inputs_needed(pool)  # the error for a missing input
        return (self.maps, "ignore_mask") if "ignore_mask" in pool.names else (self.maps,)

    def constants(self, pool: Pool) -> dict[str, np.ndarray]:
        return (
            {"class_weights": seg.class_weights(pool.shared("labeled_class_counts"))}
            if self.class_balanced
            else {}
        )

    def pixel_scores(self, maps: np.ndarray) -> np.ndarray:
        if self.measure == "bald":
            return seg.pixel_bald(maps)
        return seg.pixel_uncertainty(maps, self.measure)

    def score_chunk(self, chunk: dict[str, np.ndarray], rows: int, rng: np.random.Generator) -> np.ndarray:
        maps = chunk[self.maps]
        valid = None
        if "ignore_mask" in chunk:
            ignore = chunk["ignore_mask"]
            expected = (maps.shape[0], *maps.shape[-2:])
            if ignore.shape != expected:
                raise InputError(
                    f"ignore_mask must have one (H, W) mask per image, shape {expected}; got {ignore.shape}."
                )
            valid = ~ignore
        weights = None
        if "class_weights" in chunk:
            w = chunk["class_weights"]
            probs = maps if maps.ndim == 4 else maps.mean(axis=1)
            if w.shape[0] != probs.shape[1]:
                raise InputError(
                    f"labeled_class_counts must have one count per class ({probs.shape[1]}); "
                    f"got {w.shape[0]}."
                )
            weights = w[seg.class_argmax(probs)]
        return seg.image_scores(self.pixel_scores(maps), self.aggregate, self.q, valid, weights)


@register
@dataclass(frozen=True)
class SegEntropy(_SegmentationScore):
    name: ClassVar[str] = "seg_entropy"
    description: ClassVar[str] = "segmentation: pixel entropy, aggregated per image (mean, max, top q)"


@register
@dataclass(frozen=True)
class SegMargin(_SegmentationScore):
    name: ClassVar[str] = "seg_margin"
    description: ClassVar[str] = "segmentation: pixel 1 - (p1 - p2), aggregated per image"
    measure: ClassVar[str] = "margin"


@register
@dataclass(frozen=True)
class SegLeastConfidence(_SegmentationScore):
    name: ClassVar[str] = "seg_least_confidence"
    description: ClassVar[str] = "segmentation: pixel 1 - max probability, aggregated per image"
    measure: ClassVar[str] = "least_confidence"


@register
@dataclass(frozen=True)
class SegBald(_SegmentationScore):
    name: ClassVar[str] = "seg_bald"
    description: ClassVar[str] = "segmentation: pixel BALD from K MC samples, aggregated per image"
    measure: ClassVar[str] = "bald"
    maps: ClassVar[str] = "seg_mc_probs"

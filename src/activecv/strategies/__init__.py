"""Acquisition core: scoring and batch selection, arrays in, ranked indices out (numpy only)."""

from activecv.strategies import (  # noqa: F401  (registration)
    _batch_strategies,
    _detection_strategies,
    _score_strategies,
    _segmentation_strategies,
)
from activecv.strategies._api import draw_candidates, score, select
from activecv.strategies._base import (
    BatchStrategy,
    ScoreStrategy,
    Strategy,
    format_requirements,
    get_strategy,
    list_strategies,
    resolve_strategy,
)
from activecv.strategies._batchbald import batchbald
from activecv.strategies._bayesian import bald, mean_std, predictive_entropy, variation_ratio
from activecv.strategies._coreset import kcenter_greedy
from activecv.strategies._cost import detection_costs, select_within_cost
from activecv.strategies._detection import box_distributions, box_uncertainty, enms
from activecv.strategies._ranking import top_k
from activecv.strategies._regions import grid_regions, select_regions, take_within_budget
from activecv.strategies._segmentation import class_weights, image_scores, pixel_bald, pixel_uncertainty
from activecv.strategies._stochastic import stochastic_sample
from activecv.strategies._uncertainty import (
    entropy,
    least_confidence,
    margin,
    ratio,
    softmax,
    uncertainty_measures,
)

__all__ = [
    "BatchStrategy",
    "ScoreStrategy",
    "Strategy",
    "bald",
    "batchbald",
    "box_distributions",
    "box_uncertainty",
    "class_weights",
    "detection_costs",
    "draw_candidates",
    "enms",
    "entropy",
    "format_requirements",
    "get_strategy",
    "grid_regions",
    "image_scores",
    "kcenter_greedy",
    "least_confidence",
    "list_strategies",
    "margin",
    "mean_std",
    "pixel_bald",
    "pixel_uncertainty",
    "predictive_entropy",
    "ratio",
    "resolve_strategy",
    "score",
    "select",
    "select_regions",
    "select_within_cost",
    "softmax",
    "stochastic_sample",
    "take_within_budget",
    "top_k",
    "uncertainty_measures",
    "variation_ratio",
]

"""Registered score-based strategies: uncertainty, Bayesian, random and stochastic sampling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from activecv._errors import InputError
from activecv.strategies import _bayesian as bayes
from activecv.strategies import _uncertainty as unc
from activecv.strategies._base import (
    Context,
    Requirements,
    ScoreStrategy,
    check_choice,
    check_number,
    get_strategy,
    register,
)
from activecv.strategies._pool import Pool
from activecv.strategies._ranking import Screen, top_k
from activecv.strategies._stochastic import MODES, gumbel, log_weights, softrank_log_weights
from activecv.types import Selection


@dataclass(frozen=True)
class _KernelStrategy(ScoreStrategy):
    """A score that is a pure function of one canonical input (``requires[0][0]``)."""

    kernel: ClassVar[staticmethod[[np.ndarray], np.ndarray]]
    screener: ClassVar[staticmethod[[np.ndarray, np.ndarray, bool], tuple[float, bool]] | None] = None

    def screen(self) -> Screen | None:
        return type(self).screener

    def score_chunk(self, chunk: dict[str, np.ndarray], rows: int, rng: np.random.Generator) -> np.ndarray:
        return type(self).kernel(chunk[self.requires[0][0]])


@register
@dataclass(frozen=True)
class LeastConfidence(_KernelStrategy):
    name: ClassVar[str] = "least_confidence"
    description: ClassVar[str] = "1 - max probability"
    requires: ClassVar[Requirements] = (("probs",),)
    kernel = staticmethod(unc._least_confidence)
    screener = staticmethod(unc._least_confidence_screen)


@register
@dataclass(frozen=True)
class Margin(_KernelStrategy):
    name: ClassVar[str] = "margin"
    description: ClassVar[str] = "1 - (p1 - p2): smallest gap between the top two classes"
    requires: ClassVar[Requirements] = (("probs",),)
    kernel = staticmethod(unc._margin)
    screener = staticmethod(unc._margin_screen)


@register
@dataclass(frozen=True)
class Ratio(_KernelStrategy):
    name: ClassVar[str] = "ratio"
    description: ClassVar[str] = "p2 / p1: ratio of the top two probabilities"
    requires: ClassVar[Requirements] = (("probs",),)
    kernel = staticmethod(unc._ratio)
    screener = staticmethod(unc._ratio_screen)


@register
@dataclass(frozen=True)
class Entropy(_KernelStrategy):
    name: ClassVar[str] = "entropy"
    description: ClassVar[str] = "Shannon entropy of the prediction"
    requires: ClassVar[Requirements] = (("probs",),)
    kernel = staticmethod(unc._entropy)
    screener = staticmethod(unc._entropy_screen)


@register
@dataclass(frozen=True)
class PredictiveEntropy(_KernelStrategy):
    name: ClassVar[str] = "predictive_entropy"
    description: ClassVar[str] = "entropy of the mean of K MC-dropout or ensemble predictions"
    requires: ClassVar[Requirements] = (("mc_probs",),)
    kernel = staticmethod(bayes._predictive_entropy)
    screener = staticmethod(bayes._predictive_entropy_screen)


@register
@dataclass(frozen=True)
class Bald(_KernelStrategy):
    name: ClassVar[str] = "bald"
    description: ClassVar[str] = "mutual information between label and model parameters"
    requires: ClassVar[Requirements] = (("mc_probs",),)
    kernel = staticmethod(bayes._bald)
    screener = staticmethod(bayes._bald_screen)


@register
@dataclass(frozen=True)
class VariationRatio(_KernelStrategy):
    name: ClassVar[str] = "variation_ratio"
    description: ClassVar[str] = "1 - frequency of the modal arg-max over K passes"
    requires: ClassVar[Requirements] = (("mc_probs",),)
    kernel = staticmethod(bayes._variation_ratio)
    screener = staticmethod(bayes._variation_ratio_screen)


@register
@dataclass(frozen=True)
class MeanStd(_KernelStrategy):
    name: ClassVar[str] = "mean_std"
    description: ClassVar[str] = "mean over classes of the std of p_c over K passes"
    requires: ClassVar[Requirements] = (("mc_probs",),)
    kernel = staticmethod(bayes._mean_std)
    screener = staticmethod(bayes._mean_std_screen)


@register
@dataclass(frozen=True)
class LearningLoss(ScoreStrategy):
    """Rank by the loss a learning-loss module predicts (Yoo & Kweon 2019)."""

    name: ClassVar[str] = "learning_loss"
    description: ClassVar[str] = "loss predicted by a learning-loss module (Yoo & Kweon 2019)"
    requires: ClassVar[Requirements] = (("predicted_loss",),)

    def score_chunk(self, chunk: dict[str, np.ndarray], rows: int, rng: np.random.Generator) -> np.ndarray:
        return np.asarray(chunk["predicted_loss"], dtype=np.float64)


@register
@dataclass(frozen=True)
class MIAOD(ScoreStrategy):
    """Rank images by the instance uncertainty MI-AOD learns (Yuan et al., CVPR 2021): the mean
    of an image's top-k instance discrepancies, computed by ``adapters.torch.mi_aod_uncertainty``."""

    name: ClassVar[str] = "mi_aod"
    description: ClassVar[str] = "MI-AOD instance uncertainty of a detector with its heads (Yuan et al. 2021)"
    requires: ClassVar[Requirements] = (("instance_uncertainty",),)

    def score_chunk(self, chunk: dict[str, np.ndarray], rows: int, rng: np.random.Generator) -> np.ndarray:
        return np.asarray(chunk["instance_uncertainty"], dtype=np.float64)


@register
@dataclass(frozen=True)
class RandomSampling(ScoreStrategy):
    """Uniform sampling without replacement: the baseline every strategy must beat."""

    name: ClassVar[str] = "random"
    description: ClassVar[str] = "uniform sampling without replacement (the baseline)"
    stochastic: ClassVar[bool] = True

    def score_chunk(self, chunk: dict[str, np.ndarray], rows: int, rng: np.random.Generator) -> np.ndarray:
        return rng.random(rows)


@register
@dataclass(frozen=True)
class StochasticSampling(ScoreStrategy):
    """Sample the batch in proportion to a base strategy's scores (power/softmax/softrank).

    Parameters
    ----------
    base : str
        A score-based strategy name (e.g. "margin", "bald").
    mode : {"power", "softmax", "softrank"}
    beta : float
        Coldness >= 0: 0 is uniform, large values approach top-k.
    """

    name: ClassVar[str] = "stochastic"
    description: ClassVar[str] = "sample the batch in proportion to any score (power/softmax/softrank)"
    stochastic: ClassVar[bool] = True
    base: str = "entropy"
    mode: str = "power"
    beta: float = 1.0

    def __post_init__(self) -> None:
        check_choice(self.mode, "mode", MODES)
        check_number(self.beta, "beta", 0.0)
        if not isinstance(self._base(), ScoreStrategy) or isinstance(self._base(), StochasticSampling):
            raise InputError(
                f"base must be a deterministic score-based strategy; {self.base!r} is not "
                "(batch and random strategies cannot be sampled by score)."
            )

    def _base(self) -> ScoreStrategy:
        return get_strategy(self.base)  # type: ignore[return-value]

    def requirements(self) -> Requirements:
        return self._base().requirements()

    def score_chunk(self, chunk: dict[str, np.ndarray], rows: int, rng: np.random.Generator) -> np.ndarray:
        return self._base().score_chunk(chunk, rows, rng)

    def keys(self, scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return log_weights(scores, self.mode, self.beta) + gumbel(rng, scores.shape[0])

    def select(self, pool: Pool, budget: int, ctx: Context) -> Selection:
        if self.mode != "softrank":
            streamed = super().select(pool, budget, ctx)
            indices, scores = streamed.indices, streamed.scores
        else:  # ranks need every score: O(N) memory
            scores = self.scores(pool, ctx.rng)
            ranked = scores.copy()
            ranked[ctx.labeled] = -np.inf  # rank among unlabeled items only
            keys = softrank_log_weights(ranked, self.beta) + gumbel(ctx.rng, scores.shape[0])
            keys[ctx.labeled] = -np.inf
            chosen = top_k(keys, budget)
            indices = chosen[np.isfinite(keys[chosen])]
            scores = scores[indices]
        info = {"base": self.base, "mode": self.mode, "beta": self.beta}
        return Selection(indices, scores, self.name, info)


@register
@dataclass(frozen=True)
class PowerBald(StochasticSampling):
    """PowerBALD: sample the batch with ``p ∝ BALD^beta`` (mode and beta configurable)."""

    name: ClassVar[str] = "power_bald"
    description: ClassVar[str] = "sample the batch in proportion to BALD^beta (Kirsch et al. 2023)"
    base: str = field(default="bald", init=False)


@register
@dataclass(frozen=True)
class PowerEntropy(StochasticSampling):
    """PowerEntropy: sample with ``p ∝ H^beta``; predictive entropy from ``mc_probs``, or the
    entropy of ``probs`` for a deterministic model."""

    name: ClassVar[str] = "power_entropy"
    description: ClassVar[str] = "sample the batch in proportion to (predictive) entropy^beta"
    base: str = field(default="predictive_entropy", init=False)

    def requirements(self) -> Requirements:
        return (("mc_probs",), ("probs",))

    def score_chunk(self, chunk: dict[str, np.ndarray], rows: int, rng: np.random.Generator) -> np.ndarray:
        if "mc_probs" in chunk:
            return bayes._predictive_entropy(chunk["mc_probs"])
        return unc._entropy(chunk["probs"])

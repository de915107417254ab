"""The public entry points: ``select`` and ``score``."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from activecv._errors import EmptyPoolError, InputError, PoolExhaustedError
from activecv._validation import RngLike, as_rng, check_budget, check_positive_int, labeled_positions
from activecv.strategies._base import Context, ScoreStrategy, Strategy, resolve_strategy
from activecv.strategies._pool import Pool
from activecv.types import Selection

ArrayOrStream = npt.ArrayLike | Any  # an array-like, or an iterator of row chunks


def select(
    strategy: str | Strategy,
    budget: int,
    *,
    rng: RngLike = None,
    labeled: npt.ArrayLike | None = None,
    candidates: int | None = None,
    temperature: float | None = None,
    progress: bool = False,
    pool_scores: bool = False,
    probs: ArrayOrStream = None,
    logits: ArrayOrStream = None,
    mc_probs: ArrayOrStream = None,
    mc_log_probs: ArrayOrStream = None,
    embeddings: ArrayOrStream = None,
    gradient_embeddings: ArrayOrStream = None,
    cluster_ids: ArrayOrStream = None,
    predicted_loss: ArrayOrStream = None,
    instance_uncertainty: ArrayOrStream = None,
    detections: Any = None,
    seg_probs: ArrayOrStream = None,
    seg_logits: ArrayOrStream = None,
    seg_mc_probs: ArrayOrStream = None,
    ignore_mask: ArrayOrStream = None,
    labeled_class_counts: npt.ArrayLike | None = None,
) -> Selection:
    """Choose the ``budget`` items to label next.

    Parameters
    ----------
    strategy : str or Strategy
        A name from :func:`list_strategies`, or an instance from :func:`get_strategy`.
    budget : int
        Number of items to select (>= 1); a budget beyond the unlabeled pool returns the
        whole unlabeled pool, ranked.
    rng : int, numpy Generator or None
        Source of randomness. Deterministic strategies break ties by lower index unless
        an rng is given, in which case ties break at random.
    labeled : bool mask (N,) or int indices, optional
        Items already labeled: never selected; diversity methods use them as centres.
    candidates : int, optional
        Score only a random subset of this many unlabeled items (the explore/exploit knob
        and a large speed-up on big pools). Labeled items stay in for diversity methods.
    temperature : float, optional
        Softmax temperature applied to ``logits``.
    progress : bool
        Write progress lines to stderr during long selections.
    pool_scores : bool
        Score strategies only: also return every item's score, computed in the same pass,
        as ``info["pool_scores"]`` (float64 (N,), NaN for labeled items and, with
        ``candidates``, for items not drawn).
    probs, logits : (N, C)
    mc_probs, mc_log_probs : (N, K, C)
        K MC-dropout or ensemble predictions per item.
    embeddings : (N, D)
    gradient_embeddings : (N, G)
        BADGE gradient embeddings.
    cluster_ids : (N,) int
        Precomputed clusters (Cluster-Margin).
    predicted_loss : (N,)
        Output of a learning-loss module (``adapters.torch.predict_loss``).
    instance_uncertainty : (N,)
        MI-AOD's image uncertainty (``adapters.torch.mi_aod_uncertainty``).
    detections : sequence of Detections
        One per image (or an iterator of them): boxes, class probabilities, features.
    seg_probs, seg_logits : (N, C, H, W)
        Segmentation class maps (any float dtype, float16 included), or an iterator of
        per-image (C, H, W) arrays, which may differ in H and W.
    seg_mc_probs : (N, K, C, H, W)
        K MC-dropout class maps per image.
    ignore_mask : (N, H, W) bool
        Pixels that do not count (True), e.g. padding or void.
    labeled_class_counts : (C,)
        Ground-truth boxes (detection) or pixels (segmentation) per class in the labeled set.

    Every input may be an array, a memory-mapped array, or (for score-based strategies)
    an iterator of row chunks; memory then stays O(chunk + budget).

    Returns
    -------
    Selection
        ``indices`` (unique positions into the pool, best first) and ``scores``.

    Examples
    --------
    >>> probs = np.array([[0.9, 0.1], [0.5, 0.5], [0.6, 0.4]])
    >>> select("entropy", budget=2, probs=probs).indices.tolist()
    [1, 2]
    """
    chosen = resolve_strategy(strategy)
    budget = check_budget(budget)
    pool = Pool(
        {
            "probs": probs,
            "logits": logits,
            "mc_probs": mc_probs,
            "mc_log_probs": mc_log_probs,
            "embeddings": embeddings,
            "gradient_embeddings": gradient_embeddings,
            "cluster_ids": cluster_ids,
            "predicted_loss": predicted_loss,
            "instance_uncertainty": instance_uncertainty,
            "detections": detections,
            "seg_probs": seg_probs,
            "seg_logits": seg_logits,
            "seg_mc_probs": seg_mc_probs,
            "ignore_mask": ignore_mask,
        },
        temperature,
        shared={"labeled_class_counts": labeled_class_counts},
    )
    chosen.inputs_needed(pool)  # a missing input fails before any work
    mask = np.asarray(labeled) if labeled is not None else None
    if pool.n_items is None and not pool.names and mask is not None and mask.dtype == bool:
        pool.n_items = int(mask.shape[0])  # `random` needs only the pool size
    labeled_idx = labeled_positions(labeled, pool.n_items)
    generator = as_rng(rng)
    if pool_scores and not isinstance(chosen, ScoreStrategy):
        raise InputError(f"pool_scores applies to score strategies; {chosen.name!r} chooses a batch jointly.")
    seen: list[tuple[np.ndarray, np.ndarray]] | None = [] if pool_scores else None
    ctx = Context(labeled_idx, generator, rng_given=rng is not None, progress=progress, scores_seen=seen)
    if pool.n_items is not None:
        _check_not_empty(pool.n_items, labeled_idx)
    if candidates is not None:
        selection = _select_candidates(
            chosen, pool, budget, ctx, check_positive_int(candidates, "candidates")
        )
    else:
        selection = chosen.select(pool, budget, ctx)
    if pool.n_items is not None:  # a stream's length is known only now
        labeled_positions(labeled, pool.n_items)
        _check_not_empty(pool.n_items, labeled_idx)
    if seen is not None and pool.n_items is not None:
        selection = _with_pool_scores(selection, seen, pool.n_items)
    return selection


def _with_pool_scores(
    selection: Selection, seen: list[tuple[np.ndarray, np.ndarray]], n_items: int
) -> Selection:
    every = np.full(n_items, np.nan)
    for positions, values in seen:
        every[positions] = values
    return Selection(
        selection.indices, selection.scores, selection.strategy, {**selection.info, "pool_scores": every}
    )


def _check_not_empty(n_items: int, labeled: np.ndarray) -> None:
    if n_items == 0:
        raise EmptyPoolError("the pool is empty: every input has 0 rows; pass at least one item.")
    if labeled.shape[0] >= n_items:
        raise PoolExhaustedError(
            f"every one of the {n_items} pool items is labeled; nothing is left to select."
        )


def draw_candidates(unlabeled: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A sorted random subset of ``size`` of the ``unlabeled`` positions (all of them if fewer)."""
    if size >= unlabeled.shape[0]:
        return unlabeled
    return np.sort(rng.choice(unlabeled, size, replace=False))


def _select_candidates(strategy: Strategy, pool: Pool, budget: int, ctx: Context, size: int) -> Selection:
    """Run ``strategy`` on the labeled items plus a random subset of ``size`` unlabeled ones."""
    n = pool.n_items
    if n is None:
        raise InputError(
            "candidates needs inputs of known length (arrays or memmaps); got a stream of chunks."
        )
    unlabeled = np.flatnonzero(ctx.unlabeled(0, n))
    unlabeled = draw_candidates(unlabeled, size, ctx.rng)
    keep = np.union1d(ctx.labeled, unlabeled)
    seen: list[tuple[np.ndarray, np.ndarray]] | None = None if ctx.scores_seen is None else []
    sub_ctx = Context(np.searchsorted(keep, ctx.labeled), ctx.rng, ctx.rng_given, ctx.progress, seen)
    inner = strategy.select(pool.subset(keep), budget, sub_ctx)
    if seen is not None and ctx.scores_seen is not None:  # positions back into the whole pool
        ctx.scores_seen.extend((keep[positions], values) for positions, values in seen)
    info = dict(inner.info, candidates=int(unlabeled.shape[0]))
    return Selection(keep[inner.indices], inner.scores, inner.strategy, info)


def score(
    strategy: str | Strategy,
    *,
    rng: RngLike = None,
    temperature: float | None = None,
    probs: ArrayOrStream = None,
    logits: ArrayOrStream = None,
    mc_probs: ArrayOrStream = None,
    mc_log_probs: ArrayOrStream = None,
    predicted_loss: ArrayOrStream = None,
    instance_uncertainty: ArrayOrStream = None,
    detections: Any = None,
    seg_probs: ArrayOrStream = None,
    seg_logits: ArrayOrStream = None,
    seg_mc_probs: ArrayOrStream = None,
    ignore_mask: ArrayOrStream = None,
    labeled_class_counts: npt.ArrayLike | None = None,
) -> np.ndarray:
    """Per-item scores of a score-based strategy, float64 (N,), higher = label first.

    Stochastic strategies return the score they sample by (``power_bald`` returns BALD).
    Batch strategies (``batchbald``, ``coreset``, ...) have no per-item score: use
    :func:`select`.

    Examples
    --------
    >>> score("margin", probs=np.array([[0.7, 0.2, 0.1]])).round(4).tolist()
    [0.5]
    """
    chosen = resolve_strategy(strategy)
    if not isinstance(chosen, ScoreStrategy):
        raise InputError(
            f"strategy {chosen.name!r} chooses a batch jointly and has no per-item score; use select()."
        )
    pool = Pool(
        {
            "probs": probs,
            "logits": logits,
            "mc_probs": mc_probs,
            "mc_log_probs": mc_log_probs,
            "predicted_loss": predicted_loss,
            "instance_uncertainty": instance_uncertainty,
            "detections": detections,
            "seg_probs": seg_probs,
            "seg_logits": seg_logits,
            "seg_mc_probs": seg_mc_probs,
            "ignore_mask": ignore_mask,
        },
        temperature,
        shared={"labeled_class_counts": labeled_class_counts},
    )
    return chosen.scores(pool, as_rng(rng))

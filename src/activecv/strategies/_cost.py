"""Selection under an annotation cost budget ("2 hours of annotation", not "200 images").

Each pool item has a positive annotation cost (seconds, say: the number of predicted boxes
times the seconds per box, or a user's column). Score strategies rank by score per unit cost
and take greedily what fits; EBAL spends its budget, and its minority quotas, in cost.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from activecv._errors import InputError, InputTypeError, shown
from activecv._validation import RngLike, as_array, as_rng, describe, labeled_positions
from activecv.strategies._api import _check_not_empty
from activecv.strategies._base import Context, ScoreStrategy, Strategy, resolve_strategy
from activecv.strategies._detection_strategies import Ebal
from activecv.strategies._pool import SHARED, SPECS, Pool
from activecv.strategies._regions import take_within_budget
from activecv.types import Detections, Selection


def _check_amount(value: Any, name: str, positive: bool) -> float:
    """``value`` as a finite float, > 0 (``positive``) or >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputTypeError(f"{name} must be a real number; got {describe(value)} {value!r}.")
    amount = float(value)
    if not (np.isfinite(amount) and (amount > 0 if positive else amount >= 0)):
        raise InputError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}; got {value!r}.")
    return amount


def _check_costs(costs: npt.ArrayLike, n_items: int | None) -> np.ndarray:
    arr = as_array(costs, "costs", "(N,), one annotation cost per pool item", 1)
    arr = arr.astype(np.float64)
    if n_items is not None and arr.shape[0] != n_items:
        raise InputError(f"costs must have one entry per pool item, shape ({n_items},); got {describe(arr)}.")
    bad = np.flatnonzero(~np.isfinite(arr) | (arr <= 0))
    if bad.shape[0]:
        raise InputError(
            f"costs must be positive and finite (the annotation cost of each item); "
            f"costs[{bad[0]}] is {float(arr[bad[0]])!r} "
            f"({bad.shape[0]} bad in all, at {shown(bad.tolist())})."
        )
    return arr


def _pool(inputs: dict[str, Any], temperature: float | None) -> Pool:
    known = set(SPECS) | set(SHARED)
    unknown = sorted(set(inputs) - known)
    if unknown:
        raise InputTypeError(
            f"select_within_cost got unknown input {', '.join(map(repr, unknown))}; "
            f"inputs are {', '.join(sorted(known))}."
        )
    given = {name: value for name, value in inputs.items() if name in SPECS}
    shared = {name: inputs.get(name) for name in SHARED}
    return Pool(given, temperature, shared=shared)


def _ranking_keys(
    chosen: ScoreStrategy,
    scores: np.ndarray,
    costs: np.ndarray,
    unlabeled: np.ndarray,
    normalise: bool,
    rng: np.random.Generator,
) -> np.ndarray:
    """Score per unit cost (``normalise``), or the strategy's own ranking keys."""
    if not normalise:
        return chosen.keys(scores, rng)
    if chosen.stochastic:
        raise InputError(
            f"strategy {chosen.name!r} samples by score, and a sample divided by a cost means "
            "nothing; pass normalise=False to sample by score and pack by cost."
        )
    low = float(scores[unlabeled].min())
    if low < 0:
        raise InputError(
            f"cost-normalised ranking divides scores by costs and needs scores >= 0; strategy "
            f"{chosen.name!r} gave {low!r}. Pass normalise=False to rank by score."
        )
    return scores / costs


def select_within_cost(
    strategy: str | Strategy,
    cost_budget: float,
    costs: npt.ArrayLike,
    *,
    rng: RngLike = None,
    labeled: npt.ArrayLike | None = None,
    normalise: bool = True,
    temperature: float | None = None,
    **inputs: Any,
) -> Selection:
    """Choose the items to label next within an annotation cost budget.

    Score strategies rank the unlabeled items by score / cost (``normalise=False``: by score,
    ties to the lower position) and walk that ranking, taking each item whose cost fits what
    is left of the budget. An item too dear for what is left is skipped, and the walk goes on
    to cheaper items after it: the budget is spent as fully as the ranking allows. ``ebal``
    runs its greedy diversity walk in the same way, its minority-class quotas being shares of
    the cost budget (see ``ebal_select``). Other batch strategies are not supported.

    Parameters
    ----------
    strategy : str or Strategy
        A score strategy (``entropy``, ``bald``, ``detection_entropy``, ``enms``, ...) or ``ebal``.
    cost_budget : float
        The annotation cost to spend (> 0), in the unit of ``costs`` (e.g. seconds).
    costs : (N,) float
        Positive, finite cost of annotating each pool item, e.g. :func:`detection_costs`.
    rng : int, numpy Generator or None
        For stochastic strategies (with ``normalise=False``).
    labeled : bool mask (N,) or int indices, optional
        Items already labeled: never selected.
    normalise : bool
        Rank by score per unit cost (True) or by score (False). Scores must be >= 0 to be
        normalised.
    temperature : float, optional
        Softmax temperature applied to ``logits``.
    **inputs
        The strategy's inputs, named as for :func:`select` (``probs``, ``mc_probs``,
        ``detections``, ``labeled_class_counts``, ...); arrays, not streams.

    Returns
    -------
    Selection
        ``indices`` best first, the strategy's ``scores``, and ``info`` with ``cost_budget``,
        ``cost_spent`` and ``costs`` (of the chosen items).

    Examples
    --------
    >>> probs = np.array([[0.5, 0.5], [0.6, 0.4], [0.9, 0.1]])
    >>> sel = select_within_cost("entropy", 3.0, [4.0, 1.0, 1.0], probs=probs)
    >>> sel.indices.tolist(), sel.info["cost_spent"]
    ([1, 2], 2.0)
    """
    chosen = resolve_strategy(strategy)
    budget = _check_amount(cost_budget, "cost_budget", positive=True)
    if not isinstance(normalise, bool):
        raise InputTypeError(f"normalise must be True or False; got {describe(normalise)}.")
    if not isinstance(chosen, (ScoreStrategy, Ebal)):
        raise InputError(
            f"strategy {chosen.name!r} chooses a batch jointly and has no cost budget; use a score "
            "strategy or 'ebal', or select() with a budget in items."
        )
    pool = _pool(inputs, temperature)
    chosen.inputs_needed(pool)
    if pool.n_items is None and not pool.names:  # `random`: the costs give the pool size
        pool.n_items = len(np.asarray(costs)) if np.ndim(costs) == 1 else None
    n_items = pool.n_items
    if n_items is None:
        raise InputError("select_within_cost needs inputs of known length (arrays); got a stream of chunks.")
    cost = _check_costs(costs, n_items)
    labeled_idx = labeled_positions(labeled, n_items)
    _check_not_empty(n_items, labeled_idx)
    generator = as_rng(rng)
    ctx = Context(labeled_idx, generator, rng_given=rng is not None, progress=False)
    if isinstance(chosen, Ebal):
        sel = chosen.select_within_cost(pool, budget, cost, ctx, normalise)
        info = {**sel.info, "cost_budget": budget, "costs": cost[sel.indices]}
        return Selection(sel.indices, sel.scores, sel.strategy, info)
    scores = chosen.scores(pool, generator)
    unlabeled = ctx.unlabeled(0, n_items)
    keys = _ranking_keys(chosen, scores, cost, unlabeled, normalise, generator)
    picked = take_within_budget(keys, cost, budget, unlabeled)
    info = {
        "cost_budget": budget,
        "cost_spent": float(cost[picked].sum()),
        "costs": cost[picked],
        "ranked_by": "score / cost" if normalise else "score",
    }
    return Selection(picked, scores[picked], chosen.name, info)


def detection_costs(
    detections: Sequence[Detections], seconds_per_box: float, seconds_per_image: float = 0.0
) -> np.ndarray:
    """Annotation cost of each image from its predicted boxes:
    ``seconds_per_image + seconds_per_box * number of boxes``, float64 (N,).

    Parameters
    ----------
    detections : sequence of Detections
        One per image.
    seconds_per_box : float
        Time to draw or correct one box (>= 0).
    seconds_per_image : float
        Time to open and check an image whatever it holds (>= 0). With 0, an image without
        predicted boxes would cost nothing, which is refused.

    Examples
    --------
    >>> def boxes(n):
    ...     return Detections(boxes=np.zeros((n, 4)), scores=np.ones(n), labels=np.zeros(n, int))
    >>> dets = [boxes(0), boxes(3)]
    >>> detection_costs(dets, seconds_per_box=7.0, seconds_per_image=5.0).tolist()
    [5.0, 26.0]
    """
    per_box = _check_amount(seconds_per_box, "seconds_per_box", positive=False)
    per_image = _check_amount(seconds_per_image, "seconds_per_image", positive=False)
    if isinstance(detections, (str, bytes, Detections)) or not isinstance(detections, Sequence):
        raise InputTypeError(
            f"detections must be a sequence of Detections, one per image; got {describe(detections)}."
        )
    for i, det in enumerate(detections):
        if not isinstance(det, Detections):
            raise InputTypeError(f"detections[{i}] must be a Detections; got {describe(det)}.")
    boxes = np.array([len(det) for det in detections], dtype=np.float64)
    costs = per_image + per_box * boxes
    free = np.flatnonzero(costs <= 0)
    if free.shape[0]:
        raise InputError(
            f"detection_costs would make image {free[0]} free (no predicted boxes and "
            f"seconds_per_image={per_image!r}); pass seconds_per_image > 0, the time to check an image."
        )
    return costs

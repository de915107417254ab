"""From a model and its unlabeled pool straight to a selection: the strategy's inputs are
computed with the adapters, on the candidate subset only when ``candidates`` is given."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from activecv._errors import InputError
from activecv._validation import RngLike, as_rng, check_positive_int, labeled_positions
from activecv.adapters.torch._learning_loss import LearningLoss, predict_loss
from activecv.adapters.torch._predict import (
    _count,
    _eval_mode,
    _forward_all,
    _module,
    embed,
    gradient_embeddings,
    mc_predict,
    predict,
)
from activecv.strategies import Strategy, draw_candidates, format_requirements, resolve_strategy
from activecv.strategies import select as select_from_arrays
from activecv.types import Selection

# Relative cost of producing each input; among a strategy's alternatives the cheapest wins
# (BADGE then uses probs + embeddings, not the C times larger explicit gradient embeddings).
_COST = {"probs": 1, "embeddings": 1, "predicted_loss": 1, "mc_probs": 2, "gradient_embeddings": 3}


def _inputs_needed(strategy: Strategy, learning_loss: LearningLoss | None) -> tuple[str, ...]:
    producible = set(_COST) - (set() if learning_loss is not None else {"predicted_loss"})
    groups = [g for g in strategy.requirements() if set(g) <= producible]
    if not groups:
        hint = " (pass learning_loss=, the trained LearningLoss)" if strategy.name == "learning_loss" else ""
        raise InputError(
            f"strategy {strategy.name!r} needs {format_requirements(strategy.requirements())}, which "
            f"cannot be computed from the model here{hint}; compute them and call activecv.select."
        )
    return min(groups, key=lambda group: sum(_COST[name] for name in group))


def strategy_inputs(
    strategy: str | Strategy,
    model: nn.Module,
    data: Any,
    *,
    layer: str = "features",
    k: int = 20,
    seed: int = 0,
    batch_size: int = 256,
    learning_loss: LearningLoss | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """The arrays ``strategy`` requires, computed from ``model`` over ``data``.

    Parameters
    ----------
    layer : str
        Module whose output is the embedding (``embeddings``); the shipped models call their
        penultimate features "features".
    k, seed : int
        MC-dropout passes and mask seed for ``mc_probs`` (consistent masks).
    learning_loss : LearningLoss, optional
        The trained loss-prediction module, for ``learning_loss``.
    """
    needed = _inputs_needed(resolve_strategy(strategy), learning_loss)
    if set(needed) == {"probs", "embeddings"}:  # one forward pass for both
        probs, embeddings = _probs_and_embeddings(model, data, layer, batch_size, progress)
        return {"probs": probs, "embeddings": embeddings}
    producers = {
        "probs": lambda: predict(model, data, batch_size, progress=progress),
        "embeddings": lambda: embed(model, data, layer, batch_size, progress),
        "mc_probs": lambda: mc_predict(model, data, k, True, seed, batch_size, progress),
        "gradient_embeddings": lambda: gradient_embeddings(model, data, None, batch_size, progress),
        "predicted_loss": lambda: predict_loss(learning_loss, data, batch_size, progress),  # type: ignore[arg-type]
    }
    return {name: producers[name]() for name in needed}


def _probs_and_embeddings(
    model: nn.Module, data: Any, layer: str, batch_size: int, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``predict`` and ``embed`` from the same forward passes."""
    captured: list[torch.Tensor] = []
    handle = _module(model, layer).register_forward_hook(
        lambda module, inputs, output: captured.append(output.flatten(1).float().cpu())
    )
    probs = []
    try:
        with _eval_mode(model):
            for x in _forward_all(model, data, batch_size, "predict + embed", progress):
                probs.append(torch.softmax(model(x).float(), dim=1).cpu())
    finally:
        handle.remove()
    return torch.cat(probs).numpy(), torch.cat(captured).numpy()


def _subset(data: Any, indices: np.ndarray) -> Any:
    if isinstance(data, (np.ndarray, torch.Tensor)):
        return data[indices]
    if isinstance(data, torch.utils.data.DataLoader):
        subset = torch.utils.data.Subset(data.dataset, indices.tolist())
        return torch.utils.data.DataLoader(
            subset, batch_size=data.batch_size, collate_fn=data.collate_fn, num_workers=data.num_workers
        )
    return torch.utils.data.Subset(data, indices.tolist())


def select(
    strategy: str | Strategy,
    budget: int,
    *,
    model: nn.Module,
    data: Any,
    labeled: npt.ArrayLike | None = None,
    candidates: int | None = None,
    rng: RngLike = None,
    progress: bool = False,
    **options: Any,
) -> Selection:
    """:func:`activecv.select` from a model: computes the strategy's inputs over ``data`` (a
    Tensor, array, Dataset or non-shuffling DataLoader, in pool order) and selects.

    With ``candidates`` the model runs only on the labeled items and a random subset of that
    many unlabeled ones. ``options`` go to :func:`strategy_inputs` (``layer``, ``k``, ``seed``,
    ``batch_size``, ``learning_loss``).

    Examples
    --------
    ``select("badge", budget=100, model=net, data=pool_images, labeled=mask)``
    """
    chosen = resolve_strategy(strategy)
    n_items = _count(data)
    if n_items is None:
        raise InputError(f"data must have a length (the pool size); got {type(data).__name__} without one.")
    labeled_idx = labeled_positions(labeled, n_items)
    generator = as_rng(rng)
    keep = np.arange(n_items)
    if candidates is not None:
        size = check_positive_int(candidates, "candidates")
        unlabeled = draw_candidates(np.setdiff1d(keep, labeled_idx), size, generator)
        keep = np.union1d(labeled_idx, unlabeled)
        data = _subset(data, keep)
    inputs: dict[str, Any] = strategy_inputs(chosen, model, data, progress=progress, **options)
    mask = np.zeros(keep.shape[0], dtype=bool)  # a mask also tells `random` the pool size
    mask[np.searchsorted(keep, labeled_idx)] = True
    inner_rng = generator if rng is not None else None  # no rng: ties break by position
    inner = select_from_arrays(chosen, budget, labeled=mask, rng=inner_rng, progress=progress, **inputs)
    info = inner.info if candidates is None else dict(inner.info, candidates=int(keep.shape[0] - mask.sum()))
    return Selection(keep[inner.indices], inner.scores, inner.strategy, info)

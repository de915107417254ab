"""Score-strategy selection over parquet shards on Ray: each shard is scored in its own Ray
task, which keeps its top ``budget``; the driver merges the per-shard winners.

The result equals the single-process streaming selection exactly, ties included: the pool is
the shards in name order, every item has its global position, and the merge ranks by score,
then tie key, then position, as :class:`activecv.strategies.top_k` does. With a seed, ties
break at random by the same draws: item ``i``'s tie key is the ``i``-th double of
``default_rng(seed)``, which a shard reaches by advancing the generator to its first row.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import activecv
from activecv._errors import InputError
from activecv.io import read_strategy_inputs
from activecv.scale._ray_predict import connect
from activecv.strategies import ScoreStrategy, Strategy, get_strategy, top_k
from activecv.types import Selection


@dataclass(frozen=True)
class ShardTop:
    """One shard's best items: global positions, their scores, tie keys and ids."""

    positions: np.ndarray
    scores: np.ndarray
    ties: np.ndarray | None
    ids: np.ndarray


def shard_paths(predictions: str | Path) -> list[Path]:
    """The parquet shards of a pool, in name order: a folder's ``*.parquet``, a glob pattern's
    matches, or one file."""
    text = str(predictions)
    path = Path(text)
    if path.is_dir():
        found = sorted(path.glob("*.parquet"))
    elif any(c in text for c in "*?["):
        found = sorted(Path(p) for p in glob.glob(text))
    else:
        found = [path] if path.is_file() else []
    if not found:
        raise InputError(
            f"predictions {text!r} names no parquet shard: pass a .parquet file, a folder of them, "
            "or a glob pattern such as 'shards/*.parquet'."
        )
    wrong = [p.name for p in found if p.suffix.lower() != ".parquet"]
    if wrong:
        raise InputError(f"the Ray engine reads parquet shards only; got {wrong[:3]} in {text!r}.")
    return found


def check_distributable(strategy: Strategy) -> ScoreStrategy:
    """A strategy whose per-shard winners merge into the whole pool's selection."""
    if not isinstance(strategy, ScoreStrategy):
        raise InputError(
            f"--engine ray ranks score strategies (entropy, margin, bald, ...); {strategy.name!r} "
            "chooses items jointly: run it in one process (coreset, typiclust and cluster_margin "
            "also take backend='faiss')."
        )
    if strategy.stochastic or type(strategy).constants is not ScoreStrategy.constants:
        raise InputError(
            f"{strategy.name!r} draws its ranking at random or needs the whole pool's statistics, so "
            "per-shard rankings would not merge into the single-process one: run it without --engine ray."
        )
    return strategy


def select_on_ray(
    strategy: str | Strategy,
    budget: int,
    predictions: str | Path,
    *,
    seed: int | None = None,
    temperature: float | None = None,
    workers: int | None = None,
) -> tuple[Selection, np.ndarray]:
    """Select ``budget`` items from parquet shards with Ray; returns the selection (global
    positions into the shards in name order) and the chosen items' ids, best first.

    Connects to the cluster at ``RAY_ADDRESS`` when set, else starts a local Ray with
    ``workers`` CPUs (default: all); a Ray already initialised is used as it is.
    """
    chosen = check_distributable(get_strategy(strategy) if isinstance(strategy, str) else strategy)
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise InputError(f"budget must be an integer >= 1; got {budget!r}.")
    shards = shard_paths(predictions)
    offsets = np.concatenate([[0], np.cumsum([_rows(p) for p in shards])]).astype(np.int64)
    connect(workers)
    import ray

    score = ray.remote(_shard_top)
    futures = [
        score.remote(str(path), int(offset), chosen, budget, seed, temperature)
        for path, offset in zip(shards, offsets[:-1], strict=True)
    ]
    parts: list[ShardTop] = ray.get(futures)
    return _merge(parts, budget, seed is not None, chosen.name)


def _merge(parts: list[ShardTop], budget: int, with_ties: bool, name: str) -> tuple[Selection, np.ndarray]:
    positions = np.concatenate([p.positions for p in parts])
    scores = np.concatenate([p.scores for p in parts])
    ids = np.concatenate([p.ids for p in parts])
    ties = np.concatenate([p.ties for p in parts if p.ties is not None]) if with_ties else None
    # top_k breaks ties by tie key, then by position in its input: order the input by position.
    order = np.argsort(positions, kind="stable")
    best = order[top_k(scores[order], budget, None if ties is None else ties[order])]
    return Selection(positions[best], scores[best], name), ids[best]


def _shard_top(
    path: str, offset: int, strategy: ScoreStrategy, budget: int, seed: int | None, temperature: float | None
) -> ShardTop:
    """One Ray task: score a shard as a stream and keep its best ``budget`` unlabeled items."""
    read = read_strategy_inputs(path, strategy, stream=True)
    scores = activecv.score(strategy, temperature=temperature, **read.inputs)
    rows = scores.shape[0]
    ties: np.ndarray | None = None
    if seed is not None:  # default_rng(seed) is PCG64(seed); each tie key uses one of its steps
        bits = np.random.PCG64(seed)
        bits.advance(offset)
        ties = np.asarray(np.random.Generator(bits).random(rows), dtype=np.float64)
    keep = np.ones(rows, dtype=bool) if read.labeled is None else ~read.labeled.astype(bool)
    local = np.flatnonzero(keep)
    best = local[top_k(scores[local], budget, None if ties is None else ties[local])]
    return ShardTop(offset + best, scores[best], None if ties is None else ties[best], read.ids[best])


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)

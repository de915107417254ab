"""Top-k selection with the deterministic tie rule, in memory and over a stream of chunks,
and the screened top-k: approximate scores in the input's float precision on every core,
exact float64 scores for the few items that can still make the top k."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np


def top_k(scores: np.ndarray, k: int, tie_keys: np.ndarray | None = None) -> np.ndarray:
    """Positions of the ``k`` largest ``scores``, best first.

    Ties are broken by ``tie_keys`` (smaller first) when given, then by lower position,
    so the result is deterministic. Cost O(N) plus a sort of the k winners (and of any
    items tied with the k-th).

    Parameters
    ----------
    scores : ndarray, shape (N,)
    k : int
        Number of positions wanted; ``min(k, N)`` are returned, none if ``k <= 0``.
    tie_keys : ndarray, shape (N,), optional
        Secondary sort key, e.g. uniform draws to break ties at random.

    Examples
    --------
    >>> top_k(np.array([0.2, 0.9, 0.9, 0.1]), 2).tolist()
    [1, 2]
    """
    scores = np.asarray(scores)
    n = scores.shape[0]
    k = min(int(k), n)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if k < n:
        kth = np.argpartition(-scores, k - 1)[:k]
        threshold = scores[kth].min()
        candidates = np.flatnonzero(scores >= threshold)  # every item tied with the k-th too
    else:
        candidates = np.arange(n)
    keys: tuple[np.ndarray, ...] = (candidates, -scores[candidates])
    if tie_keys is not None:
        keys = (candidates, tie_keys[candidates], -scores[candidates])
    order = np.lexsort(keys)[:k]
    return candidates[order].astype(np.int64)


class RunningTopK:
    """The ``k`` best items seen so far over a stream of chunks, in O(chunk + k) memory.

    Items are ranked by ``key`` (larger first), then ``tie_key`` (smaller first), then
    global position (smaller first): the same order as :func:`top_k` over the whole pool.
    """

    def __init__(self, k: int, with_tie_keys: bool) -> None:
        self.k = k
        self.with_tie_keys = with_tie_keys
        self.keys = np.empty(0, dtype=np.float64)
        self.scores = np.empty(0, dtype=np.float64)
        self.positions = np.empty(0, dtype=np.int64)
        self.tie_keys = np.empty(0, dtype=np.float64)

    def push(
        self,
        keys: np.ndarray,
        scores: np.ndarray,
        positions: np.ndarray,
        tie_keys: np.ndarray | None = None,
    ) -> None:
        """Merge one chunk: ``keys`` rank, ``scores`` are reported, ``positions`` are global."""
        if keys.shape[0] == 0:
            return
        local = top_k(keys, self.k, tie_keys)  # positions increase within a chunk
        merged_keys = np.concatenate([self.keys, keys[local]])
        merged_pos = np.concatenate([self.positions, positions[local]])
        merged_scores = np.concatenate([self.scores, scores[local]])
        order_keys: tuple[np.ndarray, ...] = (merged_pos, -merged_keys)
        if self.with_tie_keys:
            assert tie_keys is not None  # internal invariant, not user input
            merged_ties = np.concatenate([self.tie_keys, tie_keys[local]])
            order_keys = (merged_pos, merged_ties, -merged_keys)
        best = np.lexsort(order_keys)[: self.k]
        self.keys = merged_keys[best]
        self.positions = merged_pos[best]
        self.scores = merged_scores[best]
        if self.with_tie_keys:
            self.tie_keys = merged_ties[best]

    def floor(self) -> float:
        """The k-th best key once ``k`` items are held (an item below it cannot enter), else -inf."""
        return float(self.keys[-1]) if self.keys.shape[0] >= self.k else -np.inf


# Screened top-k: approximate scores in the input's precision, exact ones for a few candidates.

BLOCK_ELEMENTS = 2**17
"""Elements of one block a thread scores (512 KiB of float32): the block and its scratch
buffer stay in a core's L2 cache (1 MiB or more) while every pass over them runs, and the
numpy calls per block are few enough that their overhead does not count."""

_EXECUTOR: ThreadPoolExecutor | None = None
_EXECUTOR_LOCK = threading.Lock()


def worker_count() -> int:
    """Threads the screened kernels use: the cores this process may run on (at most 8)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def _executor() -> ThreadPoolExecutor:
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = ThreadPoolExecutor(worker_count(), thread_name_prefix="activecv-kernel")
        return _EXECUTOR


T = TypeVar("T")


def map_blocks(fn: Callable[[int, int], T], n_rows: int, block_rows: int) -> list[T]:
    """``fn(start, stop)`` over consecutive row blocks, in parallel threads, results in order.

    numpy's ufuncs and reductions release the GIL, so kernels made of them run on every core.
    """
    bounds = [(start, min(start + block_rows, n_rows)) for start in range(0, n_rows, block_rows)]
    workers = worker_count()
    if len(bounds) <= 1 or workers == 1:
        return [fn(start, stop) for start, stop in bounds]
    # one task per worker, each a contiguous run of blocks: few futures, little GIL-held overhead
    per = -(-len(bounds) // workers)
    groups = [bounds[i : i + per] for i in range(0, len(bounds), per)]
    parts = _executor().map(lambda group: [fn(start, stop) for start, stop in group], groups)
    return [result for part in parts for result in part]


Screen = Callable[[np.ndarray, np.ndarray, bool], tuple[float, bool]]
"""Approximate scores of one block of rows, in the block's own float precision.

``screen(block, out, checked)`` writes them into ``out`` and returns ``(delta, valid)``:
``delta`` bounds ``|out[i] - exact score of row i|`` for every row of the block, where the
exact score is the float64 kernel's; ``valid`` is False when a quick check of the rows failed
or was too close to call (``out`` is then undefined and the caller checks the rows exactly,
then calls again with ``checked=True``, which skips the quick check).
"""


def screen_scores(
    rows: np.ndarray, screen: Screen, check: Callable[[np.ndarray, int], None]
) -> tuple[np.ndarray, float]:
    """Approximate scores of ``rows`` (float32 or float64) from ``screen`` in parallel blocks,
    and the bound on their error. ``check(block, start)`` validates a block exactly (it raises
    on invalid rows); it runs, in row order, on every block the quick check did not pass."""
    n = rows.shape[0]
    row_size = max(1, int(np.prod(rows.shape[1:], dtype=np.int64)))
    block_rows = max(1, BLOCK_ELEMENTS // row_size)
    out = np.empty(n, dtype=rows.dtype)

    def one(start: int, stop: int) -> tuple[float, bool]:
        return screen(rows[start:stop], out[start:stop], False)

    results = map_blocks(one, n, block_rows)
    delta = 0.0
    for i, (block_delta, valid) in enumerate(results):
        start = i * block_rows
        if not valid:  # invalid input raises here, at the first bad row in pool order
            block = rows[start : start + block_rows]
            check(block, start)
            with np.errstate(all="ignore"):  # valid after all (a sum within the tolerance)
                block_delta, _ = screen(block, out[start : start + block_rows], True)
        delta = max(delta, block_delta)
    return out, delta


def screened_candidates(
    approx: np.ndarray, delta: float, k: int, floor: float, keep: np.ndarray
) -> np.ndarray:
    """Positions among ``keep`` that may be among the ``k`` best by exact score, sorted.

    Every exact score lies within ``delta`` of its ``approx``. The k-th largest lower bound
    ``approx - delta`` is a score that k items reach for sure, so an item whose upper bound
    ``approx + delta`` is below it, or below ``floor`` (the k-th best exact key already held),
    cannot make the top k. The rest are the candidates: a superset of the exact top k and of
    every item tied with its k-th, so ranking their exact scores gives the exact top k.
    """
    kept = approx[keep]
    threshold = floor
    if kept.shape[0] > k:
        kth = float(np.partition(kept, kept.shape[0] - k)[kept.shape[0] - k])
        threshold = max(threshold, kth - delta)
    upper = approx.astype(np.float64) + delta
    return np.flatnonzero(keep & (upper >= threshold))


_SCRATCH = threading.local()


def scratch(shape: tuple[int, ...], dtype: np.dtype[np.floating] | type, slot: int = 0) -> np.ndarray:
    """A per-thread buffer of ``shape`` and ``dtype`` (contents undefined), reused between
    blocks so that a kernel's temporaries are not allocated, and faulted in, per block.
    Buffers in different ``slot``s may be used at the same time."""
    size = int(np.prod(shape, dtype=np.int64))
    key = f"{np.dtype(dtype).str}{slot}"
    buffers: dict[str, np.ndarray] = _SCRATCH.__dict__.setdefault("buffers", {})
    buf = buffers.get(key)
    if buf is None or buf.shape[0] < size:
        buf = buffers[key] = np.empty(max(size, BLOCK_ELEMENTS), dtype=dtype)
    return buf[:size].reshape(shape)

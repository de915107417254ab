"""Top-k selection with the deterministic tie rule, in memory and over a stream of chunks."""

from __future__ import annotations

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

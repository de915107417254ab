"""k-means++ seeding over points given explicitly or as implicit BADGE gradient embeddings.

BADGE (Ash et al., ICLR 2020; ALGORITHMS.md §7.2) seeds k-means++ on gradient embeddings. The
gradient embedding of item x for the last linear layer is ``g = (p - onehot(argmax p)) ⊗ h``
with h the penultimate features. It is never materialised from probs + embeddings: with
``a = p - onehot``, ``||g_x - g_y||^2 = |a_x|^2 |h_x|^2 + |a_y|^2 |h_y|^2 - 2 (a_x·a_y)(h_x·h_y)``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from activecv._progress import Progress
from activecv.strategies._distances import squared_distances_to, squared_norms


class Distances(Protocol):
    """What seeding needs: squared norms and squared distances to one point."""

    sq: np.ndarray

    def squared_distances_to(self, j: int) -> np.ndarray: ...


class Points:
    """Points with squared Euclidean distances: explicit ``vectors`` (N, D), or the implicit
    gradient embeddings of ``probs`` (N, C) and ``embeddings`` (N, d)."""

    def __init__(
        self,
        probs: np.ndarray | None = None,
        embeddings: np.ndarray | None = None,
        vectors: np.ndarray | None = None,
    ) -> None:
        self.vectors = vectors
        if vectors is not None:
            self.sq = squared_norms(vectors)
            return
        assert probs is not None and embeddings is not None  # guaranteed by the strategy's requirements
        a = probs.copy()
        a[np.arange(a.shape[0]), a.argmax(axis=1)] -= 1.0
        self.a, self.h = a, embeddings
        self.a_sq, self.h_sq = squared_norms(a), squared_norms(embeddings)
        self.sq = self.a_sq * self.h_sq

    def squared_distances_to(self, j: int) -> np.ndarray:
        if self.vectors is not None:
            return squared_distances_to(self.vectors, self.sq, j)
        cross = self.a @ self.a[j]
        cross *= self.h @ self.h[j]
        cross *= 2.0
        out = self.sq + self.sq[j]  # the same operations, in place: (sq + sq_j) - 2 cross
        out -= cross
        return np.maximum(out, 0.0, out=out)


def kmeans_pp_seeding(
    space: Distances,
    available: np.ndarray,
    budget: int,
    first: str,
    rng: np.random.Generator,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """k-means++ seeds among ``available`` items: chosen positions and their distance to the
    nearest earlier seed when chosen (the first seed reports its gradient norm).

    ``first``: "max_norm" (the reference code) or "random" (the paper's k-means++).
    Each next seed is drawn with probability ∝ D(x)^2; if every remaining D is 0
    (duplicates) it is drawn uniformly among the remaining items.
    """
    available = available.copy()
    candidates = np.flatnonzero(available)
    if first == "max_norm":
        start = int(candidates[np.argmax(space.sq[candidates])])
    else:
        start = int(rng.choice(candidates))
    chosen, dists = [start], [float(np.sqrt(space.sq[start]))]
    available[start] = False
    # D(x)^2 of available items, 0 for the others: the minimum with a new seed's distances
    # (>= 0) keeps those at 0, so one array serves as the weights without a mask per step
    d2 = np.where(available, space.squared_distances_to(start), 0.0)
    cumulative = np.empty_like(d2)
    total = min(budget, int(available.sum()) + 1)
    while len(chosen) < total:
        np.cumsum(d2, out=cumulative)
        if cumulative[-1] > 0:  # the draw lands on an item of positive weight
            u = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
        else:
            u = int(rng.choice(np.flatnonzero(available)))
        chosen.append(u)
        dists.append(float(np.sqrt(d2[u])))
        available[u] = False
        d2[u] = 0.0
        np.minimum(d2, space.squared_distances_to(u), out=d2)
        if progress is not None:
            progress.update(len(chosen))
    return np.asarray(chosen, dtype=np.int64), np.asarray(dists)

"""Lloyd's k-means with k-means++ seeding, in blocks (numpy + scipy.sparse)."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from activecv.strategies._distances import BLOCK_ELEMENTS, squared_norms
from activecv.strategies._seeding import Points, kmeans_pp_seeding


def assign(x: np.ndarray, sq: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre of every row and the squared distance to it."""
    labels = np.empty(x.shape[0], dtype=np.int64)
    d2 = np.empty(x.shape[0])
    centre_sq = squared_norms(centres)
    step = max(1, BLOCK_ELEMENTS // centres.shape[0])
    for start in range(0, x.shape[0], step):
        rows = slice(start, start + step)
        block = centre_sq[None, :] - 2.0 * (x[rows] @ centres.T)
        labels[rows] = block.argmin(axis=1)
        d2[rows] = np.maximum(block[np.arange(block.shape[0]), labels[rows]] + sq[rows], 0.0)
    return labels, d2


def kmeans(
    x: np.ndarray, n_clusters: int, rng: np.random.Generator, max_iter: int = 100, tol: float = 1e-6
) -> np.ndarray:
    """Cluster labels (N,) of Lloyd's k-means from k-means++ seeds.

    Stops when the inertia improves by less than ``tol`` (relative) or after ``max_iter``
    rounds. An empty cluster is re-seeded with the point farthest from its centre.
    """
    n = x.shape[0]
    n_clusters = min(n_clusters, n)
    sq = squared_norms(x)
    seeds, _ = kmeans_pp_seeding(Points(vectors=x), np.ones(n, dtype=bool), n_clusters, "random", rng)
    centres = np.asarray(x[seeds], dtype=np.float64)
    labels, d2 = assign(x, sq, centres)
    inertia = d2.sum()
    for _ in range(max_iter):
        members = sparse.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(n_clusters, n))
        counts = np.asarray(members.sum(axis=1)).ravel()
        sums = np.asarray(members @ x, dtype=np.float64)
        empty = counts == 0
        centres[~empty] = sums[~empty] / counts[~empty, None]
        if empty.any():
            for c, far in zip(np.flatnonzero(empty), np.argsort(-d2), strict=False):
                centres[c] = x[far]
        labels, d2 = assign(x, sq, centres)
        previous, inertia = inertia, d2.sum()
        if previous - inertia <= tol * max(previous, 1e-300):
            break
    return labels

"""Lloyd's k-means with k-means++ seeding, in blocks (numpy + scipy.sparse).

The distance work (seeding updates, the assignment step) goes through a backend's
``points(x)`` (``_backends.py``); the centroid update, the empty-cluster rule and the
stopping rule are here, shared, so every backend runs the same iterations.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from activecv.strategies._backends import NUMPY, Backend
from activecv.strategies._seeding import kmeans_pp_seeding


def kmeans(
    x: np.ndarray,
    n_clusters: int,
    rng: np.random.Generator,
    max_iter: int = 100,
    tol: float = 1e-6,
    backend: Backend = NUMPY,
) -> np.ndarray:
    """Cluster labels (N,) of Lloyd's k-means from k-means++ seeds.

    Stops when the inertia improves by less than ``tol`` (relative) or after ``max_iter``
    rounds. An empty cluster is re-seeded with the point farthest from its centre.
    """
    n = x.shape[0]
    n_clusters = min(n_clusters, n)
    space = backend.points(x)
    seeds, _ = kmeans_pp_seeding(space, np.ones(n, dtype=bool), n_clusters, "random", rng)
    centres = np.asarray(x[seeds], dtype=np.float64)
    labels, d2 = space.nearest(centres)
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
        labels, d2 = space.nearest(centres)
        previous, inertia = inertia, d2.sum()
        if previous - inertia <= tol * max(previous, 1e-300):
            break
    return labels

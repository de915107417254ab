"""TypiClust: the most typical item of each uncovered cluster (Hacohen et al., ICML 2022; §7.3)."""

from __future__ import annotations

import numpy as np

from activecv._progress import Progress
from activecv.strategies._backends import NUMPY, Backend
from activecv.strategies._kmeans import kmeans


def typicality(x: np.ndarray, k: int, backend: Backend = NUMPY) -> np.ndarray:
    """``1 / (mean squared distance to the k nearest other rows + 1e-5)`` for every row of x.

    Squared distances, as the reference's FAISS ``IndexFlatL2`` returns them.
    """
    return 1.0 / (backend.knn_squared(x, k).mean(axis=1) + 1e-5)


def typiclust_select(
    x: np.ndarray,
    labeled: np.ndarray,
    budget: int,
    rng: np.random.Generator,
    max_clusters: int = 500,
    k_nn: int = 20,
    min_cluster_size: int = 5,
    progress: Progress | None = None,
    backend: Backend = NUMPY,
) -> tuple[np.ndarray, np.ndarray]:
    """TypiClust on validated features ``x (N, D)`` (normalise them first if wanted).

    Clusters the whole pool into ``min(|L| + budget, max_clusters)`` with k-means, orders
    clusters by (fewest labeled members, largest size), drops clusters of at most
    ``min_cluster_size`` items, and takes the most typical unlabeled member of each cluster
    in turn. Exhausted clusters are skipped; once every kept cluster is exhausted the dropped
    ones are used in the same order, so the budget is met whenever enough items remain.
    Returns the chosen positions and their typicality (0.0 for a lone member). ``backend``
    does the k-means distances and the k-nearest-neighbour searches.
    """
    n = x.shape[0]
    n_clusters = min(labeled.shape[0] + budget, max_clusters, n)
    labels = kmeans(x, n_clusters, rng, backend=backend)
    sizes = np.bincount(labels, minlength=n_clusters)
    labeled_counts = np.bincount(labels[labeled], minlength=n_clusters)
    ids = np.arange(n_clusters)
    order = ids[np.lexsort((ids, -sizes, labeled_counts))]
    tiers = [order[sizes[order] > min_cluster_size], order[sizes[order] <= min_cluster_size]]
    membership = labels.copy()
    membership[labeled] = -1
    remaining = np.bincount(labels, minlength=n_clusters) - labeled_counts
    chosen: list[int] = []
    scores: list[float] = []
    total = min(budget, n - labeled.shape[0])
    for tier in tiers:
        turn = 0
        while len(chosen) < total and remaining[tier].sum() > 0:
            cluster = tier[turn % tier.shape[0]]
            turn += 1
            if remaining[cluster] == 0:
                continue
            members = np.flatnonzero(membership == cluster)
            k = min(k_nn, members.shape[0] // 2)
            typ = typicality(x[members], k, backend) if k > 0 else np.zeros(members.shape[0])
            best = int(np.argmax(typ))
            chosen.append(int(members[best]))
            scores.append(float(typ[best]))
            membership[members[best]] = -1
            remaining[cluster] -= 1
            if progress is not None:
                progress.update(len(chosen))
    return np.asarray(chosen, dtype=np.int64), np.asarray(scores)

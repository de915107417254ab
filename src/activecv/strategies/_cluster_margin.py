"""Cluster-Margin: margin-sampled candidates spread round-robin over clusters (Citovsky et al.,
NeurIPS 2021; ALGORITHMS.md §7.4)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from activecv._errors import InputError
from activecv.strategies._backends import NUMPY, Backend
from activecv.strategies._kmeans import kmeans
from activecv.strategies._ranking import top_k
from activecv.strategies._uncertainty import _top_two


def hac_clusters(x: np.ndarray, n_clusters: int, distance_threshold: float | None) -> np.ndarray:
    """Average-linkage agglomerative clusters of the rows of x, cut at ``distance_threshold``
    or, when it is None, into at most ``n_clusters`` clusters."""
    if x.shape[0] == 1:
        return np.zeros(1, dtype=np.int64)
    tree = linkage(np.asarray(x, dtype=np.float64), method="average", metric="euclidean")
    if distance_threshold is not None:
        return fcluster(tree, t=distance_threshold, criterion="distance").astype(np.int64)
    return fcluster(tree, t=n_clusters, criterion="maxclust").astype(np.int64)


def candidate_clusters(
    x: np.ndarray,
    budget: int,
    clustering: str,
    distance_threshold: float | None,
    max_hac_points: int,
    rng: np.random.Generator,
    backend: Backend = NUMPY,
) -> np.ndarray:
    """Cluster labels of the candidates' embeddings ``x``: average linkage (the paper's,
    quadratic memory) or k-means into ``budget`` clusters (distances from ``backend``)."""
    if clustering == "kmeans":
        return kmeans(x, budget, rng, backend=backend)
    if x.shape[0] > max_hac_points:
        raise InputError(
            f"cluster_margin would cluster {x.shape[0]} candidates with average linkage, "
            f"more than max_hac_points={max_hac_points} (memory grows as its square). "
            "Pass cluster_ids= computed once on the pool (e.g. k-means), use clustering='kmeans', "
            "or lower k_m_factor."
        )
    return hac_clusters(x, budget, distance_threshold)


def cluster_margin_select(
    probs: np.ndarray,
    available: np.ndarray,
    budget: int,
    cluster_ids: np.ndarray | None,
    embeddings: np.ndarray | None,
    k_m_factor: float,
    clusters_of: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster-Margin on validated inputs. Returns chosen positions and their ``1 - margin``.

    The ``k_m = k_m_factor * budget`` available items of smallest margin are grouped by
    cluster (``cluster_ids``, or ``clusters_of`` their ``embeddings``); clusters are visited
    smallest first, round-robin, one member per visit. Members are taken most uncertain
    first, or in random order when ``rng`` is given (the paper's choice).
    """
    p1, p2 = _top_two(probs)
    uncertainty = 1.0 - (p1 - p2)
    candidates = np.flatnonzero(available)
    k_m = min(max(budget, int(np.ceil(k_m_factor * budget))), candidates.shape[0])
    pool = candidates[top_k(uncertainty[candidates], k_m)]  # most uncertain first
    if cluster_ids is not None:
        groups = cluster_ids[pool]
    else:
        assert embeddings is not None  # the strategy's requirements guarantee one of the two
        groups = clusters_of(embeddings[pool])
    # clusters in order of size, then of their most uncertain member
    ids, first, sizes = np.unique(groups, return_index=True, return_counts=True)
    queues = []
    for c in ids[np.lexsort((first, sizes))]:
        members = pool[groups == c]
        queues.append(rng.permutation(members) if rng is not None else members)
    chosen: list[int] = []
    depth = 0
    while len(chosen) < pool.shape[0] and len(chosen) < budget:
        for queue in queues:
            if depth < queue.shape[0] and len(chosen) < budget:
                chosen.append(int(queue[depth]))
        depth += 1
    indices = np.asarray(chosen, dtype=np.int64)
    return indices, uncertainty[indices]

"""TypiClust: typicality, cluster order and coverage (ALGORITHMS.md §7.3)."""

from __future__ import annotations

import numpy as np

import activecv as acv
from activecv.strategies._typiclust import typicality


def blobs(sizes: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[20.0 * i, 0.0] for i in range(len(sizes))])
    x = np.vstack([c + rng.normal(size=(s, 2)) for c, s in zip(centres, sizes, strict=True)])
    return x, np.repeat(np.arange(len(sizes)), sizes)


def test_typicality_matches_brute_force_knn() -> None:
    x = np.random.default_rng(0).normal(size=(25, 3))
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    expected = 1.0 / (np.sort(d2, axis=1)[:, :4].mean(axis=1) + 1e-5)
    np.testing.assert_allclose(typicality(x, 4), expected, rtol=1e-9)


def test_one_item_per_cluster_largest_first_and_typical() -> None:
    x, cluster = blobs([40, 30, 20])
    sel = acv.select(acv.get_strategy("typiclust", normalize=False), budget=3, embeddings=x, rng=0)
    assert cluster[sel.indices].tolist() == [0, 1, 2]
    for i, c in zip(sel.indices, cluster[sel.indices], strict=True):  # near its blob's centre
        assert np.linalg.norm(x[i] - x[cluster == c].mean(axis=0)) < 1.0


def test_clusters_with_labels_come_last() -> None:
    x, cluster = blobs([40, 30, 20])
    strategy = acv.get_strategy("typiclust", normalize=False, max_clusters=3)
    sel = acv.select(strategy, budget=2, embeddings=x, labeled=[0], rng=0)
    assert 0 not in cluster[sel.indices]


def test_budget_is_met_even_when_clusters_are_small() -> None:
    x, _ = blobs([4, 4, 3])  # every cluster has at most min_cluster_size items
    sel = acv.select("typiclust", budget=11, embeddings=x, rng=0)
    assert sorted(sel.indices.tolist()) == list(range(11))

"""Cluster-Margin: candidates by margin, round-robin over clusters (ALGORITHMS.md §7.4)."""

from __future__ import annotations

import numpy as np
import pytest

import activecv as acv


def probs_with_margins(margins: list[float]) -> np.ndarray:
    m = np.asarray(margins)
    p1 = (1 + m) / 2
    return np.stack([p1, 1 - p1], axis=1)


def test_round_robin_over_clusters_smallest_first() -> None:
    # margins: items 0..5 are the 6 most uncertain (k_m = 2 * 3), item 6 and 7 are confident
    probs = probs_with_margins([0.00, 0.01, 0.02, 0.03, 0.04, 0.05, 0.9, 0.95])
    clusters = np.array([7, 7, 7, 3, 3, 9, 9, 9])
    strategy = acv.get_strategy("cluster_margin", k_m_factor=2.0)
    sel = acv.select(strategy, budget=3, probs=probs, cluster_ids=clusters)
    # among candidates: cluster 9 has 1 item (5), cluster 3 has 2 (3, 4), cluster 7 has 3 (0, 1, 2)
    assert sel.indices.tolist() == [5, 3, 0]
    np.testing.assert_allclose(sel.scores, [0.95, 0.97, 1.0])


def test_cycles_again_when_clusters_run_short() -> None:
    probs = probs_with_margins([0.0, 0.1, 0.2, 0.3])
    sel = acv.select("cluster_margin", budget=4, probs=probs, cluster_ids=np.array([0, 0, 0, 1]))
    assert sel.indices.tolist() == [3, 0, 1, 2]


def test_embeddings_are_clustered_by_average_linkage() -> None:
    rng = np.random.default_rng(0)
    embeddings = np.vstack([rng.normal(size=(10, 2)), 50 + rng.normal(size=(10, 2))])
    probs = probs_with_margins(list(rng.uniform(0, 0.2, size=20)))
    sel = acv.select("cluster_margin", budget=2, probs=probs, embeddings=embeddings)
    assert {int(i >= 10) for i in sel.indices} == {0, 1}  # one from each far-apart group


def test_too_many_points_for_average_linkage_is_a_clear_error() -> None:
    pool = np.random.default_rng(0)
    probs = pool.dirichlet(np.ones(3), size=50)
    strategy = acv.get_strategy("cluster_margin", max_hac_points=10)
    with pytest.raises(ValueError, match="max_hac_points=10"):
        acv.select(strategy, budget=5, probs=probs, embeddings=pool.normal(size=(50, 2)))

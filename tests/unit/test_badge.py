"""BADGE: implicit gradient-embedding distances and k-means++ seeding (ALGORITHMS.md §7.2)."""

from __future__ import annotations

import numpy as np

import activecv as acv
from activecv.strategies._seeding import Points


def explicit_gradients(probs: np.ndarray, h: np.ndarray) -> np.ndarray:
    a = probs.copy()
    a[np.arange(a.shape[0]), a.argmax(axis=1)] -= 1.0
    return (a[:, :, None] * h[:, None, :]).reshape(probs.shape[0], -1)


def test_implicit_distances_equal_explicit_gradient_distances() -> None:
    rng = np.random.default_rng(0)
    probs, h = rng.dirichlet(np.ones(4), size=30), rng.normal(size=(30, 6))
    g = explicit_gradients(probs, h)
    implicit = Points(probs=probs, embeddings=h)
    np.testing.assert_allclose(implicit.sq, (g**2).sum(axis=1))
    for j in (0, 7, 29):
        np.testing.assert_allclose(
            implicit.squared_distances_to(j), ((g - g[j]) ** 2).sum(axis=1), atol=1e-10
        )


def test_probs_and_embeddings_select_like_explicit_gradients() -> None:
    rng = np.random.default_rng(1)
    probs, h = rng.dirichlet(np.ones(5), size=200), rng.normal(size=(200, 8))
    implicit = acv.select("badge", budget=20, probs=probs, embeddings=h, rng=4)
    explicit = acv.select("badge", budget=20, gradient_embeddings=explicit_gradients(probs, h), rng=4)
    np.testing.assert_array_equal(implicit.indices, explicit.indices)


def test_first_seed_has_the_largest_gradient_norm() -> None:
    g = np.random.default_rng(2).normal(size=(100, 12))
    sel = acv.select("badge", budget=5, gradient_embeddings=g, rng=0)
    assert sel.indices[0] == np.argmax((g**2).sum(axis=1))
    assert sel.scores[0] == np.linalg.norm(g[sel.indices[0]])


def test_seeding_follows_squared_distances() -> None:
    # one far point and a tight cloud: after the far seed, D^2 sampling picks from the cloud,
    # and a second point at the far location (distance 0) is never drawn while mass remains
    g = np.vstack([[[100.0, 0.0]], [[100.0, 0.0]], np.random.default_rng(3).normal(size=(50, 2))])
    for seed in range(20):
        sel = acv.select("badge", budget=3, gradient_embeddings=g, rng=seed)
        assert sel.indices[0] == 0 and 1 not in sel.indices[1:]


def test_all_duplicates_fall_back_to_uniform_among_the_rest() -> None:
    g = np.ones((10, 3))
    sel = acv.select("badge", budget=10, gradient_embeddings=g, rng=0)
    assert sorted(sel.indices.tolist()) == list(range(10))

"""k-center greedy against a direct implementation (ALGORITHMS.md §7.1)."""

from __future__ import annotations

import numpy as np
import pytest

import activecv as acv
from activecv.strategies._coreset import kcenter_greedy


def direct_kcenter(x: np.ndarray, labeled: list[int], budget: int) -> tuple[list[int], list[float]]:
    """The textbook loop: distances by np.linalg.norm, no tricks."""
    centres = list(labeled)
    chosen, radii = [], []
    for _ in range(budget):
        best, best_d = -1, -1.0
        for i in range(x.shape[0]):
            if i in centres:
                continue
            d = min(np.linalg.norm(x[i] - x[j]) for j in centres)
            if d > best_d:  # strict: ties keep the lowest index
                best, best_d = i, d
        centres.append(best)
        chosen.append(best)
        radii.append(best_d)
    return chosen, radii


@pytest.mark.parametrize("seed", range(5))
def test_matches_the_direct_implementation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 3))
    labeled = rng.choice(40, size=4, replace=False).tolist()
    expected, radii = direct_kcenter(x, labeled, 12)
    sel = kcenter_greedy(x, 12, labeled=labeled)
    assert sel.indices.tolist() == expected
    np.testing.assert_allclose(sel.scores, radii, rtol=1e-9)


def test_radii_never_grow() -> None:
    x = np.random.default_rng(0).normal(size=(200, 8))
    sel = kcenter_greedy(x, 30, labeled=[0])
    assert (np.diff(sel.scores) <= 1e-12).all()


def test_cold_start_takes_the_point_nearest_the_mean_then_the_farthest() -> None:
    x = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [10.0, 0.0]])  # mean (3.25, 0)
    sel = acv.select("coreset", budget=2, embeddings=x)
    assert sel.indices.tolist() == [2, 3]
    seeded = acv.select("coreset", budget=4, embeddings=x, rng=0)
    assert sorted(seeded.indices.tolist()) == [0, 1, 2, 3]


def test_duplicates_of_labeled_points_come_last() -> None:
    x = np.array([[0.0], [0.0], [0.0], [4.0]])
    sel = acv.select("coreset", budget=3, embeddings=x, labeled=[0])
    assert sel.indices.tolist() == [3, 1, 2]
    np.testing.assert_allclose(sel.scores, [4.0, 0.0, 0.0])


def _unpruned(x: np.ndarray, labeled: np.ndarray, budget: int) -> list[int]:
    """The greedy loop with every distance computed (the code before pruning)."""
    from activecv.strategies._backends import NUMPY

    space = NUMPY.points(x)
    available = np.ones(x.shape[0], dtype=bool)
    available[labeled] = False
    d2 = space.min_squared_distances(labeled)
    chosen = []
    for _ in range(budget):
        u = int(np.argmax(np.where(available, d2, -1.0)))
        chosen.append(u)
        available[u] = False
        np.minimum(d2, space.squared_distances_to(u), out=d2)
    return chosen


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pruned_updates_choose_as_the_full_ones(dtype: type, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clustered embeddings (most rows pruned) and isotropic ones (few): the same choices."""
    from activecv.strategies import _coreset, _distances

    monkeypatch.setattr(_coreset, "PROJECTION_SAMPLE", 500)
    monkeypatch.setattr(_coreset, "PROJECTION_RANK", 8)
    monkeypatch.setattr(_distances, "PROJECTION_SAMPLE", 500)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 40)) * 4
    clustered = centres[rng.integers(6, size=3000)] + rng.normal(size=(3000, 40))
    isotropic = rng.normal(size=(3000, 40))
    for x in (clustered.astype(dtype), isotropic.astype(dtype)):
        labeled = np.sort(rng.choice(3000, 30, replace=False))
        space = _coreset.NUMPY.points(x)
        assert _coreset._pruned(space, x, 100) is not None
        chosen, _ = _coreset.greedy_kcenter(x, labeled, 150, None)
        assert chosen.tolist() == _unpruned(x, labeled, 150)


def test_pruning_skips_most_rows_of_clustered_embeddings() -> None:
    from activecv.strategies._distances import PrunedMinDistances, squared_norms

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(6, 40)) * 4
    x = (centres[rng.integers(6, size=3000)] + rng.normal(size=(3000, 40))).astype(np.float32)
    pruned = PrunedMinDistances(x, squared_norms(x), rank=8)
    d2 = np.full(3000, np.inf)
    for j in range(60):
        d2[j] = -np.inf
        pruned.update(d2, j)
    assert pruned.rows_computed < 0.5 * 60 * 3000

"""Top-k with the deterministic tie rule, and its streaming form."""

from __future__ import annotations

import numpy as np

import activecv as acv
from activecv.strategies import top_k
from activecv.strategies._ranking import RunningTopK


def test_ties_break_by_lower_index() -> None:
    assert top_k(np.array([1.0, 3.0, 3.0, 2.0, 3.0]), 2).tolist() == [1, 2]
    assert top_k(np.zeros(6), 3).tolist() == [0, 1, 2]


def test_edge_sizes() -> None:
    assert top_k(np.array([1.0, 2.0]), 0).size == 0
    assert top_k(np.array([1.0, 2.0]), 5).tolist() == [1, 0]
    assert top_k(np.empty(0), 3).size == 0


def test_tie_keys_break_ties_before_position() -> None:
    assert top_k(np.ones(4), 2, tie_keys=np.array([0.9, 0.1, 0.5, 0.2])).tolist() == [1, 3]


def test_running_top_k_equals_top_k_over_any_chunking() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=300).astype(float)  # many ties
    expected = top_k(scores, 25)
    for _ in range(10):
        cuts = np.sort(rng.choice(np.arange(1, 300), size=rng.integers(1, 20), replace=False))
        running = RunningTopK(25, with_tie_keys=False)
        for part in np.split(np.arange(300), cuts):
            running.push(scores[part], scores[part], part)
        np.testing.assert_array_equal(running.positions, expected)


def test_an_rng_breaks_ties_at_random_but_reproducibly() -> None:
    probs = np.full((50, 2), 0.5)
    first = acv.select("entropy", budget=5, probs=probs, rng=1).indices
    assert first.tolist() != [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(first, acv.select("entropy", budget=5, probs=probs, rng=1).indices)
    assert acv.select("entropy", budget=5, probs=probs).indices.tolist() == [0, 1, 2, 3, 4]

"""BatchBALD against the hand-checked vector of ALGORITHMS.md §3.2 and a brute-force reference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import activecv as acv
from activecv.strategies._batchbald import _configurations, _joint_entropies, batchbald

A, B = [0.999, 0.001], [0.001, 0.999]


def brute_force_mi(p: np.ndarray, batch: list[int]) -> float:
    """I(y_batch; w) by enumerating every label configuration of the batch."""
    _, k, c = p.shape
    joint = 0.0
    for labels in itertools.product(range(c), repeat=len(batch)):
        prob = np.mean([np.prod([p[i, m, y] for i, y in zip(batch, labels, strict=True)]) for m in range(k)])
        joint -= prob * np.log(prob) if prob > 0 else 0.0
    conditional = sum(-(p[i] * np.log(p[i])).sum(axis=1).mean() for i in batch)
    return float(joint - conditional)


def brute_force_greedy(p: np.ndarray, budget: int) -> tuple[list[int], list[float]]:
    chosen: list[int] = []
    scores: list[float] = []
    for _ in range(budget):
        gains = {n: brute_force_mi(p, [*chosen, n]) for n in range(p.shape[0]) if n not in chosen}
        best = max(gains, key=lambda n: (round(gains[n], 9), -n))
        chosen.append(best)
        scores.append(gains[best])
    return chosen, scores


def test_hand_checked_vector_prefers_the_informative_point_over_a_duplicate() -> None:
    m = np.array([[A, A, B, B], [A, A, B, B], [A, B, A, B]])
    sel = batchbald(m, 2)
    assert sel.indices.tolist() == [0, 2]
    np.testing.assert_allclose(sel.scores, [0.6852, 1.3705], atol=1e-4)
    # the duplicate's batch MI would have been 0.6917: a gain of only 0.0065
    assert brute_force_mi(m, [0, 1]) == pytest.approx(0.6917, abs=1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_greedy_matches_brute_force_on_tiny_pools_with_duplicates(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(3, 0.5), size=(7, 5))
    p = np.concatenate([p, p[[1, 4]]])  # exact copies of two points
    expected, expected_scores = brute_force_greedy(p, 4)
    sel = batchbald(p, 4, num_samples=10_000)  # 3^3 configurations: exact throughout
    assert sel.indices.tolist() == expected
    np.testing.assert_allclose(sel.scores, expected_scores, atol=2e-5)


def test_first_choice_is_the_bald_maximiser() -> None:
    p = np.random.default_rng(5).dirichlet(np.ones(4), size=(50, 8))
    sel = batchbald(p, 1)
    assert sel.indices[0] == np.argmax(acv.strategies.bald(p))
    assert sel.scores[0] == pytest.approx(acv.strategies.bald(p).max(), abs=1e-5)


def test_sampled_joint_entropy_agrees_with_the_exact_one() -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.full(3, 0.7), size=(40, 10))
    log_p = np.log(p)
    q_flat = np.ascontiguousarray(p.transpose(1, 0, 2).reshape(10, -1), dtype=np.float32)
    chosen = [0, 1, 2, 3]
    exact = _joint_entropies(*_configurations(log_p, chosen, 0, True, rng), q_flat, 3)
    sampled = _joint_entropies(*_configurations(log_p, chosen, 200_000, False, rng), q_flat, 3)
    np.testing.assert_allclose(sampled, exact, atol=0.02)


def test_sampled_regime_returns_a_full_valid_batch() -> None:
    p = np.random.default_rng(1).dirichlet(np.ones(5), size=(80, 10))
    sel = batchbald(p, 6, num_samples=100, rng=0)  # exact while 5^t <= 100: sampled from t = 3
    assert len(set(sel.indices.tolist())) == 6
    assert (np.diff(sel.scores) > -0.05).all()  # batch MI grows, up to estimator noise


def test_labeled_items_are_never_chosen() -> None:
    p = np.random.default_rng(2).dirichlet(np.ones(3), size=(30, 6))
    best = batchbald(p, 3).indices
    sel = acv.select("batchbald", budget=3, mc_probs=p, labeled=best[:1])
    assert best[0] not in sel.indices
    scores = acv.strategies.bald(p)
    scores[best[0]] = -np.inf
    assert sel.indices[0] == np.argmax(scores)  # the best BALD among unlabeled items


def test_duplicate_configurations_are_merged_exactly() -> None:
    from activecv.strategies._batchbald import _merge_duplicates

    labels = np.random.default_rng(0).integers(0, 3, size=(4000, 5))
    rows, counts = _merge_duplicates(labels)
    expected_rows, expected_counts = np.unique(labels, axis=0, return_counts=True)
    order = np.lexsort(rows.T[::-1])
    np.testing.assert_array_equal(rows[order], expected_rows)
    np.testing.assert_array_equal(counts[order], expected_counts)

"""BatchBALD against the hand-checked vector of ALGORITHMS.md §3.2, a brute-force reference, and a
full-evaluation greedy (the bounds must not change the exact picks)."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest

import activecv as acv
from activecv._errors import InputError, InputTypeError, MissingExtraError
from activecv.strategies._batchbald import (
    NumpyJointEntropies,
    _Configurations,
    _group_bounds,
    _merge_duplicates,
    batchbald,
)

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
    labels = np.random.default_rng(0).integers(0, 3, size=(4000, 5))
    first, counts = _merge_duplicates(labels)
    rows = labels[first]
    expected_rows, expected_counts = np.unique(labels, axis=0, return_counts=True)
    order = np.lexsort(rows.T[::-1])
    np.testing.assert_array_equal(rows[order], expected_rows)
    np.testing.assert_array_equal(counts[order], expected_counts)


def exact_mi(p: np.ndarray, batch: list[int]) -> float:
    """I(y_batch; w) from the full table of C^|batch| configurations (float64)."""
    k = p.shape[1]
    log_table = np.zeros((1, k))
    for i in batch:
        log_table = (log_table[:, None, :] + np.log(p[i]).T[None, :, :]).reshape(-1, k)
    q = np.exp(log_table).mean(axis=1)
    conditional = sum(-(p[i] * np.log(p[i])).sum(axis=1).mean() for i in batch)
    return float(-(q * np.log(q)).sum() - conditional)


def full_greedy(p: np.ndarray, budget: int) -> list[int]:
    """Exact greedy evaluating every candidate at every step (float64, no bounds)."""
    chosen: list[int] = []
    for _ in range(budget):
        gains = [exact_mi(p, [*chosen, n]) if n not in chosen else -np.inf for n in range(p.shape[0])]
        chosen.append(int(np.argmax(gains)))
    return chosen


def pool(seed: int, n: int, k: int, c: int, sharpness: float) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=(n, k, c)) * sharpness
    p = np.exp(logits - logits.max(axis=2, keepdims=True))
    return p / p.sum(axis=2, keepdims=True)


@pytest.mark.parametrize(("seed", "sharpness"), [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0)])
def test_bounded_greedy_makes_the_picks_of_evaluating_every_candidate(seed: int, sharpness: float) -> None:
    # exact regime throughout (3^5 <= 10^6); sharp models pin the posterior down, so that late
    # gains are tiny and nearly equal: the bounds must still not skip the true argmax
    p = pool(seed, 150, 8, 3, sharpness)
    sel = batchbald(p, 6, num_samples=1_000_000)
    assert sel.indices.tolist() == full_greedy(p, 6)
    np.testing.assert_allclose(sel.scores[-1], exact_mi(p, sel.indices.tolist()), atol=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_sampled_regime_batch_mi_is_within_one_percent_of_exact_greedy(seed: int) -> None:
    p = pool(seed, 60, 10, 5, 2.0)
    exact = exact_mi(p, full_greedy(p, 7))
    sel = batchbald(p, 7, num_samples=1_000, rng=seed)  # exact while 5^t <= 1000: sampled from t = 5
    assert exact_mi(p, sel.indices.tolist()) >= 0.99 * exact


def test_group_bounds_bound_the_exact_entropies_from_above() -> None:
    rng = np.random.default_rng(0)
    p = pool(0, 40, 12, 4, 2.0)
    weights = rng.dirichlet(np.full(12, 0.05), size=3000).astype(np.float32)
    pi = rng.dirichlet(np.ones(3000))
    kernel = NumpyJointEntropies(p)
    candidates = np.arange(40)
    exact = kernel(weights, pi, candidates)
    levels = list(_group_bounds(weights, pi))
    assert len(levels) >= 2
    for w_g, pi_g in levels:
        assert pi_g.sum() == pytest.approx(1.0)
        assert (kernel(w_g, pi_g, candidates) >= exact - 1e-5).all()


def test_sampled_configurations_estimate_the_exact_joint_entropy() -> None:
    p = pool(4, 40, 10, 3, 1.0)
    log_p = np.log(p)
    kernel = NumpyJointEntropies(p)
    exact = _Configurations(log_p, 1_000_000, np.random.default_rng(0))
    sampled = _Configurations(log_p, 200_000, np.random.default_rng(0))
    for i in (0, 1, 2, 3):
        exact.add(i)
        sampled.add(i)
    sampled._draw()  # the same four items, now from 200,000 sampled configurations
    assert sampled.sampled and not exact.sampled
    sampled.add(4)  # and extended by a fifth
    exact.add(4)
    candidates = np.arange(5, 40)
    w, pi, h = exact.summary()
    ws, pis, hs = sampled.summary()
    assert hs == pytest.approx(h, abs=0.02)
    np.testing.assert_allclose(kernel(ws, pis, candidates), kernel(w, pi, candidates), atol=0.02)


def test_blocks_and_threads_do_not_change_the_entropies() -> None:
    p = pool(5, 300, 6, 4, 2.0)
    weights = np.random.default_rng(1).dirichlet(np.ones(6), size=700).astype(np.float32)
    pi = np.full(700, 1 / 700)
    candidates = np.arange(300)
    serial = NumpyJointEntropies(p, workers=1)(weights, pi, candidates)
    kernel = NumpyJointEntropies(p, workers=2)
    with kernel.running():
        np.testing.assert_allclose(kernel(weights, pi, candidates), serial, atol=1e-6)


def test_backend_names_are_checked() -> None:
    p = pool(6, 10, 4, 3, 1.0)
    with pytest.raises(InputError, match=r"backend must be one of 'numpy', 'torch', 'auto'; got 'cuda'"):
        batchbald(p, 2, backend="cuda")
    with pytest.raises(
        InputTypeError, match=r"backend must be a string, one of 'numpy', 'torch', 'auto'; got int"
    ):
        batchbald(p, 2, backend=3)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="backend must be one of"):
        acv.get_strategy("batchbald", backend="gpu")


def test_torch_backend_without_torch_names_the_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "activecv.adapters.torch", None)  # import now fails
    p = pool(7, 10, 4, 3, 1.0)
    with pytest.raises(MissingExtraError, match=r"pip install 'activecv\[torch\]'"):
        batchbald(p, 2, backend="torch")
    assert "backend" not in batchbald(p, 2, backend="auto").info  # auto falls back to numpy

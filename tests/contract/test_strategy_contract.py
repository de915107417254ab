"""The contract every registered strategy must keep (one suite over list_strategies())."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import inputs_for, make_pool

import activecv as acv
from activecv.strategies import ScoreStrategy

NAMES = acv.list_strategies()
DETERMINISTIC_SCORES = [
    n for n in NAMES if isinstance(acv.get_strategy(n), ScoreStrategy) and not acv.get_strategy(n).stochastic
]


def test_registry_lists_every_required_strategy() -> None:
    required = {
        "random",
        "least_confidence",
        "margin",
        "ratio",
        "entropy",
        "predictive_entropy",
        "bald",
        "variation_ratio",
        "mean_std",
        "batchbald",
        "power_bald",
        "power_entropy",
        "coreset",
        "badge",
        "typiclust",
        "cluster_margin",
        "learning_loss",
        "discriminative",
        "seg_entropy",  # segmentation, per image (issue 13): pixel measures aggregated
        "seg_margin",
        "seg_least_confidence",
        "seg_bald",
    }
    assert required <= set(NAMES)
    assert NAMES == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("budget", [1, 7, 60, 500])
def test_unique_in_range_and_budget(name: str, budget: int) -> None:
    pool = make_pool()
    labeled = np.zeros(60, dtype=bool)
    labeled[[3, 10, 11]] = True
    sel = acv.select(name, budget=budget, labeled=labeled, rng=0, **inputs_for(name, pool))
    assert len(sel) == min(budget, 57)
    assert len(set(sel.indices.tolist())) == len(sel)
    assert sel.indices.min() >= 0 and sel.indices.max() < 60
    assert not labeled[sel.indices].any()
    assert sel.strategy == name
    assert np.isfinite(sel.scores).all()


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_under_a_seed(name: str) -> None:
    pool = make_pool(seed=1)
    first = acv.select(name, budget=9, rng=42, **inputs_for(name, pool))
    again = acv.select(name, budget=9, rng=np.random.default_rng(42), **inputs_for(name, pool))
    np.testing.assert_array_equal(first.indices, again.indices)
    np.testing.assert_array_equal(first.scores, again.scores)


@pytest.mark.parametrize("name", DETERMINISTIC_SCORES)
def test_score_strategies_rank_best_first_and_match_score(name: str) -> None:
    pool = make_pool(seed=2)
    sel = acv.select(name, budget=20, **inputs_for(name, pool))
    assert (np.diff(sel.scores) <= 0).all()
    scores = acv.score(name, **inputs_for(name, pool))
    np.testing.assert_array_equal(sel.indices, np.argsort(-scores, kind="stable")[:20])
    np.testing.assert_allclose(sel.scores, scores[sel.indices])


@pytest.mark.parametrize("name", DETERMINISTIC_SCORES)
def test_score_strategies_are_permutation_equivariant(name: str) -> None:
    pool = make_pool(seed=3)
    perm = np.random.default_rng(0).permutation(60)
    base = acv.select(name, budget=10, **inputs_for(name, pool))
    permuted = acv.select(name, budget=10, **{k: v[perm] for k, v in inputs_for(name, pool).items()})
    # the same scores in the same order; the same items except among ties at the boundary
    np.testing.assert_array_equal(permuted.scores, base.scores)
    above = base.scores > base.scores[-1]
    assert set(perm[permuted.indices][above].tolist()) == set(base.indices[above].tolist())


@pytest.mark.parametrize("name", NAMES)
def test_budget_beyond_pool_returns_every_unlabeled_item(name: str) -> None:
    pool = make_pool(n=12)
    sel = acv.select(name, budget=100, labeled=[0, 5], rng=0, **inputs_for(name, pool))
    assert sorted(sel.indices.tolist()) == [i for i in range(12) if i not in (0, 5)]


@pytest.mark.parametrize("name", [n for n in NAMES if n != "random"])
def test_missing_required_input_is_named(name: str) -> None:
    used = {i for group in acv.get_strategy(name).requirements() for i in group}
    unused = next(i for i in ("cluster_ids", "mc_probs", "probs") if i not in used)
    with pytest.raises(ValueError, match=f"strategy '{name}' requires .*; got {unused}"):
        acv.select(name, budget=3, **{unused: make_pool()[unused]})


@pytest.mark.parametrize("name", NAMES)
def test_candidates_restrict_to_a_subset(name: str) -> None:
    pool = make_pool()
    sel = acv.select(name, budget=5, candidates=15, labeled=[0, 1], rng=3, **inputs_for(name, pool))
    assert len(sel) == 5 and sel.info["candidates"] == 15
    assert not set(sel.indices.tolist()) & {0, 1}
    again = acv.select(name, budget=5, candidates=15, labeled=[0, 1], rng=3, **inputs_for(name, pool))
    np.testing.assert_array_equal(sel.indices, again.indices)

"""Stochastic batch acquisition: power, softmax, softrank (ALGORITHMS.md §3.3)."""

from __future__ import annotations

import numpy as np
import pytest

import activecv as acv
from activecv.strategies import stochastic_sample


@pytest.mark.parametrize("mode", ["power", "softmax", "softrank"])
def test_large_beta_is_top_k(mode: str) -> None:
    scores = np.random.default_rng(0).random(100) + 0.5
    chosen = stochastic_sample(scores, 10, mode=mode, beta=1e4, rng=0)
    np.testing.assert_array_equal(chosen, np.argsort(-scores)[:10])


def test_power_mode_draws_first_in_proportion_to_the_score() -> None:
    scores = np.array([1.0, 2.0, 3.0, 4.0])
    rng = np.random.default_rng(0)
    firsts = np.bincount(
        [stochastic_sample(scores, 1, beta=1.0, rng=rng)[0] for _ in range(8000)], minlength=4
    )
    np.testing.assert_allclose(firsts / 8000, scores / scores.sum(), atol=0.02)


def test_softrank_draws_first_in_proportion_to_inverse_rank() -> None:
    scores = np.array([0.1, 0.9, 0.5])  # ranks 3, 1, 2
    rng = np.random.default_rng(1)
    firsts = np.bincount(
        [stochastic_sample(scores, 1, mode="softrank", rng=rng)[0] for _ in range(8000)], minlength=3
    )
    expected = np.array([1 / 3, 1.0, 1 / 2])
    np.testing.assert_allclose(firsts / 8000, expected / expected.sum(), atol=0.02)


def test_zero_beta_is_uniform() -> None:
    scores = np.array([0.0, 10.0, 20.0])
    rng = np.random.default_rng(2)
    firsts = np.bincount(
        [stochastic_sample(scores, 1, mode="softmax", beta=0.0, rng=rng)[0] for _ in range(6000)], minlength=3
    )
    np.testing.assert_allclose(firsts / 6000, 1 / 3, atol=0.02)


def test_power_bald_avoids_piling_onto_duplicates_less_than_top_k() -> None:
    # ten copies of the best point: top-k BALD takes them all, PowerBALD spreads out
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(3), size=(100, 8))
    best = int(np.argmax(acv.strategies.bald(p)))
    pool = np.concatenate([p, np.repeat(p[best : best + 1], 9, axis=0)])
    top = acv.select("bald", budget=10, mc_probs=pool).indices
    power = acv.select("power_bald", budget=10, mc_probs=pool, rng=0).indices
    copies = set(range(100, 109)) | {best}
    assert len(copies & set(top.tolist())) == 10
    assert len(copies & set(power.tolist())) < 10


def test_bad_mode_and_beta_are_named() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        acv.get_strategy("power_bald", mode="hot")
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        acv.get_strategy("stochastic", beta=-1.0)
    with pytest.raises(ValueError, match="base must be a deterministic score-based strategy"):
        acv.get_strategy("stochastic", base="coreset")
    with pytest.raises(ValueError, match="mode must be one of"):
        stochastic_sample(np.ones(3), 1, mode="x")

"""Hand-checked vectors for scores over K stochastic predictions (ALGORITHMS.md §3.1)."""

from __future__ import annotations

import numpy as np

import activecv as acv
from activecv.strategies import bald, mean_std, predictive_entropy, variation_ratio

A, B = [0.9, 0.1], [0.2, 0.8]
M = np.array([[A, B], [A, A], [[0.5, 0.5], [0.5, 0.5]]])  # (3 items, K=2, C=2)


def h(p: list[float]) -> float:
    return float(-sum(x * np.log(x) for x in p if x > 0))


def test_predictive_entropy_is_entropy_of_the_mean() -> None:
    np.testing.assert_allclose(predictive_entropy(M), [h([0.55, 0.45]), h(A), np.log(2)])


def test_bald_is_entropy_of_mean_minus_mean_entropy() -> None:
    expected = [h([0.55, 0.45]) - (h(A) + h(B)) / 2, 0.0, 0.0]
    np.testing.assert_allclose(bald(M), expected, atol=1e-12)
    assert bald(M)[0] > 0.2  # disagreeing members carry information


def test_variation_ratio_counts_the_modal_vote() -> None:
    votes = np.array([[[0.9, 0.1, 0.0], [0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.0, 0.1, 0.9]]])
    np.testing.assert_allclose(variation_ratio(votes), [0.5])
    np.testing.assert_allclose(variation_ratio(M)[1], 0.0)


def test_mean_std_is_the_population_std_averaged_over_classes() -> None:
    np.testing.assert_allclose(mean_std(M), [0.35, 0.0, 0.0])  # |0.9 - 0.2| / 2 for both classes


def test_log_probabilities_give_the_same_scores() -> None:
    p = np.random.default_rng(0).dirichlet(np.ones(5), size=(20, 7))
    for name in ("bald", "predictive_entropy", "variation_ratio", "mean_std"):
        np.testing.assert_allclose(
            acv.score(name, mc_log_probs=np.log(p)), acv.score(name, mc_probs=p), atol=1e-12
        )


def test_bald_of_a_single_sample_is_zero() -> None:
    p = np.random.default_rng(0).dirichlet(np.ones(3), size=(10, 1))
    np.testing.assert_allclose(bald(p), 0.0, atol=1e-12)

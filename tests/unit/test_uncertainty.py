"""Hand-checked vectors for the single-model uncertainty scores (ALGORITHMS.md §2)."""

from __future__ import annotations

import numpy as np
import pytest

import activecv as acv
from activecv.strategies import entropy, least_confidence, margin, ratio, softmax

P = np.array([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])


def test_least_confidence_vectors() -> None:
    np.testing.assert_allclose(least_confidence(P), [0.3, 2 / 3, 0.0, 0.5])
    np.testing.assert_allclose(least_confidence(P, normalize=True), [0.45, 1.0, 0.0, 0.75])


def test_margin_vectors() -> None:
    np.testing.assert_allclose(margin(P), [0.5, 1.0, 0.0, 1.0])


def test_ratio_vectors() -> None:
    np.testing.assert_allclose(ratio(P), [2 / 7, 1.0, 0.0, 1.0])


def test_entropy_vectors_in_nats_with_zero_log_zero() -> None:
    expected = [
        -(0.7 * np.log(0.7) + 0.2 * np.log(0.2) + 0.1 * np.log(0.1)),  # 0.80182
        np.log(3),
        0.0,
        np.log(2),
    ]
    np.testing.assert_allclose(entropy(P), expected, atol=1e-12)
    np.testing.assert_allclose(entropy(P, normalize=True), np.array(expected) / np.log(3), atol=1e-12)
    assert entropy(P)[0] == pytest.approx(0.8018185525433373)


def test_two_classes_give_one_ranking() -> None:
    p = np.random.default_rng(0).random(50)
    probs = np.stack([p, 1 - p], axis=1)
    orders = [np.argsort(-f(probs), kind="stable") for f in (least_confidence, margin, ratio, entropy)]
    for order in orders[1:]:
        np.testing.assert_array_equal(order, orders[0])


def test_softmax_with_temperature_and_large_logits() -> None:
    z = np.array([[1000.0, 1000.0 + np.log(3.0)], [0.0, 0.0]])
    np.testing.assert_allclose(softmax(z), [[0.25, 0.75], [0.5, 0.5]])
    np.testing.assert_allclose(
        softmax(np.array([[0.0, 2.0]]), temperature=2.0), softmax(np.array([[0.0, 1.0]]))
    )


def test_logits_input_equals_probs_input() -> None:
    z = np.random.default_rng(1).normal(size=(30, 5))
    for name in ("entropy", "margin", "least_confidence", "ratio"):
        from_logits = acv.score(name, logits=z, temperature=0.5)
        from_probs = acv.score(name, probs=softmax(z, temperature=0.5))
        np.testing.assert_allclose(from_logits, from_probs, rtol=1e-12)


def test_float32_probs_are_accepted_and_scored_in_float64() -> None:
    scores = entropy(P.astype(np.float32))
    assert scores.dtype == np.float64
    np.testing.assert_allclose(scores, entropy(P), atol=1e-6)

"""Discriminative Active Learning (§6): the numpy discriminator and the mini-query loop."""

from __future__ import annotations

import numpy as np
import pytest

import activecv as acv
from activecv.strategies._discriminative import Discriminator, training_settings


def test_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(0)
    model = Discriminator(dim=3, hidden=5, rng=rng)
    model.weights = [w.astype(np.float64) for w in model.weights]  # float64 for a tight check
    model.biases = [b.astype(np.float64) + rng.normal(scale=0.1, size=b.shape) for b in model.biases]
    x, y = rng.normal(size=(7, 3)), np.array([0, 1, 1, 0, 1, 1, 1])
    class_weight = np.array([7 / 3, 7 / 4])
    _, grads, _ = model.gradients(x, y, class_weight)
    for param, grad in zip([*model.weights, *model.biases], grads, strict=True):
        for index in np.ndindex(param.shape):
            old = param[index]
            param[index] = old + 1e-6
            up = model.gradients(x, y, class_weight)[0]
            param[index] = old - 1e-6
            down = model.gradients(x, y, class_weight)[0]
            param[index] = old
            assert grad[index] == pytest.approx((up - down) / 2e-6, abs=1e-6)


def test_class_weights_balance_the_loss() -> None:
    model = Discriminator(dim=2, hidden=4, rng=np.random.default_rng(0))
    model.weights[-1][:] = 0  # uniform prediction: every item's cross-entropy is log 2
    model.biases[-1][:] = 0
    y = np.array([0, 1, 1, 1])
    loss, _, _ = model.gradients(np.ones((4, 2), np.float32), y, np.array([4.0, 4 / 3]))
    assert loss == pytest.approx((4 + 3 * 4 / 3) / 4 * np.log(2), rel=1e-6)


def test_training_stops_once_accuracy_exceeds_the_threshold() -> None:
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(-3, 1, (50, 4)), rng.normal(3, 1, (50, 4))]).astype(np.float32)
    y = np.repeat([0, 1], 50)
    settings = training_settings(4, None, 1e-2, 500, 32, 0.98)
    model = Discriminator(4, settings.hidden, rng)
    epochs = model.fit(x, y, settings, rng)
    assert epochs < 500
    assert ((model.prob_unlabeled(x) > 0.5) == y).mean() > 0.98


def test_default_settings_follow_the_input_size() -> None:
    small = training_settings(128, None, None, None, None, 0.98)
    assert (small.hidden, small.lr, small.max_epochs, small.batch_size) == (256, 1e-4, 1000, 128)
    mid = training_settings(512, None, None, None, None, 0.98)
    assert (mid.lr, mid.max_epochs, mid.batch_size) == (2e-4, 500, 1024)
    pixels = training_settings(784, None, None, None, None, 0.98)
    assert (pixels.lr, pixels.max_epochs) == (3e-4, 200)
    assert training_settings(8, None, None, None, None, 0.98).hidden == 20
    assert training_settings(8, 64, 0.5, 3, 16, 0.9).hidden == 64


def _shifted_pool(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """400 items around the origin, 100 shifted along x; the labeled set is 100 of the first."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(500, 2))
    x[400:, 0] += 5.0
    return x, np.arange(100)


@pytest.mark.parametrize("seed", [0, 1])
def test_selects_away_from_the_labeled_distribution(seed: int) -> None:
    x, labeled = _shifted_pool(seed)
    strategy = acv.get_strategy("discriminative", n_sub=5, lr=1e-3, max_epochs=300)
    sel = acv.select(strategy, budget=10, embeddings=x, labeled=labeled, rng=seed)
    from_shifted = (sel.indices >= 400).mean()
    assert from_shifted >= 0.8  # random would take 100 / 400 = 25%
    assert sel.info["mini_queries"] == 5 and len(sel.info["epochs"]) == 5
    assert ((sel.scores > 0) & (sel.scores <= 1)).all()


def test_budget_below_n_sub_uses_one_item_per_mini_query() -> None:
    x, labeled = _shifted_pool(0)
    strategy = acv.get_strategy("discriminative", max_epochs=5)
    sel = acv.select(strategy, budget=3, embeddings=x, labeled=labeled, rng=0)
    assert len(sel) == 3 and sel.info["mini_queries"] == 3


def test_a_subset_smaller_than_its_share_adds_mini_queries() -> None:
    x, _ = _shifted_pool(0)
    # one labeled item: the only planned query draws a subset of 10, short of its 30
    strategy = acv.get_strategy("discriminative", n_sub=1, max_epochs=5)
    sel = acv.select(strategy, budget=30, embeddings=x, labeled=[0], rng=0)
    assert len(sel) == 30 and len(set(sel.indices.tolist())) == 30
    assert sel.info["mini_queries"] == 2


def test_cold_start_begins_uniformly() -> None:
    x, _ = _shifted_pool(0)
    strategy = acv.get_strategy("discriminative", n_sub=2, max_epochs=5)
    sel = acv.select(strategy, budget=4, embeddings=x, rng=0)
    assert len(sel) == 4
    np.testing.assert_array_equal(sel.scores[:2], 1.0)  # nothing labeled: P(unlabeled) = 1
    assert len(sel.info["epochs"]) == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_sub": 0}, "n_sub must be a positive integer; got 0"),
        ({"lr": -1.0}, r"lr must be a finite number > 0.0; got -1.0"),
        ({"max_epochs": 1.5}, "max_epochs must be a positive integer; got float 1.5"),
        ({"accuracy_stop": float("nan")}, "accuracy_stop must be a finite number"),
    ],
)
def test_bad_parameters(params: dict, message: str) -> None:
    with pytest.raises(acv.ActiveCVError, match=message):
        acv.get_strategy("discriminative", **params)


def test_probabilities_saturate_without_overflow() -> None:
    model = Discriminator(dim=2, hidden=3, rng=np.random.default_rng(0))
    model.biases[-1][:] = [0.0, 1e4]  # logit gap far beyond exp's float64 range
    np.testing.assert_array_equal(model.prob_unlabeled(np.zeros((2, 2), np.float32)), [1.0, 1.0])
    model.biases[-1][:] = [1e4, 0.0]
    np.testing.assert_array_equal(model.prob_unlabeled(np.zeros((2, 2), np.float32)), [0.0, 0.0])

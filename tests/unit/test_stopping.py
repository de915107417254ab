"""When to stop: Cohen's kappa, stabilising predictions and the plateau, on hand-made values."""

from __future__ import annotations

import numpy as np
import pytest

from activecv._stopping import cohen_kappa, plateau_at, stabilised_at, stop_set, successive_kappas


def test_kappa_by_hand() -> None:
    # agree on 4 of 6 (p_o = 2/3); both labelings 2, 2, 2 per class: p_e = 3 * (2/6)^2 = 1/3
    # kappa = (2/3 - 1/3) / (1 - 1/3) = 0.5
    a, b = np.array([0, 1, 2, 0, 1, 2]), np.array([0, 1, 2, 0, 2, 1])
    assert cohen_kappa(a, b) == pytest.approx(0.5)
    # skewed marginals: a = 8x0 + 2x1, b = 9x0 + 1x1, agree on 9: p_o 0.9, p_e 0.8*0.9 + 0.2*0.1 = 0.74
    a = np.array([0] * 8 + [1, 1])
    b = np.array([0] * 9 + [1])
    assert cohen_kappa(a, b) == pytest.approx((0.9 - 0.74) / 0.26)
    assert cohen_kappa(a, a) == 1.0 and cohen_kappa(np.zeros(5), np.zeros(5)) == 1.0
    assert cohen_kappa(np.array([0, 1]), np.array([1, 0])) == pytest.approx(-1.0)
    assert successive_kappas([a, a, b]) == [1.0, pytest.approx(0.16 / 0.26)]
    with pytest.raises(
        ValueError, match=r"kappa needs two labelings of the same items .*got \(2,\) and \(3,\)"
    ):
        cohen_kappa(np.zeros(2), np.zeros(3))


def test_kappa_matches_scikit_learn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    b[:120] = a[:120]
    assert cohen_kappa(a, b) == pytest.approx(metrics.cohen_kappa_score(a, b))


def test_stabilised_at_takes_the_mean_of_the_window() -> None:
    kappas = [None, 0.5, 0.99, 0.98, 1.0, 1.0]
    # round 3: mean(0.5, 0.99, 0.98) no; round 4: mean(0.99, 0.98, 1.0) = 0.99 yes
    assert stabilised_at(kappas, 0.99, 3) == 4
    assert stabilised_at(kappas, 0.999, 3) is None
    assert stabilised_at(kappas, 0.99, 1) == 2
    assert stabilised_at([None, None, 1.0, 1.0], 0.99, 3) is None  # a missing round breaks the window
    with pytest.raises(ValueError, match="window must be an integer >= 1"):
        stabilised_at(kappas, 0.99, 0)
    with pytest.raises(ValueError, match=r"threshold must be a kappa in \(0, 1\]"):
        stabilised_at(kappas, 1.5, 3)


def test_plateau_and_stop_set() -> None:
    assert plateau_at([0.5, 0.7, 0.8, 0.802, 0.801, 0.803], 3, 0.005) == 5
    assert plateau_at([0.5, 0.6, 0.7, 0.8], 3, 0.005) is None
    assert plateau_at([0.9, 0.8, 0.85, 0.9], 3, 0.0) == 3  # no new best over the window
    first = stop_set(100, 10, [3, 7])
    assert first.shape == (10,) and np.all(np.diff(first) > 0)
    np.testing.assert_array_equal(first, stop_set(100, 10, [3, 7]))
    assert stop_set(5, 10, 0).tolist() == [0, 1, 2, 3, 4]

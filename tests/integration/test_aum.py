"""Area Under the Margin: hand-checked margins, the threshold rule, and planted label noise."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from activecv.adapters.torch import (  # noqa: E402
    AUMTracker,
    GalCNN,
    find_mislabeled,
    flag_mislabeled,
    make_threshold_sets,
)
from activecv.datasets import load  # noqa: E402

pytestmark = pytest.mark.torch


def test_margin_is_assigned_logit_minus_largest_other_averaged_per_sample() -> None:
    tracker = AUMTracker(3)
    tracker.update(torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]]), torch.tensor([0, 0]), [0, 1])
    tracker.update(torch.tensor([[0.0, 1.0, 0.5]]), torch.tensor([0]), [0])
    aum = tracker.aum()
    np.testing.assert_allclose(aum[:2], [(1.0 + -1.0) / 2, -3.0])
    assert np.isnan(aum[2])  # never seen


def test_threshold_sets_are_disjoint_and_sized_n_over_c_plus_1() -> None:
    first, second = make_threshold_sets(110, 10, rng=0)
    assert first.size == second.size == 10 and not set(first) & set(second)


def test_flag_rule_uses_the_99th_percentile_of_threshold_aums() -> None:
    aum = np.concatenate([np.arange(100.0), [50.5, 98.5, 99.5, -5.0]])  # 100 threshold samples 0..99
    flags = flag_mislabeled(aum, np.arange(100))
    # flagged when more than 1% of thresholds are strictly larger: 98.5 has one larger (99), not flagged
    assert flags[100:].tolist() == [True, False, False, True]
    assert not flags[:100].any()


def test_too_few_samples_skip_thresholding() -> None:
    x, y = np.random.default_rng(0).random((8, 1, 8, 8)).astype(np.float32), np.arange(8) % 10
    report = find_mislabeled(lambda k: GalCNN(num_classes=k, image_size=8), x, y, 10, epochs=1)
    assert not report.flagged.any() and report.thresholds == () and np.isfinite(report.aum).all()


def test_aum_finds_planted_label_noise_on_mnist() -> None:
    data = load("mnist5k")
    n = 1000
    x, y = data.x_train[:n, None], data.y_train[:n].copy()
    rng = np.random.default_rng(0)
    noisy = rng.choice(n, n // 10, replace=False)
    y[noisy] = (y[noisy] + rng.integers(1, 10, noisy.size)) % 10  # 10% flipped to another class

    def make(outputs: int) -> GalCNN:
        torch.manual_seed(0)
        return GalCNN(num_classes=outputs)

    report = find_mislabeled(make, x, y, 10, epochs=6, seed=0)
    truth = np.zeros(n, dtype=bool)
    truth[noisy] = True
    precision = (report.flagged & truth).sum() / report.flagged.sum()
    recall = (report.flagged & truth).sum() / truth.sum()
    assert precision > 0.25 and recall > 0.7  # base rate 0.1; measured 0.369 and 0.990
    assert np.nanmean(report.aum[truth]) < 0 < np.nanmean(report.aum[~truth])

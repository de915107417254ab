"""The simulation's arithmetic and verdict, on hand-made results (no training)."""

from __future__ import annotations

import numpy as np
import pytest

from activecv.sim import SimulationConfig, aubc, labels_to_reach, preset, summarize
from activecv.sim._loop import initial_set
from activecv.sim._report import render_markdown


def test_aubc_is_the_mean_accuracy_over_the_budget() -> None:
    # trapezoids: (0.5+0.7)/2*10 + (0.7+0.8)/2*30 = 6 + 22.5 = 28.5 over a width of 40
    assert aubc(np.array([10.0, 20.0, 50.0]), np.array([0.5, 0.7, 0.8])) == pytest.approx(28.5 / 40)
    assert aubc(np.array([10.0]), np.array([0.6])) == 0.6


def test_curves_that_spend_differently_compare_over_the_range_they_share() -> None:
    # random's rounds spend 10 more than entropy's (20, 40 against 20, 30): both are
    # compared on [20, 30], random's curve interpolated there (0.6 at 30)
    rows = [
        {"strategy": s, "seed": 0, "round": r, "n_labeled": n, "metric": m}
        for s, curve in {"random": [(20, 0.4), (40, 0.8)], "entropy": [(20, 0.4), (30, 0.5)]}.items()
        for r, (n, m) in enumerate(curve)
    ]
    rows += [dict(row, seed=1) for row in rows]
    config = SimulationConfig(strategies=("entropy",), rounds=1, seeds=(0, 1), targets=())
    summary = summarize([dict(r, selection_seconds=0.0, training_seconds=0.0) for r in rows], config)
    assert summary.strategies["random"].aubc == [pytest.approx(0.5)] * 2
    assert summary.strategies["entropy"].aubc == [pytest.approx(0.45)] * 2
    assert summary.margin == pytest.approx(-0.05)


def test_labels_to_reach_takes_the_first_size_at_or_above_the_target() -> None:
    n, acc = np.array([10, 20, 30, 40]), np.array([0.5, 0.9, 0.85, 0.95])
    assert labels_to_reach(n, acc, 0.9) == 20
    assert labels_to_reach(n, acc, 0.95) == 40
    assert labels_to_reach(n, acc, 0.99) is None


def _rows(strategy: str, seed: int, accuracies: list[float]) -> list[dict]:
    return [
        {
            "strategy": strategy,
            "seed": seed,
            "round": r,
            "n_labeled": 10 + 10 * r,
            "metric": a,
            "selection_seconds": 0.5 if r else 0.0,
            "training_seconds": 1.0,
        }
        for r, a in enumerate(accuracies)
    ]


CONFIG = SimulationConfig(strategies=("entropy", "margin"), rounds=2, seeds=(0, 1, 2), targets=(0.8,))


def test_summary_recommends_a_strategy_that_beats_random_beyond_the_seed_noise() -> None:
    rows = []
    for seed, shift in enumerate((0.0, 0.01, -0.01)):
        rows += _rows("random", seed, [0.5 + shift, 0.6 + shift, 0.7 + shift])
        rows += _rows("entropy", seed, [0.5 + shift, 0.62 + shift, 0.72 + shift + 0.002 * seed])
        rows += _rows("margin", seed, [0.5 + shift, 0.7 + shift, 0.8 + shift])
    summary = summarize(rows, CONFIG)
    assert summary.complete and summary.best == "margin" and summary.recommended == "margin"
    # margin's gain per seed: (0.1/2 + (0.1+0.1)/2) / 2 = 0.075 each, so no spread
    assert summary.margin == pytest.approx(0.075)
    assert summary.margin_in_sd == float("inf")  # no spread at all
    assert summary.strategies["margin"].labels_needed[0.8] == [30, 30, None]
    assert summary.strategies["random"].selection_seconds == [0.5] * 6
    text = render_markdown(summary, CONFIG, "`toy`", "curves.png")
    assert "**Recommended: `margin`**" in text and "the same gain on each of 3 paired seeds" in text
    assert "30 (2/3 seeds)" in text


def test_summary_says_when_nothing_beats_random() -> None:
    rows = []
    for seed, noise in enumerate((0.02, -0.02, 0.0)):
        rows += _rows("random", seed, [0.5, 0.6, 0.7])
        rows += _rows("entropy", seed, [0.5, 0.6 + noise, 0.7 + noise])
        rows += _rows("margin", seed, [0.5, 0.6 - noise, 0.7])
    summary = summarize(rows, CONFIG)
    assert summary.recommended is None
    assert "**Nothing beats random here**" in render_markdown(summary, CONFIG, "`toy`", "c.png")


def test_a_clear_winner_with_seed_spread_is_recommended() -> None:
    rows = []
    for seed, extra in enumerate((0.04, 0.05, 0.06)):
        rows += _rows("random", seed, [0.5, 0.6, 0.7])
        rows += _rows("entropy", seed, [0.5, 0.6, 0.7])
        rows += _rows("margin", seed, [0.5, 0.6 + extra, 0.7 + extra])
    summary = summarize(rows, CONFIG)
    assert summary.recommended == "margin"
    assert summary.margin_in_sd == pytest.approx(0.0375 / 0.0075)  # mean gain / std of gains
    text = render_markdown(summary, CONFIG, "`toy`", "c.png")
    assert "**Recommended: `margin`**" in text and "5.0 standard deviations" in text


def test_missing_runs_are_reported_as_incomplete() -> None:
    rows = _rows("random", 0, [0.5, 0.6, 0.7]) + _rows("entropy", 0, [0.5, 0.6])
    summary = summarize(rows, CONFIG)
    assert not summary.complete and summary.best is None
    assert "missing or stopped early" in render_markdown(summary, CONFIG, "`toy`", "c.png")


def test_initial_set_depends_on_the_seed_only_and_balances_classes() -> None:
    labels = np.repeat(np.arange(5), 30)
    first = initial_set(labels, 12, "balanced", seed=3)
    np.testing.assert_array_equal(first, initial_set(labels, 12, "balanced", seed=3))
    counts = np.bincount(labels[first], minlength=5)
    assert counts.sum() == 12 and counts.max() - counts.min() <= 1
    assert not np.array_equal(first, initial_set(labels, 12, "balanced", seed=4))
    assert len(set(initial_set(labels, 12, "random", seed=0).tolist())) == 12
    with pytest.raises(ValueError, match="needs 2 items of class 4; it has 1"):
        initial_set(np.array([0, 0, 1, 1, 2, 2, 3, 3, 4]), 10, "balanced", seed=0)


def test_config_puts_random_first_and_validates() -> None:
    config = SimulationConfig(strategies=("margin", "random", "margin"), seeds=[1, 2])
    assert config.strategies == ("random", "margin") and config.seeds == (1, 2)
    assert SimulationConfig.from_dict(__import__("json").loads(config.to_json())) == config
    bad = [
        ({"strategies": ("nope",)}, "unknown strategy 'nope'"),
        ({"retrain": "often"}, "retrain must be 'scratch' or 'warm'"),
        ({"seeds": (1, 1)}, "seeds must be distinct"),
        ({"images": "a", "features": "b"}, "pass one data source"),
        ({"dataset": None}, "pass a data source"),
        ({"budget": 0}, "budget must be a positive integer"),
        ({"targets": (1.5,)}, r"targets must be accuracies in \(0, 1\]"),
        ({"strategy_params": {"coreset": {}}}, "strategy_params names strategies not in the run: coreset"),
        ({"strategy_params": {"margin": {"beta": 1}}}, "strategy 'margin' has no parameter beta"),
    ]
    for kwargs, message in bad:
        with pytest.raises((ValueError, TypeError), match=message):
            SimulationConfig(**kwargs)
    with pytest.raises(ValueError, match="unknown simulation settings: colour"):
        SimulationConfig.from_dict({"colour": 1})
    with pytest.raises(ValueError, match="unknown preset 'cifar'; valid: quick-mnist"):
        preset("cifar")
    assert preset("gal2017-mnist").initial == 20 and preset("gal2017-mnist", rounds=2).rounds == 2

"""The simulation's arithmetic and verdict, on hand-made results (no training)."""

from __future__ import annotations

import numpy as np
import pytest

from activecv.sim import SimulationConfig, aubc, labels_to_reach, preset, summarize
from activecv.sim._loop import initial_set
from activecv.sim._report import render_markdown
from activecv.sim._stats import holm, log_ratio_interval, paired_interval


def test_aubc_is_the_mean_accuracy_over_the_budget() -> None:
    # trapezoids: (0.5+0.7)/2*10 + (0.7+0.8)/2*30 = 6 + 22.5 = 28.5 over a width of 40
    assert aubc(np.array([10.0, 20.0, 50.0]), np.array([0.5, 0.7, 0.8])) == pytest.approx(28.5 / 40)
    assert aubc(np.array([10.0]), np.array([0.6])) == 0.6
    assert aubc(np.array([30.0, 30.0]), np.array([0.5, 0.7])) == pytest.approx(0.6)  # spent nothing more


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


CONFIG = SimulationConfig(
    strategies=("entropy", "margin"), rounds=2, seeds=(0, 1, 2), targets=(0.8,), target_mode="absolute"
)


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
    gain = summary.comparisons["margin"].gain  # no spread at all: a zero-width interval
    assert gain.low == gain.high == pytest.approx(0.075) and gain.p == 0.0
    assert summary.strategies["margin"].labels_needed[0.8] == [30, 30, None]
    assert summary.strategies["random"].selection_seconds == [0.5] * 6
    text = render_markdown(summary, CONFIG, "`toy`", "curves.png")
    assert "**Recommended: `margin`**. AUBC gain over random +0.0750 (95% CI +0.0750 to +0.0750)" in text
    assert "Holm-corrected over 2 strategies against random" in text
    assert "30 (2/3 seeds)" in text


def test_a_strategy_with_its_own_model_is_named_in_the_diagnostics() -> None:
    rows = []
    for seed in range(3):
        rows += _rows("random", seed, [0.5, 0.6, 0.7])
        rows += _rows("entropy", seed, [0.5, 0.6, 0.7])
        rows += _rows("margin", seed, [0.6 + 0.01 * seed, 0.7, 0.8])  # round 0 differs: another model
    text = render_markdown(summarize(rows, CONFIG), CONFIG, "`toy`", "c.png")
    assert "Round-0 model (the initial set, of random): test accuracy 0.5000" in text
    assert "`margin` trains its own model (round 0: test accuracy 0.6100 ± 0.0100" in text
    assert "`entropy` trains its own model" not in text
    shared = render_markdown(
        summarize([r for r in rows if r["strategy"] != "margin"], CONFIG), CONFIG, "`t`", "c"
    )
    assert "shared by every strategy of a seed" in shared


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
    # per-seed gains (extra/2*10 + extra*10)/20 = 0.75 * extra: 0.03, 0.0375, 0.045; sd 0.0075,
    # se 0.0075/sqrt(3) = 0.0043301, t(0.975, 2) = 4.302653: half-width 0.018631
    gain = summary.comparisons["margin"].gain
    assert (gain.low, gain.high) == (
        pytest.approx(0.0375 - 0.018631, abs=1e-6),
        pytest.approx(0.056131, abs=1e-6),
    )
    text = render_markdown(summary, CONFIG, "`toy`", "c.png")
    assert "**Recommended: `margin`**. AUBC gain over random +0.0375 (95% CI +0.0189 to +0.0561)" in text


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
        ({"targets": (1.5,)}, r"targets must be fractions of random's best metric in \(0, 1\]"),
        ({"targets": (1.5,), "target_mode": "absolute"}, r"targets must be metric values in \(0, 1\]"),
        ({"target_mode": "both"}, "target_mode must be 'relative' or 'absolute'"),
        ({"stop_threshold": 1.5}, r"stop_threshold must be a kappa in \(0, 1\]"),
        ({"stop_window": 0}, "stop_window must be a positive integer"),
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


def test_the_paired_t_interval_by_hand() -> None:
    # d = 0.01, 0.03, 0.02, 0.06: mean 0.03, sd sqrt(0.0014 / 3) = 0.0216025, se 0.0108012;
    # t(0.975, 3) = 3.182446 (tables): half-width 0.0343747; t = 2.777460, and with df 3
    # F(t) = 1/2 + (x / (1 + x^2) + arctan x) / pi, x = t / sqrt 3 = 1.603567: two-sided p 0.0691
    r = paired_interval([0.01, 0.03, 0.02, 0.06])
    assert r.mean == pytest.approx(0.03) and r.n == 4
    assert r.low == pytest.approx(0.03 - 0.0343747, abs=1e-6) and r.high == pytest.approx(0.0643747, abs=1e-6)
    assert r.p == pytest.approx(0.0691, abs=2e-4) and not r.excludes_zero
    from scipy import stats

    assert r.p == pytest.approx(stats.ttest_rel([1.01, 1.03, 1.02, 1.06], [1.0] * 4).pvalue)
    assert paired_interval([0.1, 0.1]).low is None  # two seeds: no interval
    ratio = log_ratio_interval([50, 60, 40], [100, 100, 80])  # ratios 0.5, 0.6, 0.5
    assert ratio.mean == pytest.approx(0.15 ** (1 / 3)) and ratio.low < ratio.mean < ratio.high


def test_holm_by_hand() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # 0.5 * 2 caps at 1; the max carries
    assert holm([]) == []


def _gain_rows(last_gains: dict[str, list[float]]) -> list[dict]:
    """Random ends at 0.7 on every seed; each strategy's last point is higher by the given
    amount, so its AUBC gain is a quarter of it (half a trapezoid of 10 over a width of 20)."""
    rows = []
    for seed in range(3):
        rows += _rows("random", seed, [0.5, 0.6, 0.7])
        for name, gains in last_gains.items():
            rows += _rows(name, seed, [0.5, 0.6, 0.7 + gains[seed]])
    return rows


def test_holm_withholds_a_recommendation_one_comparison_alone_would_make() -> None:
    # entropy's gains 0.0023, 0.0033, 0.0043: t = 0.0033 / (0.001 / sqrt 3) = 5.7158, p = 0.0293;
    # margin's (0.01, -0.01, 0) p = 1; Holm: 0.0293 * 2 = 0.0585 > 0.05
    rows = _gain_rows({"entropy": [0.0092, 0.0132, 0.0172], "margin": [0.04, -0.04, 0.0]})
    summary = summarize(rows, CONFIG)
    entropy = summary.comparisons["entropy"]
    assert entropy.gain.excludes_zero and entropy.gain.p == pytest.approx(0.0293, abs=2e-4)
    assert entropy.adjusted_p == pytest.approx(2 * entropy.gain.p)
    assert summary.recommended is None and summary.best == "entropy"
    text = render_markdown(summary, CONFIG, "`toy`", "c.png")
    assert "**Nothing beats random here**: no strategy's AUBC gain has a 95% interval above zero" in text
    assert "Holm-corrected over 2 strategies against random, 3 paired seeds" in text
    alone = SimulationConfig(
        strategies=("entropy",), rounds=2, seeds=(0, 1, 2), targets=(0.8,), target_mode="absolute"
    )
    single = summarize([r for r in rows if r["strategy"] != "margin"], alone)
    assert single.recommended == "entropy"  # alone, the same gains are a recommendation
    assert "adjusted p = 0.0293 (one comparison)" in render_markdown(single, alone, "`toy`", "c.png")


def test_too_few_seeds_and_worse_than_random_are_said_plainly() -> None:
    two = SimulationConfig(strategies=("entropy",), rounds=2, seeds=(0, 1))
    rows = [r for r in _gain_rows({"entropy": [0.08, 0.08, 0.08]}) if r["seed"] < 2]
    text = render_markdown(summarize(rows, two), two, "`toy`", "c.png")
    assert (
        "**Too few seeds to tell.** `entropy` has the highest AUBC, +0.0200 over random, but 2 paired" in text
    )
    assert "run 3 or more" in text
    rows = _gain_rows({"entropy": [-0.1, -0.12, -0.08], "margin": [0.01, -0.01, 0.0]})
    text = render_markdown(summarize(rows, CONFIG), CONFIG, "`toy`", "c.png")
    assert "Below random: `entropy` -0.0250 (95% CI" in text


def test_relative_targets_scale_randoms_best_and_ratios_carry_an_interval() -> None:
    config = SimulationConfig(strategies=("margin",), rounds=2, seeds=(0, 1, 2), targets=(0.9, 1.0))
    rows = []
    for seed in range(3):  # random's best 0.8 on every seed; margin reaches 0.8 one round earlier
        rows += _rows("random", seed, [0.5, 0.6, 0.8])
        rows += _rows("margin", seed, [0.5, 0.8, 0.8])
    summary = summarize(rows, config)
    assert summary.reference == pytest.approx(0.8) and summary.levels == {0.9: pytest.approx(0.72), 1.0: 0.8}
    assert summary.strategies["random"].labels_needed[0.9] == [30] * 3
    ratio = summary.comparisons["margin"].ratios[1.0]
    assert ratio is not None and ratio.mean == pytest.approx(20 / 30)
    saved = summary.comparisons["margin"].saved[1.0]
    assert saved is not None and saved.mean == 10
    text = render_markdown(summary, config, "`toy`", "c.png")
    assert "Targets relative to this run: 90%, 100% of random's best test accuracy" in text
    assert "labels to 90% of random's best (0.7200)" in text and "20; 0.67x random (95% CI 0.67-0.67)" in text
    assert (
        "To reach 100% of random's best (test accuracy 0.8000) it needs 0.67x random's labels "
        "(95% CI 0.67-0.67)." in text
    )


def _cost_rows(strategy: str, seed: int, seconds: list[float], metric: list[float]) -> list[dict]:
    return [
        dict(row, annotation_seconds=s) for row, s in zip(_rows(strategy, seed, metric), seconds, strict=True)
    ]


def test_accuracy_against_annotation_seconds_is_compared_at_equal_cost() -> None:
    config = SimulationConfig(strategies=("entropy",), rounds=2, seeds=(0, 1, 2), targets=())
    rows = []
    for seed, shift in enumerate((0.0, 0.02, -0.02)):
        rows += _cost_rows("random", seed, [10, 30, 50], [0.5 + shift, 0.6 + shift, 0.7 + shift])
        rows += _cost_rows("entropy", seed, [10, 20, 40], [0.5 + shift, 0.7 + shift, 0.8 + shift])
    cost = summarize(rows, config).cost
    assert cost is not None and cost.points == [20, 30, 40]  # thirds of the 10-40 s every curve covers
    # over 10-40 s: random (0.5+0.6)/2*20 + (0.6+0.65)/2*10 = 17.25, entropy 6 + 15 = 21, over 30 s
    assert cost.strategies["random"].aubc == [pytest.approx(0.575 + d) for d in (0.0, 0.02, -0.02)]
    entropy = cost.strategies["entropy"]
    assert entropy.aubc == [pytest.approx(0.7 + d) for d in (0.0, 0.02, -0.02)]
    assert entropy.at[30] == [pytest.approx(0.75 + d) for d in (0.0, 0.02, -0.02)]
    assert entropy.gain is not None and entropy.gain.mean == pytest.approx(0.125) and entropy.adjusted_p == 0
    assert entropy.last_difference is not None and entropy.last_difference.mean == pytest.approx(0.15)
    text = render_markdown(summarize(rows, config), config, "`toy`", "c.png", "cost.png")
    assert "## Accuracy against annotation cost" in text
    assert "![test accuracy against annotation seconds](cost.png)" in text
    assert (
        "| test accuracy at 20 s | test accuracy at 30 s | test accuracy at 40 s | at 40 s vs random |"
        in text
    )
    assert "| `entropy` | 0.7000 ± 0.0200 | +0.1250 (95% CI +0.1250 to +0.1250) | 0 |" in text
    assert text.rstrip().count("+0.1500 (95% CI +0.1500 to +0.1500)") == 1


def test_results_without_annotation_seconds_still_report() -> None:
    rows = []
    for seed in range(3):
        rows += _rows("random", seed, [0.5, 0.6, 0.7]) + _rows("entropy", seed, [0.5, 0.6, 0.7])
        rows += _rows("margin", seed, [0.5, 0.6, 0.7])
    summary = summarize(rows, CONFIG)
    assert summary.cost is None and summary.best is not None
    text = render_markdown(summary, CONFIG, "`toy`", "c.png")
    assert "These results do not record annotation seconds (written by an earlier activecv)" in text


def test_annotation_cost_settings_are_validated() -> None:
    config = SimulationConfig()
    assert (config.seconds_per_box, config.seconds_per_image, config.cost_budget) == (7.0, 1.0, None)
    detection = preset("digit-scenes-detection", cost_budget=120.0)
    assert detection.per_round == "120 s of annotation"
    bad = [
        ({"seconds_per_box": -1.0}, r"seconds_per_box must be a finite number of seconds >= 0; got -1.0"),
        ({"seconds_per_image": float("inf")}, r"seconds_per_image must be a finite number of seconds >= 0"),
        ({"cost_budget": 60.0}, r"cost_budget buys seconds of box annotation in detection simulations; "),
    ]
    for kwargs, message in bad:
        with pytest.raises(ValueError, match=message):
            SimulationConfig(**kwargs)
    for kwargs, message in [
        ({"cost_budget": 0.0}, r"cost_budget must be a finite number of seconds > 0; got 0.0"),
        ({"cost_budget": 60.0, "seconds_per_image": 0.0}, r"needs seconds_per_image > 0 .*; got 0.0"),
        ({"cost_budget": 60.0, "strategies": ("coreset",)}, r"strategy 'coreset' chooses a batch jointly"),
    ]:
        with pytest.raises(ValueError, match=message):
            preset("digit-scenes-detection", **kwargs)
    with pytest.raises(ValueError, match=r"this one is segmentation: use budget \(clicks\)"):
        preset("digit-scenes-segmentation", cost_budget=60.0)

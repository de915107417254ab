"""Accuracy against annotation cost: each round's metric over the seconds spent labeling so far
(``annotation_seconds`` of the rows), compared with random by the area under that curve and by
the metric at equal cost, paired by seed (the statistics of ``_stats``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from activecv.sim._config import BASELINE, SimulationConfig
from activecv.sim._stats import PairedInterval, aubc, holm, paired_interval

COST = "annotation_seconds"  # the rows' column: seconds spent labeling, cumulative
POINTS = 3  # equal-cost points: thirds of the range every curve covers


@dataclass
class CostCurve:
    """One strategy's metric against seconds over the seeds (lists by seed, in seed order), and
    against random, paired by seed: the AUBC gain and the difference at the last cost point."""

    name: str
    seeds: list[int] = field(default_factory=list)
    aubc: list[float] = field(default_factory=list)
    at: dict[float, list[float]] = field(default_factory=dict)  # seconds -> metric per seed
    gain: PairedInterval | None = None
    adjusted_p: float | None = None
    last_difference: PairedInterval | None = None


@dataclass
class CostSummary:
    """Every strategy's curve against seconds, at the ``points`` (seconds) every curve reaches."""

    strategies: dict[str, CostCurve]
    points: list[float]


def _curves(
    rows: Sequence[dict[str, Any]], config: SimulationConfig
) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
    """(seconds, metric) of every finished (strategy, seed) run, in round order."""
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        runs.setdefault((row["strategy"], row["seed"]), []).append(row)
    curves = {}
    for key, run in runs.items():
        run = sorted(run, key=lambda r: r["round"])
        if len(run) == config.rounds + 1:
            seconds = np.array([float(r[COST]) for r in run])
            curves[key] = seconds, np.array([float(r["metric"]) for r in run])
    return curves


def has_costs(rows: Sequence[dict[str, Any]]) -> bool:
    """Whether every row records its annotation seconds (results written before they were
    recorded, and segmentation's, which counts clicks, do not)."""
    return bool(rows) and all(row.get(COST) is not None for row in rows)


def cost_summary(rows: Sequence[dict[str, Any]], config: SimulationConfig) -> CostSummary | None:
    """Per strategy, the AUBC over seconds (each seed's curves over the seconds they all cover)
    and the metric at equal-cost points; against random, paired t-intervals over seeds with
    Holm's correction. None when the rows hold no annotation seconds."""
    if not has_costs(rows):
        return None
    curves = _curves(rows, config)
    spans: dict[int, tuple[float, float]] = {}
    for (_, seed), (seconds, _) in curves.items():
        lo, hi = spans.get(seed, (-np.inf, np.inf))
        spans[seed] = (max(lo, float(seconds[0])), min(hi, float(seconds[-1])))
    lo = max((float(s[0]) for s, _ in curves.values()), default=0.0)
    hi = min((float(s[-1]) for s, _ in curves.values()), default=0.0)
    points = [lo] if hi <= lo else [round(lo + (hi - lo) * k / POINTS, 6) for k in range(1, POINTS + 1)]
    summary = CostSummary({}, points)
    for name in config.strategies:
        curve = CostCurve(name)
        for seed in config.seeds:
            if (name, seed) in curves:
                seconds, metric = curves[(name, seed)]
                curve.seeds.append(seed)
                curve.aubc.append(aubc(seconds, metric, spans[seed]))
                for point in points:
                    curve.at.setdefault(point, []).append(float(np.interp(point, seconds, metric)))
        summary.strategies[name] = curve
    _compare(summary)
    return summary


def _compare(summary: CostSummary) -> None:
    """Each strategy against random on the seeds both finished; Holm over those tested."""
    base = summary.strategies.get(BASELINE)
    if base is None or not base.aubc:
        return
    tested = []
    last = summary.points[-1]
    for curve in summary.strategies.values():
        shared = [s for s in curve.seeds if s in base.seeds]
        if curve.name == BASELINE or not shared:
            continue
        mine = {s: (a, m) for s, a, m in zip(curve.seeds, curve.aubc, curve.at[last], strict=True)}
        theirs = {s: (a, m) for s, a, m in zip(base.seeds, base.aubc, base.at[last], strict=True)}
        curve.gain = paired_interval([mine[s][0] - theirs[s][0] for s in shared])
        curve.last_difference = paired_interval([mine[s][1] - theirs[s][1] for s in shared])
        if curve.gain.p is not None:
            tested.append(curve)
    for curve, adjusted in zip(
        tested, holm([c.gain.p for c in tested if c.gain is not None and c.gain.p is not None]), strict=True
    ):
        curve.adjusted_p = adjusted


def _interval(iv: PairedInterval | None) -> str:
    if iv is None:
        return "-"
    if iv.low is None or iv.high is None:
        return f"{iv.mean:+.4f} (no interval: {iv.n} seeds)"
    return f"{iv.mean:+.4f} (95% CI {iv.low:+.4f} to {iv.high:+.4f})"


def _mean_std(values: list[float]) -> str:
    array = np.asarray(values, dtype=np.float64)
    std = float(array.std(ddof=1)) if array.shape[0] > 1 else 0.0
    return f"{float(array.mean()):.4f} ± {std:.4f}"


def cost_lines(cost: CostSummary | None, config: SimulationConfig, plot_file: str | None) -> list[str]:
    """The report's section on accuracy against annotation cost."""
    if cost is None:
        return [
            "These results do not record annotation seconds (written by an earlier activecv): "
            "run again into a new directory to compare strategies at equal annotation cost."
        ]
    boxes = f" + {config.seconds_per_box:g} s a ground-truth box" if config.task == "detection" else ""
    lines = [
        f"Annotation cost: {config.seconds_per_image:g} s an image{boxes}, summed over the labeled set "
        f"(`seconds_per_image`{', `seconds_per_box`' if boxes else ''}). AUBC over seconds: the mean "
        f"{config.metric_name} over the seconds every curve of a seed covers; the {config.metric_name} "
        "at equal cost is interpolated between rounds; gains are paired by seed with a 95% t-interval, "
        "p-values Holm-adjusted over the strategies compared with random.",
    ]
    if config.cost_budget is not None:
        lines[0] += (
            f" Each round bought {config.cost_budget:g} s of annotation (scenes priced by their "
            "predicted boxes), so this table, not the one per scene, compares what the team pays."
        )
    last = cost.points[-1]
    header = ["strategy", "AUBC over seconds", "gain over random (95% CI)", "adjusted p"]
    header += [f"{config.metric_name} at {p:.0f} s" for p in cost.points]
    header.append(f"at {last:.0f} s vs random")
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, curve in cost.strategies.items():
        if not curve.aubc:
            continue
        cells = [f"`{name}`", _mean_std(curve.aubc)]
        cells.append("baseline" if name == BASELINE else _interval(curve.gain))
        cells.append("-" if curve.adjusted_p is None else f"{curve.adjusted_p:.3g}")
        cells += [_mean_std(curve.at[p]) for p in cost.points]
        cells.append("baseline" if name == BASELINE else _interval(curve.last_difference))
        lines.append("| " + " | ".join(cells) + " |")
    if plot_file is not None:
        lines += ["", f"![{config.metric_name} against annotation seconds]({plot_file})"]
    return lines

"""From the results table to the answer: area under the budget curve, labels needed to reach
an accuracy, final accuracy, time per acquisition, and the recommended strategy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from activecv.sim._config import BASELINE, SimulationConfig


def aubc(n_labeled: np.ndarray, accuracy: np.ndarray, span: tuple[float, float] | None = None) -> float:
    """Area under the accuracy-vs-labels curve divided by its width: the mean accuracy over the
    budget, in [0, 1]. One point: that point's accuracy. ``span`` clips the curve to a range,
    interpolating at its ends: curves whose rounds spend different amounts (clicks) compare
    over the range they share.

    Examples
    --------
    >>> aubc(np.array([10, 20, 30]), np.array([0.5, 0.7, 0.9]))
    0.7
    >>> aubc(np.array([10, 20, 30]), np.array([0.5, 0.7, 0.9]), span=(10, 20))
    0.6
    """
    if span is not None:
        lo, hi = max(span[0], float(n_labeled[0])), min(span[1], float(n_labeled[-1]))
        if hi > lo:
            inside = (n_labeled > lo) & (n_labeled < hi)
            points = np.concatenate([[lo], n_labeled[inside], [hi]])
            accuracy, n_labeled = np.interp(points, n_labeled, accuracy), points
    if n_labeled.shape[0] == 1:
        return float(accuracy[0])
    width = float(n_labeled[-1] - n_labeled[0])
    area = float(np.sum((accuracy[1:] + accuracy[:-1]) / 2 * np.diff(n_labeled)))
    return round(area / width, 12)


def shared_spans(rows: Sequence[dict[str, Any]], rounds: int) -> dict[int, tuple[float, float]]:
    """Per seed, the labels (or clicks) range every finished curve of that seed covers."""
    curves: dict[tuple[str, int], list[float]] = {}
    for row in rows:
        curves.setdefault((row["strategy"], row["seed"]), []).append(float(row["n_labeled"]))
    spans: dict[int, tuple[float, float]] = {}
    for (_, seed), n in curves.items():
        if len(n) == rounds + 1:
            lo, hi = spans.get(seed, (-np.inf, np.inf))
            spans[seed] = (max(lo, min(n)), min(hi, max(n)))
    return spans


def labels_to_reach(n_labeled: np.ndarray, accuracy: np.ndarray, target: float) -> int | None:
    """The first labeled-set size whose accuracy is at least ``target`` (None: never)."""
    reached = np.flatnonzero(accuracy >= target)
    return int(n_labeled[reached[0]]) if reached.size else None


@dataclass
class StrategySummary:
    """One strategy over the seeds (lists are per seed, in seed order)."""

    name: str
    aubc: list[float] = field(default_factory=list)
    final_metric: list[float] = field(default_factory=list)
    labels_needed: dict[float, list[int | None]] = field(default_factory=dict)
    selection_seconds: list[float] = field(default_factory=list)
    training_seconds: list[float] = field(default_factory=list)
    rounds: list[int] = field(default_factory=list)  # rounds recorded per seed


@dataclass
class Summary:
    """Every strategy's summary, and the verdict against random."""

    strategies: dict[str, StrategySummary]
    best: str | None = None  # highest mean AUBC apart from random
    margin: float | None = None  # its mean AUBC gain over random, paired by seed
    margin_in_sd: float | None = None  # that gain in standard deviations of the per-seed gains
    complete: bool = True  # every (strategy, seed) has every round

    @property
    def recommended(self) -> str | None:
        """The best strategy if it beats random by more than one seed standard deviation."""
        beats = self.margin is not None and self.margin > 0 and (self.margin_in_sd or 0) > 1
        return self.best if beats else None


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if array.shape[0] > 1 else 0.0


def summarize(rows: Sequence[dict[str, Any]], config: SimulationConfig) -> Summary:
    """Summaries per strategy and the verdict: the strategy with the highest mean AUBC and its
    gain over random, paired by seed (same initial set and initial weights). A seed's curves
    are compared over the range all of them cover."""
    by_run: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        by_run.setdefault((row["strategy"], row["seed"]), []).append(row)
    result = Summary({})
    spans = shared_spans(rows, config.rounds)
    for name in config.strategies:
        summary = StrategySummary(name, labels_needed={t: [] for t in config.targets})
        for seed in config.seeds:
            run = sorted(by_run.get((name, seed), []), key=lambda r: r["round"])
            if len(run) != config.rounds + 1:
                result.complete = False
            if not run:
                continue
            n = np.array([r["n_labeled"] for r in run], dtype=np.float64)
            acc = np.array([r["metric"] for r in run])
            summary.rounds.append(len(run))
            summary.aubc.append(aubc(n, acc, spans.get(seed)))
            summary.final_metric.append(float(acc[-1]))
            for target in config.targets:
                summary.labels_needed[target].append(labels_to_reach(n, acc, target))
            summary.selection_seconds += [r["selection_seconds"] for r in run[1:]]
            summary.training_seconds += [r["training_seconds"] for r in run]
        result.strategies[name] = summary
    baseline = result.strategies[BASELINE]
    # only curves over the same seeds and rounds as random's are comparable
    contenders = [s for s in result.strategies.values() if s.name != BASELINE and s.rounds == baseline.rounds]
    if contenders and baseline.aubc:
        best = max(contenders, key=lambda s: float(np.mean(s.aubc)))
        gains = np.subtract(best.aubc, baseline.aubc)
        result.best, result.margin = best.name, float(gains.mean())
        spread = float(gains.std(ddof=1)) if gains.shape[0] > 1 else 0.0
        if spread > 1e-12:
            result.margin_in_sd = result.margin / spread
        elif gains.shape[0] > 1 and result.margin > 0:
            result.margin_in_sd = float("inf")  # the same gain on every seed
    return result


def _labels_cell(needed: list[int | None], baseline: list[int | None] | None) -> str:
    reached = [n for n in needed if n is not None]
    if not reached:
        return "not reached"
    text = f"{np.mean(reached):.0f}"
    if len(reached) < len(needed):
        text += f" ({len(reached)}/{len(needed)} seeds)"
    base = [n for n in (baseline or []) if n is not None]
    if baseline is not None and len(reached) == len(needed) and len(base) == len(baseline):
        text += f" ({np.mean(reached) / np.mean(base):.2f}x random)"
    return text


def render_markdown(summary: Summary, config: SimulationConfig, data_line: str, plot_file: str) -> str:
    """The report as Markdown."""
    seeds = len(config.seeds)
    steps = f"{config.epochs} epochs" if config.epochs is not None else f"{config.train_steps} steps"
    retrain = "from scratch" if config.retrain == "scratch" else "warm"
    candidates = config.candidates or "the whole unlabeled pool"
    lines = [
        "# Active-learning simulation report",
        "",
        f"Data: {data_line}. Model: `{config.model}`, retrained {retrain}"
        f" each round ({steps}, batch {config.batch_size}, {config.optimizer} lr {config.lr:g}).",
        f"Initial set: {config.initial} ({config.initial_mode}), the same for every strategy of a seed; "
        f"+{config.budget}{' clicks' if config.task == 'segmentation' else ''} per round "
        f"for {config.rounds} rounds; "
        f"candidates: {candidates}; seeds: {', '.join(map(str, config.seeds))}.",
        "",
        "## Verdict",
        "",
    ]
    base = summary.strategies[BASELINE]
    base_mean, _ = mean_std(base.aubc) if base.aubc else (float("nan"), 0.0)
    if summary.best is None or summary.margin is None:
        lines.append("No strategy other than random has results for every seed yet.")
    else:
        best_mean, _ = mean_std(summary.strategies[summary.best].aubc)
        if summary.margin_in_sd is None:
            spread = "too few seeds to weigh against the noise"
        elif np.isinf(summary.margin_in_sd):
            spread = f"the same gain on each of {seeds} paired seeds"
        else:
            spread = (
                f"{summary.margin_in_sd:.1f} standard deviations of the per-seed gains ({seeds} paired seeds)"
            )
        gain = f"AUBC {best_mean:.4f} against random's {base_mean:.4f}: {summary.margin:+.4f}, {spread}"
        if summary.recommended is not None:
            lines.append(f"**Recommended: `{summary.recommended}`**. {gain}.")
        else:
            lines.append(
                f"**Nothing beats random here** by more than one seed standard deviation. "
                f"The best, `{summary.best}`, has {gain}."
            )
    if not summary.complete:
        lines += ["", "*Some (strategy, seed) runs are missing or stopped early; figures use what exists.*"]
    targets = list(config.targets)
    header = ["strategy", "AUBC", f"final {config.metric_name}"]
    reach = "clicks" if config.task == "segmentation" else "labels"
    header += [f"{reach} to {t:.0%}" for t in targets] + ["s per acquisition", "s per training"]
    lines += ["", "## Results", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, s in summary.strategies.items():
        if not s.aubc:
            lines.append(f"| `{name}` | no results |" + " |" * (len(header) - 2))
            continue
        cells = [f"`{name}`", "{:.4f} ± {:.4f}".format(*mean_std(s.aubc))]
        cells.append("{:.4f} ± {:.4f}".format(*mean_std(s.final_metric)))
        for t in targets:
            cells.append(
                _labels_cell(s.labels_needed[t], None if name == BASELINE else base.labels_needed[t])
            )
        cells.append(f"{np.mean(s.selection_seconds):.2f}" if s.selection_seconds else "-")
        cells.append(f"{np.mean(s.training_seconds):.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"![learning curves]({plot_file})",
        "",
        f"AUBC: area under the {config.metric_name} curve over the {config.cost_name}, divided by its "
        "width (the mean over the budget; higher is better), over the range every strategy's curve of "
        "a seed covers. Values are mean ± standard deviation over "
        f"seeds. {reach.capitalize()} to X%: the first {config.cost_name} count whose {config.metric_name} "
        "reached X, averaged over the seeds that reached it. s per acquisition: the model's inference on "
        "the candidates plus the selection.",
        "",
    ]
    return "\n".join(lines)

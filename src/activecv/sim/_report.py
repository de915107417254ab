"""From the results table to the answer: area under the budget curve with a paired interval
against random (Holm-corrected), labels needed to reach each target as a ratio to random, time
per acquisition, accuracy against annotation seconds (``_cost``), when each strategy would have
stopped, diagnostics, and the recommendation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from activecv._stopping import plateau_at, stabilised_at
from activecv.sim._config import BASELINE, SimulationConfig
from activecv.sim._cost import CostSummary, cost_lines, cost_summary
from activecv.sim._stats import MIN_SEEDS, PairedInterval, aubc, holm, log_ratio_interval, paired_interval


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


DIVERSITY = ("badge", "cluster_margin", "coreset", "typiclust")  # place picks in embedding space
ALPHA = 0.05  # family-wise, Holm over every strategy compared with random
UNDERFIT = 0.9  # train accuracy below this: the report warns that scores may be noise


@dataclass
class StrategySummary:
    """One strategy over the seeds (lists are per seed, in seed order)."""

    name: str
    aubc: list[float] = field(default_factory=list)
    final_metric: list[float] = field(default_factory=list)
    labels_needed: dict[float, list[int | None]] = field(default_factory=dict)  # by target
    selection_seconds: list[float] = field(default_factory=list)
    training_seconds: list[float] = field(default_factory=list)
    rounds: list[int] = field(default_factory=list)  # rounds recorded per seed
    curves: list[tuple[list[float], list[float]]] = field(default_factory=list)  # (spent, metric)
    train_metric: list[list[float | None]] = field(default_factory=list)  # per round
    kappas: list[list[float | None]] = field(default_factory=list)  # per round, with the last
    picked: list[int] = field(default_factory=list)  # per class, over every seed and round
    stabilised: list[int | None] = field(default_factory=list)  # round predictions stabilised
    plateau: list[int | None] = field(default_factory=list)  # round the metric plateaued


@dataclass
class Comparison:
    """One strategy against random, paired by seed: the AUBC gain with its t-interval and
    Holm-adjusted p-value; per target, labels needed as a ratio to random's (geometric mean
    over seeds, interval on the log ratios) and labels saved; extra seconds per acquisition."""

    name: str
    gain: PairedInterval
    adjusted_p: float | None = None
    ratios: dict[float, PairedInterval | None] = field(default_factory=dict)
    saved: dict[float, PairedInterval | None] = field(default_factory=dict)
    extra_seconds: float | None = None


@dataclass
class Summary:
    """Every strategy's summary, and the verdict against random."""

    strategies: dict[str, StrategySummary]
    comparisons: dict[str, Comparison] = field(default_factory=dict)
    levels: dict[float, float] = field(default_factory=dict)  # target -> the metric it stands for
    reference: float | None = None  # random's best metric (mean over seeds): relative targets' 100%
    best: str | None = None  # highest mean AUBC apart from random
    margin: float | None = None  # its mean AUBC gain over random, paired by seed
    recommended: str | None = None  # best gain whose interval excludes zero after Holm
    complete: bool = True  # every (strategy, seed) has every round
    cost: CostSummary | None = None  # metric against annotation seconds (None: rows lack them)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if array.shape[0] > 1 else 0.0


def _add_run(summary: StrategySummary, run: list[dict[str, Any]], span: tuple[float, float] | None) -> None:
    n = [float(r["n_labeled"]) for r in run]
    acc = [float(r["metric"]) for r in run]
    summary.rounds.append(len(run))
    summary.curves.append((n, acc))
    summary.aubc.append(aubc(np.array(n), np.array(acc), span))
    summary.final_metric.append(acc[-1])
    summary.selection_seconds += [r["selection_seconds"] for r in run[1:]]
    summary.training_seconds += [r["training_seconds"] for r in run]
    summary.train_metric.append([r.get("train_metric") for r in run])
    summary.kappas.append([r.get("kappa") for r in run])
    for r in run:
        if r.get("picked"):
            counts = np.asarray(r["picked"], dtype=np.int64)
            total = np.zeros(counts.shape[0], np.int64) if not summary.picked else np.array(summary.picked)
            summary.picked = (total + counts).tolist()


def _stops(summary: StrategySummary, config: SimulationConfig) -> None:
    for (_, acc), kappas in zip(summary.curves, summary.kappas, strict=True):
        summary.stabilised.append(
            stabilised_at(kappas, config.stop_threshold, config.stop_window)
            if any(k is not None for k in kappas)
            else None
        )
        summary.plateau.append(plateau_at(acc, config.stop_window, config.plateau_tolerance))


def _levels(base: StrategySummary, config: SimulationConfig) -> tuple[dict[float, float], float | None]:
    """The metric value each target stands for; relative targets scale random's best metric."""
    if config.target_mode == "absolute":
        return {t: t for t in config.targets}, None
    if not base.curves:
        return {}, None
    reference = round(float(np.mean([max(acc) for _, acc in base.curves])), 12)
    return {t: round(t * reference, 12) for t in config.targets}, reference


def _compare(s: StrategySummary, base: StrategySummary) -> Comparison:
    result = Comparison(s.name, paired_interval(np.subtract(s.aubc, base.aubc).tolist()))
    for target, needed in s.labels_needed.items():
        theirs = base.labels_needed[target]
        both = all(n is not None for n in needed) and all(n is not None for n in theirs)
        result.ratios[target] = log_ratio_interval(needed, theirs) if both else None  # type: ignore[arg-type]
        saved = [float(b) - float(a) for a, b in zip(needed, theirs, strict=True)] if both else None  # type: ignore[arg-type]
        result.saved[target] = None if saved is None else paired_interval(saved)
    if s.selection_seconds and base.selection_seconds:
        result.extra_seconds = float(np.mean(s.selection_seconds) - np.mean(base.selection_seconds))
    return result


def summarize(rows: Sequence[dict[str, Any]], config: SimulationConfig) -> Summary:
    """Summaries per strategy and the verdict: each strategy's AUBC gain over random, paired by
    seed (same initial set and initial weights), with a t-interval; p-values Holm-corrected over
    the strategies compared; the recommendation is the largest gain whose interval excludes zero
    and whose adjusted p is below 0.05. A seed's curves are compared over the range all cover."""
    by_run: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        by_run.setdefault((row["strategy"], row["seed"]), []).append(row)
    result = Summary({})
    spans = shared_spans(rows, config.rounds)
    for name in config.strategies:
        summary = StrategySummary(name)
        for seed in config.seeds:
            run = sorted(by_run.get((name, seed), []), key=lambda r: r["round"])
            if len(run) != config.rounds + 1:
                result.complete = False
            if run:
                _add_run(summary, run, spans.get(seed))
        _stops(summary, config)
        result.strategies[name] = summary
    result.cost = cost_summary(rows, config)
    baseline = result.strategies[BASELINE]
    result.levels, result.reference = _levels(baseline, config)
    for summary in result.strategies.values():
        summary.labels_needed = {
            t: [labels_to_reach(np.array(n), np.array(acc), level) for n, acc in summary.curves]
            for t, level in result.levels.items()
        }
    # only curves over the same seeds and rounds as random's are comparable
    contenders = [s for s in result.strategies.values() if s.name != BASELINE and s.rounds == baseline.rounds]
    if not contenders or not baseline.aubc:
        return result
    result.comparisons = {s.name: _compare(s, baseline) for s in contenders}
    tested = [c for c in result.comparisons.values() if c.gain.p is not None]
    for c, adjusted in zip(tested, holm([c.gain.p for c in tested if c.gain.p is not None]), strict=True):
        c.adjusted_p = adjusted
    best = max(result.comparisons.values(), key=lambda c: c.gain.mean)
    result.best, result.margin = best.name, best.gain.mean
    winners = [
        c
        for c in result.comparisons.values()
        if c.gain.mean > 0 and c.gain.excludes_zero and c.adjusted_p is not None and c.adjusted_p < ALPHA
    ]
    if winners:
        result.recommended = max(winners, key=lambda c: c.gain.mean).name
    return result


# ---- rendering --------------------------------------------------------------------------


def _interval(iv: PairedInterval, spec: str = "+.4f") -> str:
    if iv.low is None or iv.high is None:
        return f"{iv.mean:{spec}} (no interval: {iv.n} seeds)"
    return f"{iv.mean:{spec}} (95% CI {iv.low:{spec}} to {iv.high:{spec}})"


def _ratio(iv: PairedInterval) -> str:
    if iv.low is None or iv.high is None:
        return f"{iv.mean:.2f}x random"
    return f"{iv.mean:.2f}x random (95% CI {iv.low:.2f}-{iv.high:.2f})"


def _target_name(target: float, config: SimulationConfig) -> str:
    if config.target_mode == "absolute":
        return f"{target:.0%}"
    return f"{target:.0%} of random's best"


def _labels_sentence(c: Comparison, summary: Summary, config: SimulationConfig) -> str:
    reached = [t for t, iv in c.ratios.items() if iv is not None]
    if not reached:
        return "On some seed it or random never reached a target, so no labels-saved figure."
    target = max(reached)
    ratio = c.ratios[target]
    assert ratio is not None
    reach = "clicks" if config.task == "segmentation" else "labels"
    text = (
        f"To reach {_target_name(target, config)} ({config.metric_name} "
        f"{summary.levels[target]:.4f}) it needs {ratio.mean:.2f}x random's {reach}"
    )
    if ratio.low is None or ratio.high is None:
        return text + "."
    text += f" (95% CI {ratio.low:.2f}-{ratio.high:.2f})"
    return text + (": the interval includes 1, no clear saving." if ratio.low <= 1 <= ratio.high else ".")


def _verdict(summary: Summary, config: SimulationConfig) -> list[str]:
    base = summary.strategies[BASELINE]
    if summary.best is None or not base.aubc:
        return ["No strategy other than random has results for every seed yet."]
    best = summary.comparisons[summary.best]
    m = len(summary.comparisons)
    correction = f"Holm-corrected over {m} strategies against random" if m > 1 else "one comparison"
    if best.gain.low is None:
        return [
            f"**Too few seeds to tell.** `{best.name}` has the highest AUBC, {best.gain.mean:+.4f} over "
            f"random, but {best.gain.n} paired seed(s) give no interval; run {MIN_SEEDS} or more "
            "(`--seeds 5`) before trusting a winner."
        ]
    if summary.recommended is not None:
        c = summary.comparisons[summary.recommended]
        return [
            f"**Recommended: `{c.name}`**. AUBC gain over random {_interval(c.gain)}, paired t over "
            f"{c.gain.n} seeds; adjusted p = {c.adjusted_p:.3g} ({correction}). "
            + _labels_sentence(c, summary, config)
        ]
    lines = [
        f"**Nothing beats random here**: no strategy's AUBC gain has a 95% interval above zero "
        f"({correction}, {best.gain.n} paired seeds). The best, `{best.name}`: {_interval(best.gain)}."
    ]
    worse = [c for c in summary.comparisons.values() if c.gain.high is not None and c.gain.high < 0]
    if worse:
        lines.append(
            "Below random: "
            + "; ".join(f"`{c.name}` {_interval(c.gain)}" for c in worse)
            + ". See the diagnostics for why."
        )
    return lines


def _results_table(summary: Summary, config: SimulationConfig) -> list[str]:
    header = ["strategy", "AUBC", "gain over random (95% CI)", "adjusted p", f"final {config.metric_name}"]
    header += ["s per acquisition", "vs random", "s per training"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, s in summary.strategies.items():
        if not s.aubc:
            lines.append(f"| `{name}` | no results |" + " |" * (len(header) - 2))
            continue
        c = summary.comparisons.get(name)
        cells = [f"`{name}`", "{:.4f} ± {:.4f}".format(*mean_std(s.aubc))]
        cells.append("baseline" if name == BASELINE else "-" if c is None else _interval(c.gain))
        cells.append("-" if c is None or c.adjusted_p is None else f"{c.adjusted_p:.3g}")
        cells.append("{:.4f} ± {:.4f}".format(*mean_std(s.final_metric)))
        cells.append(f"{np.mean(s.selection_seconds):.2f}" if s.selection_seconds else "-")
        cells.append("-" if c is None or c.extra_seconds is None else f"{c.extra_seconds:+.2f} s")
        cells.append(f"{np.mean(s.training_seconds):.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _labels_cell(needed: list[int | None], comparison: Comparison | None, target: float) -> str:
    reached = [n for n in needed if n is not None]
    if not reached:
        return "not reached"
    text = f"{np.mean(reached):.0f}"
    if len(reached) < len(needed):
        text += f" ({len(reached)}/{len(needed)} seeds)"
    ratio = None if comparison is None else comparison.ratios.get(target)
    if ratio is not None:
        text += f"; {_ratio(ratio)}"
    return text


def _targets_table(summary: Summary, config: SimulationConfig) -> list[str]:
    reach = "clicks" if config.task == "segmentation" else "labels"
    if not summary.levels:
        return [f"No {reach}-to-reach figures: random has no results to set the relative targets."]
    if config.target_mode == "relative":
        intro = (
            f"Targets relative to this run: {', '.join(f'{t:.0%}' for t in summary.levels)} of random's best "
            f"{config.metric_name} (mean over seeds of each seed's best round, {summary.reference:.4f}); "
            "`--target-mode absolute` takes `--targets` as the metric itself."
        )
    else:
        intro = f"Absolute targets: {config.metric_name} {', '.join(f'{t:g}' for t in summary.levels)}."
    header = ["strategy"] + [
        f"{reach} to {_target_name(t, config)} ({v:.4f})"
        if config.target_mode == "relative"
        else f"{reach} to {t:.0%}"
        for t, v in summary.levels.items()
    ]
    lines = [intro, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, s in summary.strategies.items():
        if s.aubc:
            c = summary.comparisons.get(name)
            cells = [f"`{name}`"] + [_labels_cell(s.labels_needed[t], c, t) for t in summary.levels]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _stop_cell(stops: list[int | None], curves: list[tuple[list[float], list[float]]], unit: str) -> str:
    hit = [(r, n, acc) for r, (n, acc) in zip(stops, curves, strict=True) if r is not None]
    if not hit:
        return "never"
    at = float(np.mean([n[r] for r, n, _ in hit]))
    lost = float(np.mean([acc[-1] - acc[r] for r, _, acc in hit]))
    rounds = ", ".join(str(r) for r, _, _ in hit)
    return f"{len(hit)}/{len(stops)} seeds, round {rounds}: {at:.0f} {unit}, {lost:+.4f} lost"


def _stopping_table(summary: Summary, config: SimulationConfig) -> list[str]:
    unit = "clicks" if config.task == "segmentation" else "labels"
    header = [
        "strategy",
        f"stabilising predictions (kappa ≥ {config.stop_threshold:g})",
        "kappa, last round",
        f"plateau (≤ {config.plateau_tolerance:g} gain)",
    ]
    lines = [
        f"Would a team have stopped early? Stabilising predictions (Bloodgood & Vijay-Shanker 2009): each "
        f"round's model labels a fixed stop set of {config.stop_set} pool items; stop when the mean Cohen's "
        f"kappa of successive rounds over {config.stop_window} rounds reaches {config.stop_threshold:g}. "
        f"Plateau: the best {config.metric_name} rose by at most {config.plateau_tolerance:g} over "
        f"{config.stop_window} rounds (the test split stands in for a labeled validation set). "
        f"Lost: {config.metric_name} at the last round minus at the stop, mean over the seeds that stopped.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for name, s in summary.strategies.items():
        if not s.aubc:
            continue
        last = [k[-1] for k in s.kappas if k and k[-1] is not None]
        cells = [
            f"`{name}`",
            _stop_cell(s.stabilised, s.curves, unit) if last else "not available for this task",
            f"{np.mean(last):.3f}" if last else "-",
            _stop_cell(s.plateau, s.curves, unit),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _mean_by_round(values: list[list[float | None]]) -> list[float | None]:
    """Mean over seeds at each round (None where no seed has a value)."""
    longest = max((len(v) for v in values), default=0)
    out: list[float | None] = []
    for r in range(longest):
        found = [float(v[r]) for v in values if r < len(v) and v[r] is not None]  # type: ignore[arg-type]
        out.append(float(np.mean(found)) if found else None)
    return out


def _train_lines(summary: Summary, config: SimulationConfig) -> list[str]:
    curves = {name: _mean_by_round(s.train_metric) for name, s in summary.strategies.items() if s.aubc}
    if not any(v is not None for c in curves.values() for v in c):
        return []
    shown = sorted({int(r) for r in np.linspace(0, config.rounds, min(config.rounds + 1, 6)).round()})
    header = ["strategy"] + [f"round {r}" for r in shown]
    lines = [
        "Train accuracy (on the labeled set, mean over seeds): an under-trained model makes uncertainty "
        "and MC-dropout scores close to noise.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    low: list[tuple[float, str, int]] = []
    for name, curve in curves.items():
        cells = [f"`{name}`"] + [
            f"{curve[r]:.3f}" if r < len(curve) and curve[r] is not None else "-" for r in shown
        ]
        lines.append("| " + " | ".join(cells) + " |")
        low += [(v, name, r) for r, v in enumerate(curve) if v is not None and v < UNDERFIT]
    if low:
        value, name, r = min(low)
        lines += [
            "",
            f"**Under-fit**: `{name}`'s model fits only {value:.3f} of its own labeled set at round {r} "
            f"(below {UNDERFIT:g}); train longer (`--train-steps`, `--epochs`) before trusting or dismissing "
            "active learning here.",
        ]
    return lines


def _balance_lines(summary: Summary) -> list[str]:
    picked = {name: np.asarray(s.picked, np.float64) for name, s in summary.strategies.items() if s.picked}
    if not picked:
        return []
    classes = max(p.shape[0] for p in picked.values())
    lines = [
        "Classes of what each strategy picked (share of all acquisitions over seeds and rounds; evenness: "
        "entropy / log C, 1 = every class alike):",
        "",
        "| strategy | " + " | ".join(f"class {k}" for k in range(classes)) + " | evenness |",
        "|" + "---|" * (classes + 2),
    ]
    for name, counts in picked.items():
        share = counts / max(counts.sum(), 1.0)
        nonzero = share[share > 0]
        evenness = float(-(nonzero * np.log(nonzero)).sum() / np.log(classes)) if classes > 1 else 1.0
        lines.append(f"| `{name}` | " + " | ".join(f"{v:.0%}" for v in share) + f" | {evenness:.2f} |")
    return lines


def _diversity_note(summary: Summary, config: SimulationConfig) -> list[str]:
    """Diversity methods place picks in the model's embedding space; from a labeled set smaller
    than max(budget, 5 per class) that space says little (rule of this report)."""
    names = [n for n in summary.strategies if n in DIVERSITY]
    classes = max((len(s.picked) for s in summary.strategies.values()), default=0)
    needed = max(config.budget, 5 * classes)
    if not names or config.initial >= needed:
        return []
    return [
        f"**Small labeled set for diversity methods**: {', '.join(f'`{n}`' for n in names)} "
        f"start{'s' if len(names) == 1 else ''} from "
        f"{config.initial} labeled items, fewer than max(budget, 5 per class) = {needed}: their embeddings "
        "come from a model trained on too few items to place diverse picks well. Compare again with a larger "
        "`--initial`."
    ]


def _differs(first: list[float], start: list[float]) -> bool:
    """Whether round-0 metrics differ from random's over the seeds both have (in seed order)."""
    n = min(len(first), len(start))
    return not np.allclose(first[:n], start[:n])


def _diagnostics(summary: Summary, config: SimulationConfig) -> list[str]:
    base = summary.strategies[BASELINE]
    lines: list[str] = []
    if base.curves:
        start = [acc[0] for _, acc in base.curves]
        own = {
            name: [acc[0] for _, acc in stats.curves]
            for name, stats in summary.strategies.items()
            if stats.curves and _differs([acc[0] for _, acc in stats.curves], start)
        }
        whose = "of random" if own else "shared by every strategy of a seed"
        lines.append(
            f"Round-0 model (the initial set, {whose}): "
            f"{config.metric_name} {np.mean(start):.4f} ± {mean_std(start)[1]:.4f} "
            f"from {base.curves[0][0][0]:g} {config.cost_name}."
        )
        for name, first in own.items():  # a method that trains its own model from the same labels
            lines.append(
                f"`{name}` trains its own model (round 0: {config.metric_name} {np.mean(first):.4f} ± "
                f"{mean_std(first)[1]:.4f} on the same initial set): its gain over random mixes the "
                "model's and the selection's."
            )
    for block in (_train_lines(summary, config), _balance_lines(summary), _diversity_note(summary, config)):
        if block:
            lines += ["", *block]
    return lines


def render_markdown(
    summary: Summary, config: SimulationConfig, data_line: str, plot_file: str, cost_plot: str | None = None
) -> str:
    """The report as Markdown; ``cost_plot``: the metric-against-seconds figure, if drawn."""
    steps = f"{config.epochs} epochs" if config.epochs is not None else f"{config.train_steps} steps"
    retrain = "from scratch" if config.retrain == "scratch" else "warm"
    candidates = config.candidates or "the whole unlabeled pool"
    lines = [
        "# Active-learning simulation report",
        "",
        f"Data: {data_line}. Model: `{config.model}`, retrained {retrain}"
        f" each round ({steps}, batch {config.batch_size}, {config.optimizer} lr {config.lr:g}).",
        f"Initial set: {config.initial} ({config.initial_mode}), the same for every strategy of a seed; "
        f"+{config.per_round} per round for {config.rounds} rounds; "
        f"candidates: {candidates}; seeds: {', '.join(map(str, config.seeds))}.",
        "",
        "## Verdict",
        "",
        *_verdict(summary, config),
    ]
    if not summary.complete:
        lines += ["", "*Some (strategy, seed) runs are missing or stopped early; figures use what exists.*"]
    lines += ["", "## Results", "", *_results_table(summary, config)]
    lines += ["", f"![learning curves]({plot_file})"]
    lines += ["", "## Labels to reach each target", "", *_targets_table(summary, config)]
    if config.task != "segmentation":  # segmentation's curves are already against clicks
        lines += ["", "## Accuracy against annotation cost", "", *cost_lines(summary.cost, config, cost_plot)]
    lines += ["", "## When to stop", "", *_stopping_table(summary, config)]
    lines += ["", "## Diagnostics", "", *_diagnostics(summary, config)]
    lines += [
        "",
        "## How to read this",
        "",
        f"AUBC: area under the {config.metric_name} curve over the {config.cost_name}, divided by its "
        "width (the mean over the budget; higher is better), over the range every strategy's curve of "
        "a seed covers; mean ± standard deviation over seeds. Gain over random: the mean of the per-seed "
        "differences (same initial set and weights), with a paired t-interval (95%); a strategy is "
        f"recommended only when that interval excludes zero and its p-value, Holm-adjusted over every "
        f"strategy compared with random, is below {ALPHA:g}. Fewer than {MIN_SEEDS} seeds give no interval. "
        "Labels to reach a target: the first count whose metric reached it, mean over the seeds that did; "
        "the ratio to random is the geometric mean of the per-seed ratios with a t-interval on their logs, "
        "shown when both reached it on every seed. s per acquisition: the model's inference on the "
        "candidates plus the selection; vs random: the extra seconds per round.",
        "",
    ]
    return "\n".join(lines)

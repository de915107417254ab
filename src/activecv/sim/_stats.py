"""The area under a budget curve, and paired comparisons over seeds: a t-interval for the mean
paired difference, its two-sided p-value, and Holm's step-down correction when several
strategies are compared with random."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

MIN_SEEDS = 3  # fewer paired seeds: the report says it cannot tell, and gives no interval
LEVEL = 0.95


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
    >>> aubc(np.array([10, 10]), np.array([0.5, 0.7]))  # a curve that spent nothing more
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
    if width == 0:  # every round at the same spend (none bought anything): their mean
        return round(float(np.mean(accuracy)), 12)
    area = float(np.sum((accuracy[1:] + accuracy[:-1]) / 2 * np.diff(n_labeled)))
    return round(area / width, 12)


@dataclass(frozen=True)
class PairedInterval:
    """The mean of ``n`` paired differences, its ``level`` t-interval and two-sided p-value
    (H0: mean difference 0). ``low``/``high``/``p`` are None with fewer than ``MIN_SEEDS``."""

    mean: float
    n: int
    low: float | None = None
    high: float | None = None
    p: float | None = None

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


def paired_interval(differences: Sequence[float], level: float = LEVEL) -> PairedInterval:
    """Mean ± ``t_{n-1, (1+level)/2} * sd / sqrt(n)`` of the per-seed differences.

    Equal differences (sd 0) give a zero-width interval and p 0 (or 1 if all are 0).

    Examples
    --------
    >>> r = paired_interval([1.0, 2.0, 3.0])
    >>> round(r.low, 4), round(r.high, 4), round(r.p, 4)
    (-0.4841, 4.4841, 0.0742)
    """
    d = np.asarray(differences, dtype=np.float64)
    n = int(d.shape[0])
    mean = float(d.mean()) if n else float("nan")
    if n < MIN_SEEDS:
        return PairedInterval(mean, n)
    se = float(d.std(ddof=1) / np.sqrt(n))
    if se <= 1e-15 * max(1.0, abs(mean)):
        return PairedInterval(mean, n, mean, mean, 1.0 if mean == 0 else 0.0)
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * se
    p = float(2 * stats.t.sf(abs(mean) / se, n - 1))
    return PairedInterval(mean, n, mean - half, mean + half, p)


def log_ratio_interval(numerators: Sequence[float], denominators: Sequence[float]) -> PairedInterval:
    """The geometric-mean ratio ``numerator / denominator`` over paired seeds with its
    t-interval, computed on the log ratios and exponentiated (a ratio's interval stays positive)."""
    logs = np.log(np.asarray(numerators, dtype=np.float64) / np.asarray(denominators, dtype=np.float64))
    r = paired_interval(logs.tolist())
    if r.low is None or r.high is None:
        return PairedInterval(float(np.exp(r.mean)), r.n)
    return PairedInterval(float(np.exp(r.mean)), r.n, float(np.exp(r.low)), float(np.exp(r.high)), r.p)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (step-down, family-wise error): sort ascending, multiply the
    k-th smallest by ``m - k + 1``, carry the running maximum, cap at 1; returned in the input
    order. Reject where the adjusted value is below the family's alpha.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.shape[0]
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adjusted
    return [round(float(v), 12) for v in out]

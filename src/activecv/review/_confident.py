"""Confident learning: wrong labels from out-of-sample probabilities (numpy only)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from activecv._errors import InputError
from activecv._validation import as_array, check_simplex, describe

FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning")
RANKINGS = ("self_confidence", "normalized_margin")

# Tolerances of the reference implementation (cleanlab), so flags agree on the same inputs.
_TOLERANCE = 1e-6  # a probability within this of a threshold counts as above it
_LOWEST_THRESHOLD = 2 * _TOLERANCE
_ABSENT_CLASS_THRESHOLD = 2.0  # a class no example carries: no example is confident in it


@dataclass(frozen=True)
class LabelIssues:
    """What :func:`find_label_issues` found.

    Attributes
    ----------
    indices : (M,) int64
        Positions of the flagged examples, most suspect first.
    scores : (M,) float64
        The ranking score of each flagged example (``rank_by``), ascending: lower = more suspect.
    mask : (N,) bool
        True where the label is flagged.
    suggested : (N,) int64
        The most probable class of each example (the label a reviewer is offered).
    self_confidence : (N,) float64
        ``probs[i, labels[i]]``.
    thresholds : (C,) float64
        Per-class thresholds ``t_j``.
    confident_joint : (C, C) int64
        Calibrated confident joint, rows = given label, columns = estimated true label.
    """

    indices: np.ndarray
    scores: np.ndarray
    mask: np.ndarray
    suggested: np.ndarray
    self_confidence: np.ndarray
    thresholds: np.ndarray
    confident_joint: np.ndarray


def _check_inputs(labels: Any, probs: Any) -> tuple[np.ndarray, np.ndarray]:
    """``labels`` (N,) int64 in [0, C) and ``probs`` (N, C) float64 probability rows."""
    p = as_array(probs, "probs", "(N, C)", 2)
    if p.shape[1] < 2 or p.shape[0] == 0:
        raise InputError(
            f"probs must have shape (N, C) with N >= 1 and C >= 2; got {describe(p)}. "
            "Pass one row of out-of-sample class probabilities per example."
        )
    p = p.astype(np.float64, copy=False)
    check_simplex(p, "probs")
    y = as_array(labels, "labels", "(N,)", 1, kind="int")
    if y.shape[0] != p.shape[0]:
        raise InputError(
            f"labels must have one entry per row of probs; got {y.shape[0]} labels and {p.shape[0]} rows."
        )
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise InputError(
            f"labels must be class indices in [0, {p.shape[1]}) (probs has {p.shape[1]} columns); "
            f"got values from {int(y.min())} to {int(y.max())}."
        )
    return y.astype(np.int64, copy=False), p


def _check_choice(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InputError(f"{name} must be one of {', '.join(allowed)}; got {value!r}.")
    return value


def confident_thresholds(labels: Any, probs: Any) -> np.ndarray:
    """Per-class thresholds: ``t_j`` = mean of ``probs[i, j]`` over the examples labeled ``j``.

    A class no example carries gets 2.0 (no example is confident in it); thresholds are
    at least 2e-6, as in cleanlab.

    Examples
    --------
    >>> probs = np.array([[0.9, 0.1], [0.7, 0.3], [0.4, 0.6]])
    >>> confident_thresholds([0, 0, 1], probs).tolist()
    [0.8, 0.6]
    """
    y, p = _check_inputs(labels, probs)
    return _thresholds(y, p)


def _thresholds(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    num_classes = p.shape[1]
    counts = np.bincount(y, minlength=num_classes)
    sums = np.zeros(num_classes)
    np.add.at(sums, y, p[np.arange(y.shape[0]), y])
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), _ABSENT_CLASS_THRESHOLD)
    return np.maximum(means, _LOWEST_THRESHOLD)


def _true_label_guess(p: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each example's estimated true label and whether any class was confident.

    With one confident class that class; with several the most probable class (cleanlab's
    ``compute_confident_joint``; the paper takes the most probable confident class, which
    differs only when the overall argmax is below its own threshold).
    """
    confident = p >= thresholds - _TOLERANCE
    how_many = confident.sum(axis=1)
    guess = np.where(how_many > 1, p.argmax(axis=1), confident.argmax(axis=1))
    return guess, how_many > 0


def _round_preserving_sum(values: np.ndarray) -> np.ndarray:
    """Round to integers whose sum is the rounded sum of ``values`` (largest remainders move)."""
    ints = np.round(values)
    target = np.round(values.sum())
    while abs(ints.sum() - target) > _TOLERANCE:
        diff = target - ints.sum()
        step = 1.0 if diff > 0 else -1.0
        changes = min(int(abs(round(diff))), values.shape[0])
        # numpy's default sort, as the reference: ties between equal remainders fall the same way
        order = np.argsort(values - ints)
        chosen = (order[::-1] if step > 0 else order)[:changes]
        ints[chosen] += step
    return ints


def _calibrate(joint: np.ndarray, label_counts: np.ndarray) -> np.ndarray:
    """Rows scaled to the label counts, the total to N, rounded keeping each row's total."""
    rows = joint.sum(axis=1).astype(np.float64)
    scaled = joint / np.maximum(rows, 1e-100)[:, None] * label_counts[:, None]
    # the total is N up to rounding error, summed column by column as the reference does, so
    # that halves (x.5) tip the same way when rounded
    total = float(np.sum(np.ascontiguousarray(scaled.T)))
    scaled = scaled / max(total, 1e-100) * int(label_counts.sum())
    return np.stack([_round_preserving_sum(row) for row in scaled]).astype(np.int64)


def confident_joint(labels: Any, probs: Any, calibrate: bool = True) -> np.ndarray:
    """The confident joint ``C[i, j]``: examples labeled ``i`` confidently in class ``j``.

    An example counts at its estimated true label (see :func:`confident_thresholds`) when at
    least one class reaches its threshold; the diagonal is at least 1. Calibrated (default),
    each row sums to the number of examples labeled ``i`` and the whole to N.

    Examples
    --------
    >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8], [0.95, 0.05]])
    >>> confident_joint([0, 0, 1, 1, 1], probs).tolist()
    [[2, 0], [1, 2]]
    """
    y, p = _check_inputs(labels, probs)
    return _joint(y, p, _thresholds(y, p), calibrate)


def _joint(y: np.ndarray, p: np.ndarray, thresholds: np.ndarray, calibrate: bool) -> np.ndarray:
    num_classes = p.shape[1]
    guess, counted = _true_label_guess(p, thresholds)
    joint = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(joint, (y[counted], guess[counted]), 1)
    np.fill_diagonal(joint, np.maximum(joint.diagonal(), 1))
    if calibrate:
        joint = _calibrate(joint, np.bincount(y, minlength=num_classes))
    return joint


def _keep_one_per_class(joint: np.ndarray) -> np.ndarray:
    """Raise a zero diagonal to 1, taking it evenly from that row's non-zero off-diagonal counts."""
    diagonal = joint.diagonal().astype(np.float64)
    raised = np.maximum(diagonal, 1.0)
    nonzero = np.maximum(np.count_nonzero(joint, axis=1) - 1.0, 1.0)
    kept = np.maximum(joint - ((raised - diagonal) / nonzero)[:, None], 0.0)
    np.fill_diagonal(kept, raised)
    return kept.astype(np.int64)


def label_quality_scores(labels: Any, probs: Any, method: str = "self_confidence") -> np.ndarray:
    """Per-example label quality, lower = more likely wrong.

    ``self_confidence`` is ``probs[i, y_i]``; ``normalized_margin`` is
    ``(probs[i, y_i] - max_{k != y_i} probs[i, k] + 1) / 2``.

    Examples
    --------
    >>> label_quality_scores([0, 1], np.array([[0.7, 0.3], [0.6, 0.4]]), "normalized_margin").tolist()
    [0.7, 0.4]
    """
    method = _check_choice(method, "method", RANKINGS)
    y, p = _check_inputs(labels, probs)
    return _quality(y, p, method)


def _quality(y: np.ndarray, p: np.ndarray, method: str) -> np.ndarray:
    rows = np.arange(y.shape[0])
    own = p[rows, y]
    if method == "self_confidence":
        return own
    others = p.copy()
    others[rows, y] = -np.inf
    return (own - others.max(axis=1) + 1.0) / 2.0


def _prune_by_class(y: np.ndarray, p: np.ndarray, keep: np.ndarray, members: list[np.ndarray]) -> np.ndarray:
    """Per given class i, the ``n_i - C[i, i]`` examples with the lowest ``probs[:, i]``."""
    mask = np.zeros(y.shape[0], dtype=bool)
    for i, rows in enumerate(members):
        remove = rows.shape[0] - int(keep[i, i])
        if rows.shape[0] > 1 and remove >= 1:
            mask[rows[np.argsort(p[rows, i], kind="stable")[:remove]]] = True
    return mask


def _prune_by_noise_rate(
    y: np.ndarray, p: np.ndarray, keep: np.ndarray, members: list[np.ndarray]
) -> np.ndarray:
    """Per cell (i, j), i != j: the ``C[i, j]`` examples labeled i with the largest ``p_j - p_i``."""
    mask = np.zeros(y.shape[0], dtype=bool)
    for i, rows in enumerate(members):
        if rows.shape[0] <= 1:
            continue
        for j in np.flatnonzero(keep[i]):
            if j != i:
                margin = p[rows, j] - p[rows, i]
                mask[rows[np.argsort(-margin, kind="stable")[: int(keep[i, j])]]] = True
    return mask


def find_label_issues(
    labels: Any,
    probs: Any,
    *,
    filter_by: str = "prune_by_noise_rate",
    rank_by: str = "self_confidence",
) -> LabelIssues:
    """Labels that are likely wrong, by confident learning (Northcutt et al. 2021).

    Parameters
    ----------
    labels : (N,) int
        The given labels, class indices in ``[0, C)``.
    probs : (N, C) float
        Out-of-sample probabilities (from K-fold cross-validation: each row from a model that
        did not train on that example). In-sample probabilities flag almost nothing.
    filter_by : {"prune_by_noise_rate", "prune_by_class", "both", "confident_learning"}
        ``prune_by_noise_rate``: per off-diagonal cell (i, j) of the calibrated confident
        joint, the ``C[i, j]`` examples labeled i with the largest ``p_j - p_i``.
        ``prune_by_class``: per class i, the ``n_i - C[i, i]`` examples labeled i with the
        lowest ``p_i``. ``both``: flagged by both. ``confident_learning``: the off-diagonal
        examples of the (uncalibrated) confident joint. As in cleanlab, a class with one
        example is never pruned and an example whose most probable class is its label is
        never flagged.
    rank_by : {"self_confidence", "normalized_margin"}
        Order of ``indices``: lowest score first.

    Returns
    -------
    LabelIssues

    Examples
    --------
    >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.3, 0.7], [0.85, 0.15]])
    >>> find_label_issues([0, 0, 1, 1, 1], probs).indices.tolist()
    [4]

    References
    ----------
    Northcutt, Jiang, Chuang. Confident Learning: Estimating Uncertainty in Dataset Labels.
    JAIR 70 (2021). Reference implementation: ``cleanlab.filter.find_label_issues``.
    """
    filter_by = _check_choice(filter_by, "filter_by", FILTERS)
    rank_by = _check_choice(rank_by, "rank_by", RANKINGS)
    y, p = _check_inputs(labels, probs)
    thresholds = _thresholds(y, p)
    joint = _joint(y, p, thresholds, calibrate=True)
    members = [np.flatnonzero(y == i) for i in range(p.shape[1])]
    if any(rows.shape[0] == 1 for rows in members) and filter_by != "confident_learning":
        warnings.warn(
            "a class with a single example is never pruned; its label cannot be checked.", stacklevel=2
        )
    if filter_by == "confident_learning":
        guess, counted = _true_label_guess(p, thresholds)
        mask = counted & (guess != y)
    else:
        keep = _keep_one_per_class(joint)
        mask = np.ones(y.shape[0], dtype=bool)
        if filter_by in ("prune_by_class", "both"):
            mask &= _prune_by_class(y, p, keep, members)
        if filter_by in ("prune_by_noise_rate", "both"):
            mask &= _prune_by_noise_rate(y, p, keep, members)
    lifted = p.copy()
    lifted[np.arange(y.shape[0]), y] += _TOLERANCE
    mask &= lifted.argmax(axis=1) != y
    quality = _quality(y, p, rank_by)
    flagged = np.flatnonzero(mask)
    order = flagged[np.argsort(quality[flagged], kind="stable")]
    return LabelIssues(
        indices=order.astype(np.int64),
        scores=quality[order],
        mask=mask,
        suggested=p.argmax(axis=1).astype(np.int64),
        self_confidence=p[np.arange(y.shape[0]), y],
        thresholds=thresholds,
        confident_joint=joint,
    )

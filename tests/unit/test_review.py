"""Confident learning: hand-checked vectors, agreement with cleanlab, folds, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from activecv import InputError, InputTypeError
from activecv.review import (
    FILTERS,
    RANKINGS,
    confident_joint,
    confident_thresholds,
    cross_val_probs,
    find_label_issues,
    label_quality_scores,
    stratified_folds,
)

TINY_PROBS = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.3, 0.7], [0.85, 0.15]])
TINY_LABELS = np.array([0, 0, 1, 1, 1])


def noisy_problem(
    seed: int, n: int = 400, classes: int = 5, noise: float = 0.2, imbalanced: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels with a planted fraction flipped, out-of-sample-like probabilities, the flip mask."""
    rng = np.random.default_rng(seed)
    prior = rng.dirichlet(np.full(classes, 0.7)) if imbalanced else np.full(classes, 1 / classes)
    true = rng.choice(classes, n, p=prior)
    logits = rng.normal(size=(n, classes))
    logits[np.arange(n), true] += rng.uniform(0.5, 4.0)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = true.copy()
    flipped = rng.random(n) < noise
    labels[flipped] = (true[flipped] + rng.integers(1, classes, flipped.sum())) % classes
    for c in range(classes):  # every class carries at least two labels
        labels[2 * c : 2 * c + 2] = c
        flipped[2 * c : 2 * c + 2] = true[2 * c : 2 * c + 2] != c
    return labels, probs, flipped


def test_thresholds_joint_and_flags_by_hand() -> None:
    # t0 = (0.9 + 0.8) / 2, t1 = (0.9 + 0.7 + 0.15) / 3; item 1 is confident in no class,
    # item 4 (labeled 1) is confident in class 0: raw joint [[1, 0], [1, 2]], calibrated rows 2 and 3.
    np.testing.assert_allclose(confident_thresholds(TINY_LABELS, TINY_PROBS), [0.85, 1.75 / 3])
    assert confident_joint(TINY_LABELS, TINY_PROBS, calibrate=False).tolist() == [[1, 0], [1, 2]]
    assert confident_joint(TINY_LABELS, TINY_PROBS).tolist() == [[2, 0], [1, 2]]
    for rule in FILTERS:
        issues = find_label_issues(TINY_LABELS, TINY_PROBS, filter_by=rule)
        assert issues.indices.tolist() == [4], rule
        assert issues.mask.tolist() == [False, False, False, False, True]
    assert issues.suggested.tolist() == [0, 0, 1, 1, 0]
    np.testing.assert_allclose(issues.self_confidence, [0.9, 0.8, 0.9, 0.7, 0.15])


def test_an_example_whose_label_is_its_most_probable_class_is_never_flagged() -> None:
    # class 1's row of the joint is calibrated to [0, 3]: nothing to prune; item 5 (p = 0.6 for
    # its label, the lowest of class 1) stays; item 2 (labeled 0, p1 = 0.8) goes.
    labels = np.array([0, 0, 0, 1, 1, 1])
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.2, 0.8], [0.1, 0.9], [0.2, 0.8], [0.4, 0.6]])
    assert confident_joint(labels, probs).tolist() == [[2, 1], [0, 3]]
    for rule in FILTERS:
        assert find_label_issues(labels, probs, filter_by=rule).indices.tolist() == [2]


def test_ranking_by_self_confidence_and_by_normalized_margin() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    probs = np.array(
        [
            [0.9, 0.05, 0.05],
            [0.8, 0.1, 0.1],
            [0.2, 0.7, 0.1],  # flagged: self-confidence 0.2, margin 0.2 - 0.7
            [0.3, 0.35, 0.35],  # borderline
            [0.1, 0.8, 0.1],
            [0.05, 0.9, 0.05],
            [0.25, 0.15, 0.6],  # flagged: self-confidence 0.15, margin 0.15 - 0.6
            [0.1, 0.1, 0.8],
            [0.05, 0.05, 0.9],
            [0.9, 0.05, 0.05],  # flagged: self-confidence 0.05, margin 0.05 - 0.9
        ]
    )
    np.testing.assert_allclose(
        label_quality_scores(labels, probs, "normalized_margin")[[2, 6, 9]], [0.25, 0.275, 0.075]
    )
    by_confidence = find_label_issues(labels, probs, filter_by="confident_learning")
    assert by_confidence.indices.tolist() == [9, 6, 2]
    np.testing.assert_allclose(by_confidence.scores, [0.05, 0.15, 0.2])
    by_margin = find_label_issues(labels, probs, filter_by="confident_learning", rank_by="normalized_margin")
    assert by_margin.indices.tolist() == [9, 2, 6]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("imbalanced", [False, True])
def test_the_same_flags_and_order_as_cleanlab(seed: int, imbalanced: bool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        cleanlab_filter = pytest.importorskip("cleanlab.filter")
        cleanlab_count = pytest.importorskip("cleanlab.count")
    labels, probs, _ = noisy_problem(seed, n=300 + 100 * seed, classes=3 + seed, imbalanced=imbalanced)
    np.testing.assert_array_equal(
        confident_joint(labels, probs), cleanlab_count.compute_confident_joint(labels, probs)
    )
    for rule in FILTERS:
        for rank_by in RANKINGS:
            theirs = cleanlab_filter.find_label_issues(
                labels, probs, filter_by=rule, return_indices_ranked_by=rank_by, n_jobs=1
            )
            ours = find_label_issues(labels, probs, filter_by=rule, rank_by=rank_by)
            assert ours.indices.tolist() == theirs.tolist(), (rule, rank_by)


def test_flags_find_planted_noise() -> None:
    labels, probs, flipped = noisy_problem(0, n=2000, classes=10, noise=0.1)
    issues = find_label_issues(labels, probs)
    found = int((issues.mask & flipped).sum())
    assert found / issues.mask.sum() > 0.5 and found / flipped.sum() > 0.5


def test_a_class_with_one_example_is_not_pruned_and_says_so() -> None:
    labels = np.array([0, 0, 0, 1])
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.9, 0.1]])
    with pytest.warns(UserWarning, match="a class with a single example is never pruned"):
        issues = find_label_issues(labels, probs)
    assert issues.indices.tolist() == []


def test_stratified_folds_spread_each_class() -> None:
    labels = np.repeat([0, 1, 2], [10, 7, 3])
    folds = stratified_folds(labels, folds=5, rng=0)
    assert np.bincount(folds).tolist() == [4, 4, 4, 4, 4]
    for c, size in ((0, 10), (1, 7)):
        counts = np.bincount(folds[labels == c], minlength=5)
        assert counts.max() - counts.min() <= 1 and counts.sum() == size
    np.testing.assert_array_equal(folds, stratified_folds(labels, folds=5, rng=0))


def test_cross_val_probs_predicts_each_item_from_a_model_that_never_saw_it() -> None:
    labels = np.repeat([0, 1], 6)
    seen: list[tuple[set[int], set[int]]] = []

    def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        seen.append((set(train.tolist()), set(test.tolist())))
        return np.tile([0.25, 0.75], (test.shape[0], 1))

    probs = cross_val_probs(fit_predict, labels, num_classes=2, folds=3, rng=1)
    np.testing.assert_allclose(probs, np.tile([0.25, 0.75], (12, 1)))
    assert len(seen) == 3 and all(not train & test for train, test in seen)
    assert set().union(*(test for _, test in seen)) == set(range(12))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"probs": np.ones(3) / 3}, InputError, r"probs must have shape \(N, C\); got \(3,\)"),
        ({"probs": np.ones((3, 1))}, InputError, r"probs must have shape \(N, C\) with N >= 1 and C >= 2"),
        ({"probs": np.full((5, 2), 0.7)}, InputError, "probs rows must sum to 1"),
        ({"probs": np.full((5, 2), np.nan)}, InputError, "probs must be finite"),
        ({"labels": [0, 1]}, InputError, "labels must have one entry per row of probs; got 2 labels and 5"),
        ({"labels": [0, 1, 2, 0, 1]}, InputError, r"labels must be class indices in \[0, 2\).*from 0 to 2"),
        ({"labels": [0.0, 1, 0, 1, 1]}, InputTypeError, "labels must hold integers; got dtype float64"),
        ({"filter_by": "prune"}, InputError, "filter_by must be one of prune_by_noise_rate, .*; got 'prune'"),
        ({"rank_by": "margin"}, InputError, "rank_by must be one of self_confidence, normalized_margin"),
    ],
)
def test_errors_name_the_argument_what_was_expected_and_what_came(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    arguments: dict[str, object] = {"labels": TINY_LABELS, "probs": TINY_PROBS, **kwargs}
    with pytest.raises(error, match=message):
        find_label_issues(**arguments)  # type: ignore[arg-type]


def test_quality_method_errors() -> None:
    with pytest.raises(InputError, match="method must be one of self_confidence, normalized_margin; got 'x'"):
        label_quality_scores(TINY_LABELS, TINY_PROBS, "x")


@pytest.mark.parametrize(
    ("folds", "error", "message"),
    [
        (1, InputError, "folds must be at least 2 .*; got 1"),
        (6, InputError, r"folds must be at most the number of examples \(5\); got 6"),
        (2.5, InputTypeError, "folds must be a positive integer; got float 2.5"),
    ],
)
def test_fold_errors(folds: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        stratified_folds(TINY_LABELS, folds=folds, rng=0)  # type: ignore[arg-type]


def test_fit_predict_errors() -> None:
    with pytest.raises(
        InputError, match=r"fit_predict must return probabilities of shape \(3, 2\) for fold 0"
    ):
        cross_val_probs(lambda train, test: np.ones((1, 2)) / 2, TINY_LABELS, num_classes=2, folds=2, rng=0)
    with pytest.raises(InputError, match="fit_predict's probabilities for fold 0 rows must sum to 1"):
        cross_val_probs(lambda train, test: np.ones((test.shape[0], 2)), TINY_LABELS, 2, folds=2, rng=0)

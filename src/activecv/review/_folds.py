"""Out-of-sample probabilities by stratified K-fold cross-validation (numpy only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from activecv._errors import InputError
from activecv._validation import RngLike, as_array, as_rng, check_positive_int, check_simplex

FitPredict = Callable[[np.ndarray, np.ndarray], Any]


def stratified_folds(labels: Any, folds: int = 5, rng: RngLike = None) -> np.ndarray:
    """Fold number (0..folds-1) of each example; each class is spread evenly over the folds.

    Examples
    --------
    >>> np.bincount(stratified_folds([0] * 6 + [1] * 4, folds=2, rng=0)).tolist()
    [5, 5]
    """
    folds = check_positive_int(folds, "folds")
    if folds < 2:
        raise InputError(f"folds must be at least 2 (one to train on, one to predict); got {folds}.")
    y = as_array(labels, "labels", "(N,)", 1, kind="int")
    if y.shape[0] < folds:
        raise InputError(f"folds must be at most the number of examples ({y.shape[0]}); got {folds}.")
    generator = as_rng(rng)
    assignment = np.empty(y.shape[0], dtype=np.int64)
    start = 0  # classes continue the round-robin where the previous one stopped: folds stay balanced
    for value in np.unique(y):
        rows = generator.permutation(np.flatnonzero(y == value))
        assignment[rows] = (start + np.arange(rows.shape[0])) % folds
        start = (start + rows.shape[0]) % folds
    return assignment


def cross_val_probs(
    fit_predict: FitPredict, labels: Any, num_classes: int, folds: int = 5, rng: RngLike = None
) -> np.ndarray:
    """Out-of-sample probabilities (N, C): each row predicted by a model that never saw it.

    ``fit_predict(train, test)`` gets two int64 position arrays, trains a fresh model on
    ``train`` and returns the probabilities of ``test`` as (len(test), num_classes).

    Examples
    --------
    >>> prior = lambda train, test: np.full((test.shape[0], 2), 0.5)
    >>> cross_val_probs(prior, [0, 1, 0, 1], num_classes=2, folds=2, rng=0).shape
    (4, 2)
    """
    num_classes = check_positive_int(num_classes, "num_classes")
    assignment = stratified_folds(labels, folds, rng)
    probs = np.full((assignment.shape[0], num_classes), np.nan)
    for fold in range(int(assignment.max()) + 1):
        test = np.flatnonzero(assignment == fold)
        train = np.flatnonzero(assignment != fold)
        out = np.asarray(fit_predict(train, test), dtype=np.float64)
        if out.shape != (test.shape[0], num_classes):
            raise InputError(
                f"fit_predict must return probabilities of shape ({test.shape[0]}, {num_classes}) for "
                f"fold {fold}; got {out.shape}. Return one row per test position, one column per class."
            )
        check_simplex(out, f"fit_predict's probabilities for fold {fold}")
        probs[test] = out
    return probs

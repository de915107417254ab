"""``review-labels --method confident``: confident learning from out-of-sample probabilities."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from activecv._errors import InputError
from activecv.io import load_predictions
from activecv.review import FILTERS, RANKINGS, cross_val_probs, find_label_issues, write_label_issues_csv

LabeledImages = Callable[[argparse.Namespace], tuple[np.ndarray, np.ndarray, tuple[str, ...], list[Any]]]


def add_confident_arguments(review: argparse.ArgumentParser, source: Any) -> None:
    """The options of ``review-labels`` that confident learning adds."""
    source.add_argument(
        "--predictions",
        type=Path,
        help="(confident) .npz/.parquet of out-of-sample probs (or logits), labels and ids",
    )
    review.add_argument(
        "--method",
        choices=("aum", "confident"),
        default="aum",
        help="aum (default): Area Under the Margin; confident: confident learning (Northcutt et al. 2021)",
    )
    review.add_argument(
        "--folds",
        type=int,
        default=5,
        help="(confident) K of the stratified K-fold probabilities (default 5)",
    )
    review.add_argument("--filter-by", choices=FILTERS, default="prune_by_noise_rate", help="(confident)")
    review.add_argument("--rank-by", choices=RANKINGS, default="self_confidence", help="(confident)")
    review.add_argument(
        "--fit-predict",
        help="(confident) module:callable called as f(x_train, y_train, x_test, num_classes, seed) -> "
        "probs (n_test, C), instead of training --model",
    )


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


def _from_file(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], list[Any]]:
    """Probabilities, labels, class names and ids of a predictions file."""
    arrays = load_predictions(path)
    if "labels" not in arrays or not {"probs", "logits"} & set(arrays):
        raise InputError(
            f"predictions file {str(path)!r} must hold 'labels' and 'probs' (or 'logits'), one row per "
            f"id; got {', '.join(sorted(arrays)) or 'nothing'}."
        )
    if "probs" in arrays:
        probs = np.asarray(arrays["probs"], dtype=np.float64)
    else:
        probs = _softmax(np.asarray(arrays["logits"], dtype=np.float64))
    labels = np.asarray(arrays["labels"])
    ids = arrays["ids"].tolist() if "ids" in arrays else list(range(labels.shape[0]))
    names = tuple(str(c) for c in range(probs.shape[1] if probs.ndim == 2 else 0))
    return probs, labels, names, ids


def _user_callable(spec: str) -> Callable[..., Any]:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise InputError(f"fit-predict must be 'module:callable'; got {spec!r}.")
    found = getattr(importlib.import_module(module_name), attribute, None)
    if not callable(found):
        raise InputError(f"fit-predict {spec!r} names no callable in module {module_name!r}.")
    return found


def _torch_fit_predict(args: argparse.Namespace, x: np.ndarray, y: np.ndarray, classes: int) -> Any:
    import torch

    from activecv.adapters.torch import build_model, fit, predict

    def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(args.seed)
            model = build_model(args.model, classes, x.shape[1:])
        fit(
            model,
            x[train],
            y[train],
            epochs=args.epochs,
            seed=args.seed,
            lr=args.lr,
            batch_size=args.batch_size,
        )
        probs = predict(model, x[test]).astype(np.float64)
        return probs / probs.sum(axis=1, keepdims=True)

    return fit_predict


def _cross_validated(
    args: argparse.Namespace, labeled_images: LabeledImages
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], list[Any], np.ndarray | None]:
    from activecv.datasets import flip_labels

    x, y, names, ids = labeled_images(args)
    planted = None
    if args.noise is not None:
        y, planted = flip_labels(y, args.noise, len(names), rng=args.seed)
    if args.fit_predict is not None:
        user = _user_callable(args.fit_predict)

        def fit_predict(train: np.ndarray, test: np.ndarray) -> Any:
            return user(x[train], y[train], x[test], len(names), args.seed)

    else:
        fit_predict = _torch_fit_predict(args, x, y, len(names))
    probs = cross_val_probs(fit_predict, y, len(names), folds=args.folds, rng=args.seed)
    return probs, y, names, ids, planted


def run_confident(args: argparse.Namespace, labeled_images: LabeledImages) -> int:
    """Flag, rank and write the review list; with --noise, score the finds."""
    if args.predictions is not None:
        probs, labels, names, ids = _from_file(args.predictions)
        planted = None
        if args.noise is not None:
            from activecv.datasets import flip_labels

            labels, planted = flip_labels(labels, args.noise, len(names), rng=args.seed)
    else:
        probs, labels, names, ids, planted = _cross_validated(args, labeled_images)
    issues = find_label_issues(labels, probs, filter_by=args.filter_by, rank_by=args.rank_by)
    rows = write_label_issues_csv(args.out, ids, names, labels, issues, probs)
    print(
        f"flagged {rows} of {len(labels)} labels as likely wrong (confident learning, {args.filter_by}); "
        f"review list (most suspect first): {args.out}"
    )
    if planted is not None:
        found = int((issues.mask & planted).sum())
        precision = found / max(rows, 1)
        recall = found / max(int(planted.sum()), 1)
        print(f"planted {int(planted.sum())} flipped labels: precision {precision:.3f}, recall {recall:.3f}")
    return 0

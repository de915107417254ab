"""Planted wrong labels: precision and recall of confident learning and of AUM, side by side.

    python benchmarks/bench_label_noise.py            # writes results/label_noise.{jsonl,md,png}

For each dataset (training split; the first ``--limit`` items of mnist5k and animal_shapes),
noise kind (``uniform``: to any other class; ``class``: class-conditional, every class to one
other class of a random derangement drawn per seed) at 10% and 20%, and seed 0..2:

- ``cl_logreg``: confident learning (``prune_by_noise_rate``) on 5-fold stratified
  out-of-sample probabilities of a logistic regression (scikit-learn, pixels);
- ``cl_mlp``: the same on 5-fold probabilities of activecv's ``mlp`` (one hidden layer of 256);
- ``aum``: ``find_mislabeled`` (two runs with threshold samples) with the same ``mlp``.

Every method sees the same noisy labels. Precision = flipped among flagged, recall = flagged
among flipped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"
METHODS = ("cl_logreg", "cl_mlp", "aum")  # cl_mlp: 5 trainings per run, off by default


def plant(
    labels: np.ndarray, kind: str, rate: float, classes: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Noisy labels and the flipped mask: ``rate`` of the items, uniform or class-conditional."""
    from activecv.datasets import flip_labels

    if kind == "uniform":
        return flip_labels(labels, rate, classes, rng=seed)
    rng = np.random.default_rng(seed)
    while True:  # a derangement: no class maps to itself
        target = rng.permutation(classes)
        if (target != np.arange(classes)).all():
            break
    chosen = rng.choice(labels.shape[0], round(rate * labels.shape[0]), replace=False)
    noisy = labels.copy()
    noisy[chosen] = target[labels[chosen]]
    flipped = np.zeros(labels.shape[0], dtype=bool)
    flipped[chosen] = True
    return noisy, flipped


def logreg_probs(x: np.ndarray, y: np.ndarray, classes: int, seed: int) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    from activecv.review import cross_val_probs

    def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        model = LogisticRegression(max_iter=100).fit(x[train], y[train])
        probs = np.zeros((test.shape[0], classes))
        probs[:, model.classes_] = model.predict_proba(x[test])
        return probs

    return cross_val_probs(fit_predict, y, classes, folds=5, rng=seed)


def mlp_probs(x: np.ndarray, y: np.ndarray, classes: int, seed: int, epochs: int) -> np.ndarray:
    from activecv.adapters.torch import fit, predict
    from activecv.review import cross_val_probs

    def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        model = make_mlp(classes, x.shape[1], seed)
        fit(model, x[train], y[train], epochs=epochs, seed=seed, lr=1e-3, batch_size=64)
        probs = predict(model, x[test]).astype(np.float64)
        return probs / probs.sum(axis=1, keepdims=True)

    return cross_val_probs(fit_predict, y, classes, folds=5, rng=seed)


def make_mlp(outputs: int, dim: int, seed: int) -> Any:
    import torch

    from activecv.adapters.torch import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model("mlp", outputs, (dim,))


def score(flagged: np.ndarray, planted: np.ndarray) -> dict[str, float]:
    found = int((flagged & planted).sum())
    return {
        "flagged": int(flagged.sum()),
        "planted": int(planted.sum()),
        "precision": found / max(int(flagged.sum()), 1),
        "recall": found / max(int(planted.sum()), 1),
    }


def run_one(x: np.ndarray, y: np.ndarray, classes: int, method: str, seed: int, epochs: int) -> np.ndarray:
    from activecv.adapters.torch import find_mislabeled
    from activecv.review import find_label_issues

    if method == "aum":
        report = find_mislabeled(
            lambda k: make_mlp(k, x.shape[1], seed), x, y, classes, epochs=epochs, seed=seed, lr=1e-3
        )
        return np.asarray(report.flagged)
    probs = (
        logreg_probs(x, y, classes, seed) if method == "cl_logreg" else mlp_probs(x, y, classes, seed, epochs)
    )
    return find_label_issues(y, probs).mask


def load(name: str, limit: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    from activecv import datasets

    data = datasets.load(name)
    x = data.x_train.reshape(data.x_train.shape[0], -1).astype(np.float32)
    y = np.asarray(data.y_train, dtype=np.int64)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return x, y, len(data.class_names)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default="digits,mnist5k,animal_shapes")
    parser.add_argument("--limit", type=int, default=1000, help="items of each dataset (default 1000)")
    parser.add_argument("--methods", default="cl_logreg,aum", help=f"of {','.join(METHODS)}")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8, help="mlp epochs per training run")
    parser.add_argument("--out", type=Path, default=RESULTS / "label_noise.jsonl")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("")
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    for name in args.datasets.split(","):
        x, y, classes = load(name, args.limit)
        for kind in ("uniform", "class"):
            for rate in (0.1, 0.2):
                for seed in range(args.seeds):
                    noisy, planted = plant(y, kind, rate, classes, seed)
                    for method in args.methods.split(","):
                        start = time.perf_counter()
                        flagged = run_one(x, noisy, classes, method, seed, args.epochs)
                        row = {
                            "dataset": name,
                            "items": int(y.shape[0]),
                            "noise": kind,
                            "rate": rate,
                            "seed": seed,
                            "method": method,
                            "epochs": args.epochs,
                            "seconds": round(time.perf_counter() - start, 2),
                            "machine": machine,
                            **score(flagged, planted),
                        }
                        with args.out.open("a") as handle:
                            handle.write(json.dumps(row) + "\n")
                        print(json.dumps(row), flush=True)
    summarize(args.out)


def summarize(
    path: Path,
) -> None:  # also: python -c 'import bench_label_noise as b; b.summarize(b.RESULTS / "label_noise.jsonl")'
    """The markdown table (mean ± sd over seeds) and the plot beside the JSON lines."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line]
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    keys = sorted(
        {(r["dataset"], r["noise"], r["rate"]) for r in rows}, key=lambda k: (k[0], k[1] != "uniform", k[2])
    )
    lines = [
        "| dataset | noise | rate | " + " | ".join(f"{m} precision | {m} recall" for m in methods) + " |",
        "|---|---|---|" + "---|---|" * len(methods),
    ]
    summary: dict[tuple[str, str, float, str], tuple[float, float, float, float]] = {}
    for key in keys:
        cells = []
        for method in methods:
            chosen = [r for r in rows if (r["dataset"], r["noise"], r["rate"], r["method"]) == (*key, method)]
            p = np.array([r["precision"] for r in chosen])
            q = np.array([r["recall"] for r in chosen])
            summary[(*key, method)] = (
                p.mean(),
                p.std(ddof=1) if p.size > 1 else 0.0,
                q.mean(),
                q.std(ddof=1) if q.size > 1 else 0.0,
            )
            m = summary[(*key, method)]
            seeds = "" if len(chosen) == 3 else f" (n={len(chosen)})"
            cells.append(f"{m[0]:.2f} ± {m[1]:.2f}{seeds} | {m[2]:.2f} ± {m[3]:.2f}{seeds}")
        lines.append(f"| {key[0]} | {key[1]} | {key[2]:.0%} | " + " | ".join(cells) + " |")
    path.with_suffix(".table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    plot(keys, methods, summary, path.with_suffix(".png"))


def plot(keys: list[Any], methods: list[str], summary: dict[Any, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(12, 6.5), sharex=True)
    width = 0.8 / len(methods)
    positions = np.arange(len(keys))
    for a, (axis, label, column) in enumerate(zip(axes, ("precision", "recall"), (0, 2), strict=True)):
        for i, method in enumerate(methods):
            means = [summary[(*k, method)][column] for k in keys]
            errors = [summary[(*k, method)][column + 1] for k in keys]
            axis.bar(
                positions + (i - (len(methods) - 1) / 2) * width,
                means,
                width,
                yerr=errors,
                capsize=2,
                label=method,
            )
        axis.set_ylabel(label)
        axis.set_ylim(0, 1.05)
        axis.grid(axis="y", alpha=0.3)
        if a == 0:
            axis.legend(ncol=3, loc="lower right")
    axes[1].set_xticks(positions, [f"{k[0]}\n{k[1]} {k[2]:.0%}" for k in keys], fontsize=8)
    fig.suptitle("Planted wrong labels: confident learning (5-fold) and AUM, mean ± sd over 3 seeds")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()

"""Core-set (1,000 from 100,000 x 512) and BADGE (1,000 from 50,000 x 512, 10 classes).

    python benchmarks/bench_diversity.py [--rounds 3] [--skip-baselines]

Baselines in the same run: core-set with the textbook per-step ``norm(x - x[u])``; BADGE on
materialised gradient embeddings (N x C*d), as the reference implementation builds them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import numpy as np

from _measure import machine, measure

BUDGET = 1000


def embeddings(n: int, d: int = 512, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, d)).astype(np.float32)
    return centres[rng.integers(50, size=n)] + rng.normal(size=(n, d)).astype(np.float32)


def coreset_ours():
    import activecv as acv

    x = embeddings(100_000)
    labeled = np.random.default_rng(1).choice(100_000, 1000, replace=False)
    return lambda: acv.select("coreset", budget=BUDGET, embeddings=x, labeled=labeled).indices.tolist()


def coreset_baseline():
    x = embeddings(100_000)
    labeled = np.random.default_rng(1).choice(100_000, 1000, replace=False)

    def run():
        d = np.full(x.shape[0], np.inf, dtype=np.float32)
        for j in labeled:
            np.minimum(d, np.linalg.norm(x - x[j], axis=1), out=d)
        d[labeled] = -1
        chosen = []
        for _ in range(BUDGET):
            u = int(np.argmax(d))
            chosen.append(u)
            np.minimum(d, np.linalg.norm(x - x[u], axis=1), out=d)
            d[u] = -1
        return chosen

    return run


def badge_inputs() -> tuple[np.ndarray, np.ndarray]:
    h = embeddings(50_000, seed=2)
    logits = h @ np.random.default_rng(3).normal(scale=0.05, size=(512, 10)).astype(np.float32)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float64), h


def badge_ours():
    import activecv as acv

    probs, h = badge_inputs()
    return lambda: acv.select("badge", budget=BUDGET, probs=probs, embeddings=h, rng=0).indices.tolist()


def badge_materialised():
    import activecv as acv

    probs, h = badge_inputs()

    def run():
        a = probs.copy()
        a[np.arange(a.shape[0]), a.argmax(axis=1)] -= 1.0
        g = (a[:, :, None].astype(np.float32) * h[:, None, :]).reshape(a.shape[0], -1)  # (N, 5120)
        return acv.select("badge", budget=BUDGET, gradient_embeddings=g, rng=0).indices.tolist()

    return run


def coreset_before():
    """activecv's k-center greedy as it was before pruned updates: every distance, every step."""
    from activecv.strategies._backends import NUMPY

    x = embeddings(100_000)
    labeled = np.random.default_rng(1).choice(100_000, 1000, replace=False)

    def run():
        space = NUMPY.points(x)
        available = np.ones(x.shape[0], dtype=bool)
        available[labeled] = False
        d2 = space.min_squared_distances(np.sort(labeled))
        chosen = []
        for _ in range(BUDGET):
            u = int(np.argmax(np.where(available, d2, -1.0)))
            chosen.append(u)
            available[u] = False
            np.minimum(d2, space.squared_distances_to(u), out=d2)
        return chosen

    return run


def badge_before():
    """activecv's BADGE seeding as it was before: a mask and fresh temporaries every step."""
    from activecv.strategies._seeding import Points

    probs, h = badge_inputs()

    def run():
        space = Points(probs=probs, embeddings=h)
        rng = np.random.default_rng(0)
        n = probs.shape[0]
        available = np.ones(n, dtype=bool)
        start = int(np.argmax(space.sq))
        chosen = [start]
        available[start] = False

        def to(j):
            cross = (space.a @ space.a[j]) * (space.h @ space.h[j])
            return np.maximum(space.sq + space.sq[j] - 2.0 * cross, 0.0)

        d2 = to(start)
        while len(chosen) < BUDGET:
            cumulative = np.cumsum(np.where(available, d2, 0.0))
            u = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
            chosen.append(u)
            available[u] = False
            np.minimum(d2, to(u), out=d2)
        return chosen

    return run


PAIRS = {
    "coreset": [
        ("coreset activecv", coreset_ours),
        ("coreset activecv before (full updates)", coreset_before),
        ("coreset textbook baseline", coreset_baseline),
    ],
    "badge": [
        ("badge activecv (implicit gradients)", badge_ours),
        ("badge activecv before", badge_before),
        ("badge materialised gradients", badge_materialised),
    ],
}


def main() -> None:
    """Each method in a fresh process; activecv and its code before this change alternate for
    ``--rounds`` rounds (medians in ``benchmarks/results``); the slow baselines run once."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-baselines", action="store_true", help="only activecv, now and before")
    args = parser.parse_args()
    print(f"machine: {machine()}", file=sys.stderr)
    for group in PAIRS.values():
        runs: dict[str, list[dict]] = {label: [] for label, _ in group}
        for r in range(args.rounds):
            for label, fn in group:
                if "activecv" not in label and (r > 0 or args.skip_baselines):
                    continue
                runs[label].append(measure(fn))
        first = runs[group[0][0]][0]["result"]
        for label, outs in runs.items():
            if not outs:
                continue
            print(
                json.dumps(
                    {
                        "method": label,
                        "seconds": statistics.median(o["seconds"] for o in outs),
                        "runs": [round(o["seconds"], 3) for o in outs],
                        "peak_rss_mib": max(o["peak_rss_mib"] for o in outs),
                        "same_selection_as_activecv": outs[0]["result"] == first,
                        "result": outs[0]["result"][:5],
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()

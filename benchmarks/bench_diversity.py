"""Core-set (1,000 from 100,000 x 512) and BADGE (1,000 from 50,000 x 512, 10 classes).

    python benchmarks/bench_diversity.py

Baselines in the same run: core-set with the textbook per-step ``norm(x - x[u])``; BADGE on
materialised gradient embeddings (N x C*d), as the reference implementation builds them.
"""

from __future__ import annotations

import json
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


def main() -> None:
    print(f"machine: {machine()}", file=sys.stderr)
    for label, fn in [
        ("coreset activecv", coreset_ours),
        ("coreset textbook baseline", coreset_baseline),
        ("badge activecv (implicit gradients)", badge_ours),
        ("badge materialised gradients", badge_materialised),
    ]:
        out = measure(fn)
        out["result"] = out["result"][:5]
        print(json.dumps({"method": label, **out}), flush=True)


if __name__ == "__main__":
    main()

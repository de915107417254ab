"""Top-k entropy and margin on 1,000,000 x 100 float32 against plain numpy (full argsort).

python benchmarks/bench_topk.py
"""

from __future__ import annotations

import json
import sys

import numpy as np

from _measure import machine, measure

N, C, K = 1_000_000, 100, 1000


def make_probs(seed: int = 0) -> np.ndarray:
    """Softmax of Gaussian logits, built in chunks so that setup leaves no memory peak."""
    rng = np.random.default_rng(seed)
    probs = np.empty((N, C), dtype=np.float32)
    for start in range(0, N, 50_000):
        z = rng.standard_normal((50_000, C), dtype=np.float32) * 3.0
        z = np.exp(z - z.max(axis=1, keepdims=True))
        probs[start : start + 50_000] = z / z.sum(axis=1, keepdims=True)
    return probs


def ours(name: str):
    import activecv as acv

    probs = make_probs()
    return lambda: acv.select(name, budget=K, probs=probs).indices.tolist()


def baseline(name: str):
    probs = make_probs()

    def run():
        if name == "entropy":
            scores = -(probs * np.log(np.clip(probs, 1e-12, 1.0))).sum(axis=1)
        else:
            top = np.sort(probs, axis=1)
            scores = 1.0 - (top[:, -1] - top[:, -2])
        return np.argsort(-scores, kind="stable")[:K].tolist()

    return run


def main() -> None:
    print(f"machine: {machine()}; input {N * C * 4 / 2**20:.0f} MiB", file=sys.stderr)
    for name in ("entropy", "margin"):
        mine, base = measure(ours, name), measure(baseline, name)
        agree = len(set(mine.pop("result")) & set(base.pop("result")))
        print(json.dumps({"strategy": name, "activecv": mine, "numpy_baseline": base, "same_top_k": agree}))


if __name__ == "__main__":
    main()

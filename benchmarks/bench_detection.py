"""EBAL: 1,000 of 10,000 images x 100 detections x 256-d features, 20 classes.

    python benchmarks/bench_detection.py > benchmarks/results/detection.jsonl

Baseline in the same run: the same selection with stage 1 written as ALGORITHMS.md §1.4's
pseudo-code (one cosine per pair of boxes in Python), as a direct transcription would do it.
Also timed: detection_entropy (sum), the per-image baseline strategy.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from _measure import machine, measure

N, M, D, C, BUDGET = 10_000, 100, 256, 20, 1000


def pool():
    import activecv as acv

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(C, D)).astype(np.float32)
    dets = []
    for _ in range(N):
        labels = rng.integers(0, C, M)
        z = rng.normal(scale=2.0, size=(M, C + 1))
        z[np.arange(M), labels] += 3.0
        probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        features = centres[labels] + rng.normal(scale=1.0, size=(M, D)).astype(np.float32)
        corner = rng.uniform(0, 500, size=(M, 2))
        boxes = np.concatenate([corner, corner + rng.uniform(5, 100, size=(M, 2))], axis=1)
        dets.append(acv.Detections(boxes=boxes, class_probs=probs, background_index=C, features=features))
    counts = rng.integers(10, 1000, C).astype(float)
    return dets, counts


def ebal_ours():
    import activecv as acv

    dets, counts = pool()
    return lambda: acv.select(
        "ebal", budget=BUDGET, detections=dets, labeled_class_counts=counts
    ).indices.tolist()


def textbook_enms(h, labels, f, threshold):
    """§1.4 pseudo-code, line by line."""
    alive = set(range(h.shape[0]))
    score, keep = 0.0, []
    while alive:
        best = min(alive, key=lambda j: (-h[j], j))
        score += h[best]
        keep.append(best)
        alive.discard(best)
        for j in list(alive):
            if labels[j] == labels[best] and float(f[j] @ f[best]) > threshold:
                alive.discard(j)
    return score, np.array(keep, dtype=np.int64)


def ebal_textbook():
    import activecv as acv
    from activecv.strategies import _detection

    dets, counts = pool()

    def run():
        original = _detection.enms
        _detection.enms = textbook_enms
        try:
            return acv.select(
                "ebal", budget=BUDGET, detections=dets, labeled_class_counts=counts
            ).indices.tolist()
        finally:
            _detection.enms = original

    return run


def detection_entropy():
    import activecv as acv

    dets, _ = pool()
    return lambda: acv.select("detection_entropy", budget=BUDGET, detections=dets).indices.tolist()


def main() -> None:
    print(f"machine: {machine()}", file=sys.stderr)
    results = {}
    for label, fn in [
        ("ebal activecv", ebal_ours),
        ("ebal textbook stage 1", ebal_textbook),
        ("detection_entropy sum", detection_entropy),
    ]:
        out = measure(fn)
        results[label] = out.pop("result")
        out["same_selection_as_activecv"] = results[label] == results["ebal activecv"]
        print(json.dumps({"method": label, **out}), flush=True)


if __name__ == "__main__":
    main()

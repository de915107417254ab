"""BatchBALD: activecv vs batchbald_redux on 10,000 x 20 x 10, budgets 10 and 50.

    python benchmarks/bench_batchbald.py [--redux-budgets 10]

batchbald_redux is optional: pip install --no-deps batchbald_redux==2.0.5 toma tqdm
(next to torch==2.13.0). Both get the same float64 log-probabilities and M = 10,000.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from _measure import machine, measure

N, K, C = 10_000, 20, 10


def make_mc_probs(seed: int = 0) -> np.ndarray:
    """Softmax of scaled Gaussian logits: a varied, moderately confident pool."""
    logits = np.random.default_rng(seed).normal(size=(N, K, C)) * 2.0
    p = np.exp(logits - logits.max(axis=2, keepdims=True))
    return p / p.sum(axis=2, keepdims=True)


def ours(budget: int):
    import activecv as acv

    p = make_mc_probs()

    def run():
        return acv.select("batchbald", budget=budget, mc_probs=p, rng=0).indices.tolist()

    return run


def redux(budget: int):
    import torch
    from batchbald_redux.batchbald import get_batchbald_batch

    log_p = torch.from_numpy(np.log(make_mc_probs()))

    def run():
        return get_batchbald_batch(log_p, budget, 10_000, dtype=torch.double, device="cpu").indices

    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budgets", default="10,50")
    parser.add_argument("--redux-budgets", default="10,50")
    args = parser.parse_args()
    print(f"machine: {machine()}", file=sys.stderr)
    rows = []
    for budget in map(int, args.budgets.split(",")):
        rows.append({"method": "activecv", "budget": budget, **measure(ours, budget)})
        print(json.dumps(rows[-1]), flush=True)
        if str(budget) in args.redux_budgets.split(","):
            rows.append({"method": "batchbald_redux", "budget": budget, **measure(redux, budget)})
            print(json.dumps(rows[-1]), flush=True)


if __name__ == "__main__":
    main()

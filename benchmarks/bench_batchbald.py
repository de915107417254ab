"""BatchBALD: activecv vs batchbald_redux on 10,000 x 20 x 10, budgets 10 and 50, M = 10,000.

    python benchmarks/bench_batchbald.py [--budgets 10,50] [--redux-budgets 10,50]
        [--backends numpy,torch] [--cap 900] [--repeats 1]
    python benchmarks/bench_batchbald.py --quality 20   # sampled-regime batch MI vs exact greedy

Each measurement runs in a fresh process (wall time, peak RSS). batchbald_redux is optional:
pip install --no-deps batchbald_redux==2.0.5 toma tqdm (next to torch==2.13.0); it gets the
same float64 log-probabilities and M = 10,000. A run longer than ``--cap`` seconds (the issue's
15 minutes) is killed and recorded as the cap with ``"capped": true``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
from typing import Any

import numpy as np

from _measure import _child, machine, measure

N, K, C = 10_000, 20, 10


def make_mc_probs(seed: int = 0) -> np.ndarray:
    """Softmax of scaled Gaussian logits: a varied, moderately confident pool."""
    logits = np.random.default_rng(seed).normal(size=(N, K, C)) * 2.0
    p = np.exp(logits - logits.max(axis=2, keepdims=True))
    return p / p.sum(axis=2, keepdims=True)


def ours(budget: int, backend: str = "numpy"):
    import activecv as acv

    p = make_mc_probs()
    if backend == "torch":
        import torch  # imported before the clock starts, as a torch user has it already

        torch.set_num_threads(os.cpu_count() or 1)

    def run():
        sel = acv.select(acv.get_strategy("batchbald", backend=backend), budget=budget, mc_probs=p, rng=0)
        return sel.indices.tolist()

    return run


def redux(budget: int):
    import torch
    from batchbald_redux.batchbald import get_batchbald_batch

    log_p = torch.from_numpy(np.log(make_mc_probs()))

    def run():
        return get_batchbald_batch(log_p, budget, 10_000, dtype=torch.double, device="cpu").indices

    return run


def measure_capped(cap: float, fn: Any, *args: Any) -> dict[str, Any]:
    """``measure`` with a wall-clock cap: past it the process is killed, the cap recorded."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    try:
        out = queue.get(timeout=cap + 60)  # the inputs are prepared before the clock starts
    except Exception:  # queue.Empty: still running at the cap
        proc.kill()
        proc.join()
        return {"seconds": cap, "capped": True, "peak_rss_mib": None, "result": None}
    proc.join()
    if "error" in out:
        raise RuntimeError(f"the measured call failed in its process: {out['error']}")
    if out["seconds"] > cap:
        out.update(seconds=cap, capped=True)
    return dict(out)


def exact_mi(p: np.ndarray, batch: list[int]) -> float:
    """I(y_batch; w) from the full table of C^|batch| configurations (float64)."""
    k = p.shape[1]
    log_table = np.zeros((1, k))
    for i in batch:
        log_table = (log_table[:, None, :] + np.log(p[i]).T[None, :, :]).reshape(-1, k)
    q = np.exp(log_table).mean(axis=1)
    conditional = sum(-(p[i] * np.log(p[i])).sum(axis=1).mean() for i in batch)
    return float(-(q * np.log(q)).sum() - conditional)


def quality(seeds: int) -> None:
    """Exact MI of the sampled-regime batch against exact greedy's, on small pools."""
    from activecv.strategies import batchbald

    cases = [
        (60, 10, 5, 7, 1_000),
        (40, 20, 10, 5, 100),
        (100, 20, 4, 8, 200),
        (100, 20, 4, 9, 10_000),
    ]  # N K C b M
    for n, k, c, b, m in cases:
        ratios = []
        for seed in range(seeds):
            logits = np.random.default_rng(seed).normal(size=(n, k, c)) * 2.0
            p = np.exp(logits - logits.max(axis=2, keepdims=True))
            p /= p.sum(axis=2, keepdims=True)
            exact = batchbald(p, b, num_samples=c**b).indices.tolist()  # exact throughout
            sampled = batchbald(p, b, num_samples=m, rng=seed).indices.tolist()
            ratios.append(exact_mi(p, sampled) / exact_mi(p, exact))
        row = {"case": f"N={n} K={k} C={c} b={b} M={m}", "seeds": seeds, "min_ratio": min(ratios)}
        print(json.dumps({**row, "mean_ratio": float(np.mean(ratios))}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budgets", default="10,50")
    parser.add_argument("--redux-budgets", default="10,50")
    parser.add_argument("--backends", default="numpy,torch")
    parser.add_argument("--cap", type=float, default=900.0)
    parser.add_argument("--repeats", type=int, default=1, help="fresh processes per activecv figure")
    parser.add_argument("--quality", type=int, default=0, help="only the MI check, on this many seeds")
    args = parser.parse_args()
    if args.quality:
        quality(args.quality)
        return
    print(f"machine: {machine()}", file=sys.stderr)
    for budget in map(int, args.budgets.split(",")):
        for backend in args.backends.split(","):
            for _ in range(args.repeats):
                row = {"method": f"activecv ({backend})", "budget": budget, **measure(ours, budget, backend)}
                row["load_average"] = os.getloadavg()
                print(json.dumps(row), flush=True)
        if str(budget) in args.redux_budgets.split(","):
            row = {"method": "batchbald_redux", "budget": budget, **measure_capped(args.cap, redux, budget)}
            row["load_average"] = os.getloadavg()
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

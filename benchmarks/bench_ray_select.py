"""Ray: entropy top-1000 over 10,000,000 x 100 float32 in 20 parquet shards.

    python benchmarks/bench_ray_select.py [--workdir DIR] [--rows 10000000] [--shards 20]

Writes the shards once (4 GB; kept for re-runs), then, each in a fresh process: the
single-process streaming path (every shard streamed through one ``activecv.select``), and
``select_on_ray`` with a local Ray of 1 and 2 worker CPUs (Ray's start-up and each worker's
import of activecv excluded: they are paid once per cluster, not per ranking). Reports wall
time, the driver's peak RSS, and each Ray worker's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from _measure import machine, measure

C, K = 100, 1000


def write_shards(folder: Path, rows: int, shards: int) -> None:
    from activecv.io import save_predictions

    rng = np.random.default_rng(0)
    per = rows // shards
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(shards):
        z = rng.standard_normal((per, C), dtype=np.float32) * 3.0
        z = np.exp(z - z.max(axis=1, keepdims=True))
        ids = np.arange(k * per, (k + 1) * per, dtype=np.int64)
        save_predictions(folder / f"part-{k:05d}.parquet", ids=ids, probs=z / z.sum(axis=1, keepdims=True))
        print(f"wrote shard {k + 1}/{shards}", file=sys.stderr)


def single_process(folder: Path):
    import activecv as acv
    from activecv.io import PredictionsFile
    from activecv.scale import shard_paths

    def chunks():
        for path in shard_paths(folder):
            yield from PredictionsFile(path).stream("probs", 20_000)

    def run():
        selection = acv.select("entropy", budget=K, probs=chunks())
        return {"indices": selection.indices.tolist(), "workers": []}

    return run


def on_ray(folder: Path, workers: int):
    import ray

    from activecv.scale import select_on_ray

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)

    @ray.remote
    def peak_rss_mib() -> tuple[int, float]:
        import resource

        return os.getpid(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    @ray.remote
    def warm() -> None:
        import activecv.scale  # noqa: F401  (workers import activecv once, before the clock)

    ray.get([warm.remote() for _ in range(2 * workers)])

    def run():
        selection, _ = select_on_ray("entropy", K, folder)
        peaks = dict(ray.get([peak_rss_mib.remote() for _ in range(4 * workers)]))
        return {"indices": selection.indices.tolist(), "workers": sorted(peaks.values())}

    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--shards", type=int, default=20)
    args = parser.parse_args()
    folder = args.workdir / f"shards_{args.rows}x{C}_{args.shards}"
    if not folder.is_dir() or len(list(folder.glob("*.parquet"))) != args.shards:
        write_shards(folder, args.rows, args.shards)
    print(f"machine: {machine()}", file=sys.stderr)
    runs = {"single_process_stream": measure(single_process, folder)}
    for workers in (1, 2):
        runs[f"ray_{workers}_workers"] = measure(on_ray, folder, workers)
    reference = runs["single_process_stream"]["result"]["indices"]
    for name, run in runs.items():
        result = run.pop("result")
        run["identical"] = result["indices"] == reference
        run["worker_peak_rss_mib"] = result["workers"]
        print(f"{name}: {run['seconds']:.1f} s, identical {run['identical']}", file=sys.stderr)
    print(json.dumps({"rows": args.rows, "shards": args.shards, "machine": machine(), **runs}))


if __name__ == "__main__":
    main()

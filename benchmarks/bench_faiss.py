"""FAISS against the numpy path: core-set and TypiClust, side by side in one run.

    python benchmarks/bench_faiss.py            # the full run (about 10-15 minutes on 2 cores)
    python benchmarks/bench_faiss.py --quick    # a small pool, to check the script

- core-set: 1,000 picks from 1,000,000 x 128 float32 with 10,000 labeled; backends numpy,
  faiss (exact IndexFlatL2) and faiss-ivf (IndexIVFFlat, sqrt(10,000) = 100 lists, 8 probed).
- TypiClust: 1,000 clusters (max_clusters=1000, budget 1,000, nothing labeled) on 100,000 x 128
  (the numpy k-means needs about 1 s per Lloyd iteration at this size, so not the 1,000,000).

Each run is a fresh process (``_measure.measure``): wall time and peak RSS. A timing wrapper
around the backend (any object with the kernels is a backend) splits the time into its kernels.
Results go to ``results/faiss.jsonl``; ``results/faiss.md`` is written from them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from _measure import machine, measure

RESULTS = Path(__file__).parent / "results"


def pool(n: int, d: int = 128, seed: int = 0, clusters: int = 2000) -> np.ndarray:
    """Clustered float32 embeddings: ``clusters`` Gaussian centres plus unit noise."""
    rng = np.random.default_rng(seed)
    centres = (3.0 * rng.normal(size=(clusters, d))).astype(np.float32)
    x = rng.normal(size=(n, d)).astype(np.float32)
    x += centres[rng.integers(clusters, size=n)]
    return x


class Timed:
    """A backend that delegates to another and adds up the seconds spent in each kernel."""

    def __init__(self, inner: Any, seconds: dict[str, float]) -> None:
        self.inner, self.seconds = inner, seconds
        self.name = inner.name

    def _clock(self, kernel: str, fn: Any, *args: Any) -> Any:
        start = time.perf_counter()
        out = fn(*args)
        self.seconds[kernel] = self.seconds.get(kernel, 0.0) + time.perf_counter() - start
        return out

    def points(self, x: np.ndarray) -> Any:
        space = self._clock("prepare", self.inner.points, x)
        timed = self

        class Space:
            sq = space.sq

            def squared_distances_to(self, j: int) -> np.ndarray:
                return timed._clock("to_one_centre", space.squared_distances_to, j)

            def min_squared_distances(self, centres: np.ndarray) -> np.ndarray:
                return timed._clock("nearest_labeled", space.min_squared_distances, centres)

            def nearest(self, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                return timed._clock("kmeans_assign", space.nearest, centres)

        return Space()

    def knn_squared(self, x: np.ndarray, k: int) -> np.ndarray:
        return self._clock("knn", self.inner.knn_squared, x, k)


def coreset(n: int, n_labeled: int, picks: int, backend: str) -> Any:
    import activecv as acv
    from activecv.strategies._backends import resolve_backend

    x = pool(n)
    labeled = np.random.default_rng(1).choice(n, n_labeled, replace=False)

    def run() -> dict[str, Any]:
        seconds: dict[str, float] = {}
        strategy = acv.get_strategy("coreset", backend=Timed(resolve_backend(backend), seconds))
        sel = acv.select(strategy, budget=picks, embeddings=x, labeled=labeled)
        return {"indices": sel.indices.tolist(), "radii": sel.scores.tolist(), "kernels": seconds}

    return run


def typiclust(n: int, n_clusters: int, backend: str) -> Any:
    import activecv as acv
    from activecv.strategies._backends import resolve_backend

    x = pool(n, seed=2)

    def run() -> dict[str, Any]:
        seconds: dict[str, float] = {}
        timed = Timed(resolve_backend(backend), seconds)
        strategy = acv.get_strategy("typiclust", max_clusters=n_clusters, backend=timed)
        sel = acv.select(strategy, budget=n_clusters, embeddings=x, rng=0)
        return {"indices": sel.indices.tolist(), "kernels": seconds}

    return run


def lscpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return machine()
    keep = ("Model name", "CPU(s)", "Thread(s) per core", "L3 cache", "Flags")
    lines = [line for line in out.splitlines() if line.split(":")[0].strip() in keep]
    flags = [line for line in lines if line.startswith("Flags")]
    simd = [f for f in flags[0].split() if f in ("avx2", "avx512f", "fma")] if flags else []
    return "; ".join(" ".join(line.split()) for line in lines if not line.startswith("Flags")) + (
        f"; SIMD: {', '.join(simd)}" if simd else ""
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        n, n_labeled, picks, typ_n, n_clusters = 50_000, 500, 100, 10_000, 100
    else:
        n, n_labeled, picks, typ_n, n_clusters = 1_000_000, 10_000, 1000, 100_000, 1000
    rows: list[dict[str, Any]] = []
    cases: list[tuple[str, str, Any, tuple[Any, ...]]] = [
        (
            f"coreset {picks} picks from {n:,} x 128, {n_labeled:,} labeled",
            b,
            coreset,
            (n, n_labeled, picks, b),
        )
        for b in ("numpy", "faiss", "faiss-ivf")
    ] + [
        (
            f"typiclust {n_clusters:,} clusters, budget {n_clusters:,}, on {typ_n:,} x 128",
            b,
            typiclust,
            (typ_n, n_clusters, b),
        )
        for b in ("numpy", "faiss")
    ]
    for case, backend, fn, fn_args in cases:
        print(f"{case} [{backend}] ...", file=sys.stderr, flush=True)
        out = measure(fn, *fn_args)
        result = out.pop("result")
        row = {
            "case": case,
            "backend": backend,
            **out,
            "kernels": result["kernels"],
            "indices": result["indices"],
        }
        print(f"  {row['seconds']:.1f} s, peak {row['peak_rss_mib']:.0f} MiB", file=sys.stderr, flush=True)
        rows.append(row)
    exact = {r["case"]: r["indices"] for r in rows if r["backend"] == "numpy"}
    for row in rows:
        reference = exact[row["case"]]
        row["same_picks_as_numpy"] = row["indices"] == reference
        row["picks_in_common_with_numpy"] = len(set(row["indices"]) & set(reference))
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "faiss.jsonl", "w") as handle:
        for row in rows:
            handle.write(
                json.dumps({k: v for k, v in row.items() if k != "indices"} | {"machine": machine()}) + "\n"
            )
    write_markdown(rows, " ".join(["python", "benchmarks/bench_faiss.py", *sys.argv[1:]]))


def write_markdown(rows: list[dict[str, Any]], command: str) -> None:
    lines = [
        "## FAISS against the numpy path (core-set, TypiClust)",
        "",
        f"`{command}`, each run a fresh process. Machine: {lscpu()}; FAISS "
        f"{__import__('faiss').__version__} (faiss-cpu wheel, OpenMP on every core). The machine was "
        "shared with other agents' jobs during the run, so the seconds are upper bounds.",
        "",
        "| case | backend | seconds | peak RSS MiB | kernel seconds | same picks as numpy |",
        "|---|---|---:|---:|---|---|",
    ]
    for r in rows:
        kernels = ", ".join(f"{k} {v:.1f}" for k, v in sorted(r["kernels"].items(), key=lambda kv: -kv[1]))
        same = "yes" if r["same_picks_as_numpy"] else f"no ({r['picks_in_common_with_numpy']} in common)"
        cells = [r["case"], r["backend"], f"{r['seconds']:.1f}", f"{r['peak_rss_mib']:.0f}", kernels, same]
        lines.append("| " + " | ".join(cells) + " |")
    (RESULTS / "faiss.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

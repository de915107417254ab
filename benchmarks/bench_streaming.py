"""Streaming: entropy top-1000 over a 10,000,000 x 100 float32 pool in a .npz on disk.

    python benchmarks/bench_streaming.py [--workdir DIR] [--rows 10000000]

Writes the file once (4 GB; kept for re-runs), then in fresh processes: activecv streaming
from the file, and the baseline that loads the array and ranks it in memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

from _measure import machine, measure

C, K = 100, 1000


def write_pool(path: Path, rows: int) -> None:
    """An uncompressed .npz written chunk by chunk, never whole in memory."""
    rng = np.random.default_rng(0)
    header = {"descr": "<f4", "fortran_order": False, "shape": (rows, C)}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        with archive.open("ids.npy", "w", force_zip64=True) as handle:
            np.lib.format.write_array(handle, np.arange(rows, dtype=np.int64))
        with archive.open("probs.npy", "w", force_zip64=True) as handle:
            np.lib.format.write_array_header_1_0(handle, header)
            for start in range(0, rows, 100_000):
                z = rng.standard_normal((min(100_000, rows - start), C), dtype=np.float32) * 3.0
                z = np.exp(z - z.max(axis=1, keepdims=True))
                handle.write((z / z.sum(axis=1, keepdims=True)).tobytes())


def streamed(path: Path):
    import activecv as acv
    from activecv.io import PredictionsFile

    def run():
        file = PredictionsFile(path)
        return acv.select("entropy", budget=K, probs=file.stream("probs", 20_000)).indices.tolist()

    return run


def loaded(path: Path):
    import activecv as acv

    def run():
        with np.load(path) as data:
            probs = data["probs"]
        return acv.select("entropy", budget=K, probs=probs).indices.tolist()

    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"pool_{args.rows}x{C}.npz"
    if not path.exists():
        print(f"writing {path} ...", file=sys.stderr)
        write_pool(path, args.rows)
    print(f"machine: {machine()}; file {path.stat().st_size / 2**30:.2f} GiB", file=sys.stderr)
    mine, base = measure(streamed, path), measure(loaded, path)
    same = mine.pop("result") == base.pop("result")
    print(json.dumps({"rows": args.rows, "activecv_stream": mine, "load_then_rank": base, "identical": same}))


if __name__ == "__main__":
    main()

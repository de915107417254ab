"""Load on `activecv serve`: what the active-learning part costs per prediction.

    python benchmarks/bench_service.py [--seconds 30] [--clients 1,8,32] [--variants plain,activecv,...]
        [--passes 2] [--queue-items 1000000] [--out benchmarks/results/service.jsonl]
        [--plot benchmarks/service.png]

Serves the Gal CNN (seeded, exported to ONNX) three ways in the same run:
`plain` (`--plain`: predictions only, the baseline), `activecv` (every measure and the
top-10% annotate policy) and `activecv+queue` (the same, flagged images stored in a project
ledger of `--queue-items` images, default 1,000,000: a manifest of URIs registered once before
the passes, the ledger copied afresh for every server start). At each load level (1, 8 and
32 concurrent clients, each posting one 28x28 MNIST PNG per request over 127.0.0.1 for
`--seconds`) every variant runs on a fresh server, twice, in alternating order, so drift on
the machine falls on all of them alike. Reports the mean requests/s and p50/p99 latency of the
passes, errors, and the server's RSS (sampled every second), and draws `benchmarks/service.png`.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

TOKEN = "benchmark-token-000001"
CLASSES = ",".join(str(k) for k in range(10))


def images(n: int = 200) -> list[bytes]:
    from PIL import Image

    from activecv.datasets import load

    data = load("mnist5k")
    out = []
    for pixels in data.x_train[:n]:
        buffer = io.BytesIO()
        Image.fromarray((np.asarray(pixels).reshape(28, 28) * 255).astype(np.uint8)).save(
            buffer, format="PNG"
        )
        out.append(buffer.getvalue())
    return out


def queue_project(workdir: Path, items: int) -> Path:
    """A classification project of ``items`` image URIs (``activecv project init --manifest``)
    whose images root receives the flagged images; made once, copied for each server."""
    base = workdir / "queue"
    root = base / "images"
    root.mkdir(parents=True)
    manifest = base / "manifest.csv"
    manifest.write_text("path\n" + "".join(f"s3://bucket/{i:07d}.jpg\n" for i in range(items)))
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "activecv",
            "project",
            "init",
            str(base / "project"),
            "--manifest",
            str(manifest),
            "--root",
            str(root),
            "--task",
            "classification",
            "--classes",
            CLASSES,
        ],
        check=True,
        capture_output=True,
    )
    print(f"queue project: {items} items in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return base


def start(
    model: Path, variant: str, workdir: Path, queue_base: Path | None
) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "activecv", "serve", "--model", str(model), "--classes", CLASSES]
    command += ["--token", TOKEN, "--port", str(port), "--top", "0.1", "--window", "1000"]
    if variant == "plain":
        command.append("--plain")
    if variant == "activecv+queue":
        assert queue_base is not None  # made in main when the variant is asked for
        project = workdir / "project"
        shutil.copytree(queue_base / "project", project)  # a fresh ledger: the registered pool only
        shutil.rmtree(queue_base / "images" / "incoming", ignore_errors=True)  # the last server's images
        command += ["--project", str(project)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return server, f"http://127.0.0.1:{port}"


async def load(base: str, clients: int, seconds: float, payloads: list[bytes]) -> dict[str, object]:
    import httpx2 as httpx

    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, limits=limits, timeout=30
    ) as client:

        async def worker(k: int) -> None:
            nonlocal errors
            i = k
            while time.perf_counter() < stop:
                files = [("images", ("digit.png", payloads[i % len(payloads)], "image/png"))]
                started = time.perf_counter()
                try:
                    response = await client.post("/v1/predict", files=files)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += not ok
                i += clients

        await asyncio.gather(*(worker(k) for k in range(clients)))
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "rps": len(latencies) / seconds,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "errors": errors,
    }


async def measured(
    base: str, process: psutil.Process, clients: int, seconds: float, payloads: list[bytes]
) -> dict[str, object]:
    """One load level, with the server's RSS sampled every second while it runs."""
    rss: list[float] = []
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            rss.append(process.memory_info().rss / 2**20)
            try:
                await asyncio.wait_for(done.wait(), 1.0)
            except TimeoutError:
                pass

    sampler = asyncio.create_task(sample())
    result = await load(base, clients, seconds, payloads)
    done.set()
    await sampler
    return {**result, "rss_start_mib": rss[0], "rss_end_mib": rss[-1], "rss_max_mib": max(rss)}


def wait_ready(base: str) -> None:
    import httpx2 as httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{base} did not start")


def run_variant(
    model: Path,
    variant: str,
    clients: int,
    seconds: float,
    payloads: list[bytes],
    queue_base: Path | None = None,
    queue_items: int | None = None,
) -> dict[str, object]:
    """A fresh server of one variant under one load level."""
    with tempfile.TemporaryDirectory() as scratch:
        server, base = start(model, variant, Path(scratch), queue_base)
        try:
            wait_ready(base)
            asyncio.run(load(base, 4, 3.0, payloads))  # warm-up, not reported
            result = asyncio.run(measured(base, psutil.Process(server.pid), clients, seconds, payloads))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    row: dict[str, object] = {"variant": variant, "clients": clients, **result}
    if variant == "activecv+queue":
        row["project_items"] = queue_items
    print(json.dumps(row), file=sys.stderr)
    return row


def mean_rows(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """One row per (variant, clients): the mean over passes, errors summed, RSS at its worst."""
    merged: dict[tuple[object, object], list[dict[str, object]]] = {}
    for row in rows:
        merged.setdefault((row["variant"], row["clients"]), []).append(row)
    out = []
    for (variant, clients), group in merged.items():
        row: dict[str, object] = {"variant": variant, "clients": clients, "passes": len(group)}
        for key in ("rps", "p50_ms", "p99_ms"):
            values = [float(g[key]) for g in group]  # type: ignore[arg-type]
            row[key], row[f"{key}_min"], row[f"{key}_max"] = float(np.mean(values)), min(values), max(values)
        row["errors"] = sum(int(g["errors"]) for g in group)  # type: ignore[call-overload]
        row["requests"] = sum(int(g["requests"]) for g in group)  # type: ignore[call-overload]
        row["rss_start_mib"] = min(float(g["rss_start_mib"]) for g in group)  # type: ignore[arg-type]
        row["rss_max_mib"] = max(float(g["rss_max_mib"]) for g in group)  # type: ignore[arg-type]
        if "project_items" in group[0]:
            row["project_items"] = group[0]["project_items"]
        out.append(row)
    return out


def plot(rows: list[dict[str, object]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for k, variant in enumerate(dict.fromkeys(str(r["variant"]) for r in rows)):
        mine = [r for r in rows if r["variant"] == variant]
        x, color = [r["clients"] for r in mine], f"C{k}"
        for ax, key, style, label in [
            (axes[0], "p50_ms", "-", f"{variant} p50"),
            (axes[0], "p99_ms", "--", f"{variant} p99"),
            (axes[1], "rps", "-", variant),
        ]:
            mean = np.array([r[key] for r in mine], dtype=float)
            low = mean - np.array([r[f"{key}_min"] for r in mine], dtype=float)
            high = np.array([r[f"{key}_max"] for r in mine], dtype=float) - mean
            ax.errorbar(
                x, mean, yerr=[low, high], marker="o", linestyle=style, color=color, capsize=3, label=label
            )
    for ax, title in zip(axes, ["latency (ms)", "requests / s"], strict=True):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent clients")
        ax.set_title(title)
        ax.legend(fontsize=7)
    fig.suptitle(
        "activecv serve: Gal CNN (ONNX), one 28x28 PNG per request, 2 cores; mean and range of passes"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_results(rows: list[dict[str, object]], out: Path, figure: Path) -> None:
    """The summary per (variant, clients), then every pass (``"pass": true``); the plot."""
    summary = mean_rows(rows)
    with open(out, "w") as handle:
        for row in summary:
            handle.write(json.dumps(row) + "\n")
        for row in rows:
            handle.write(json.dumps({**row, "pass": True}) + "\n")
    plot(summary, figure)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--variants", default="plain,activecv,activecv+queue")
    parser.add_argument(
        "--passes", type=int, default=2, help="passes per level, alternating the variants' order"
    )
    parser.add_argument(
        "--queue-items",
        type=int,
        default=1_000_000,
        help="images in the project ledger of the activecv+queue variant",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/service.jsonl"))
    parser.add_argument("--plot", type=Path, default=Path("benchmarks/service.png"))
    args = parser.parse_args()
    import torch

    from activecv.adapters.torch import GalCNN, export_onnx

    torch.manual_seed(0)
    workdir = Path(tempfile.mkdtemp())
    model = export_onnx(GalCNN(10), workdir / "gal_cnn.onnx", (1, 28, 28))
    payloads = images()
    clients = [int(c) for c in args.clients.split(",")]
    variants = args.variants.split(",")
    queue_base = queue_project(workdir, args.queue_items) if "activecv+queue" in variants else None
    rows = []
    try:
        for n in clients:  # every variant at a level before the next level; the second pass in reverse
            for p in range(args.passes):
                for variant in variants if p % 2 == 0 else variants[::-1]:
                    rows.append(
                        run_variant(model, variant, n, args.seconds, payloads, queue_base, args.queue_items)
                    )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # the model and the queue project
    write_results(rows, args.out, args.plot)
    print(f"wrote {args.out} and {args.plot}; {os.cpu_count()} cores", file=sys.stderr)


if __name__ == "__main__":
    main()

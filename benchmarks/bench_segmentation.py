"""Segmentation: image scoring streamed from disk, and region (superpixel, grid) selection.

    python benchmarks/bench_segmentation.py [--images 2000] [--size 256] [--classes 21]
        [--region-images 1000] [--region-size 128] [--workdir DIR] [--settle 600] [--quick]

1. Image scoring: ``--images`` maps of ``--classes`` x ``--size`` x ``--size`` float16
   probabilities in an uncompressed .npz (5.1 GiB at the defaults), written image by image.
   activecv streams it the CLI's way (``read_strategy_inputs(..., stream=True)`` then
   ``select("seg_entropy", 100)``); the baseline ``np.load``s the array and scores it with
   numpy in float32, a few images at a time, then takes the top 100.
2. Region scoring: ``--region-images`` maps of ``--classes`` x ``--region-size`` squared float32
   probabilities held in memory, and RGB images drawn from the same scenes. SLIC superpixels
   (``iter_superpixels``, 256 segments) are timed on their own, cached, and read back; then
   ``select_regions`` (500 clicks) on the cached maps and on 16-pixel grid cells, each beside a
   plain-numpy version of the same computation.

Every figure is measured in a fresh process (``_measure.measure``). Appends one JSON line to
benchmarks/results/segmentation.jsonl and draws benchmarks/segmentation.png; with ``--quick``
(100 images each) both go to the work folder instead. The generated files are deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from _measure import machine, measure

BUDGET = 100  # images
CLICKS = 500  # regions, one click each (dominant labeling)
SEGMENTS = 256  # SLIC superpixels per image
CELL = 16  # grid regions
BASELINE_CHUNK = 2  # images per float32 chunk in the image-scoring baseline (fastest of 1-64 tried)
HERE = Path(__file__).parent


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- synthetic scenes ---------------------------------------------------------------------------


def _interpolation(size: int, grid: int) -> np.ndarray:
    """(size, grid) bilinear weights: a grid x grid field upsampled to size x size."""
    x = np.linspace(0.0, grid - 1.0, size)
    low = np.minimum(x.astype(np.int64), grid - 2)
    weight = x - low
    out = np.zeros((size, grid), dtype=np.float32)
    out[np.arange(size), low] = 1.0 - weight
    out[np.arange(size), low + 1] = weight
    return out


def scenes(n: int, classes: int, size: int, seed: int, images: bool = True):
    """Yield (probs (C, H, W) float32, image (3, H, W) uint8 or None) per scene.

    Class logits are smooth random fields (8 x 8 noise upsampled bilinearly, earlier classes a
    little more frequent, like a background class) times a per-image sharpness: 70% of images
    confident (sharpness 4-15: certain inside objects, uncertain along their borders), 30%
    uncertain (0.5-2.5). The image paints each pixel's most likely class in its colour, with
    shading and noise, so superpixels follow the predicted objects' borders.
    """
    rng = np.random.default_rng(seed)
    up = _interpolation(size, 8)
    bias = np.linspace(0.6, -0.6, classes, dtype=np.float32)[:, None, None]
    palette = rng.integers(0, 256, size=(classes, 3)).astype(np.float32)
    for _ in range(n):
        field = up @ rng.standard_normal((classes, 8, 8), dtype=np.float32) @ up.T + bias
        sharp = rng.uniform(4.0, 15.0) if rng.random() < 0.7 else rng.uniform(0.5, 2.5)
        z = field * np.float32(sharp)
        z -= z.max(axis=0)
        np.exp(z, out=z)
        z /= z.sum(axis=0)
        if not images:
            yield z, None
            continue
        shade = up @ rng.standard_normal((1, 8, 8), dtype=np.float32) @ up.T
        colour = palette[field.argmax(axis=0)].transpose(2, 0, 1) * (1.0 + 0.15 * shade)
        colour += rng.normal(0.0, 8.0, size=colour.shape).astype(np.float32)
        yield z, np.clip(colour, 0, 255).astype(np.uint8)


def write_image_pool(path: Path, n: int, classes: int, size: int) -> None:
    """An uncompressed .npz (ids, seg_probs float16), written image by image."""
    header = {"descr": "<f2", "fortran_order": False, "shape": (n, classes, size, size)}
    tmp = path.with_suffix(".partial")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        with archive.open("ids.npy", "w", force_zip64=True) as handle:
            np.lib.format.write_array(handle, np.arange(n, dtype=np.int64))
        with archive.open("seg_probs.npy", "w", force_zip64=True) as handle:
            np.lib.format.write_array_header_1_0(handle, header)
            for k, (probs, _) in enumerate(scenes(n, classes, size, seed=0, images=False)):
                handle.write(probs.astype(np.float16).tobytes())
                if (k + 1) % 250 == 0:
                    log(f"  wrote {k + 1}/{n} images")
    tmp.replace(path)


def write_region_pool(folder: Path, n: int, classes: int, size: int) -> tuple[Path, Path]:
    """seg_probs (n, C, H, W) float32 and images (n, 3, H, W) uint8 as .npy files."""
    probs_path, images_path = folder / "region_probs.npy", folder / "region_images.npy"
    probs = np.lib.format.open_memmap(probs_path, "w+", np.float32, (n, classes, size, size))
    images = np.lib.format.open_memmap(images_path, "w+", np.uint8, (n, 3, size, size))
    for k, (p, image) in enumerate(scenes(n, classes, size, seed=1)):
        probs[k], images[k] = p, image
    probs.flush()
    images.flush()
    del probs, images
    return probs_path, images_path


# --- 1. image scoring ---------------------------------------------------------------------------


def activecv_stream(path: Path):
    import activecv as acv
    from activecv.io import read_strategy_inputs

    def run() -> dict[str, Any]:
        inputs = read_strategy_inputs(path, acv.get_strategy("seg_entropy"), stream=True)
        chosen = acv.select("seg_entropy", BUDGET, seg_probs=inputs.inputs["seg_probs"])
        return {"indices": chosen.indices.tolist(), "scores": chosen.scores.tolist()}

    return run


def numpy_load_then_score(path: Path):
    def run() -> dict[str, Any]:
        with np.load(path) as data:
            probs = data["seg_probs"]  # the whole (N, C, H, W) float16 array
        n, _, height, width = probs.shape
        scores = np.empty(n)
        for start in range(0, n, BASELINE_CHUNK):  # float32, a few images at a time
            p = probs[start : start + BASELINE_CHUNK].astype(np.float32)
            h = np.maximum(p, np.float32(1e-12))
            np.log(h, out=h)
            h *= p
            scores[start : start + BASELINE_CHUNK] = -h.reshape(h.shape[0], -1).sum(axis=1) / (height * width)
        top = np.argsort(-scores, kind="stable")[:BUDGET]
        return {"indices": top.tolist(), "scores": scores[top].tolist()}

    return run


def compare_images(mine: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    a, b = set(mine["indices"]), set(base["indices"])
    theirs = dict(zip(base["indices"], base["scores"], strict=True))
    gaps = [abs(s - theirs[i]) for i, s in zip(mine["indices"], mine["scores"], strict=True) if i in theirs]
    return {
        "same_set": a == b,
        "same_order": mine["indices"] == base["indices"],
        "differing": len(a ^ b),
        "max_score_difference": max(gaps, default=None),  # float64 (activecv) vs float32 (numpy)
    }


# --- 2. region scoring --------------------------------------------------------------------------


def _load_regions(probs_path: Path, images_path: Path, cache: Path, grid: bool):
    probs = np.load(probs_path)  # in memory
    if grid:
        return probs, None
    from activecv.adapters.skimage import superpixels

    return probs, superpixels(np.load(images_path), n_segments=SEGMENTS, cache=cache)


def slic_time(images_path: Path, cache: Path):
    from activecv.adapters.skimage import iter_superpixels

    images = np.load(images_path)

    def run() -> dict[str, Any]:
        counts = [int(m.max()) + 1 for m in iter_superpixels(images, n_segments=SEGMENTS, cache=cache)]
        return {"mean_segments": float(np.mean(counts)), "max_segments": max(counts)}

    return run


def activecv_regions(probs_path: Path, images_path: Path, cache: Path, grid: bool):
    import activecv as acv

    probs, maps = _load_regions(probs_path, images_path, cache, grid)

    def run() -> dict[str, Any]:
        chosen = acv.select_regions(CLICKS, seg_probs=probs, regions=maps, cell=CELL)
        return {
            "pairs": list(zip(chosen.images.tolist(), chosen.regions.tolist(), strict=True)),
            "candidates": chosen.info["candidates"],
        }

    return run


def numpy_regions(probs_path: Path, images_path: Path, cache: Path, grid: bool):
    from activecv.strategies import grid_regions  # only to build the same grid, untimed

    probs, maps = _load_regions(probs_path, images_path, cache, grid)
    if maps is None:
        maps = [grid_regions(probs.shape[2], probs.shape[3], CELL)] * probs.shape[0]

    def run() -> dict[str, Any]:
        n, classes = probs.shape[:2]
        parts: dict[str, list[np.ndarray]] = {"image": [], "region": [], "mean": [], "dominant": []}
        for i in range(n):
            p = probs[i]
            h = np.maximum(p, np.float32(1e-12))
            np.log(h, out=h)
            h *= p
            entropy = -h.sum(axis=0).ravel()  # float32 per-pixel entropy
            best, predicted = p[0].copy(), np.zeros(p.shape[1:], dtype=np.int64)
            for c in range(1, classes):  # arg-max over classes; 2.5x faster than p.argmax(axis=0)
                higher = p[c] > best
                predicted[higher] = c
                np.maximum(best, p[c], out=best)
            predicted = predicted.ravel()
            ids = maps[i].ravel()
            k = int(ids.max()) + 1
            pixels = np.bincount(ids, minlength=k)
            sums = np.bincount(ids, weights=entropy, minlength=k)
            joint = np.bincount(ids * classes + predicted, minlength=k * classes).reshape(k, classes)
            present = np.flatnonzero(pixels)
            parts["image"].append(np.full(present.shape[0], i))
            parts["region"].append(present)
            parts["mean"].append(sums[present] / pixels[present])
            parts["dominant"].append(joint[present].argmax(axis=1))
        image, region, mean, dominant = (np.concatenate(parts[k]) for k in parts)
        score = (mean - mean.min()) / (mean.max() - mean.min())
        share = np.bincount(dominant, minlength=classes) / dominant.shape[0]
        score *= np.exp(-share)[dominant]
        order = np.lexsort((np.arange(score.shape[0]), -score))
        taken = order[np.cumsum(np.ones(order.shape[0])) <= CLICKS]  # one click per region
        return {
            "pairs": list(zip(image[taken].tolist(), region[taken].tolist(), strict=True)),
            "candidates": int(score.shape[0]),
        }

    return run


def compare_regions(mine: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    a, b = set(map(tuple, mine["pairs"])), set(map(tuple, base["pairs"]))
    return {
        "same_set": a == b,
        "same_order": [tuple(x) for x in mine["pairs"]] == [tuple(x) for x in base["pairs"]],
        "differing": len(a ^ b),
        "candidates": [mine["candidates"], base["candidates"]],
    }


def fresh_memory(gib: int):
    """Touch ``gib`` GiB of new memory: what allocating a pool costs on this machine."""

    def run() -> None:
        np.ones(gib * 2**27)  # 8-byte floats

    return run


# --- running ------------------------------------------------------------------------------------


def wait_for_quiet(limit_s: float) -> list[float]:
    """Poll the 1-minute load average every minute until it is under 1 or ``limit_s`` passes."""
    deadline = time.monotonic() + limit_s
    while os.getloadavg()[0] >= 1.0 and time.monotonic() < deadline:
        log(f"load average {os.getloadavg()[0]:.2f}; waiting for it to fall under 1")
        time.sleep(60)
    return [round(x, 2) for x in os.getloadavg()]


def timed(label: str, fn, *args: Any) -> dict[str, Any]:
    load = [round(x, 2) for x in os.getloadavg()]
    log(f"{label} (load {load[0]:.2f}) ...")
    out = measure(fn, *args)
    out["load_average"] = load
    log(f"  {out['seconds']:.2f} s, peak RSS {out['peak_rss_mib']:.0f} MiB")
    return out


def warm(path: Path) -> None:
    """Read the file once, so both paths find it in the page cache."""
    with open(path, "rb") as handle:
        while handle.read(64 * 2**20):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument("--region-images", type=int, default=1000)
    parser.add_argument("--region-size", type=int, default=128)
    parser.add_argument("--workdir", type=Path, default=HERE / "out" / "segmentation")
    parser.add_argument("--settle", type=float, default=600.0, help="most seconds to wait for load < 1")
    parser.add_argument("--quick", action="store_true", help="100 images each, results to --workdir")
    args = parser.parse_args()
    if args.quick:
        args.images, args.region_images, args.settle = 100, 100, 0.0
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    results = work / "segmentation.jsonl" if args.quick else HERE / "results" / "segmentation.jsonl"
    plot = work / "segmentation.png" if args.quick else HERE / "segmentation.png"
    pool = work / f"seg_{args.images}x{args.classes}x{args.size}x{args.size}_f16.npz"
    cache = work / "superpixels"
    try:
        log(f"machine: {machine()}")
        log(f"writing {pool} ...")
        write_image_pool(pool, args.images, args.classes, args.size)
        log(f"writing {args.region_images} region scenes ...")
        probs_path, images_path = write_region_pool(work, args.region_images, args.classes, args.region_size)
        shutil.rmtree(cache, ignore_errors=True)
        warm(pool)
        load_start = wait_for_quiet(args.settle)
        log(f"load average before timing: {load_start}")

        touch = timed("0 first touch of 1 GiB of new memory", fresh_memory, 1)
        touch.pop("result")
        stream = timed("1a activecv streaming the .npz", activecv_stream, pool)
        load = timed("1b numpy: np.load, float32 entropy, top 100", numpy_load_then_score, pool)
        image_check = compare_images(stream.pop("result"), load.pop("result"))
        log(f"  same selection: {image_check}")

        slic = timed("2a SLIC superpixels, cache empty", slic_time, images_path, cache)
        slic["result"]["per_image_ms"] = 1000 * slic["seconds"] / args.region_images
        cached = timed("2a' the same maps read back from the cache", slic_time, images_path, cache)
        regions = {}
        for grid, name in ((False, "superpixels"), (True, "grid")):
            mine = timed(
                f"2b activecv select_regions, {name}", activecv_regions, probs_path, images_path, cache, grid
            )
            base = timed(
                f"2c numpy bincount regions, {name}", numpy_regions, probs_path, images_path, cache, grid
            )
            check = compare_regions(mine.pop("result"), base.pop("result"))
            log(f"  same selection: {check}")
            regions[name] = {"activecv": mine, "numpy_baseline": base, **check}
        row = {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": machine(),
            "load_average_before": load_start,
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "fresh_memory_1gib": touch,
            "image_scoring": {
                "images": args.images,
                "shape": [args.classes, args.size, args.size],
                "dtype": "float16",
                "input_mib": pool.stat().st_size / 2**20,
                "budget": BUDGET,
                "baseline_chunk_images": BASELINE_CHUNK,
                "activecv_stream": stream,
                "numpy_load_then_score": load,
                **image_check,
            },
            "region_scoring": {
                "images": args.region_images,
                "shape": [args.classes, args.region_size, args.region_size],
                "dtype": "float32",
                "input_mib": probs_path.stat().st_size / 2**20,
                "clicks": CLICKS,
                "slic": {"n_segments": SEGMENTS, **slic, "cache_read": cached},
                **regions,
            },
        }
    finally:
        for path in (
            pool,
            work / "region_probs.npy",
            work / "region_images.npy",
            pool.with_suffix(".partial"),
        ):
            path.unlink(missing_ok=True)
        shutil.rmtree(cache, ignore_errors=True)
    with open(results, "a") as handle:
        handle.write(json.dumps(row) + "\n")
    draw(row, plot)
    table(row)
    log(f"wrote {results} and {plot}")


def _pairs(row: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    image, region = row["image_scoring"], row["region_scoring"]
    return [
        (
            f"image scoring\n{image['images']} x {'x'.join(map(str, image['shape']))} f16 on disk",
            image["activecv_stream"],
            image["numpy_load_then_score"],
        ),
        (
            f"superpixel regions\n{region['images']} x {'x'.join(map(str, region['shape']))} f32",
            region["superpixels"]["activecv"],
            region["superpixels"]["numpy_baseline"],
        ),
        (
            f"grid regions (cell {CELL})\n{region['images']} x {'x'.join(map(str, region['shape']))} f32",
            region["grid"]["activecv"],
            region["grid"]["numpy_baseline"],
        ),
    ]


def draw(row: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = _pairs(row)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    x = np.arange(len(pairs))
    for ax, key, unit in ((axes[0], "seconds", "seconds"), (axes[1], "peak_rss_mib", "peak RSS, MiB")):
        for shift, who, colour in ((-0.2, 1, "tab:blue"), (0.2, 2, "tab:gray")):
            values = [p[who][key] for p in pairs]
            bars = ax.bar(
                x + shift, values, 0.4, color=colour, label="activecv" if who == 1 else "numpy baseline"
            )
            ax.bar_label(bars, [f"{v:.2f}" if v < 10 else f"{v:,.0f}" for v in values], fontsize=8)
        ax.set_xticks(x, [p[0] for p in pairs], fontsize=8)
        ax.set_ylabel(unit)
        ax.set_yscale("log")
        ax.margins(y=0.15)
    axes[0].set_title("wall time (fresh process)")
    axes[1].set_title("peak RSS of the call, inputs included")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Segmentation selection; {row['machine']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def table(row: dict[str, Any]) -> None:
    image, region = row["image_scoring"], row["region_scoring"]
    lines = [f"{'benchmark':<28} {'path':<10} {'time s':>8} {'peak MiB':>9} {'input MiB':>9} same"]
    for (label, mine, base), (inputs, check) in zip(
        _pairs(row),
        (
            (image["input_mib"], image),
            (region["input_mib"], region["superpixels"]),
            (region["input_mib"], region["grid"]),
        ),
        strict=True,
    ):
        name = label.split("\n")[0]
        for who, m in (("activecv", mine), ("numpy", base)):
            same = f"{check['same_set']} ({check['differing']} differ)"
            lines.append(
                f"{name:<28} {who:<10} {m['seconds']:>8.2f} {m['peak_rss_mib']:>9.0f} {inputs:>9.0f} {same}"
            )
    slic = region["slic"]
    lines.append(f"first touch of 1 GiB of new memory: {row['fresh_memory_1gib']['seconds']:.2f} s")
    lines.append(
        f"SLIC {slic['n_segments']} segments: {slic['seconds']:.1f} s "
        f"({slic['result']['per_image_ms']:.1f} ms/image); cache read {slic['cache_read']['seconds']:.2f} s"
    )
    print("\n".join(lines), file=sys.stderr)


if __name__ == "__main__":
    main()

"""The project ledger at 1,000 / 100,000 / 1,000,000 images: per-request work, and what the
ledger adds to the whole-pool operations.

    python benchmarks/bench_project.py [--workdir DIR] [--sizes 1000,100000,1000000] [--calls 20]
    python benchmarks/bench_project.py --quick     # sizes 1,000 and 20,000, 5 calls: a fast check

Per-request work, side by side at every size, each size in a fresh process. The pool is a
manifest of N image URIs, LOCAL of them replaced by real 16x16 PNG files under the images root.
Before timing: a round (margin, budget ROUND_BUDGET, every score recorded), labels for a tenth
of the pool (CSV), a second label for some PNGs (so they have a history), and every PNG in the
service's queue. Then each operation runs once to warm up and ``--calls`` times more, timed with
``time.perf_counter`` in the same process; median, min and max in ms:
- enqueue: a new flagged image (distinct PNG bytes each call), as the prediction service stores it.
- import_csv / import_labelstudio: a one-label file, a different unlabeled item each call.
- webhook: one Label Studio annotation through ``Project.import_annotations``, as the webhook does.
- item_ids_path / item_ids_id: one item by registered path, one by id.
- next_10: ten images to an annotator never seen before (a fresh lease each call).
- queue_100: the first 100 of the service's queue.
- history: every annotation of one item (two each).

Whole-pool figures at the largest size, each a fresh process (wall time, peak RSS), side by side
with its baseline in the same run:
- register: `Project.init` over a manifest of N image URIs, against reading the manifest alone.
- round: `Project.round` (margin, budget 10,000; records all N scores and the selection) against
  `acv.select` on the same predictions file with no ledger.
- import: 100,000 labels from CSV into the ledger, against parsing the CSV alone.
- next / status: handing 100 images to an annotator, and the status summary, on the full ledger.

One JSON line goes to stdout; progress and a table of the medians go to stderr.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from _measure import machine, measure

CLASSES = [f"c{k}" for k in range(10)]
BUDGET = 10_000
LABELS = 100_000
SIZES = (1_000, 100_000, 1_000_000)
LOCAL = 200  # real PNG files in each per-request pool: the service's queue and items with a history
ROUND_BUDGET = 500  # images the per-request projects' round selects, for next
TARGET_MS = 25.0  # the target at 1,000,000 items: at most 25 ms, at most 3x the 1,000 figure
TARGET_RATIO = 3.0
OPERATIONS = (
    "enqueue",
    "import_csv",
    "import_labelstudio",
    "webhook",
    "item_ids_path",
    "item_ids_id",
    "next_10",
    "queue_100",
    "history",
)


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


# ---- whole-pool figures ------------------------------------------------------------------------


def write_inputs(workdir: Path, items: int, labels: int) -> None:
    paths = [f"s3://bucket/{i:07d}.jpg" for i in range(items)]
    (workdir / "manifest.csv").write_text("path\n" + "\n".join(paths) + "\n")
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(len(CLASSES)), size=items).astype(np.float32)
    np.savez(workdir / "preds.npz", ids=np.array(paths), probs=probs)
    chosen = rng.choice(items, size=labels, replace=False)
    rows = "".join(f"{paths[i]},{CLASSES[i % len(CLASSES)]}\n" for i in np.sort(chosen))
    (workdir / "labels.csv").write_text("path,label\n" + rows)


def register(workdir: Path):
    from activecv.project import Project

    target = workdir / "project"
    shutil.rmtree(target, ignore_errors=True)

    def run() -> None:  # the status call as in the figures before the per-request part was added
        Project.init(
            target, task="classification", classes=CLASSES, manifest=workdir / "manifest.csv"
        ).status()

    return run


def read_manifest_only(workdir: Path):
    from activecv.project._discover import read_manifest

    return lambda: len(read_manifest(workdir / "manifest.csv")[1])


def ledger_round(workdir: Path, budget: int):
    from activecv.project import Project

    copy = workdir / "project-round"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(workdir / "project", copy)
    project = Project(copy)
    return lambda: [row.path for row in project.round(workdir / "preds.npz", "margin", budget)]


def bare_select(workdir: Path, budget: int):
    import activecv as acv

    def run():
        with np.load(workdir / "preds.npz") as data:
            ids, probs = data["ids"], data["probs"]
        return ids[
            acv.select("margin", budget, probs=probs, rng=0).indices
        ].tolist()  # rng as the round's seed

    return run


def ledger_import(workdir: Path):
    from activecv.project import Project, import_labels

    project = Project(workdir / "project-round")

    def run() -> None:
        import_labels(project, workdir / "labels.csv", "csv")

    return run


def parse_only(workdir: Path):
    from activecv.io import read_label_csv

    return lambda: len(read_label_csv(workdir / "labels.csv").annotations)


def hand_out(workdir: Path):
    from activecv.project import Project

    project = Project(workdir / "project-round")
    return lambda: len(project.next("alice", 100))


def status(workdir: Path):
    from activecv.project import Project

    project = Project(workdir / "project-round")

    def run() -> None:
        project.status()

    return run


def whole_pool(workdir: Path, items: int) -> dict[str, Any]:
    labels = min(LABELS, items // 5)
    budget = min(BUDGET, items // 2)
    log(f"whole pool: writing inputs for {items} items ({labels} labels, round budget {budget}) ...")
    write_inputs(workdir, items, labels)
    figures: dict[str, Any] = {"items": items, "labels": labels, "budget": budget}
    for name, fn, extra in [
        ("register", register, ()),
        ("read_manifest_only", read_manifest_only, ()),
        ("ledger_round", ledger_round, (budget,)),
        ("bare_select", bare_select, (budget,)),
        ("ledger_import", ledger_import, ()),
        ("parse_csv_only", parse_only, ()),
        ("next_100", hand_out, ()),
        ("status", status, ()),
    ]:
        figures[name] = measure(fn, workdir, *extra)
        log(name, {k: v for k, v in figures[name].items() if k != "result"})
    same = figures["ledger_round"].pop("result") == figures["bare_select"].pop("result")
    for entry in figures.values():
        if isinstance(entry, dict):
            entry.pop("result", None)
    return {**figures, "round_selection_identical": same}


# ---- per-request figures -----------------------------------------------------------------------


def png(seed: int) -> bytes:
    """A 16x16 PNG of random pixels: distinct bytes (and SHA-256) for each seed."""
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def label_studio_task(item_id: int, path: str, project_id: str, annotation_id: int, label: str) -> dict:
    """One task of a Label Studio JSON export, with one classification annotation."""
    return {
        "id": annotation_id,
        "data": {"image": path, "activecv_project": project_id, "activecv_item": item_id},
        "annotations": [
            {
                "id": annotation_id,
                "updated_at": "2026-11-22T10:00:00.000000Z",
                "completed_by": 7,
                "was_cancelled": False,
                "result": [
                    {
                        "from_name": "label",
                        "to_name": "image",
                        "type": "choices",
                        "value": {"choices": [label]},
                    }
                ],
            }
        ],
    }


def per_request(workdir: Path, size: int, calls: int):
    """Builds a project of ``size`` items (in the child process) and returns the timed suite."""
    import activecv
    from activecv.io import Annotation, AnnotationFile, Label
    from activecv.project import Project, import_labels

    log(f"[{size}] activecv from {activecv.__file__}")
    started = time.perf_counter()
    here = workdir / f"size-{size}"
    shutil.rmtree(here, ignore_errors=True)
    root = here / "images"
    (root / "local").mkdir(parents=True)
    local = [f"local/{k:04d}.png" for k in range(LOCAL)]
    for k, path in enumerate(local):
        (root / path).write_bytes(png(k))
    uris = [f"s3://bucket/{i:07d}.jpg" for i in range(size - LOCAL)]
    paths = uris + local
    (here / "manifest.csv").write_text("path\n" + "\n".join(paths) + "\n")
    project = Project.init(
        here / "project", task="classification", classes=CLASSES, manifest=here / "manifest.csv", root=root
    )
    ids = project.item_ids(paths)
    log(f"[{size}] registered {len(ids)} items in {time.perf_counter() - started:.1f} s")

    rng = np.random.default_rng(size)
    probs = rng.dirichlet(np.ones(len(CLASSES)), size=size).astype(np.float32)
    np.savez(here / "preds.npz", ids=np.array(paths), probs=probs)
    project.round(here / "preds.npz", "margin", ROUND_BUDGET)

    # The one-label imports label URIs nobody labels before: three disjoint sets of calls + 1.
    n_targets = 3 * (calls + 1)
    targets = list(range(len(uris) - n_targets, len(uris)))
    labeled = rng.choice(len(uris) - n_targets, size=size // 10, replace=False)
    history_items = local[: LOCAL // 4]
    rows = [f"{uris[i]},{CLASSES[i % len(CLASSES)]}\n" for i in np.sort(labeled)]
    rows += [f"{path},c0\n" for path in history_items]
    (here / "labels.csv").write_text("path,label\n" + "".join(rows))
    import_labels(project, here / "labels.csv", "csv")
    (here / "relabels.csv").write_text("path,label\n" + "".join(f"{p},c1\n" for p in history_items))
    import_labels(project, here / "relabels.csv", "csv", annotator="reviewer")
    for k, path in enumerate(local):  # already registered: found by content, only queued
        project.enqueue(
            data=(root / path).read_bytes(),
            suffix=".png",
            size=(16, 16),
            metric="entropy",
            value=float(k),
            model_version="v1",
        )
    log(
        f"[{size}] round, {len(rows)} labels and {LOCAL} queued images: {time.perf_counter() - started:.1f} s"
    )

    one = here / "one"
    one.mkdir()
    csv_targets, ls_targets, hook_targets = (targets[j::3] for j in range(3))
    csv_files, ls_files = [], []
    for k, i in enumerate(csv_targets):
        csv_files.append(one / f"label-{k}.csv")
        csv_files[-1].write_text(f"path,label\n{uris[i]},{CLASSES[k % len(CLASSES)]}\n")
    for k, i in enumerate(ls_targets):
        ls_files.append(one / f"export-{k}.json")
        task = label_studio_task(ids[i], uris[i], project.id, 1_000 + k, CLASSES[k % len(CLASSES)])
        ls_files[-1].write_text(json.dumps([task]))
    webhooks = [
        AnnotationFile(
            "labelstudio",
            [
                Annotation(
                    item=ids[i],
                    labels=(Label(CLASSES[k % len(CLASSES)]),),
                    annotator="labelstudio-user-7",
                    source_key=f"{5_000 + k}@2026-11-22T10:00:00.000000Z",
                )
            ],
            None,
        )
        for k, i in enumerate(hook_targets)
    ]
    payloads = [png(1_000_000 + k) for k in range(calls + 1)]
    lookups = rng.choice(size, size=calls + 1, replace=False)
    history_ids = ids[len(uris) : len(uris) + len(history_items)]  # local follows the URIs
    setup_seconds = time.perf_counter() - started

    operations: dict[str, Callable[[int], Any]] = {
        "enqueue": lambda k: project.enqueue(
            data=payloads[k],
            suffix=".png",
            size=(16, 16),
            metric="entropy",
            value=0.5 + k / 1000,
            model_version="v1",
        ),
        "import_csv": lambda k: import_labels(project, csv_files[k], "csv"),
        "import_labelstudio": lambda k: import_labels(project, ls_files[k], "labelstudio"),
        "webhook": lambda k: project.import_annotations(webhooks[k]),
        "item_ids_path": lambda k: len(project.item_ids([paths[lookups[k]]])),
        "item_ids_id": lambda k: len(project.item_ids([ids[lookups[k]]])),
        "next_10": lambda k: len(project.next(f"annotator-{k}", 10)),
        "queue_100": lambda k: len(project.queue(limit=100)),
        "history": lambda k: len(project.history(history_ids[k % len(history_ids)])),
    }
    # After the suite: did the writes write? (lengths only: the return types may change)
    written = {
        "import_csv": lambda: len(project.history(ids[csv_targets[-1]])) == 1,
        "import_labelstudio": lambda: len(project.history(ids[ls_targets[-1]])) == 1,
        "webhook": lambda: len(project.history(ids[hook_targets[-1]])) == 1,
    }

    def run() -> dict[str, Any]:
        figures: dict[str, Any] = {"items": size, "setup_seconds": setup_seconds, "loadavg": os.getloadavg()}
        for name, operation in operations.items():
            try:
                result = operation(0)  # warm-up, not reported
                seconds = []
                for k in range(1, calls + 1):
                    start = time.perf_counter()
                    result = operation(k)
                    seconds.append(time.perf_counter() - start)
            except Exception as exc:  # report it and go on with the other operations
                figures[name] = {"error": f"{type(exc).__name__}: {exc}"}
                log(f"[{size}] {name}: ERROR {figures[name]['error']}")
                continue
            ms = [1000 * s for s in seconds]
            figures[name] = {"median_ms": statistics.median(ms), "min_ms": min(ms), "max_ms": max(ms)}
            if isinstance(result, int) and name != "enqueue":
                figures[name]["len"] = result
            if name in written:
                figures[name]["wrote"] = written[name]()
            log(f"[{size}] {name}: {figures[name]}")
        return figures

    return run


def table(per_size: dict[str, dict[str, Any]], sizes: list[int]) -> str:
    small, large = str(sizes[0]), str(sizes[-1])
    head = ["operation", *(f"{s:,} ms" for s in sizes), f"ratio {sizes[-1]:,}/{sizes[0]:,}", "target"]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]

    def median(size: str, name: str) -> float | None:
        return per_size[size].get(name, {}).get("median_ms")

    for name in OPERATIONS:
        cells = [name]
        for s in sizes:
            value = median(str(s), name)
            cells.append("error" if value is None else f"{value:.2f}")
        low, high = median(small, name), median(large, name)
        if low is None or high is None:
            cells += ["", ""]
        else:
            ratio = high / low
            met = high <= TARGET_MS and ratio <= TARGET_RATIO
            cells += [f"{ratio:.1f}x", "met" if met else "missed"]
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out" / "project")
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in SIZES),
        help="pool sizes for the per-request figures; the whole-pool ones run at the largest",
    )
    parser.add_argument("--calls", type=int, default=20, help="timed calls per operation and size")
    parser.add_argument("--quick", action="store_true", help="sizes 1,000 and 20,000, 5 calls")
    parser.add_argument("--skip-whole-pool", action="store_true", help="per-request figures only")
    args = parser.parse_args()
    sizes = [1_000, 20_000] if args.quick else sorted(int(s) for s in args.sizes.split(","))
    calls = 5 if args.quick else args.calls
    if sizes[0] < 2 * LOCAL + 3 * (calls + 1) or calls < 1:
        parser.error(f"sizes must be at least {2 * LOCAL + 3 * (calls + 1)} and calls at least 1.")
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()
    log(f"machine: {machine()}; sizes {sizes}, {calls} calls each; load average {load_start}")
    if load_start[0] > 0.5:
        log("warning: the machine is not idle (1-minute load average above 0.5)")
    per_size: dict[str, dict[str, Any]] = {}
    for size in sizes:
        out = measure(per_request, workdir, size, calls)
        per_size[str(size)] = {**out.pop("result"), "suite_peak_rss_mib": out["peak_rss_mib"]}
    figures = {} if args.skip_whole_pool else whole_pool(workdir, sizes[-1])
    run = {"machine": machine(), "loadavg_start": load_start, "loadavg_end": os.getloadavg()}
    print(json.dumps({**run, "sizes": sizes, "calls": calls, "per_request": per_size, **figures}))
    log("\nper request: median of", calls, "calls; target: at most", TARGET_MS, "ms and", TARGET_RATIO, "x")
    log(table(per_size, sizes))
    if figures:
        log("\nwhole pool at", f"{sizes[-1]:,} items (s, peak RSS MiB):")
        for name in (
            "register",
            "read_manifest_only",
            "ledger_round",
            "bare_select",
            "ledger_import",
            "parse_csv_only",
            "next_100",
            "status",
        ):
            entry = figures[name]
            log(f"  {name}: {entry['seconds']:.3f} s, {entry['peak_rss_mib']:.0f} MiB")
        log("  round selection identical:", figures["round_selection_identical"])


if __name__ == "__main__":
    main()

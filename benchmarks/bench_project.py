"""The project ledger on a pool of 1,000,000 images: what the ledger adds to a round and an import.

    python benchmarks/bench_project.py [--workdir DIR] [--items 1000000]

Each figure is a fresh process (wall time, peak RSS), side by side with its baseline in the same run:
- register: `Project.init` over a manifest of N image URIs, against reading the manifest alone.
- round: `Project.round` (margin, budget 10,000; records all N scores and the selection) against
  `acv.select` on the same predictions file with no ledger.
- import: 100,000 labels from CSV into the ledger, against parsing the CSV alone.
- next / status: handing 100 images to an annotator, and the status summary, on the full ledger.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from _measure import machine, measure

CLASSES = [f"c{k}" for k in range(10)]
BUDGET = 10_000
LABELS = 100_000


def write_inputs(workdir: Path, items: int) -> None:
    paths = [f"s3://bucket/{i:07d}.jpg" for i in range(items)]
    (workdir / "manifest.csv").write_text("path\n" + "\n".join(paths) + "\n")
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(len(CLASSES)), size=items).astype(np.float32)
    np.savez(workdir / "preds.npz", ids=np.array(paths), probs=probs)
    labels = rng.choice(items, size=LABELS, replace=False)
    rows = "".join(f"{paths[i]},{CLASSES[i % len(CLASSES)]}\n" for i in np.sort(labels))
    (workdir / "labels.csv").write_text("path,label\n" + rows)


def register(workdir: Path):
    from activecv.project import Project

    target = workdir / "project"
    shutil.rmtree(target, ignore_errors=True)
    return lambda: Project.init(
        target, task="classification", classes=CLASSES, manifest=workdir / "manifest.csv"
    ).status()["items"]


def read_manifest_only(workdir: Path):
    from activecv.project._pool import read_manifest

    return lambda: len(read_manifest(workdir / "manifest.csv")[1])


def ledger_round(workdir: Path):
    from activecv.project import Project

    copy = workdir / "project-round"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(workdir / "project", copy)
    project = Project(copy)
    return lambda: [row["path"] for row in project.round(workdir / "preds.npz", "margin", BUDGET)]


def bare_select(workdir: Path):
    import activecv as acv

    def run():
        with np.load(workdir / "preds.npz") as data:
            ids, probs = data["ids"], data["probs"]
        return ids[
            acv.select("margin", BUDGET, probs=probs, rng=0).indices
        ].tolist()  # rng as the round's seed

    return run


def ledger_import(workdir: Path):
    from activecv.project import Project, import_labels

    project = Project(workdir / "project-round")
    return lambda: import_labels(project, workdir / "labels.csv", "csv").added


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
    return lambda: project.status()["labeled"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out" / "project")
    parser.add_argument("--items", type=int, default=1_000_000)
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}; writing inputs for {args.items} items ...", file=sys.stderr)
    write_inputs(workdir, args.items)
    figures = {"items": args.items}
    for name, fn in [
        ("register", register),
        ("read_manifest_only", read_manifest_only),
        ("ledger_round", ledger_round),
        ("bare_select", bare_select),
        ("ledger_import", ledger_import),
        ("parse_csv_only", parse_only),
        ("next_100", hand_out),
        ("status", status),
    ]:
        figures[name] = measure(fn, workdir)
        print(name, {k: v for k, v in figures[name].items() if k != "result"}, file=sys.stderr)
    same = figures["ledger_round"].pop("result") == figures["bare_select"].pop("result")
    for entry in figures.values():
        if isinstance(entry, dict):
            entry.pop("result", None)
    print(json.dumps({**figures, "round_selection_identical": same}))


if __name__ == "__main__":
    main()

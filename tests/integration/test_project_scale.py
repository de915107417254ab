"""Per-request work does not grow with the pool: counted in SQLite virtual-machine steps (exact
and machine-independent, unlike time), each operation costs the same on a pool of 1,000 images
and of 30,000. A scan of the pool would cost 30 times more."""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from activecv.io import Annotation, AnnotationFile, Label
from activecv.project import Project, import_labels

CLASSES = ["a", "b", "c"]
LOCAL = 20  # real images beside the URIs, for history and the queue


def png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), value % 256, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def build(folder: Path, items: int) -> Project:
    """A project of ``items`` URIs and LOCAL images, one round over all, 200 labels, 50 queued."""
    folder.mkdir()
    for i in range(LOCAL):
        (folder / f"local{i}.png").write_bytes(png(i))
    uris = [f"s3://pool/{i:07d}.jpg" for i in range(items)]
    (folder / "list.csv").write_text("path\n" + "\n".join([*(f"local{i}.png" for i in range(LOCAL)), *uris]))
    project = Project.init(
        folder / "project", task="classification", classes=CLASSES, manifest=folder / "list.csv"
    )
    ids = np.arange(1, items + LOCAL + 1)
    probs = np.random.default_rng(0).dirichlet(np.ones(3), size=ids.shape[0])
    np.savez(folder / "preds.npz", ids=ids, probs=probs)
    project.round(folder / "preds.npz", "margin", 100)
    labels = "".join(f"{uri},a\n" for uri in uris[:200])
    (folder / "labels.csv").write_text("path,label\n" + labels + "local0.png,b\n")
    import_labels(project, folder / "labels.csv", "csv")
    for k in range(50):
        project.enqueue(png(1000 + k) + bytes([k]), ".png", (8, 8), "entropy", float(k), "v1")
    return project


@contextmanager
def steps(project: Project) -> Iterator[list[int]]:
    """Counts the SQLite VM instructions the calling thread's connection runs (in tens)."""
    counted = [0]

    def tick() -> int:
        counted[0] += 1
        return 0

    conn: sqlite3.Connection = project._ledger.conn
    conn.set_progress_handler(tick, 10)
    try:
        yield counted
    finally:
        conn.set_progress_handler(None, 0)


Operation = Callable[[Project, Path, int], object]


def csv_label(project: Project, folder: Path, k: int) -> object:
    path = folder / f"one{k}.csv"
    path.write_text(f"path,label\ns3://pool/{500 + k:07d}.jpg,b\n")
    return import_labels(project, path, "csv")


def label_studio_label(project: Project, folder: Path, k: int) -> object:
    result = {"type": "choices", "from_name": "label", "to_name": "image", "value": {"choices": ["c"]}}
    annotation = {"id": k, "updated_at": "t", "completed_by": 1, "result": [result]}
    path = folder / f"one{k}.json"
    path.write_text(json.dumps([{"data": {"activecv_item": LOCAL + 600 + k}, "annotations": [annotation]}]))
    return import_labels(project, path, "labelstudio")


OPERATIONS: dict[str, Operation] = {
    "enqueue": lambda p, f, k: p.enqueue(png(k) + b"new" + bytes([k]), ".png", (8, 8), "entropy", 1.0, "v1"),
    "import one CSV label": csv_label,
    "import one Label Studio label": label_studio_label,
    "store one annotation (webhook)": lambda p, f, k: p.import_annotations(
        AnnotationFile("labelstudio", [Annotation(LOCAL + 800 + k, (Label("a"),), "ann", f"w{k}")])
    ),
    "id of a path": lambda p, f, k: p.item_ids([f"s3://pool/{5 + k:07d}.jpg"]),
    "path of an id": lambda p, f, k: p.item_ids([7 + k]),
    "next (lease)": lambda p, f, k: p.next(f"annotator{k}", 10),
    "queue": lambda p, f, k: p.queue(limit=100),
    "queue, a later page": lambda p, f, k: p.queue(limit=10, after=p.queue(limit=40)[-1].id),
    "history of one item": lambda p, f, k: p.history("local0.png"),
}


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Project, Path]]:
    return {
        n: (build(tmp_path_factory.mktemp(f"pool{n}") / "pool", n), tmp_path_factory.mktemp(f"files{n}"))
        for n in (1000, 30_000)
    }


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_per_request_work_does_not_grow_with_the_pool(
    projects: dict[int, tuple[Project, Path]], name: str
) -> None:
    counts = {}
    for n, (project, folder) in projects.items():
        OPERATIONS[name](project, folder, 0)  # once, so that first-call work is not counted
        with steps(project) as counted:
            OPERATIONS[name](project, folder, 1)
        counts[n] = counted[0]
    assert counts[30_000] <= 1.5 * counts[1000] + 10, counts


def test_the_count_sees_a_scan_of_the_pool(projects: dict[int, tuple[Project, Path]]) -> None:
    counts = {}
    for n, (project, _) in projects.items():
        with steps(project) as counted:
            project._ledger.execute("SELECT COUNT(*) FROM items WHERE path LIKE '%x%'").fetchone()
        counts[n] = counted[0]
    assert counts[30_000] > 10 * counts[1000]

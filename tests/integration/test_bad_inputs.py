"""The bad-input catalogue: every case through the Python API, the command line or the service
gets a clear error (exit status 2, or a 4xx with a message naming what was wrong), and leaves
the project exactly as it was: the same ledger rows, the same files under the images root."""

from __future__ import annotations

import json
import os
import sqlite3
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import write_digit_images

from activecv.cli import main
from activecv.io import Annotation, AnnotationFile, Label, read_strategy_inputs
from activecv.project import Project, import_labels
from activecv.strategies import get_strategy

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from activecv.service import AnnotatePolicy, ModelSpec, Predictor, ServiceConfig, create_app

CLASSES = [str(k) for k in range(10)]
TOKEN = "bad-input-catalogue-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Setup:
    """A project over 40 real digits, with one round (5 images) and 2 labels."""

    tmp: Path
    pool: Path
    project: Project

    @property
    def dir(self) -> Path:
        return self.project.directory

    def file(self, name: str, content: str | bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path

    def npz(self, name: str = "p.npz", **arrays: Any) -> Path:
        np.savez(self.tmp / name, **arrays)
        return self.tmp / name

    def export(self, tasks: Any) -> Path:
        return self.file("export.json", json.dumps(tasks))


def snapshot(setup: Setup) -> tuple[list[str], list[str]]:
    """The ledger's rows and the files under the images root."""
    with sqlite3.connect(setup.dir / "ledger.sqlite") as conn:
        rows = list(conn.iterdump())
    return rows, sorted(str(p.relative_to(setup.pool)) for p in setup.pool.rglob("*"))


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    pool = tmp_path / "pool"
    write_digit_images(pool, 40)
    project = Project.init(tmp_path / "project", task="classification", classes=CLASSES, images=pool)
    paths = sorted(p.name for p in pool.iterdir())
    probs = np.random.default_rng(0).dirichlet(np.ones(10), size=40)
    np.savez(tmp_path / "preds.npz", ids=np.array(paths), probs=probs)
    project.round(tmp_path / "preds.npz", "entropy", 5)
    (tmp_path / "labels.csv").write_text("path,label\n000.png,0\n001.png,1\n")
    import_labels(project, tmp_path / "labels.csv", "csv")
    return Setup(tmp_path, pool, project)


def task(data: dict[str, Any], *annotations: Any) -> dict[str, Any]:
    return {"id": 1, "data": data, "annotations": list(annotations)}


def choice(name: Any = "3", **extra: Any) -> dict[str, Any]:
    result = {"type": "choices", "from_name": "label", "to_name": "image", "value": {"choices": [name]}}
    return {"id": 9, "completed_by": 1, "result": [result], **extra}


# A rectangle with an original_width no integer holds (JSON's 1e400 is infinite).
RECTANGLE = (
    '{"id": 1, "result": [{"type": "rectanglelabels", "original_width": 1e400, "original_height": 16, '
    '"value": {"x": 1, "y": 1, "width": 10, "height": 10, "rectanglelabels": ["3"]}}]}'
)


def declared_array(path: Path, n: int, shape: tuple[int, ...]) -> Path:
    """An .npz whose ``embeddings`` header declares ``shape`` with no data behind it (the cheap
    form of a decompression bomb: a small file that claims more than memory holds)."""
    with zipfile.ZipFile(path, "w") as archive:
        with archive.open("ids.npy", "w") as fp:
            np.lib.format.write_array(fp, np.arange(1, n + 1))
        with archive.open("embeddings.npy", "w") as fp:
            header = {"descr": "<f4", "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_1_0(fp, header)
    return path


def truncated_copy(setup: Setup) -> Path:
    """A copy of the project whose ledger lost its second half (a disk that filled up)."""
    with sqlite3.connect(setup.dir / "ledger.sqlite") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    copy = setup.tmp / "truncated"
    copy.mkdir()
    data = (setup.dir / "ledger.sqlite").read_bytes()
    (copy / "ledger.sqlite").write_bytes(data[: len(data) // 2])
    return copy


# ---- the Python API -----------------------------------------------------------------------------

Call = Callable[[Setup], object]
API: list[tuple[str, Call, str]] = [
    # label files
    (
        "csv-not-utf8",
        lambda s: import_labels(
            s.project, s.file("l.csv", "path,label\n00\xe9.png,1\n".encode("latin-1")), "csv"
        ),
        r"label CSV '.*l.csv' is not UTF-8 text \(byte 0xe9 at offset \d+\); save it as UTF-8",
    ),
    (
        "csv-without-columns",
        lambda s: import_labels(s.project, s.file("l.csv", "file,class\n000.png,1\n"), "csv"),
        r"must have a 'path' \(or 'id'\) column and a 'label' column; got columns \['class', 'file'\]",
    ),
    (
        "csv-empty",
        lambda s: import_labels(s.project, s.file("l.csv", ""), "csv"),
        r"must have a 'path' \(or 'id'\) column and a 'label' column; got columns \[\]",
    ),
    (
        "csv-row-without-label",
        lambda s: import_labels(s.project, s.file("l.csv", "path,label\n002.png\n"), "csv"),
        r"line 2 of '.*l.csv': the label is empty",
    ),
    (
        "csv-float-id",
        lambda s: import_labels(s.project, s.file("l.csv", "id,label\n2.9,1\n"), "csv"),
        r"line 2 of '.*l.csv': id must be an integer in \[0, 2\*\*63\); got '2.9'",
    ),
    (
        "csv-unknown-class",
        lambda s: import_labels(s.project, s.file("l.csv", "path,label\n002.png,cat\n"), "csv"),
        r"uses unknown classes \['cat'\]; this project's classes are",
    ),
    (
        "csv-unknown-image",
        lambda s: import_labels(s.project, s.file("l.csv", "path,label\n002.png,1\nghost.png,1\n"), "csv"),
        r"1 images in the label file name no image of this project: 'ghost.png'",
    ),
    (
        "csv-missing-file",
        lambda s: import_labels(s.project, s.tmp / "none.csv", "csv"),
        r"label CSV '.*none.csv' does not exist",
    ),
    (
        "labelstudio-annotation-not-object",
        lambda s: import_labels(s.project, s.export([task({"activecv_item": 3}, "x")]), "labelstudio"),
        r"task 0 of '.*export.json': each annotation must be an object; got 'x'",
    ),
    (
        "labelstudio-annotations-object",
        lambda s: import_labels(
            s.project, s.export([{"data": {"activecv_item": 3}, "annotations": {"id": 1}}]), "labelstudio"
        ),
        r"task 0 of '.*export.json': 'annotations' must be a list; got dict",
    ),
    (
        "labelstudio-result-string",
        lambda s: import_labels(
            s.project, s.export([task({"activecv_item": 3}, {"id": 1, "result": "3"})]), "labelstudio"
        ),
        r"task 0 of '.*export.json': an annotation's 'result' must be a list; got str",
    ),
    (
        "labelstudio-result-strings",
        lambda s: import_labels(
            s.project, s.export([task({"activecv_item": 3}, {"id": 1, "result": ["3"]})]), "labelstudio"
        ),
        r"each result must be an object with a 'value' object; got '3'",
    ),
    (
        "labelstudio-value-string",
        lambda s: import_labels(
            s.project,
            s.export([task({"activecv_item": 3}, {"id": 1, "result": [{"type": "choices", "value": "3"}]})]),
            "labelstudio",
        ),
        r"each result must be an object with a 'value' object",
    ),
    (
        "labelstudio-choices-not-names",
        lambda s: import_labels(
            s.project, s.export([task({"activecv_item": 3}, choice(["3"]))]), "labelstudio"
        ),
        r"choices must be a list of class names; got \[\['3'\]\]",
    ),
    (
        "labelstudio-item-list",
        lambda s: import_labels(s.project, s.export([task({"activecv_item": [1]}, choice())]), "labelstudio"),
        r"task 0 of '.*': data.activecv_item must be an integer item id; got \[1\] \(list\)",
    ),
    (
        "labelstudio-item-float",
        lambda s: import_labels(s.project, s.export([task({"activecv_item": 2.9}, choice())]), "labelstudio"),
        r"data.activecv_item must be an integer item id; got 2.9 \(float\)",
    ),
    (
        "labelstudio-item-bool",
        lambda s: import_labels(
            s.project, s.export([task({"activecv_item": True}, choice())]), "labelstudio"
        ),
        r"data.activecv_item must be an integer item id; got True \(bool\)",
    ),
    (
        "labelstudio-image-not-string",
        lambda s: import_labels(s.project, s.export([task({"image": 5}, choice())]), "labelstudio"),
        r"task 0 of '.*': data.image must be a non-empty string; got 5",
    ),
    (
        "labelstudio-not-a-list",
        lambda s: import_labels(s.project, s.export({"tasks": []}), "labelstudio"),
        r"must be a JSON list of tasks \(Export -> JSON\); got dict",
    ),
    (
        "labelstudio-task-without-data",
        lambda s: import_labels(s.project, s.export([{"annotations": []}]), "labelstudio"),
        r"task 0 of '.*' has no 'data' object",
    ),
    (
        "labelstudio-keypoints",
        lambda s: import_labels(
            s.project,
            s.export(
                [task({"activecv_item": 3}, {"id": 1, "result": [{"type": "keypointlabels", "value": {}}]})]
            ),
            "labelstudio",
        ),
        r"has a result of type 'keypointlabels'; activecv imports 'choices', 'rectanglelabels'",
    ),
    (
        "labelstudio-invalid-json",
        lambda s: import_labels(s.project, s.file("export.json", '[{"data": '), "labelstudio"),
        r"Label Studio export '.*export.json' is not valid JSON",
    ),
    (
        "labelstudio-other-project",
        lambda s: import_labels(
            s.project,
            s.export([task({"activecv_item": 3, "activecv_project": "f" * 32}, choice())]),
            "labelstudio",
        ),
        r"this label file belongs to activecv project f{32}",
    ),
    (
        "coco-not-a-dataset",
        lambda s: import_labels(s.project, s.file("c.json", "[]"), "coco"),
        r"must be a COCO dataset: an object with 'images', 'annotations', 'categories'",
    ),
    (
        "coco-unknown-image-id",
        lambda s: import_labels(
            s.project,
            s.file(
                "c.json",
                json.dumps(
                    {
                        "images": [{"id": 1, "file_name": "002.png"}],
                        "annotations": [{"image_id": 7, "category_id": 1}],
                        "categories": [{"id": 1, "name": "1"}],
                    }
                ),
            ),
            "coco",
        ),
        r"annotation 0 of '.*c.json' names image_id 7, not in 'images'",
    ),
    (
        "folder-not-a-folder",
        lambda s: import_labels(s.project, s.tmp / "nowhere", "folder"),
        r"label folder '.*nowhere' is not a directory",
    ),
    (
        "import-unknown-format",
        lambda s: import_labels(s.project, s.tmp / "labels.csv", "xml"),
        r"format must be one of labelstudio, coco, csv, folder, masks; got 'xml'",
    ),
    (
        "annotation-two-classes",
        lambda s: s.project.import_annotations(
            AnnotationFile("api", [Annotation("002.png", (Label("1"), Label("2")), "a")])
        ),
        r"has 2 classes \['1', '2'\]; a classification label is one class",
    ),
    (
        "annotation-box-on-classification",
        lambda s: s.project.import_annotations(
            AnnotationFile("api", [Annotation("002.png", (Label("1", (0, 0, 4, 4)),), "a")])
        ),
        r"has boxes, but this is a classification project",
    ),
    (
        "annotation-float-item",
        lambda s: s.project.import_annotations(AnnotationFile("api", [Annotation(2.9, (Label("1"),), "a")])),  # type: ignore[arg-type]
        r"images in the label file must be item ids \(integers\) or registered paths \(strings\); got 2.9",
    ),
    # lookups
    (
        "item-ids-bool",
        lambda s: s.project.item_ids([True]),
        r"ids must be item ids \(integers\) or registered paths \(strings\); got True \(bool\)",
    ),
    ("item-ids-unknown", lambda s: s.project.item_ids([9999]), r"1 ids name no image of this project: 9999"),
    ("history-unknown", lambda s: s.project.history("ghost.png"), r"1 items name no image of this project"),
    # leases
    (
        "lease-negative",
        lambda s: s.project.next("alice", 2, lease_seconds=-300),
        r"the lease must last more than 0 and at most 3.1536e\+07 seconds \(a year\); got -300 seconds",
    ),
    (
        "lease-nan",
        lambda s: s.project.next("alice", 2, lease_seconds=float("nan")),
        r"the lease must last more than 0 .* got nan seconds",
    ),
    (
        "lease-centuries",
        lambda s: s.project.next("alice", 2, lease_seconds=1e12),
        r"the lease must last more than 0 and at most .* got 1000000000000.0 seconds",
    ),
    ("next-zero", lambda s: s.project.next("alice", 0), r"n must be an integer in \[1, 10000\]; got 0"),
    ("next-huge", lambda s: s.project.next("alice", 10**20), r"n must be an integer in \[1, 10000\]"),
    (
        "queue-limit-huge",
        lambda s: s.project.queue(limit=10**20),
        r"limit must be an integer in \[1, 10000\]",
    ),
    (
        "queue-after-unknown",
        lambda s: s.project.queue(after=999),
        r"after must be the id of a queued image \(the last of a page\); got 999",
    ),
    ("item-ids-huge", lambda s: s.project.item_ids([10**20]), r"ids must be item ids in \[0, 2\*\*63\)"),
    (
        "item-ids-lone-surrogate",
        lambda s: s.project.item_ids(["\ud800.png"]),
        r"text '\\ud800.png' is not valid Unicode \(surrogates not allowed\)",
    ),
    (
        "register-path-escaping",
        lambda s: s.project.register_paths(["../outside.png"]),
        r"image path '../outside.png' is outside the project's images root",
    ),
    (
        "register-path-with-nul",
        lambda s: s.project.register_paths(["a\0.png"]),
        r"path 'a\\x00.png' is not a usable file path \(embedded NUL character\)",
    ),
    (
        "manifest-row-without-path",
        lambda s: Project.init(
            s.tmp / "other",
            task="classification",
            classes=CLASSES,
            manifest=s.file("m.csv", "path,size\n,3\n"),
        ),
        r"line 2 of '.*m.csv' has no path in column 1; got \['', '3'\]",
    ),
    (
        "labelstudio-item-huge",
        lambda s: import_labels(
            s.project, s.export([task({"activecv_item": 10**30}, choice())]), "labelstudio"
        ),
        r"data.activecv_item must be an integer item id; got 10{30}",
    ),
    (
        "labelstudio-rectangle-infinite-size",
        lambda s: import_labels(
            s.project,
            s.file("export.json", '[{"data": {"image": "002.png"}, "annotations": [' + RECTANGLE + "]}]"),
            "labelstudio",
        ),
        r"a rectangle in task 0 .* needs original_width and original_height as positive integers \(pixels\); "
        r"got \(inf, 16\)",
    ),
    (
        "labelstudio-rectangle-huge-number",
        lambda s: import_labels(
            s.project,
            s.file(
                "export.json",
                '[{"data": {"image": "002.png"}, "annotations": ['
                + RECTANGLE.replace("1e400", "16").replace('"x": 1', '"x": 1' + "0" * 400)
                + "]}]",
            ),
            "labelstudio",
        ),
        r"a rectangle in task 0 .* needs x as a finite number \(percent\)",
    ),
    (
        "csv-id-huge",
        lambda s: import_labels(s.project, s.file("l.csv", f"id,label\n{10**30},1\n"), "csv"),
        r"line 2 of '.*l.csv': id must be an integer in \[0, 2\*\*63\); got '1{1}0{30}'",
    ),
    ("next-no-annotator", lambda s: s.project.next(" ", 1), r"annotator must be a non-empty name; got ' '"),
    # rounds and predictions files
    (
        "round-budget-zero",
        lambda s: s.project.round(s.tmp / "preds.npz", "margin", 0),
        r"budget must be an integer >= 1; got 0",
    ),
    (
        "round-budget-bool",
        lambda s: s.project.round(s.tmp / "preds.npz", "margin", True),
        r"budget must be an integer >= 1; got True",
    ),
    (
        "round-missing-file",
        lambda s: s.project.round(s.tmp / "none.npz", "margin", 2),
        r"predictions file '.*none.npz' does not exist",
    ),
    (
        "round-unknown-strategy",
        lambda s: s.project.round(s.tmp / "preds.npz", "nope", 2),
        r"unknown strategy 'nope'; valid names:",
    ),
    (
        "round-float-ids",
        lambda s: s.project.round(s.npz(ids=np.array([1.5, 2.5]), probs=np.full((2, 10), 0.1)), "margin", 1),
        r"'ids' in '.*p.npz' must be integers \(item ids\) or strings \(paths\); "
        r"got dtype float64 \(e.g. 1.5\)",
    ),
    (
        "round-bool-ids",
        lambda s: s.project.round(
            s.npz(ids=np.array([True, False]), probs=np.full((2, 10), 0.1)), "margin", 1
        ),
        r"must be integers \(item ids\) or strings \(paths\); got dtype bool",
    ),
    (
        "round-repeated-ids",
        lambda s: s.project.round(s.npz(ids=np.array([3, 3]), probs=np.full((2, 10), 0.1)), "margin", 1),
        r"'ids' in '.*p.npz' must name each item once; repeated: \[3\]",
    ),
    (
        "round-2d-ids",
        lambda s: s.project.round(s.npz(ids=np.ones((2, 2), int), probs=np.full((2, 10), 0.1)), "margin", 1),
        r"must be 1-D, one id per row; got shape \(2, 2\)",
    ),
    (
        "round-unknown-ids",
        lambda s: s.project.round(s.npz(ids=np.array([3, 999]), probs=np.full((2, 10), 0.1)), "margin", 1),
        r"1 ids in the predictions file name no image of this project: 999",
    ),
    (
        "round-row-mismatch",
        lambda s: s.project.round(s.npz(ids=np.array([3, 4]), probs=np.full((3, 10), 0.1)), "margin", 1),
        r"'ids' has 2 entries but 'probs' has 3 rows in '.*p.npz'; one id per row is needed",
    ),
    (
        "round-class-columns",
        lambda s: s.project.round(s.npz(ids=np.array([3, 4]), probs=np.full((2, 4), 0.25)), "margin", 1),
        r"'probs' in '.*p.npz' has shape \(2, 4\), but the project has 10 classes",
    ),
    (
        "round-missing-input",
        lambda s: s.project.round(s.tmp / "preds.npz", "coreset", 2),
        r"strategy 'coreset' requires embeddings; '.*preds.npz' holds ids, probs",
    ),
    (
        "round-garbage-parquet",
        lambda s: s.project.round(s.file("p.parquet", b"PAR1 this is not parquet"), "margin", 1),
        r"'.*p.parquet' is not a readable Parquet file",
    ),
    (
        "round-not-npz",
        lambda s: s.project.round(s.file("p.npz", b"not a zip"), "margin", 1),
        r"'.*p.npz' is not a valid .npz file",
    ),
    (
        "round-declares-too-much",
        lambda s: s.project.round(declared_array(s.tmp / "bomb.npz", 3, (3, 10**12)), "coreset", 1),
        r"array 'embeddings' in '.*bomb.npz' declares shape \(3, 1000000000000\) float32: .* needs about "
        r"\d+\.\d GiB, and this machine has",
    ),
    (
        "round-nan-probs",
        lambda s: s.project.round(
            s.npz(ids=np.array([3, 4]), probs=np.array([[np.nan] * 10, [0.1] * 10])), "margin", 1
        ),
        r"probs must be finite; got NaN or inf \(first at row 0\)",
    ),
    (
        "ledger-truncated",
        lambda s: Project(truncated_copy(s)),
        r"ledger '.*truncated/ledger.sqlite' cannot be read as an activecv ledger \(sqlite: database disk "
        r"image is malformed\); the file is damaged or not a ledger. Restore it from a backup",
    ),
    (
        "selection-unknown-round",
        lambda s: s.project.selection(7),
        r"round must be a round of this project \(1..1\); got 7",
    ),
]


@pytest.mark.parametrize(("call", "message"), [(c, m) for _, c, m in API], ids=[name for name, *_ in API])
def test_the_python_api_refuses_with_a_clear_error(setup: Setup, call: Call, message: str) -> None:
    before = snapshot(setup)
    with pytest.raises(ValueError, match=message):  # InputError and ProjectError are ValueErrors
        call(setup)
    assert snapshot(setup) == before


# ---- the command line ---------------------------------------------------------------------------

CLI: list[tuple[str, str, str]] = [
    ("status-not-a-project", "project status {tmp}", "is not an activecv project (no ledger.sqlite)"),
    (
        "import-not-utf8",
        "project import {project} {tmp}/latin1.csv --format csv",
        "is not UTF-8 text (byte 0xe9",
    ),
    (
        "import-malformed-export",
        "project import {project} {tmp}/malformed.json --format labelstudio",
        "each annotation must be an object; got 'x'",
    ),
    (
        "next-negative-lease",
        "project next {project} --annotator bob --lease-minutes -5",
        "the lease must last more than 0 and at most 3.1536e+07 seconds (a year); got -300.0 seconds",
    ),
    (
        "round-float-ids",
        "project round {project} --predictions {tmp}/float_ids.npz --strategy margin --budget 1",
        "must be integers (item ids) or strings (paths); got dtype float64",
    ),
    (
        "select-float-ids",
        "select --predictions {tmp}/float_ids.npz --strategy margin --budget 1 --out {tmp}/s.csv",
        "must be integers (item ids) or strings (paths); got dtype float64",
    ),
    (
        "select-garbage-parquet",
        "select --predictions {tmp}/garbage.parquet --strategy margin --budget 1 --out {tmp}/s.csv",
        "is not a readable Parquet file",
    ),
    (
        "select-truncated-parquet",
        "select --predictions {tmp}/truncated.parquet --strategy margin --budget 1 --out {tmp}/s.csv",
        "is not a readable Parquet file",
    ),
    (
        "select-declares-too-much",
        "select --predictions {tmp}/bomb.npz --strategy coreset --budget 1 --out {tmp}/s.csv",
        "declares shape (3, 1000000000000) float32",
    ),
    (
        "classes-file-missing",
        "project init {tmp}/other --images {pool} --task classification --classes @{tmp}/none.txt",
        "--classes file '{tmp}/none.txt' does not exist",
    ),
    (
        "init-link-outside-root",
        "project init {tmp}/other --images {tmp}/linked --task classification --classes a,b",
        "is a link to '{tmp}/outside.png', outside the images root",
    ),
    (
        "serve-anonymous-on-the-network",
        "serve --model m.onnx --classes a,b --allow-anonymous --host 0.0.0.0",
        "--allow-anonymous serves without a token, so only on a loopback host",
    ),
    ("status-damaged-ledger", "project status {damaged}", "cannot be read as an activecv ledger"),
]


@pytest.mark.parametrize(("command", "message"), [(c, m) for _, c, m in CLI], ids=[name for name, *_ in CLI])
def test_the_command_line_exits_2_with_a_clear_error(
    setup: Setup, capsys: pytest.CaptureFixture[str], command: str, message: str
) -> None:
    tmp = setup.tmp
    setup.file("latin1.csv", "path,label\n00\xe9.png,1\n".encode("latin-1"))
    setup.export([task({"activecv_item": 3}, "x")]).rename(tmp / "malformed.json")
    setup.npz("float_ids.npz", ids=np.array([1.5, 2.5]), probs=np.full((2, 10), 0.1))
    setup.file("garbage.parquet", b"PAR1 garbage PAR1")
    save_parquet(tmp / "whole.parquet")
    setup.file("truncated.parquet", (tmp / "whole.parquet").read_bytes()[:-40])
    declared_array(tmp / "bomb.npz", 3, (3, 10**12))
    (tmp / "linked").mkdir()
    write_digit_images(tmp / "linked", 2)
    (tmp / "outside.png").write_bytes((tmp / "linked" / "000.png").read_bytes())
    os.symlink(tmp / "outside.png", tmp / "linked" / "link.png")
    (tmp / "damaged").mkdir()
    (tmp / "damaged" / "ledger.sqlite").write_bytes(b"this is not an SQLite database" * 100)
    before = snapshot(setup)
    values = {"tmp": tmp, "project": setup.dir, "pool": setup.pool, "damaged": tmp / "damaged"}
    capsys.readouterr()
    assert main(command.format(**values).split()) == 2
    assert message.format(**values) in capsys.readouterr().err
    assert snapshot(setup) == before
    assert not (tmp / "other").exists()  # a refused init creates nothing


def save_parquet(path: Path) -> None:
    from activecv.io import save_predictions

    save_predictions(path, ids=np.arange(1, 501), probs=np.full((500, 10), 0.1))


# ---- the service --------------------------------------------------------------------------------


def stub(batch: np.ndarray) -> np.ndarray:
    """A deterministic model: ten logits from the image's mean brightness."""
    mean = batch.reshape(batch.shape[0], -1).mean(axis=1)
    return np.stack([mean * k for k in range(10)], axis=1)


@pytest.fixture
def client(setup: Setup) -> TestClient:
    predictor = Predictor(ModelSpec("stub", "classification", tuple(CLASSES), input_size=(8, 8)), stub, "v1")
    policy = AnnotatePolicy("entropy", threshold=0.0)
    return TestClient(create_app(ServiceConfig(policy=policy, token=TOKEN, project=setup.dir), predictor))


def event(data: Any, annotation: Any = None) -> dict[str, Any]:
    return {
        "action": "ANNOTATION_CREATED",
        "task": {"id": 5, "data": data},
        "annotation": annotation or choice(),
    }


SERVICE: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    (
        "webhook-item-object",
        "POST",
        "/webhook",
        {"json": event({"activecv_item": {"id": 3}})},
        422,
        "task 5: data.activecv_item must be an integer item id; got {'id': 3} (dict)",
    ),
    (
        "webhook-item-list",
        "POST",
        "/webhook",
        {"json": event({"activecv_item": [3]})},
        422,
        "data.activecv_item must be an integer item id; got [3] (list)",
    ),
    (
        "webhook-item-float",
        "POST",
        "/webhook",
        {"json": event({"activecv_item": 1.7})},
        422,
        "data.activecv_item must be an integer item id; got 1.7 (float)",
    ),
    (
        "webhook-result-string",
        "POST",
        "/webhook",
        {"json": event({"activecv_item": 3}, {"id": 1, "result": "3"})},
        422,
        "an annotation's 'result' must be a list; got str",
    ),
    (
        "webhook-result-strings",
        "POST",
        "/webhook",
        {"json": event({"activecv_item": 3}, {"id": 1, "result": ["3"]})},
        422,
        "each result must be an object with a 'value' object; got '3'",
    ),
    (
        "webhook-value-string",
        "POST",
        "/webhook",
        {"json": event({"activecv_item": 3}, {"id": 1, "result": [{"type": "choices", "value": "3"}]})},
        422,
        "each result must be an object with a 'value' object",
    ),
    (
        "webhook-unknown-class",
        "POST",
        "/webhook",
        {"json": event({"activecv_item": 3}, choice("cat"))},
        422,
        "uses unknown classes ['cat']",
    ),
    (
        "webhook-unknown-item",
        "POST",
        "/webhook",
        {"json": event({"activecv_item": 999})},
        422,
        "1 images in the label file name no image of this project: 999",
    ),
    (
        "webhook-image-escaping",
        "POST",
        "/webhook",
        {"json": event({"image": "/data/local-files/?d=../../etc/passwd"})},
        422,
        "is outside the images root; refused",
    ),
    (
        "webhook-without-task",
        "POST",
        "/webhook",
        {"json": {"action": "ANNOTATION_CREATED"}},
        422,
        "an annotation event needs 'task' (with 'data') and 'annotation' objects",
    ),
    (
        "predict-data-string",
        "POST",
        "/predict",
        {"json": {"tasks": [{"id": 7, "data": "0.png"}]}},
        422,
        "task 7: 'data' must be an object; got '0.png'",
    ),
    (
        "predict-null-byte",
        "POST",
        "/predict",
        {"json": {"tasks": [{"id": 7, "data": {"image": "/data/local-files/?d=000.png%00.jpg"}}]}},
        422,
        "task 7: image '/data/local-files/?d=000.png%00.jpg' holds a NUL character; refused",
    ),
    (
        "predict-remote-image",
        "POST",
        "/predict",
        {"json": {"tasks": [{"id": 7, "data": {"image": "https://example.com/a.png"}}]}},
        422,
        "is a remote URL",
    ),
    (
        "predict-no-tasks",
        "POST",
        "/predict",
        {"json": {"tasks": []}},
        422,
        "tasks: List should have at least 1",
    ),
    (
        "predict-invalid-json",
        "POST",
        "/predict",
        {"content": b"{", "headers": {"Content-Type": "application/json"}},
        422,
        "the body is not valid JSON",
    ),
    (
        "queue-limit-zero",
        "GET",
        "/v1/queue?limit=0",
        {},
        422,
        "limit: Input should be greater than or equal to 1",
    ),
    (
        "queue-limit-huge",
        "GET",
        "/v1/queue?limit=10001",
        {},
        422,
        "limit: Input should be less than or equal",
    ),
    ("queue-after-negative", "GET", "/v1/queue?after=-1", {}, 422, "after: Input should be greater than"),
    (
        "queue-after-unknown",
        "GET",
        "/v1/queue?after=999",
        {},
        422,
        "after must be the id of a queued image (the last of a page); got 999",
    ),
    (
        "webhook-item-huge",
        "POST",
        "/webhook",
        {"json": event({"activecv_item": 10**30})},
        422,
        "data.activecv_item must be an integer item id; got 1000000000000000000000000000000 (int)",
    ),
    (
        "webhook-image-name-too-long",
        "POST",
        "/webhook",
        {"json": event({"image": "/data/local-files/?d=" + "a" * 5000 + ".png"})},
        422,
        "is not a usable file path ([Errno 36] File name too long",
    ),
    (
        "webhook-image-lone-surrogate",
        "POST",
        "/webhook",
        {
            "content": b'{"action": "ANNOTATION_CREATED", "task": {"data": {"image": "\\ud800.png"}}, '
            b'"annotation": {}}'
        },
        422,
        "is not a usable file path ('utf-8' codec can't encode character '\\ud800'",
    ),
    (
        "predict-image-link-loop",
        "POST",
        "/predict",
        {"json": {"tasks": [{"id": 7, "data": {"image": "/data/local-files/?d=loop/a.png"}}]}},
        422,
        "is not a usable file path (Symlink loop",
    ),
    (
        "upload-not-an-image",
        "POST",
        "/v1/predict",
        {"files": [("images", ("a.png", b"not an image", "image/png"))]},
        400,
        "a.png: the upload is not a decodable image",
    ),
    (
        "upload-wrong-type",
        "POST",
        "/v1/predict",
        {"files": [("images", ("a.txt", b"hello", "text/plain"))]},
        415,
        "content type 'text/plain' is not an image type",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "request_", "status", "message"),
    [case[1:] for case in SERVICE],
    ids=[case[0] for case in SERVICE],
)
def test_the_service_answers_4xx_with_a_message(
    setup: Setup,
    client: TestClient,
    method: str,
    path: str,
    request_: dict[str, Any],
    status: int,
    message: str,
) -> None:
    (setup.pool / "loop").symlink_to(setup.pool / "loop")  # a link to itself: resolving it loops
    before = snapshot(setup)
    headers = {**AUTH, **request_.pop("headers", {})}
    if "content" in request_:
        headers.setdefault("Content-Type", "application/json")
    response = client.request(method, path, headers=headers, **request_)
    assert response.status_code == status and message in response.json()["detail"], response.text
    assert snapshot(setup) == before


def test_the_token_is_checked_before_the_body_is_read(setup: Setup, client: TestClient) -> None:
    before = snapshot(setup)
    invalid_json = client.post("/webhook", content=b"{", headers={"Content-Type": "application/json"})
    assert invalid_json.status_code == 401  # not the 422 of a parsed body
    oversized = client.post("/v1/predict", content=b"x" * (21 * 2**20), headers={"Content-Type": "image/png"})
    assert oversized.status_code == 401  # not the 413 of a body measured
    many = [("images", (f"{i}.png", b"x", "image/png")) for i in range(1001)]
    assert client.post("/v1/predict", files=many).status_code == 401  # not the 400 of a parsed form
    assert snapshot(setup) == before


def test_the_catalogue_holds_at_least_sixty_cases() -> None:
    assert len(API) + len(CLI) + len(SERVICE) >= 60


# ---- odd inputs that mean one thing are read as meant ------------------------------------------


def test_a_random_round_needs_no_candidates(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    command = f"project round {setup.dir} --predictions {setup.tmp}/preds.npz --strategy random --budget 2"
    assert main(command.split()) == 0
    assert "round 2: 2 images selected with random" in capsys.readouterr().out
    assert len(setup.project.scores(2)) == 33  # every image neither labeled nor selected before


def test_a_file_listed_twice_is_registered_once(tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    write_digit_images(pool, 3)
    os.symlink(pool / "000.png", pool / "alias.png")  # a link to another image of the root
    project = Project.init(tmp_path / "a", task="classification", classes=["x", "y"], images=pool)
    assert [item.path for item in project.items()] == ["000.png", "001.png", "002.png"]
    assert project.registered is not None and project.registered.repeated == 1
    (pool / "list.csv").write_text("path\n000.png\n./000.png\n001.png\n")
    listed = Project.init(
        tmp_path / "b", task="classification", classes=["x", "y"], manifest=pool / "list.csv"
    )
    assert [item.path for item in listed.items()] == ["000.png", "001.png"]


def test_a_csv_with_a_byte_order_mark_is_read(setup: Setup) -> None:
    report = import_labels(setup.project, setup.file("bom.csv", "\ufeffpath,label\r\n002.png,7\r\n"), "csv")
    assert report.added == 1 and setup.project.history("002.png")[0].labels == [Label("7")]


def test_ids_written_as_bytes_are_read_as_paths(setup: Setup) -> None:
    paths = np.array([f"{i:03d}.png".encode() for i in range(10, 20)])  # numpy 'S' strings
    top = 0.5 + 0.04 * np.arange(10)  # the first image is the most uncertain, then the next...
    probs = np.zeros((10, 10))
    probs[:, 0], probs[:, 1] = top, 1 - top
    file = setup.npz("bytes.npz", ids=paths, probs=probs)
    assert read_strategy_inputs(file, get_strategy("margin"), stream=False).ids.tolist()[0] == "010.png"
    selected = setup.project.round(file, "margin", 3)
    assert [row.path for row in selected] == ["010.png", "011.png", "012.png"]


def test_a_path_registered_twice_in_other_spellings_is_one_item(setup: Setup) -> None:
    report = setup.project.register_paths(["./002.png", "002.png", "sub/../003.png"])
    assert (report.added, report.existing, report.repeated) == (0, 2, 1)
    assert len(setup.project.items()) == 40


def test_label_studio_annotations_without_an_id_are_each_stored(setup: Setup) -> None:
    tasks = [
        task({"activecv_item": 10 + k}, {"completed_by": 1, "result": choice()["result"]}) for k in range(2)
    ]
    report = import_labels(setup.project, setup.export(tasks), "labelstudio")
    assert (report.added, report.unchanged) == (2, 0)


def test_detection_results_name_images_by_exact_ids(tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    write_digit_images(pool, 3)
    project = Project.init(tmp_path / "p", task="detection", classes=["digit"], images=pool)
    results = tmp_path / "results.json"
    for image_id in (True, 2.0):
        record = {"image_id": image_id, "category_id": 1, "bbox": [1, 1, 4, 4], "score": 0.9}
        results.write_text(json.dumps([record]))
        with pytest.raises(
            ValueError, match=rf"names image_id {image_id!r}, which is not an image of the pool"
        ):
            project.round(results, "detection_entropy", 1)
    assert project.rounds() == []


def test_a_glob_has_its_folder_as_the_root(tmp_path: Path) -> None:
    write_digit_images(tmp_path / "data" / "imgs", 2)
    project = Project.init(
        tmp_path / "p", task="classification", classes=["a", "b"], images=f"{tmp_path}/data/imgs/*.png"
    )
    assert project.root == tmp_path / "data" / "imgs" and project.items()[0].path == "000.png"


def test_a_webhook_annotation_without_a_label_is_reported_skipped(setup: Setup, client: TestClient) -> None:
    empty = {"id": 3, "completed_by": 1, "result": []}
    response = client.post("/webhook", json=event({"activecv_item": 5}, empty), headers=AUTH)
    assert response.json() == {"status": "skipped", "reason": "the annotation carries no label"}
    stored = client.post("/webhook", json=event({"activecv_path": "005.png"}), headers=AUTH)
    assert stored.json()["status"] == "stored" and stored.json()["item"] == "005.png"

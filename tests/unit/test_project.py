"""The project ledger: registration, imports with history, rounds, leases, status, migrations."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from activecv._errors import InputError
from activecv.io import Annotation, AnnotationFile, Label
from activecv.project import Project, RoundProgress, export, import_labels
from activecv.project import _schema as schema

CLASSES = [str(k) for k in range(10)]


def new_project(
    tmp_path: Path, pool: Path, task: str = "classification", classes: list[str] = CLASSES
) -> Project:
    return Project.init(tmp_path / "project", task=task, classes=classes, images=pool)


def dump(project: Project) -> list[str]:
    """The ledger's whole content, to check that a refused operation changed nothing."""
    with sqlite3.connect(project.directory / "ledger.sqlite") as conn:
        return list(conn.iterdump())


def predictions(tmp_path: Path, project: Project, seed: int = 0, name: str = "preds.npz") -> Path:
    rng = np.random.default_rng(seed)
    items = project.items()
    path = tmp_path / name
    np.savez(
        path,
        ids=np.array([item.path for item in items]),
        probs=rng.dirichlet(np.ones(10), size=len(items)),
        embeddings=rng.normal(size=(len(items), 4)),
    )
    return path


def csv_file(tmp_path: Path, rows: list[tuple[str, str]], name: str = "labels.csv") -> Path:
    path = tmp_path / name
    path.write_text("path,label\n" + "".join(f"{p},{c}\n" for p, c in rows))
    return path


# ---- registration --------------------------------------------------------------------------


def test_init_registers_every_image_with_hash_and_size(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool)
    items = project.items()
    assert [item.path for item in items] == sorted(p.name for p in pool.iterdir())
    assert all(item.width == 16 and item.height == 16 and len(item.sha256) == 64 for item in items)
    assert project.registered is not None and project.registered.added == 40


def test_registering_again_is_idempotent_and_adds_only_new_images(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    new_project(tmp_path, pool).close()
    shutil.copy(pool / "000.png", pool / "copy_of_000.png")
    again = new_project(tmp_path, pool)
    assert again.registered is not None
    assert (again.registered.added, again.registered.existing) == (1, 40)
    assert again.registered.duplicates == [["000.png", "copy_of_000.png"]]
    assert len(again.items()) == 41


def test_reinit_with_other_classes_is_refused(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    new_project(tmp_path, pool).close()
    with pytest.raises(InputError, match=r"already holds a project with task 'classification', classes"):
        new_project(tmp_path, pool, classes=["a", "b"])


def test_manifest_csv_jsonl_and_uris(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    (pool / "list.jsonl").write_text('{"path": "001.png"}\n{"path": "s3://bucket/x.jpg"}\n')
    project = Project.init(
        tmp_path / "p", task="classification", classes=CLASSES, manifest=pool / "list.jsonl"
    )
    assert [(i.path, i.sha256 is None) for i in project.items()] == [
        ("001.png", False),
        ("s3://bucket/x.jpg", True),
    ]
    (pool / "list.csv").write_text("path\n002.png\n")
    other = Project.init(tmp_path / "q", task="classification", classes=CLASSES, manifest=pool / "list.csv")
    assert [i.path for i in other.items()] == ["002.png"]


def test_manifest_path_escaping_the_root_is_refused(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    (pool / "list.csv").write_text("path\n001.png\n../outside.png\n")
    with pytest.raises(InputError, match=r"'../outside.png' is outside the project's images root"):
        Project.init(tmp_path / "p", task="classification", classes=CLASSES, manifest=pool / "list.csv")
    assert not (tmp_path / "p").exists()


def test_unreadable_images_register_nothing(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    (pool / "broken.png").write_bytes(b"not a png")
    with pytest.raises(
        InputError, match=r"1 listed images cannot be registered: broken.png \(not a readable"
    ):
        new_project(tmp_path, pool)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "video"}, r"task must be one of classification, detection, segmentation; got 'video'"),
        ({"classes": ["a", "a"]}, r"classes must be distinct non-empty names; got \['a', 'a'\]"),
        ({"images": None}, r"pass exactly one of images"),
    ],
)
def test_init_errors(tmp_path: Path, digit_pool: Any, kwargs: dict[str, Any], message: str) -> None:
    pool, _ = digit_pool
    arguments = {"task": "classification", "classes": CLASSES, "images": pool, **kwargs}
    with pytest.raises(InputError, match=message):
        Project.init(tmp_path / "p", **arguments)


def test_opening_a_folder_without_ledger_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"is not an activecv project \(no ledger.sqlite\); create one with"):
        Project(tmp_path)


# ---- labels ----------------------------------------------------------------------------------


def test_csv_import_then_relabel_keeps_history(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool)
    first = import_labels(project, csv_file(tmp_path, [("000.png", "0"), ("001.png", "1")]), "csv", "ann")
    assert (first.added, first.relabeled, first.unchanged) == (2, 0, 0)
    again = import_labels(project, csv_file(tmp_path, [("000.png", "0"), ("001.png", "1")]), "csv", "ann")
    assert (again.added, again.relabeled, again.unchanged) == (0, 0, 2)
    fix = import_labels(project, csv_file(tmp_path, [("001.png", "7")]), "csv", "reviewer")
    assert (fix.added, fix.relabeled) == (0, 1)
    by_path = {item.path: item.id for item in project.items()}
    assert project.labels()[by_path["001.png"]] == [Label("7")]
    history = project.history("001.png")
    assert [(h.annotator, h.labels) for h in history] == [
        ("ann", [Label("1")]),
        ("reviewer", [Label("7")]),
    ]
    # a -> b -> a: importing the first file again makes its label current again
    import_labels(project, csv_file(tmp_path, [("001.png", "1")]), "csv", "ann")
    assert project.labels()[by_path["001.png"]] == [Label("1")]
    assert len(project.history("001.png")) == 3


def test_coco_round_trip_of_boxes(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool, task="detection", classes=["digit", "blot"])
    boxes = {
        "000.png": [Label("digit", (1.0, 2.0, 9.0, 12.5)), Label("blot", (0.0, 0.0, 16.0, 3.0))],
        "001.png": [],
    }
    project.import_annotations(
        AnnotationFile("api", [Annotation(path, tuple(labels), "ann") for path, labels in boxes.items()])
    )
    out = tmp_path / "labeled.json"
    assert export(project, "coco", out, items="labeled") == 2
    dataset = json.loads(out.read_text())
    assert dataset["annotations"][0]["bbox"] == [1.0, 2.0, 8.0, 10.5]
    other = new_project(tmp_path / "other", pool, task="detection", classes=["digit", "blot"])
    dataset["info"].pop("activecv_project")
    out.write_text(json.dumps(dataset))
    report = import_labels(other, out, "coco")
    assert (report.added, report.relabeled) == (2, 0)
    by_id = {item.id: item.path for item in other.items()}
    assert {by_id[i]: labels for i, labels in other.labels().items()} == boxes


def test_folder_import_matches_images_by_content(tmp_path: Path, digit_pool: Any) -> None:
    pool, truth = digit_pool
    project = new_project(tmp_path, pool)
    sorted_by_annotator = tmp_path / "sorted"
    for i in range(6):
        target = sorted_by_annotator / str(truth[i]) / f"renamed_{i}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(pool / f"{i:03d}.png", target)
    report = import_labels(project, sorted_by_annotator, "folder")
    assert report.added == 6
    by_path = {item.path: item.id for item in project.items()}
    assert [project.labels()[by_path[f"{i:03d}.png"]] for i in range(6)] == [
        [Label(str(truth[i]))] for i in range(6)
    ]


def test_classification_annotation_without_a_choice_is_skipped(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool)
    report = project.import_annotations(AnnotationFile("api", [Annotation("000.png", (), "ann")]))
    assert (report.added, report.skipped) == (0, 1)
    assert project.labels() == {}


@pytest.mark.parametrize(
    ("annotations", "project_id", "message"),
    [
        (
            [Annotation("nope.png", (Label("1"),), "a")],
            None,
            r"1 images in the label file name no image of this project: 'nope.png'",
        ),
        ([Annotation(999, (Label("1"),), "a")], None, r"name no image of this project: 999"),
        (
            [Annotation("000.png", (Label("cat"),), "a")],
            None,
            r"uses unknown classes \['cat'\]; this project's classes are",
        ),
        (
            [Annotation("000.png", (Label("1"), Label("2")), "a")],
            None,
            r"has 2 classes \['1', '2'\]; a classification label is one class",
        ),
        (
            [Annotation("000.png", (Label("1", (0, 0, 1, 1)),), "a")],
            None,
            r"has boxes, but this is a classification project",
        ),
        (
            [Annotation("000.png", (Label("1"),), "a")],
            "f" * 32,
            r"this label file belongs to activecv project ffff",
        ),
    ],
)
def test_bad_annotations_leave_the_ledger_unchanged(
    tmp_path: Path, digit_pool: Any, annotations: list[Annotation], project_id: str | None, message: str
) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool)
    # a good annotation first in the same file: it must not be written either
    good = Annotation("005.png", (Label("5"),), "a")
    before = dump(project)
    with pytest.raises(InputError, match=message):
        project.import_annotations(AnnotationFile("api", [good, *annotations], project_id))
    assert dump(project) == before


@pytest.mark.parametrize(
    ("box", "message"),
    [
        (
            (2.0, 2.0, 17.0, 10.0),
            r"'digit' box \[2.0, 2.0, 17.0, 10.0\] \(xyxy\) that is empty or outside the 16x16 image",
        ),
        ((5.0, 5.0, 5.0, 9.0), r"that is empty or outside"),
        ((-3.0, 0.0, 4.0, 4.0), r"that is empty or outside"),
    ],
)
def test_boxes_outside_the_image_are_refused(tmp_path: Path, digit_pool: Any, box: Any, message: str) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool, task="detection", classes=["digit"])
    before = dump(project)
    with pytest.raises(InputError, match=message):
        project.import_annotations(
            AnnotationFile("api", [Annotation("000.png", (Label("digit", box),), "a")])
        )
    assert dump(project) == before


def test_box_overhanging_by_rounding_is_clipped(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool, task="detection", classes=["digit"])
    project.import_annotations(
        AnnotationFile("api", [Annotation("000.png", (Label("digit", (-0.2, 1, 16.3, 9)),), "a")])
    )
    assert list(project.labels().values()) == [[Label("digit", (0.0, 1.0, 16.0, 9.0))]]


def test_detection_label_without_box_is_refused(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool, task="detection", classes=["digit"])
    with pytest.raises(InputError, match=r"has a label without a box, but this is a detection project"):
        project.import_annotations(AnnotationFile("api", [Annotation("000.png", (Label("digit"),), "a")]))


def test_malformed_files_are_refused(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool)
    bad = tmp_path / "bad.json"
    bad.write_text('[{"data": {"activecv_item": 1}, "annotations": [')
    before = dump(project)
    with pytest.raises(InputError, match=r"Label Studio export '.*bad.json' is not valid JSON"):
        import_labels(project, bad, "labelstudio")
    with pytest.raises(InputError, match=r"COCO annotations '.*bad.json' is not valid JSON"):
        import_labels(project, bad, "coco")
    bad.write_text('{"tasks": []}')
    with pytest.raises(InputError, match=r"must be a JSON list of tasks \(Export -> JSON\); got dict"):
        import_labels(project, bad, "labelstudio")
    (tmp_path / "x.csv").write_text("file,class\n000.png,1\n")
    with pytest.raises(InputError, match=r"must have a 'path' \(or 'id'\) column and a 'label' column"):
        import_labels(project, tmp_path / "x.csv", "csv")
    with pytest.raises(
        InputError, match=r"format must be one of labelstudio, coco, csv, folder, masks; got 'xml'"
    ):
        import_labels(project, bad, "xml")
    assert dump(project) == before


# ---- rounds -----------------------------------------------------------------------------------


def test_round_records_everything_and_reruns_to_the_same_round(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool)
    preds = predictions(tmp_path, project)
    selected = project.round(preds, "margin", 5, seed=3, model_version="cnn-v1")
    assert [row.rank for row in selected] == [1, 2, 3, 4, 5]
    data = np.load(preds)
    margins = 1 - np.diff(np.sort(data["probs"], axis=1)[:, -2:], axis=1)[:, 0]
    expected = [str(p) for p in data["ids"][np.argsort(-margins, kind="stable")[:5]]]
    assert [row.path for row in selected] == expected
    top = data["probs"][list(data["ids"]).index(expected[0])]
    assert selected[0].prediction == {"class": str(int(np.argmax(top))), "score": pytest.approx(top.max())}
    assert project.round(preds, "margin", 5, seed=3, model_version="cnn-v1") == selected
    (record,) = project.rounds()
    assert (record.strategy, record.seed, record.budget, record.model_version) == (
        "margin",
        3,
        5,
        "cnn-v1",
    )
    assert record.n_candidates == 40 and len(record.predictions_sha256) == 64
    assert len(project.scores(1)) == 40  # every score of the round, not only the selected


def test_next_round_excludes_labeled_and_already_selected(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool)
    import_labels(project, csv_file(tmp_path, [(f"{i:03d}.png", "1") for i in range(10)]), "csv")
    first = project.round(predictions(tmp_path, project), "entropy", 10)
    second = project.round(predictions(tmp_path, project), "coreset", 10)  # same file, another strategy
    chosen = [row.path for row in first + second]
    assert len(set(chosen)) == 20
    assert not set(chosen) & {f"{i:03d}.png" for i in range(10)}
    third = project.round(predictions(tmp_path, project, seed=1, name="p2.npz"), "entropy", 50)
    assert len(third) == 10  # only 10 images left
    with pytest.raises(InputError, match=r"every image in .* is labeled or already selected"):
        project.round(predictions(tmp_path, project, seed=2, name="p3.npz"), "entropy", 5)
    assert [r.number for r in project.rounds()] == [1, 2, 3]


def test_round_errors_leave_no_round(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool)
    bad = tmp_path / "bad.npz"
    np.savez(bad, ids=np.array(["000.png", "ghost.png"]), probs=np.full((2, 10), 0.1))
    with pytest.raises(
        InputError, match=r"1 ids in the predictions file name no image of this project: 'ghost.png'"
    ):
        project.round(bad, "entropy", 1)
    np.savez(bad, ids=np.array(["000.png", "001.png"]), probs=np.full((2, 3), 1 / 3))
    with pytest.raises(InputError, match=r"'probs' in .* has shape \(2, 3\), but the project has 10 classes"):
        project.round(bad, "entropy", 1)
    with pytest.raises(InputError, match=r"requires embeddings"):
        project.round(bad, "coreset", 1)
    with pytest.raises(InputError, match=r"budget must be an integer >= 1; got 0"):
        project.round(bad, "entropy", 0)
    assert project.rounds() == []


def test_detection_round_from_coco_results(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool, task="detection", classes=["digit", "blot"])
    rng = np.random.default_rng(0)
    results = []
    for item in project.items():
        for _ in range(int(rng.integers(0, 3))):
            p = rng.dirichlet(np.ones(3))
            results.append(
                {
                    "image_id": item.id,
                    "category_id": int(np.argmax(p[1:])) + 1,
                    "bbox": [1, 1, 5, 5],
                    "score": float(p[1:].max()),
                    "class_probs": p.tolist(),
                }
            )
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    rows = project.round(path, "detection_entropy", 4, background_index=0)
    assert len(rows) == 4
    assert all(
        box["class"] in ("digit", "blot") and box["box"] == [1, 1, 6, 6]
        for box in rows[0].prediction["boxes"]
    )


def test_round_within_a_cost_budget_from_a_costs_column(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool)
    ids = [item.path for item in project.items()]
    probs = np.full((40, 10), 0.1)  # least_confidence 0.9 everywhere but ...
    probs[0], probs[1], probs[2] = [0.3] + [0.7 / 9] * 9, [0.5] + [0.5 / 9] * 9, [0.6] + [0.4 / 9] * 9
    probs[3:] = [0.95] + [0.05 / 9] * 9  # ... 0.7, 0.5, 0.4 for images 0-2 and 0.05 for the rest
    seconds = np.array([10.0, 2.0, 2.0] + [1.0] * 37)
    path = tmp_path / "costs.npz"
    np.savez(path, ids=np.array(ids), probs=probs, seconds=seconds)
    rows = project.round(path, "least_confidence", cost_budget=6, costs_column="seconds", seed=1)
    # score per second: 0.25 (image 1), 0.2 (image 2), 0.07 (image 0, 10 s: no longer fits), then 0.05 each
    assert [row.path for row in rows] == [ids[1], ids[2], ids[3], ids[4]]
    (record,) = project.rounds()
    assert record.cost == {"budget": 6.0, "spent": 6.0, "column": "seconds"}
    assert record.params == {} and record.budget == 4  # the images the cost bought
    assert project.scores(1) == {row.id: pytest.approx(row.score) for row in rows}
    again = project.round(path, "least_confidence", cost_budget=6, costs_column="seconds", seed=1)
    assert again == rows and len(project.rounds()) == 1  # the same request: the same round
    image_round = project.round(path, "least_confidence", 2, seed=1)
    assert image_round[0].path == ids[0] and image_round[1].path in ids[5:]  # in images, the dear one first
    assert project.rounds()[1].cost is None and project.rounds()[1].budget == 2
    drawn = project.round(path, "random", cost_budget=3, costs_column="seconds", seed=1)  # draws, packed
    assert 1 <= len(drawn) <= 3 and project.rounds()[2].cost["spent"] <= 3


def test_detection_round_within_a_cost_budget_prices_predicted_boxes(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool, task="detection", classes=["digit", "blot"])
    items = project.items()
    results = [  # image 0: three uncertain boxes (3 x 10 + 5 = 35 s); images 1-3: one box (15 s)
        {
            "image_id": item.id,
            "category_id": 1,
            "bbox": [1, 1, 5, 5],
            "score": p,
            "class_probs": [0.0, p, 1 - p],
        }
        for item, boxes, p in [(items[0], 3, 0.5), (items[1], 1, 0.6), (items[2], 1, 0.7), (items[3], 1, 0.9)]
        for _ in range(boxes)
    ]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    with pytest.raises(InputError, match=r"cost_budget on COCO results .* needs seconds_per_box"):
        project.round(path, "detection_entropy", cost_budget=30)
    rows = project.round(
        path, "detection_entropy", cost_budget=30, seconds_per_box=10, seconds_per_image=5, background_index=0
    )
    assert [row.id for row in rows] == [items[1].id, items[2].id]  # 35 s never fits 30 s
    (record,) = project.rounds()
    assert record.cost == {"budget": 30.0, "spent": 30.0, "seconds_per_box": 10.0, "seconds_per_image": 5.0}
    with pytest.raises(
        InputError, match=r"no image fits cost_budget 4: the cheapest of the 38 candidates costs 5"
    ):
        project.round(path, "detection_entropy", cost_budget=4, seconds_per_box=10, seconds_per_image=5)
    with pytest.raises(InputError, match=r"costs_column reads a predictions file \(.npz/.parquet\); on COCO"):
        project.round(path, "detection_entropy", cost_budget=30, costs_column="seconds")
    assert len(project.rounds()) == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {},
            r"a round needs budget \(images\) or cost_budget .*; got budget=None and cost_budget=None",
        ),
        ({"budget": 2, "cost_budget": 5.0}, r"not both; got budget=2 and cost_budget=5.0"),
        (
            {"budget": 2, "costs_column": "seconds"},
            r"costs_column apply with cost_budget; pass cost_budget too",
        ),
        ({"cost_budget": 0}, r"cost_budget must be a finite number > 0; got 0"),
        ({"cost_budget": float("nan")}, r"cost_budget must be a finite number > 0; got nan"),
        ({"cost_budget": "5"}, r"cost_budget must be a finite number > 0; got '5'"),
        ({"cost_budget": 5, "costs_column": "seconds", "candidates": 10}, r"drop candidates \(got 10\)"),
        ({"cost_budget": 5}, r"needs costs_column, the name of its column of per-image costs; got None"),
        ({"cost_budget": 5, "seconds_per_box": 7}, r"seconds_per_box and seconds_per_image price COCO"),
        ({"cost_budget": 5, "costs_column": "minutes"}, r"costs_column 'minutes' is not in .*; it holds"),
        ({"cost_budget": 5, "costs_column": "seconds", "strategy": "coreset"}, r"has no cost budget"),
    ],
)
def test_cost_round_errors_leave_no_round(
    tmp_path: Path, digit_pool: Any, arguments: dict[str, Any], message: str
) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool)
    path = tmp_path / "costs.npz"
    ids = np.array([item.path for item in project.items()])
    np.savez(path, ids=ids, probs=np.full((40, 10), 0.1), embeddings=np.eye(40)[:, :4], seconds=np.ones(40))
    strategy = arguments.pop("strategy", "entropy")
    with pytest.raises(InputError, match=message):
        project.round(path, strategy, **arguments)
    assert project.rounds() == []


# ---- leases and status -----------------------------------------------------------------------


def test_leases_never_hand_one_image_to_two_annotators(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool)
    selected = [row.id for row in project.round(predictions(tmp_path, project), "entropy", 6)]
    alice = [item.id for item in project.next("alice", 4)]
    bob = [item.id for item in project.next("bob", 4)]
    assert alice == selected[:4] and bob == selected[4:]
    assert [item.id for item in project.next("alice", 4)] == alice  # asking again: the same images
    assert project.next("carol", 3) == []
    assert project.status().leases == {"alice": 4, "bob": 2}
    paths = {item.id: item.path for item in project.items()}
    import_labels(project, csv_file(tmp_path, [(paths[alice[0]], "3")]), "csv", "alice")
    assert project.status().leases == {"alice": 3, "bob": 2}  # a label releases its lease


def test_expired_leases_return_to_the_queue(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool)
    selected = [row.id for row in project.round(predictions(tmp_path, project), "entropy", 2)]
    assert [item.id for item in project.next("alice", 2, lease_seconds=0.001)] == selected
    time.sleep(0.01)  # the lease has expired
    assert [item.id for item in project.next("bob", 2)] == selected
    with pytest.raises(InputError, match=r"n must be an integer in \[1, 10000\]; got 0"):
        project.next("bob", 0)


def test_status_counts(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool)
    rows = project.round(predictions(tmp_path, project), "entropy", 3)
    import_labels(
        project, csv_file(tmp_path, [(rows[0].path, "4"), ("039.png", "4"), ("038.png", "2")]), "csv"
    )
    status = project.status()
    assert (status.items, status.labeled, status.unlabeled) == (40, 3, 37)
    assert status.rounds == [RoundProgress(round=1, strategy="entropy", selected=3, labeled=1)]
    assert (
        status.class_balance["4"] == 2
        and status.class_balance["2"] == 1
        and sum(status.class_balance.values()) == 3
    )


# ---- exports -------------------------------------------------------------------------------------


def test_exports_of_a_round(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool)
    rows = project.round(predictions(tmp_path, project), "entropy", 3)
    export(project, "csv", tmp_path / "sel.csv")
    lines = (tmp_path / "sel.csv").read_text().splitlines()
    assert lines[0] == "path,rank,score,round,id"
    assert [line.split(",")[0] for line in lines[1:]] == [row.path for row in rows]
    export(project, "labelstudio", tmp_path / "tasks.json", image_url="http://images.local/")
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    assert [t["data"]["image"] for t in tasks] == ["http://images.local/" + row.path for row in rows]
    # The score Label Studio shows is the model's certainty, 1 - H / log C, lowest first.
    certainty = [1 - row.score / np.log(10) + 1e-9 * k / 3 for k, row in enumerate(rows)]
    assert [t["predictions"][0]["score"] for t in tasks] == pytest.approx(certainty, abs=1e-12)
    assert '<Choice value="9"/>' in (tmp_path / "tasks.label_config.xml").read_text()
    with pytest.raises(InputError, match=r"round must be a round of this project \(1..1\); got 4"):
        export(project, "csv", tmp_path / "x.csv", round_number=4)


def test_export_refuses_paths_escaping_the_root(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool)
    project.round(predictions(tmp_path, project), "entropy", 3)
    with pytest.raises(InputError, match=r"is outside local_files_root"):
        export(project, "labelstudio", tmp_path / "t.json", local_files_root=tmp_path / "elsewhere")
    # a registered path tampered with in the ledger must not lead outside the root
    project._ledger.execute("UPDATE items SET path = '../../etc/passwd' WHERE id = 1")
    with pytest.raises(InputError, match=r"item path '../../etc/passwd' escapes the project's images root"):
        export(project, "coco", tmp_path / "c.json", items="all")
    assert not (tmp_path / "c.json").exists()


# ---- schema --------------------------------------------------------------------------------------


def test_ledger_from_a_newer_activecv_is_refused(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    new_project(tmp_path, pool).close()
    with sqlite3.connect(tmp_path / "project" / "ledger.sqlite") as conn:
        conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    with pytest.raises(InputError, match=rf"has schema version {schema.SCHEMA_VERSION + 1}, newer than"):
        Project(tmp_path / "project")


def test_migrations_apply_in_order_and_a_failing_one_rolls_back(
    tmp_path: Path, digit_pool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool, _ = digit_pool
    new_project(tmp_path, pool).close()
    ledger = tmp_path / "project" / "ledger.sqlite"
    released = list(schema.MIGRATIONS)
    failing = [
        *released,
        "ALTER TABLE items ADD COLUMN note TEXT;\nINSERT INTO no_such_table VALUES (1);",
    ]
    monkeypatch.setattr(schema, "MIGRATIONS", failing)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(failing))
    with pytest.raises(sqlite3.OperationalError, match="no such table: no_such_table"):
        Project(tmp_path / "project")
    with sqlite3.connect(ledger) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(released)
        assert "note" not in [row[1] for row in conn.execute("PRAGMA table_info(items)")]
    working = [*released, "ALTER TABLE items ADD COLUMN note TEXT;"]
    monkeypatch.setattr(schema, "MIGRATIONS", working)
    project = Project(tmp_path / "project")
    assert project._ledger.execute("PRAGMA user_version").fetchone()[0] == len(released) + 1
    assert len(project.items()) == 40


def test_an_init_killed_before_its_first_commit_is_completed_by_running_it_again(
    tmp_path: Path, digit_pool: Any
) -> None:
    pool, _ = digit_pool
    (tmp_path / "project").mkdir()
    conn = sqlite3.connect(tmp_path / "project" / "ledger.sqlite", isolation_level=None)
    schema.migrate(conn, "ledger")  # the schema exists, the project's own rows do not
    conn.close()
    with pytest.raises(InputError, match=r"was left by an interrupted init; run the same init again"):
        Project(tmp_path / "project")
    assert len(new_project(tmp_path, pool).items()) == 40


def test_a_first_release_ledger_migrates_with_its_data(
    tmp_path: Path, digit_pool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool, _ = digit_pool
    with monkeypatch.context() as first_release:
        first_release.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
        first_release.setattr(schema, "SCHEMA_VERSION", 1)
        new_project(tmp_path, pool).close()
    with sqlite3.connect(tmp_path / "project" / "ledger.sqlite") as conn:  # written as release 1 did
        conn.execute("INSERT INTO annotations VALUES (1, 1, 'ann', 'csv', NULL, 'f', '2026-01-01')")
        conn.execute("INSERT INTO labels VALUES (1, 4, NULL, NULL, NULL, NULL)")
        conn.execute(
            "INSERT INTO rounds VALUES (1, 'entropy', '{}', 0, 2, NULL, 'p.npz', 'h', 40, 'r', 't', 't')"
        )
        conn.executemany("INSERT INTO selections VALUES (1, ?, ?, 0.5, NULL)", [(1, 1), (2, 2)])
    project = Project(tmp_path / "project")
    assert project._ledger.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    assert project.labels() == {1: [Label("3")]}
    assert project.queue() == []  # the table version 2 added
    assert [lease.id for lease in project.next("bob", 5)] == [2]  # item 1 is labeled: not open work
    assert project.status().rounds == [RoundProgress(round=1, strategy="entropy", selected=2, labeled=1)]


def test_a_release_2_queue_migrates_with_its_labeled_images_closed(
    tmp_path: Path, digit_pool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool, _ = digit_pool
    with monkeypatch.context() as second_release:
        second_release.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:2])
        second_release.setattr(schema, "SCHEMA_VERSION", 2)
        new_project(tmp_path, pool).close()
    with sqlite3.connect(tmp_path / "project" / "ledger.sqlite") as conn:  # written as release 2 did
        conn.execute("INSERT INTO annotations VALUES (1, 1, 'ann', 'csv', NULL, 'f', '2026-01-01')")
        conn.executemany(
            "INSERT INTO queue VALUES (?, 'entropy', 1.0, 'v1', ?)", [(1, "2026-01-01"), (2, "2026-01-02")]
        )
    project = Project(tmp_path / "project")
    assert [q.id for q in project.queue()] == [2]  # item 1 is labeled: no longer open work
    assert [q.id for q in project.queue(include_labeled=True)] == [1, 2]


def test_the_queue_is_read_page_by_page(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool)
    ids = [project.enqueue(f"image {k}".encode(), ".png", (4, 4), "entropy", float(k), "m") for k in range(7)]
    pages, after = [], None
    while page := project.queue(limit=3, after=after):
        pages.append([q.id for q in page])
        after = page[-1].id
    assert pages == [ids[:3], ids[3:6], ids[6:]]


def test_flagged_images_are_stored_once_by_content(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = new_project(tmp_path, pool)
    data = (pool / "000.png").read_bytes()
    new = b"bytes the service already decoded"
    known = project.enqueue(data, ".png", (16, 16), "entropy", 1.5, "m1")
    assert known == project.item_ids(["000.png"])[0]  # already in the pool: not stored again
    first = project.enqueue(new, ".png", (4, 4), "entropy", 2.0, "m1")
    assert project.enqueue(new, ".png", (4, 4), "entropy", 2.0, "m1") == first
    assert sorted((pool / "incoming").iterdir()) == [
        pool / "incoming" / f"{hashlib.sha256(new).hexdigest()}.png"
    ]
    assert [(q.id, q.value) for q in project.queue()] == [(known, 1.5), (first, 2.0)]
    import_labels(project, csv_file(tmp_path, [("000.png", "0")]), "csv")
    assert [q.id for q in project.queue()] == [first]
    assert len(project.queue(include_labeled=True)) == 2
    project.enqueue(b"a third image", ".png", (4, 4), "entropy", 3.0, "m1")
    assert export(project, "labelstudio", tmp_path / "queue.json", items="queue", image_url="http://x/") == 2
    tasks = json.loads((tmp_path / "queue.json").read_text())
    assert [t["data"]["activecv_score"] for t in tasks] == [3.0, 2.0]  # most uncertain first
    assert [t["predictions"][0]["model_version"] for t in tasks] == ["m1", "m1"]
    assert tasks[0]["data"]["activecv_round"] is None

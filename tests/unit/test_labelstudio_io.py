"""Label Studio tasks out and its JSON export in, against hand-checked values."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from activecv._errors import InputError
from activecv.io import (
    Label,
    TaskItem,
    label_config,
    label_studio_annotations,
    label_studio_tasks,
    read_label_studio_export,
)
from activecv.io.labelstudio import TaskImageError, certainty_scores, label_studio_score, task_image


def rectangle(x: float, y: float, w: float, h: float, name: str, rotation: float = 0.0) -> dict[str, Any]:
    return {
        "type": "rectanglelabels",
        "from_name": "label",
        "to_name": "image",
        "original_width": 200,
        "original_height": 100,
        "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation, "rectanglelabels": [name]},
    }


def write(tmp_path: Path, tasks: Any) -> Path:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    return path


def test_percent_rectangles_become_pixel_boxes(tmp_path: Path) -> None:
    tasks = [
        {
            "id": 7,
            "data": {"image": "/x.png", "activecv_item": 3, "activecv_project": "abc"},
            "annotations": [
                {
                    "id": 11,
                    "completed_by": 2,
                    "updated_at": "t1",
                    "result": [
                        rectangle(10, 20, 50, 30, "car"),
                        rectangle(50, 50, 10, 20, "dog", rotation=90),
                    ],
                },
                {"id": 12, "completed_by": 3, "was_cancelled": True, "result": []},
            ],
        }
    ]
    file = read_label_studio_export(write(tmp_path, tasks))
    assert file.project_id == "abc" and file.skipped == 1
    (annotation,) = file.annotations
    assert (annotation.item, annotation.annotator, annotation.source_key) == (
        3,
        "labelstudio-user-2",
        "11@t1",
    )
    car, dog = annotation.labels
    assert car == Label("car", (20.0, 20.0, 120.0, 50.0))
    # 20 x 20 px square at (100, 50) rotated 90 degrees clockwise about its top-left corner
    assert dog.class_name == "dog"
    assert [round(v, 9) for v in dog.box] == [80.0, 50.0, 100.0, 70.0]  # type: ignore[union-attr]
    assert annotation.image_size == (200, 100)


def test_choices_and_annotator_email(tmp_path: Path) -> None:
    result = [{"type": "choices", "from_name": "label", "to_name": "image", "value": {"choices": ["cat"]}}]
    tasks = [
        {
            "data": {"image": "a.png"},
            "annotations": [{"id": 1, "completed_by": {"email": "x@y.z"}, "result": result}],
        }
    ]
    (annotation,) = read_label_studio_export(write(tmp_path, tasks)).annotations
    assert (annotation.item, annotation.labels, annotation.annotator) == ("a.png", (Label("cat"),), "x@y.z")


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ([{"annotations": []}], r"task 0 of .* has no 'data' object"),
        (
            [{"data": {"text": "x"}, "annotations": []}],
            r"names no image: its data has no 'activecv_item' or 'image'",
        ),
        (
            [
                {
                    "data": {"image": "a"},
                    "annotations": [{"result": [{"type": "keypointlabels", "value": {}}]}],
                }
            ],
            r"has a result of type 'keypointlabels'; activecv imports 'choices', 'rectanglelabels'",
        ),
        (
            [
                {
                    "data": {"image": "a"},
                    "annotations": [{"result": [{"type": "rectanglelabels", "value": {"x": 1}}]}],
                }
            ],
            r"a rectangle in task 0 .* needs original_width and original_height as positive integers",
        ),
        (
            [{"data": {"image": "a", "activecv_project": p}, "annotations": []} for p in ("p1", "p2")],
            r"mixes tasks of several activecv projects: \['p1', 'p2'\]",
        ),
    ],
)
def test_malformed_exports(tmp_path: Path, tasks: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_label_studio_export(write(tmp_path, tasks))


def test_tasks_carry_rank_scores_in_label_studio_order() -> None:
    items = [
        TaskItem(
            5,
            "b.png",
            "u/b.png",
            1,
            9.0,
            2,
            {"boxes": [{"box": [20, 10, 60, 30], "class": "car", "score": 0.4}]},
            200,
            100,
        ),
        TaskItem(4, "a.png", "u/a.png", 2, 3.0, 2, None, 200, 100),
    ]
    tasks = label_studio_tasks(items, project_id="p", task="detection", model_version="m1")
    assert [t["predictions"][0]["score"] for t in tasks] == [0.0, 0.5]  # lower = label first
    assert [t["predictions"][0]["model_version"] for t in tasks] == ["m1", "m1"]
    (box,) = tasks[0]["predictions"][0]["result"]
    assert box["value"] == {
        "x": 10.0,
        "y": 10.0,
        "width": 20.0,
        "height": 20.0,
        "rotation": 0,
        "rectanglelabels": ["car"],
    }
    assert tasks[1]["predictions"][0]["result"] == []
    assert tasks[0]["data"]["activecv_score"] == 9.0 and tasks[0]["data"]["activecv_item"] == 5
    assert math.isclose(tasks[1]["data"]["activecv_score"], 3.0)


def test_label_config_escapes_class_names() -> None:
    xml = label_config("detection", ["a&b", 'say "hi"'])
    assert '<Label value="a&amp;b"/>' in xml and "<Label value='say \"hi\"'/>" in xml
    assert "<RectangleLabels" in xml and "<Choices" in label_config("classification", ["x"])


def _ranked(scores: list[float]) -> list[TaskItem]:
    return [TaskItem(k, f"{k}.png", f"u/{k}.png", k + 1, s, 1, None) for k, s in enumerate(scores)]


def test_scores_shown_are_the_models_certainty_in_activecvs_order() -> None:
    # Entropy in nats over 4 classes: certainty = 1 - H / log 4, plus a vanishing rank term.
    entropy = [math.log(4), 0.5 * math.log(4), 0.0]
    shown = certainty_scores(_ranked(entropy), "entropy", 4)
    assert shown == pytest.approx([0.0, 0.5 + 1e-9 / 3, 1.0 + 2e-9 / 3], abs=1e-15)
    # least confidence 1 - p_max lies in [0, (C - 1) / C]; margin 1 - (p1 - p2) in [0, 1].
    assert certainty_scores(_ranked([0.75, 0.375]), "least_confidence", 4) == pytest.approx(
        [0.0, 0.5], abs=1e-8
    )
    assert certainty_scores(_ranked([0.9, 0.2]), "margin", 3) == pytest.approx([0.1, 0.8], abs=1e-8)
    # Equal certainties still come out in rank order.
    tied = certainty_scores(_ranked([0.5, 0.5, 0.5]), "ratio", 2)
    assert tied[0] < tied[1] < tied[2]


def test_scores_fall_back_to_ranks_without_a_measure_in_order() -> None:
    assert certainty_scores(_ranked([3.0, 7.0, 1.0]), "coreset", 10) == [0.0, 1 / 3, 2 / 3]
    # A measure whose scores do not follow the ranks (a batch-aware order) is not shown as one.
    assert certainty_scores(_ranked([0.1, 0.9]), "entropy", 10) == [0.0, 0.5]
    assert certainty_scores(_ranked([0.5]), None, 10) == [0.0]


def test_service_measures_as_label_studio_scores() -> None:
    assert label_studio_score("entropy", math.log(10) / 4, 10) == pytest.approx(0.75)
    assert label_studio_score("entropy_sum", 3.0, 10) == 0.25
    assert label_studio_score("margin_mean", 2.0, 10) == 0.0  # clipped to [0, 1]


def test_local_files_urls_resolve_against_the_document_root(tmp_path: Path) -> None:
    pool = tmp_path / "docs" / "pool"
    pool.mkdir(parents=True)
    (pool / "a.png").write_bytes(b"x")
    (tmp_path / "docs" / "other.png").write_bytes(b"y")
    found = task_image("/data/local-files/?d=pool/a.png", pool, tmp_path / "docs")
    assert found == (pool / "a.png").resolve()
    assert task_image("/data/local-files/?d=a.png", pool) == found  # no document root: the images root
    with pytest.raises(TaskImageError, match=r"'/data/local-files/\?d=other.png' is outside the images root"):
        task_image("/data/local-files/?d=other.png", pool, tmp_path / "docs")


def test_exports_parsed_in_memory_name_their_source() -> None:
    tasks = [
        {
            "data": {"activecv_item": 3},
            "annotations": [{"id": 1, "completed_by": {"id": 2, "email": "x@y"}, "result": []}],
        }
    ]
    file = label_studio_annotations(tasks, "http://ls/projects/1")
    assert [a.annotator for a in file.annotations] == ["x@y"]
    with pytest.raises(InputError, match=r"task 0 of 'http://ls/projects/1' has no 'data' object"):
        label_studio_annotations([{"id": 1}], "http://ls/projects/1")

"""A real Label Studio on 127.0.0.1 (the ``label_studio`` fixture of conftest.py): activecv's
round goes in, an annotator labels it, the export comes back into the ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from activecv.cli import main
from activecv.project import Project

pytestmark = [pytest.mark.service, pytest.mark.slow]


def cli(command: str) -> None:
    assert main(command.split()) == 0, command


def annotate_in_label_studio(client: Any, tasks_file: Path, model_version: str, result_of: Any) -> list[int]:
    """Create a Label Studio project, import the tasks in shuffled order, then label as an
    annotator does under uncertainty sampling: ask for the next task, annotate it, repeat.
    Returns the activecv ranks in the order Label Studio handed the tasks out."""
    config = tasks_file.with_name(tasks_file.stem + ".label_config.xml").read_text()
    project = client.call("POST", "/api/projects", {"title": "activecv round trip", "label_config": config})
    tasks = json.loads(tasks_file.read_text())
    np.random.default_rng(0).shuffle(tasks)  # so task ids do not follow the ranking
    imported = client.call("POST", f"/api/projects/{project['id']}/import", tasks)
    assert imported["task_count"] == len(tasks) and imported["prediction_count"] == len(tasks)
    client.call(
        "PATCH",
        f"/api/projects/{project['id']}",
        {"sampling": "Uncertainty sampling", "model_version": model_version},
    )
    ranks = []
    for _ in tasks:
        task = client.call("GET", f"/api/projects/{project['id']}/next")
        ranks.append(task["data"]["activecv_rank"])
        client.call(
            "POST", f"/api/tasks/{task['id']}/annotations", {"result": result_of(task), "lead_time": 3.0}
        )
    export = client.call("GET", f"/api/projects/{project['id']}/export?exportType=JSON")
    tasks_file.with_name("export.json").write_text(json.dumps(export))
    return ranks


def round_trip(client: Any, project: Path, model_version: str, result_of: Any) -> list[int]:
    """Export the project's round to Label Studio, annotate it there, import Label Studio's
    export back; returns the ranks in the order Label Studio handed the tasks out."""
    tasks = project.parent / "tasks.json"
    cli(f"project export {project} --format labelstudio --out {tasks}")
    ranks = annotate_in_label_studio(client, tasks, model_version, result_of)
    cli(f"project import {project} {project.parent}/export.json --format labelstudio")
    return ranks


def test_classification_round_trip(label_studio: Any, tmp_path: Path, digit_pool: Any) -> None:
    pool, truth = digit_pool
    project = tmp_path / "project"
    classes = ",".join(map(str, range(10)))
    cli(f"project init {project} --images {pool} --task classification --classes {classes}")
    probs = np.random.default_rng(4).dirichlet(np.ones(10), size=40)
    np.savez(tmp_path / "preds.npz", ids=np.array(sorted(p.name for p in pool.iterdir())), probs=probs)
    cli(
        f"project round {project} --predictions {tmp_path}/preds.npz --strategy margin "
        " --budget 8 --model-version cnn-7"
    )

    def true_choice(task: dict[str, Any]) -> list[dict[str, Any]]:
        label = str(truth[int(task["data"]["activecv_path"][:3])])
        return [{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [label]}}]

    ranks = round_trip(label_studio, project, "cnn-7", true_choice)
    assert ranks == list(range(1, 9)), "Label Studio's uncertainty sampling must follow activecv's ranking"
    with Project(project) as opened:
        selected = opened.selection(1)
        labels = opened.labels()
        assert sorted(labels) == sorted(row.id for row in selected)
        for row in selected:
            assert [label.class_name for label in labels[row.id]] == [str(truth[int(row.path[:3])])]
        assert opened.status().rounds[0].labeled == 8
        assert opened.history(selected[0].id)[0].annotator.startswith("labelstudio-user-")


def test_detection_round_trip(label_studio: Any, tmp_path: Path) -> None:
    from PIL import Image

    from activecv.datasets import make_scenes

    scenes = make_scenes(12, size=64, max_objects=3, source="digits", seed=0)
    pool, project = tmp_path / "scenes", tmp_path / "project"
    pool.mkdir()
    for i in range(len(scenes)):  # 48 wide, 64 high: width and height must not be confused
        Image.fromarray((scenes.images[i, 0] * 255).astype(np.uint8)[:, :48]).save(pool / f"{i:02d}.png")
    cli(f"project init {project} --images {pool} --task detection --classes {','.join(scenes.class_names)}")
    rng = np.random.default_rng(1)
    results = []
    for item_id in range(1, len(scenes) + 1):
        for _ in range(3):
            p = rng.dirichlet(np.ones(len(scenes.class_names)))
            box = {"image_id": item_id, "category_id": int(np.argmax(p)) + 1, "bbox": [2, 3, 20, 10]}
            results.append({**box, "score": float(p.max()), "class_probs": p.tolist()})
    (tmp_path / "results.json").write_text(json.dumps(results))
    cli(
        f"project round {project} --predictions {tmp_path}/results.json --strategy detection_entropy"
        " --budget 5"
    )

    def true_boxes(index: int) -> list[tuple[str, list[float]]]:
        """The scene's true boxes that lie in the saved 64 x 48 crop (clipped to it)."""
        found = []
        for box, label in zip(scenes.boxes[index].tolist(), scenes.labels[index].tolist(), strict=True):
            if box[0] < 47:
                found.append((scenes.class_names[label], [box[0], box[1], min(box[2], 48.0), box[3]]))
        return found

    def rectangles(task: dict[str, Any]) -> list[dict[str, Any]]:
        percent = [
            (
                name,
                {
                    "x": 100 * x0 / 48,
                    "y": 100 * y0 / 64,
                    "width": 100 * (x1 - x0) / 48,
                    "height": 100 * (y1 - y0) / 64,
                },
            )
            for name, (x0, y0, x1, y1) in true_boxes(int(task["data"]["activecv_path"][:2]))
        ]
        return [
            {
                "from_name": "label",
                "to_name": "image",
                "type": "rectanglelabels",
                "original_width": 48,
                "original_height": 64,
                "value": {**value, "rotation": 0, "rectanglelabels": [name]},
            }
            for name, value in percent
        ]

    assert round_trip(label_studio, project, "activecv-round-1", rectangles) == [1, 2, 3, 4, 5]
    assert all(t["predictions"][0]["result"] for t in json.loads((tmp_path / "tasks.json").read_text()))
    with Project(project) as opened:
        labels = opened.labels()
        selected = opened.selection(1)
        assert sorted(labels) == sorted(row.id for row in selected)
        for row in selected:
            expected = true_boxes(int(row.path[:2]))
            got = [(label.class_name, list(label.box or ())) for label in labels[row.id]]
            assert [name for name, _ in got] == [name for name, _ in expected]
            np.testing.assert_allclose([box for _, box in got], [box for _, box in expected], atol=1e-6)


def test_segmentation_round_trip_of_brushes_and_regions(label_studio: Any, tmp_path: Path) -> None:
    """A region round goes to Label Studio as one brush per region; the annotator relabels and
    repaints in Label Studio's own brush format; its export comes back as masks."""
    from PIL import Image

    from activecv.datasets import make_segmentation_scenes
    from activecv.io import brush_decode, brush_encode

    scenes = make_segmentation_scenes(6, size=32, max_objects=1, source="digits", seed=2)
    pool, project = tmp_path / "scenes", tmp_path / "project"
    pool.mkdir()
    for i in range(len(scenes)):  # 32 high, 24 wide: width and height must not be confused
        Image.fromarray((scenes.images[i, 0] * 255).astype(np.uint8)[:, :24]).save(pool / f"{i:02d}.png")
    truth = scenes.masks[:, :, :24]
    names = ",".join(scenes.class_names)
    cli(f"project init {project} --images {pool} --task segmentation --classes {names}")
    maps = np.full((6, 11, 32, 24), 0.05)
    maps[:, 0] = 0.5 + np.random.default_rng(3).random((6, 32, 24)) * 0.4  # background, unsure
    maps /= maps.sum(axis=1, keepdims=True)
    np.savez(tmp_path / "seg.npz", ids=np.array([f"{i:02d}.png" for i in range(6)]), seg_probs=maps)
    cli(
        f"project regions {project} --predictions {tmp_path}/seg.npz --budget 6 --cell 8 "
        "--model-version fcn-1"
    )

    def true_regions(task: dict[str, Any]) -> list[dict[str, Any]]:
        """Each region brush kept, relabeled with the region's true dominant class."""
        item = int(task["data"]["activecv_path"][:2])
        results = []
        for result in task["predictions"][0]["result"]:
            region = brush_decode(result["value"]["rle"], 24, 32)
            dominant = scenes.class_names[int(np.bincount(truth[item][region]).argmax())]
            value = {"format": "rle", "rle": brush_encode(region), "brushlabels": [dominant]}
            results.append({**{k: result[k] for k in ("from_name", "to_name", "type")}, "value": value,
                            "original_width": 24, "original_height": 32})  # fmt: skip
        return results

    round_trip(label_studio, project, "fcn-1", true_regions)
    with Project(project) as opened:
        rows = opened.selection(1)
        asked = sum(len(row.prediction["regions"]) for row in rows)  # type: ignore[index]
        assert asked == 6
        for row in rows:
            mask = opened.mask(row.id)
            assert mask is not None
            labeled = mask != 255
            cells = {e["region"] for e in row.prediction["regions"]}  # type: ignore[index]
            expected = np.isin((np.arange(32)[:, None] // 8) * 3 + np.arange(24)[None] // 8, list(cells))
            np.testing.assert_array_equal(labeled, expected)  # exactly the regions asked for
            item = int(row.path[:2])
            for cell in cells:
                inside = (np.arange(32)[:, None] // 8) * 3 + np.arange(24)[None] // 8 == cell
                assert (mask[inside] == np.bincount(truth[item][inside]).argmax()).all()

"""Detection adapters: COCO results files, YOLO arrays, torchvision outputs, and the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from tests.integration.test_cli import run

import activecv as acv
from activecv.io import count_coco_boxes, from_yolo, load_coco_detections

RESULTS = [
    {"image_id": 7, "category_id": 3, "bbox": [10, 20, 30, 40], "score": 0.9,
     "class_probs": [0.05, 0.9, 0.05], "feature": [1.0, 0.0]},
    {"image_id": 7, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.6,
     "class_probs": [0.6, 0.3, 0.1], "feature": [0.0, 1.0]},
    {"image_id": 9, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5,
     "class_probs": [0.5, 0.2, 0.3], "feature": [0.5, 0.5]},
]  # fmt: skip
DATASET = {
    "images": [{"id": 9}, {"id": 8}, {"id": 7}],
    "categories": [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}],
    "annotations": [],
}


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    results, images = tmp_path / "results.json", tmp_path / "images.json"
    results.write_text(json.dumps(RESULTS))
    images.write_text(json.dumps(DATASET))
    return results, images


def test_coco_results_round_trip(files: tuple[Path, Path]) -> None:
    results, images = files
    pool = load_coco_detections(results, images=images, background_index=2)
    assert pool.image_ids == [9, 8, 7] and pool.category_ids == [1, 3]
    nine, eight, seven = pool.detections
    assert len(eight) == 0  # in the images file, no detections
    np.testing.assert_array_equal(seven.boxes, [[10, 20, 40, 60], [0, 0, 5, 5]])  # xywh -> xyxy
    assert seven.labels.tolist() == [1, 0] and seven.scores.tolist() == [0.9, 0.6]
    np.testing.assert_array_equal(seven.class_probs, [[0.05, 0.9, 0.05], [0.6, 0.3, 0.1]])
    np.testing.assert_array_equal(seven.features, [[1.0, 0.0], [0.0, 1.0]])
    assert seven.num_classes == 2 and nine.labels.tolist() == [0]
    alone = load_coco_detections(results)  # no images file: images with detections, first seen first
    assert alone.image_ids == [7, 9] and alone.category_ids == [1, 3]


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ("not json", "is not valid JSON"),
        ({"a": 1}, "must hold a JSON list of detections; got dict"),
        (
            [{"image_id": 7, "bbox": [0, 0, 1, 1], "score": 1}],
            "detection 0 .* must have image_id, category_id",
        ),
        (
            [{"image_id": 5, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}],
            "names image_id 5, which is not",
        ),
        (
            [{"image_id": 7, "category_id": 4, "bbox": [0, 0, 1, 1], "score": 1}],
            "names category_id 4, which is not",
        ),
        (
            [RESULTS[0], {k: v for k, v in RESULTS[1].items() if k != "feature"}],
            "either every detection of an image has class_probs",
        ),
        ([{"image_id": 7, "category_id": 1, "bbox": [0, 0, -5, 1], "score": 1}], "x2 >= x1"),
    ],
)
def test_bad_results_files(tmp_path: Path, files: tuple[Path, Path], records: object, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(records if isinstance(records, str) else json.dumps(records))
    with pytest.raises(ValueError, match=message):
        load_coco_detections(path, images=files[1])


def test_yolo_arrays() -> None:
    # cx, cy, w, h, objectness, two class probabilities
    dets = from_yolo([np.array([[50, 50, 20, 10, 0.8, 0.25, 0.75]]), np.zeros((0, 7))], box_format="cxcywh")
    np.testing.assert_allclose(dets[0].boxes, [[40, 45, 60, 55]])
    assert dets[0].labels.tolist() == [1] and dets[0].scores[0] == pytest.approx(0.6)
    assert len(dets[1]) == 0
    with pytest.raises(ValueError, match=r"YOLO array 0 must have shape \(M, 4 \+ 1 \+ C\)"):
        from_yolo([np.zeros((2, 5))])


def test_torchvision_outputs() -> None:
    torch = pytest.importorskip("torch")
    from activecv.adapters.torch import from_torchvision

    output = {
        "boxes": torch.tensor([[0.0, 0.0, 4.0, 4.0]]),
        "labels": torch.tensor([2]),  # torchvision: 0 is background, classes from 1
        "scores": torch.tensor([0.7]),
        "class_probs": torch.tensor([[0.1, 0.2, 0.7]]),
        "features": torch.ones(1, 3),
    }
    (det,) = from_torchvision([output])
    assert det.labels.tolist() == [1] and det.num_classes == 2 and det.features.shape == (1, 3)
    with pytest.raises(ValueError, match="output 0 lacks scores"):
        from_torchvision([{"boxes": output["boxes"], "labels": output["labels"]}])


def test_cli_selects_detections_with_ebal(tmp_path: Path, files: tuple[Path, Path]) -> None:
    results, images = files
    labeled = tmp_path / "labeled.json"
    labeled.write_text(json.dumps({**DATASET, "images": [{"id": 9}], "annotations": [{"category_id": 3}]}))
    assert count_coco_boxes(labeled, [1, 3]).tolist() == [0.0, 1.0]
    out = tmp_path / "sel.csv"
    done = run(
        f"select --predictions {results} --images-json {images} --labeled-annotations {labeled} "
        f"--background-index 2 --strategy ebal --budget 2 --out {out}",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == ["7", "8"]  # 9 is labeled; 8 has no detections: fill-up
    done = run(f"select --predictions {results} --strategy ebal --budget 2 --out {out}", tmp_path)
    assert done.returncode == 2 and "requires detections + labeled_class_counts" in done.stderr
    done = run(
        f"select --predictions {results} --strategy detection_entropy --budget 1 --out {out}", tmp_path
    )
    assert done.returncode == 0 and "selected 1 of 2 images" in done.stderr
    assert acv.select(
        "enms", budget=1, detections=load_coco_detections(results).detections
    ).indices.tolist() == [0]

"""Segmentation projects: masks in from Label Studio (brushes, polygons), COCO (RLE, polygons)
and PNG index masks, stored with their history; region annotations add to an image's mask."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from activecv.io import UNLABELED, brush_encode, coco_rle_encode, write_index_mask
from activecv.project import Project, import_labels

CLASSES = ["background", "ink", "edge"]


def project_over(tmp_path: Path, digit_pool: Any) -> Project:
    pool, _ = digit_pool
    return Project.init(tmp_path / "project", task="segmentation", classes=CLASSES, images=pool)


def ink(path: Path) -> np.ndarray:
    """The true mask of a digit image: class 1 where the ink is bright."""
    from PIL import Image

    with Image.open(path) as image:
        return (np.asarray(image) > 60).astype(np.uint8)


def brush(mask: np.ndarray, name: str) -> dict[str, Any]:
    height, width = mask.shape
    value = {"format": "rle", "rle": brush_encode(mask), "brushlabels": [name]}
    return {"type": "brushlabels", "from_name": "label", "to_name": "image", "original_width": width,
            "original_height": height, "value": value}  # fmt: skip


def export(tmp_path: Path, tasks: list[dict[str, Any]]) -> Path:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    return path


def dump(project: Project) -> list[str]:
    with sqlite3.connect(project.directory / "ledger.sqlite") as conn:
        return list(conn.iterdump())


def test_brushes_from_label_studio_become_the_image_mask(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = project_over(tmp_path, digit_pool)
    truth = ink(pool / "003.png")
    edge = np.zeros_like(truth, dtype=bool)
    edge[0, :] = True
    annotation = {
        "id": 1,
        "updated_at": "t1",
        "completed_by": 1,
        "result": [brush(truth == 1, "ink"), brush(edge, "edge")],
    }
    report = import_labels(
        project,
        export(tmp_path, [{"data": {"image": "003.png"}, "annotations": [annotation]}]),
        "labelstudio",
    )
    assert report.added == 1
    expected = np.where(edge, 2, truth)  # the later brush wins; pixels no brush covers: background
    np.testing.assert_array_equal(project.mask("003.png"), expected)
    status = project.status()
    assert status.class_balance == {name: int((expected == k).sum()) for k, name in enumerate(CLASSES)}
    again = import_labels(
        project,
        export(tmp_path, [{"data": {"image": "003.png"}, "annotations": [annotation]}]),
        "labelstudio",
    )
    assert again.unchanged == 1  # the same annotation delivered again
    fixed = {**annotation, "updated_at": "t2", "result": [brush(truth == 1, "ink")]}
    import_labels(
        project, export(tmp_path, [{"data": {"image": "003.png"}, "annotations": [fixed]}]), "labelstudio"
    )
    np.testing.assert_array_equal(project.mask("003.png"), truth)
    assert [sorted(label.class_name for label in h.labels) for h in project.history("003.png")] == [
        ["background", "edge", "ink"],
        ["background", "ink"],
    ]


def test_an_annotation_with_no_brush_is_an_image_with_no_object(tmp_path: Path, digit_pool: Any) -> None:
    project = project_over(tmp_path, digit_pool)
    empty = {"id": 2, "completed_by": 1, "result": []}
    import_labels(
        project, export(tmp_path, [{"data": {"image": "004.png"}, "annotations": [empty]}]), "labelstudio"
    )
    assert (project.mask("004.png") == 0).all() and project.mask("005.png") is None


def test_region_annotations_add_to_the_current_mask(tmp_path: Path, digit_pool: Any) -> None:
    project = project_over(tmp_path, digit_pool)
    top, bottom = np.zeros((16, 16), bool), np.zeros((16, 16), bool)
    top[:8], bottom[8:12] = True, True
    first = {"id": 3, "completed_by": 1, "result": [brush(top, "ink")]}
    second = {"id": 4, "completed_by": 1, "result": [brush(bottom, "edge")]}
    tasks = [{"data": {"image": "006.png", "activecv_regions": [0]}, "annotations": [first, second]}]
    import_labels(project, export(tmp_path, tasks), "labelstudio")
    mask = project.mask("006.png")
    assert mask is not None
    assert (mask[:8] == 1).all() and (mask[8:12] == 2).all() and (mask[12:] == UNLABELED).all()
    assert len(project.history("006.png")) == 2  # each region annotation kept


def test_polygons_coco_rle_and_png_masks(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = project_over(tmp_path, digit_pool)
    square = {"points": [[0, 0], [50, 0], [50, 50], [0, 50]], "polygonlabels": ["edge"]}
    polygon = {"type": "polygonlabels", "original_width": 16, "original_height": 16, "value": square}
    import_labels(
        project,
        export(tmp_path, [{"data": {"image": "007.png"}, "annotations": [{"id": 5, "result": [polygon]}]}]),
        "labelstudio",
    )
    assert (project.mask("007.png")[:8, :8] == 2).all() and (project.mask("007.png")[8:] == 0).all()  # type: ignore[index]
    truth = ink(pool / "008.png") == 1
    coco = {
        "images": [{"id": 1, "file_name": "008.png", "width": 16, "height": 16}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 2, "segmentation": coco_rle_encode(truth)}],
        "categories": [{"id": 1, "name": "edge"}, {"id": 2, "name": "ink"}],
    }
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    import_labels(project, tmp_path / "coco.json", "coco")
    np.testing.assert_array_equal(project.mask("008.png"), truth.astype(np.uint8))
    (tmp_path / "masks").mkdir()
    drawn = np.full((16, 16), UNLABELED)
    drawn[4:, 2:] = 2
    write_index_mask(tmp_path / "masks" / "009.png", drawn)
    report = import_labels(project, tmp_path / "masks", "masks")
    assert report.added == 1
    np.testing.assert_array_equal(project.mask("009.png"), np.where(drawn == UNLABELED, 0, drawn))


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (
            lambda: brush(np.ones((8, 16), bool), "ink"),
            r"has a 16x8 mask, but the image is 16x16 \(width x height\)",
        ),
        (lambda: brush(np.ones((16, 16), bool), "water"), r"uses unknown classes \['water'\]"),
        (
            lambda: {
                **brush(np.ones((16, 16), bool), "ink"),
                "value": {"format": "rle", "rle": [1, 2, 3], "brushlabels": ["ink"]},
            },
            r"task 0 of .*: brush RLE",
        ),
        (
            lambda: {"type": "choices", "value": {"choices": ["ink"]}},
            r"has class or box labels, but this is a segmentation project",
        ),
        (
            lambda: {**brush(np.ones((16, 16), bool), "ink"), "original_width": None},
            r"a brush in task 0 .* needs original_width",
        ),
    ],
)
def test_bad_masks_leave_the_ledger_unchanged(
    tmp_path: Path, digit_pool: Any, result: Any, message: str
) -> None:
    project = project_over(tmp_path, digit_pool)
    before = dump(project)
    tasks = [{"data": {"image": "010.png"}, "annotations": [{"id": 9, "result": [result()]}]}]
    with pytest.raises(ValueError, match=message):
        import_labels(project, export(tmp_path, tasks), "labelstudio")
    assert dump(project) == before


def test_png_masks_with_classes_outside_the_project_are_refused(tmp_path: Path, digit_pool: Any) -> None:
    project = project_over(tmp_path, digit_pool)
    (tmp_path / "masks").mkdir()
    write_index_mask(tmp_path / "masks" / "011.png", np.full((16, 16), 7))
    before = dump(project)
    with pytest.raises(
        ValueError, match=r"has class indices \[7\] outside the 3 classes \(0..2; 255 = not labeled\)"
    ):
        import_labels(project, tmp_path / "masks", "masks")
    write_index_mask(tmp_path / "masks" / "011.png", np.zeros((16, 16), dtype=np.uint8))
    (tmp_path / "masks" / "ghost.png").write_bytes((tmp_path / "masks" / "011.png").read_bytes())
    with pytest.raises(ValueError, match=r"1 masks name no single image of this project .*'ghost'"):
        import_labels(project, tmp_path / "masks", "masks")
    assert dump(project) == before


def test_a_segmentation_project_needs_two_to_255_classes(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    with pytest.raises(
        ValueError, match=r"a segmentation project needs 2 to 255 classes, the first the background"
    ):
        Project.init(tmp_path / "p", task="segmentation", classes=[str(k) for k in range(300)], images=pool)

"""Segmentation projects: masks in from Label Studio (brushes, polygons), COCO (RLE, polygons)
and PNG index masks, stored with their history; region annotations add to an image's mask."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import activecv as acv
from activecv.io import UNLABELED, brush_encode, coco_rle_encode, write_index_mask
from activecv.project import Project, export, import_labels

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


def ls_export(tmp_path: Path, tasks: list[dict[str, Any]]) -> Path:
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
        ls_export(tmp_path, [{"data": {"image": "003.png"}, "annotations": [annotation]}]),
        "labelstudio",
    )
    assert report.added == 1
    expected = np.where(edge, 2, truth)  # the later brush wins; pixels no brush covers: background
    np.testing.assert_array_equal(project.mask("003.png"), expected)
    status = project.status()
    assert status.class_balance == {name: int((expected == k).sum()) for k, name in enumerate(CLASSES)}
    again = import_labels(
        project,
        ls_export(tmp_path, [{"data": {"image": "003.png"}, "annotations": [annotation]}]),
        "labelstudio",
    )
    assert again.unchanged == 1  # the same annotation delivered again
    fixed = {**annotation, "updated_at": "t2", "result": [brush(truth == 1, "ink")]}
    import_labels(
        project, ls_export(tmp_path, [{"data": {"image": "003.png"}, "annotations": [fixed]}]), "labelstudio"
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
        project, ls_export(tmp_path, [{"data": {"image": "004.png"}, "annotations": [empty]}]), "labelstudio"
    )
    assert (project.mask("004.png") == 0).all() and project.mask("005.png") is None


def test_region_annotations_add_to_the_current_mask(tmp_path: Path, digit_pool: Any) -> None:
    project = project_over(tmp_path, digit_pool)
    top, bottom = np.zeros((16, 16), bool), np.zeros((16, 16), bool)
    top[:8], bottom[8:12] = True, True
    first = {"id": 3, "completed_by": 1, "result": [brush(top, "ink")]}
    second = {"id": 4, "completed_by": 1, "result": [brush(bottom, "edge")]}
    tasks = [{"data": {"image": "006.png", "activecv_regions": [0]}, "annotations": [first, second]}]
    import_labels(project, ls_export(tmp_path, tasks), "labelstudio")
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
        ls_export(
            tmp_path, [{"data": {"image": "007.png"}, "annotations": [{"id": 5, "result": [polygon]}]}]
        ),
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
    # an index-mask PNG's 255 says "not labeled": those pixels stay unlabeled, not background
    np.testing.assert_array_equal(project.mask("009.png"), drawn)


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
        import_labels(project, ls_export(tmp_path, tasks), "labelstudio")
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


# ---- rounds and exports ----------------------------------------------------------------------


def seg_predictions(tmp_path: Path, project: Project, name: str = "seg.npz") -> Path:
    """Class maps of every pool image, float16: ink where the digit is bright, uncertain at its edge."""
    ids, maps = [], []
    for item in project.items():
        truth = ink(project.root / item.path)
        p = np.full((3, 16, 16), 0.05)
        p[0], p[1] = np.where(truth == 1, 0.1, 0.85), np.where(truth == 1, 0.85, 0.1)
        p[:, 7] = np.array([0.4, 0.35, 0.25])[:, None]  # one uncertain row in every image
        maps.append(p / p.sum(axis=0))
        ids.append(item.path)
    np.savez(tmp_path / name, ids=np.array(ids), seg_probs=np.array(maps, dtype=np.float16))
    return tmp_path / name


def test_an_image_round_sends_the_model_masks_to_label_studio(tmp_path: Path, digit_pool: Any) -> None:
    from activecv.io import brush_decode

    project = project_over(tmp_path, digit_pool)
    selected = project.round(seg_predictions(tmp_path, project), "seg_entropy", 3)
    assert len(selected) == 3 and all(row.prediction and "mask_png" in row.prediction for row in selected)
    assert export(project, "labelstudio", tmp_path / "tasks.json", image_url="http://x/") == 3
    assert "<BrushLabels" in (tmp_path / "tasks.label_config.xml").read_text()
    task = json.loads((tmp_path / "tasks.json").read_text())[0]
    brushes = {
        r["value"]["brushlabels"][0]: brush_decode(r["value"]["rle"], 16, 16)
        for r in task["predictions"][0]["result"]
    }
    truth = ink(project.root / task["data"]["activecv_path"])
    assert set(brushes) == {"ink"}  # the background is what no brush covers
    expected = truth == 1
    expected[7] = False  # the uncertain row is predicted background
    np.testing.assert_array_equal(brushes["ink"], expected)


def test_region_rounds_ask_for_regions_and_take_them_back(tmp_path: Path, digit_pool: Any) -> None:
    from activecv.io import brush_decode

    project = project_over(tmp_path, digit_pool)
    predictions = seg_predictions(tmp_path, project)
    first = project.round_regions(predictions, 6, cell=4)
    chosen = [(row.id, e["region"]) for row in first for e in row.prediction["regions"]]  # type: ignore[index]
    assert len(chosen) == 6 and all(region in (4, 5, 6, 7) for _, region in chosen)  # the uncertain row 7
    assert project.round_regions(predictions, 6, cell=4) == first  # the same request: the same round
    export(project, "labelstudio", tmp_path / "regions.json", image_url="http://x/")
    tasks = json.loads((tmp_path / "regions.json").read_text())
    # The annotator labels each region as its dominant class, ink: Label Studio exports brushes.
    for task in tasks:
        results = task["predictions"][0]["result"]
        task["annotations"] = [{"id": task["data"]["activecv_item"], "completed_by": 1, "result": [
            {**r, "value": {**r["value"], "brushlabels": ["ink"]}} for r in results]}]  # fmt: skip
        assert len(results) == len(task["data"]["activecv_regions"])
    (tmp_path / "labeled.json").write_text(json.dumps(tasks))
    import_labels(project, tmp_path / "labeled.json", "labelstudio")
    item, region = chosen[0]
    mask = project.mask(item)
    assert mask is not None and (mask[4:8, region % 4 * 4 : region % 4 * 4 + 4] == 1).all()
    assert (mask[:4] == UNLABELED).all()  # only the regions asked for are labeled
    second = project.round_regions(predictions, 6, cell=4, model_version="v2")
    again = {(row.id, e["region"]) for row in second for e in row.prediction["regions"]}  # type: ignore[index]
    assert not again & set(chosen)  # no region is asked for twice
    status = project.status()
    assert [(r.strategy, r.selected) for r in status.rounds] == [
        ("regions", len(first)),
        ("regions", len(second)),
    ]
    assert status.rounds[0].labeled == len(first)
    decoded = brush_decode(tasks[0]["predictions"][0]["result"][0]["value"]["rle"], 16, 16)
    assert decoded.sum() == 16  # a 4x4 cell


def test_region_rounds_rank_per_click_on_request(tmp_path: Path, digit_pool: Any) -> None:
    import activecv

    project = project_over(tmp_path, digit_pool)
    predictions = seg_predictions(tmp_path, project)
    rows = project.round_regions(predictions, 9, cell=4, cost="classes", per_click=True)
    assert project.rounds()[0].params["per_click"] is True
    chosen = {(row.path, e["region"]) for row in rows for e in row.prediction["regions"]}  # type: ignore[index]
    with np.load(predictions) as file:
        direct = activecv.select_regions(
            9, seg_probs=file["seg_probs"], cell=4, cost="classes", per_click=True
        )
        paths = file["ids"]
    assert chosen == {(str(paths[i]), int(r)) for i, r in zip(direct.images, direct.regions, strict=True)}
    plain = project.round_regions(predictions, 9, cell=4, cost="classes", model_version="v2")
    assert "per_click" not in project.rounds()[1].params  # requests made before the option keep their keys
    assert plain and plain != rows


def test_superpixel_rounds_cache_their_regions(tmp_path: Path, digit_pool: Any) -> None:
    pytest.importorskip("skimage")
    project = project_over(tmp_path, digit_pool)
    rows = project.round_regions(seg_predictions(tmp_path, project), 4, regions="superpixels", n_segments=8)
    assert sum(len(row.prediction["regions"]) for row in rows) == 4  # type: ignore[index]
    assert len(list((project.directory / "superpixels").glob("*.npy"))) == 40


def test_masks_go_out_to_coco_and_png_and_come_back(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = project_over(tmp_path, digit_pool)
    for name in ("012.png", "013.png"):
        truth = ink(pool / name)
        annotation = {"id": int(name[:3]), "completed_by": 1, "result": [brush(truth == 1, "ink")]}
        import_labels(
            project,
            ls_export(tmp_path, [{"data": {"image": name}, "annotations": [annotation]}]),
            "labelstudio",
        )
    assert export(project, "coco", tmp_path / "out.json", items="labeled") == 2
    assert export(project, "masks", tmp_path / "pngs", items="labeled") == 2
    dataset = json.loads((tmp_path / "out.json").read_text())
    dataset["info"].pop("activecv_project")
    (tmp_path / "out.json").write_text(json.dumps(dataset))
    for fmt, path in (("coco", tmp_path / "out.json"), ("masks", tmp_path / "pngs")):
        other = Project.init(tmp_path / f"from-{fmt}", task="segmentation", classes=CLASSES, images=pool)
        import_labels(other, path, fmt)
        for name in ("012.png", "013.png"):
            np.testing.assert_array_equal(other.mask(name), project.mask(name))


def test_segmentation_rounds_check_the_maps(tmp_path: Path, digit_pool: Any) -> None:
    project = project_over(tmp_path, digit_pool)
    paths = [item.path for item in project.items()]
    np.savez(tmp_path / "bad.npz", ids=np.array(paths), seg_probs=np.full((40, 2, 16, 16), 0.5))
    with pytest.raises(
        ValueError, match=r"'seg_probs' in .* has shape \(40, 2, 16, 16\), but the project has 3 classes"
    ):
        project.round(tmp_path / "bad.npz", "seg_entropy", 1)
    with pytest.raises(ValueError, match=r"budget must be a whole number of clicks >= 1; got 0"):
        project.round_regions(seg_predictions(tmp_path, project), 0)
    with pytest.raises(ValueError, match=r"regions must be one of grid, superpixels; got 'slic'"):
        project.round_regions(seg_predictions(tmp_path, project), 1, regions="slic")
    assert project.rounds() == []


def test_maps_at_another_resolution(tmp_path: Path, digit_pool: Any) -> None:
    import base64

    from activecv.project._masks import from_png

    project = project_over(tmp_path, digit_pool)
    paths = [item.path for item in project.items()]
    half = np.full((40, 3, 8, 8), 0.1)
    half[:, 1, :4] = 0.8  # ink predicted in the top half
    half /= half.sum(axis=1, keepdims=True)
    np.savez(tmp_path / "half.npz", ids=np.array(paths), seg_probs=half)
    (row,) = project.round(tmp_path / "half.npz", "seg_entropy", 1)
    mask = from_png(base64.b64decode(row.prediction["mask_png"]))  # type: ignore[index]
    assert mask.shape == (16, 16) and (mask[:8] == 1).all() and (mask[8:] == 0).all()  # at the image's size
    with pytest.raises(
        ValueError, match=r"the predictions' maps are 8x8 .* image \d+ is 16x16; a region round"
    ):
        project.round_regions(tmp_path / "half.npz", 4, cell=4)


def asked_pixels(rows: list[Any], cell: int) -> dict[int, np.ndarray]:
    """Per item, the pixels a region round on a ``cell`` grid asked for."""
    from activecv.strategies import grid_regions

    grid = grid_regions(16, 16, cell)
    return {row.id: np.isin(grid, [e["region"] for e in row.prediction["regions"]]) for row in rows}


def test_pixels_asked_for_are_not_asked_again_under_another_grid(tmp_path: Path, digit_pool: Any) -> None:
    project = project_over(tmp_path, digit_pool)
    predictions = seg_predictions(tmp_path, project)
    first = asked_pixels(project.round_regions(predictions, 6, cell=4), 4)
    second = asked_pixels(project.round_regions(predictions, 20, cell=2, model_version="v2"), 2)
    assert sum(m.sum() for m in second.values()) == 20 * 4  # 2x2 cells, still on the uncertain row
    assert not any((second[item] & first[item]).any() for item in set(first) & set(second))
    # an image round takes no image a region round chose
    chosen = {row.id for row in project.round(predictions, "seg_entropy", 40 - len(first | second))}
    assert not chosen & (set(first) | set(second))


def test_region_rounds_read_the_ignore_mask_and_check_the_classes(tmp_path: Path, digit_pool: Any) -> None:
    project = project_over(tmp_path, digit_pool)
    found = dict(np.load(seg_predictions(tmp_path, project)))
    ignore = np.zeros((40, 16, 16), bool)
    ignore[:, 4:8] = True  # the uncertain row's cells are not to be asked about
    np.savez(tmp_path / "ignored.npz", ignore_mask=ignore, **found)
    rows = project.round_regions(tmp_path / "ignored.npz", 6, cell=4)
    assert all(e["region"] not in (4, 5, 6, 7) for row in rows for e in row.prediction["regions"])  # type: ignore[index]
    np.savez(tmp_path / "half.npz", ignore_mask=ignore[:, :8], **found)
    with pytest.raises(
        ValueError, match=r"'ignore_mask' in .* has shape \(40, 8, 16\); it must be one \(16, 16\)"
    ):
        project.round_regions(tmp_path / "half.npz", 6, cell=4)
    np.savez(tmp_path / "two.npz", ids=found["ids"], seg_probs=found["seg_probs"][:, :2])
    with pytest.raises(ValueError, match=r"has shape \(40, 2, 16, 16\), but the project has 3 classes"):
        project.round_regions(tmp_path / "two.npz", 6, cell=4)
    assert len(project.rounds()) == 1


def test_class_balanced_image_rounds_weigh_by_the_ledgers_labeled_pixels(
    tmp_path: Path, digit_pool: Any
) -> None:
    project = project_over(tmp_path, digit_pool)
    predictions = seg_predictions(tmp_path, project)
    annotation = {"id": 1, "completed_by": 1, "result": [brush(np.ones((16, 16), bool), "ink")]}
    tasks = [{"data": {"image": "000.png"}, "annotations": [annotation]}]
    import_labels(project, ls_export(tmp_path, tasks), "labelstudio")  # 256 ink pixels, no other
    balanced = project.round(predictions, "seg_entropy", 3, params={"class_balanced": True})
    found = np.load(predictions)
    counts = list(project.status().class_balance.values())
    assert counts == [0, 256, 0]
    strategy = acv.get_strategy("seg_entropy", class_balanced=True)
    labeled = found["ids"] == "000.png"
    expected = acv.select(
        strategy, 3, seg_probs=found["seg_probs"], labeled_class_counts=counts, labeled=labeled
    )
    plain = acv.select(acv.get_strategy("seg_entropy"), 3, seg_probs=found["seg_probs"], labeled=labeled)
    # scores, not ids: images with as many ink pixels tie
    assert [row.score for row in balanced] == pytest.approx(expected.scores.tolist(), rel=1e-12)
    assert not np.allclose(expected.scores, plain.scores)  # the weights change the scores


def test_a_stroke_labels_the_whole_region_it_marks(tmp_path: Path, digit_pool: Any) -> None:
    project = project_over(tmp_path, digit_pool)
    (row, *_) = project.round_regions(seg_predictions(tmp_path, project), 1, cell=4)
    (region,) = [e["region"] for e in row.prediction["regions"]]  # type: ignore[index]
    top, left = region // 4 * 4, region % 4 * 4
    stroke = np.zeros((16, 16), bool)
    stroke[top + 1, left : left + 3] = True  # 3 of the region's 16 pixels
    annotation = {"id": 9, "completed_by": 1, "result": [brush(stroke, "edge")]}
    tasks = [{"data": {"activecv_item": row.id, "activecv_regions": [region]}, "annotations": [annotation]}]
    import_labels(project, ls_export(tmp_path, tasks), "labelstudio")
    mask = project.mask(row.id)
    assert mask is not None and (mask[top : top + 4, left : left + 4] == 2).all()
    assert (mask == 2).sum() == 16 and (mask[mask != 2] == UNLABELED).all()


def test_partial_masks_round_trip_through_coco_and_png(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    project = project_over(tmp_path, digit_pool)
    drawn = np.full((16, 16), UNLABELED)
    drawn[4:, 2:] = 1
    drawn[0, 0] = 0
    (tmp_path / "masks").mkdir()
    write_index_mask(tmp_path / "masks" / "015.png", drawn)
    import_labels(project, tmp_path / "masks", "masks")
    assert export(project, "coco", tmp_path / "out.json", items="labeled") == 1
    assert export(project, "masks", tmp_path / "pngs", items="labeled") == 1
    dataset = json.loads((tmp_path / "out.json").read_text())
    assert dataset["images"][0]["activecv_complete"] is False
    dataset["info"].pop("activecv_project")
    (tmp_path / "out.json").write_text(json.dumps(dataset))
    for fmt, path in (("coco", tmp_path / "out.json"), ("masks", tmp_path / "pngs")):
        other = Project.init(tmp_path / f"from-{fmt}", task="segmentation", classes=CLASSES, images=pool)
        import_labels(other, path, fmt)
        np.testing.assert_array_equal(other.mask("015.png"), drawn)  # unlabeled stays unlabeled

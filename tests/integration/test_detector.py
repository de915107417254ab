"""Detection benchmark parts: composed scenes, the small grid detector, COCO mAP."""

from __future__ import annotations

import numpy as np
import pytest

from activecv import Detections
from activecv.datasets._scenes import make_scenes

pytest.importorskip("pycocotools")
from activecv.sim._map import coco_map


def test_scenes_have_tight_boxes_inside_the_canvas() -> None:
    scenes = make_scenes(40, size=64, max_objects=3, seed=3)
    assert scenes.images.shape == (40, 1, 64, 64) and len(scenes.boxes) == 40
    for image, boxes, labels in zip(scenes.images, scenes.boxes, scenes.labels, strict=True):
        assert 1 <= len(boxes) <= 3 and boxes.shape == (len(labels), 4)
        assert (
            (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= 64).all() and (boxes[:, 2:] > boxes[:, :2]).all()
        )
        ink = image[0] > 0.1
        inside = np.zeros_like(ink)
        for x1, y1, x2, y2 in boxes.astype(int):
            inside[y1:y2, x1:x2] = True
            assert ink[y1:y2, x1:x2].any(axis=0)[[0, -1]].all()  # tight: ink on the first and last column
        assert not (ink & ~inside).any()  # every ink pixel is in a box
    again = make_scenes(40, size=64, max_objects=3, seed=3)
    np.testing.assert_array_equal(scenes.images, again.images)


def test_scene_class_imbalance() -> None:
    counts = make_scenes(300, imbalance=20.0, seed=0).class_counts()
    assert counts[0] > 5 * counts[-1] and counts.sum() > 300
    with pytest.raises(ValueError, match="holds 4 digits of 28 px; got max_objects=5"):
        make_scenes(2, size=64, max_objects=5)


def test_coco_map_hand_checked() -> None:
    boxes = [np.array([[0.0, 0, 10, 10], [20, 20, 30, 30]]), np.array([[5.0, 5, 15, 15]])]
    labels = [np.array([0, 1]), np.array([1])]
    perfect = [
        Detections(boxes=b, labels=lab, scores=np.ones(len(lab)))
        for b, lab in zip(boxes, labels, strict=True)
    ]
    assert coco_map(perfect, boxes, labels, 2) == {"map50": 1.0, "map": 1.0}
    # image 1's box is shifted by 5 px: IoU 1/7 < 0.5, so class 1 has one of two boxes found
    shifted = [perfect[0], Detections(boxes=[[10.0, 10, 20, 20]], labels=[1], scores=[1.0])]
    result = coco_map(shifted, boxes, labels, 2)
    assert result["map50"] == pytest.approx((1.0 + 0.5) / 2, abs=0.01)
    empty = [Detections(boxes=np.zeros((0, 4))) for _ in boxes]
    assert coco_map(empty, boxes, labels, 2) == {"map50": 0.0, "map": 0.0}


def test_grid_detector_learns_and_exposes_probabilities_and_features() -> None:
    torch = pytest.importorskip("torch")
    from activecv.adapters.torch._detector import GridDetector, detect, train_detector

    train = make_scenes(300, size=64, max_objects=3, seed=0)
    test = make_scenes(100, size=64, max_objects=3, split="test", seed=1)
    torch.manual_seed(0)
    model = GridDetector(10, width=32)
    losses = train_detector(model, train.images, train.boxes, train.labels, epochs=6, seed=0)
    assert losses[-1] < 0.5 * losses[0]
    detections = detect(model, test.images)
    assert len(detections) == 100
    busy = next(d for d in detections if len(d))
    assert busy.class_probs.shape[1] == 11 and busy.background_index == 10 and busy.features.shape[1] == 32
    np.testing.assert_allclose(busy.class_probs.sum(axis=1), 1.0, rtol=1e-6)
    assert coco_map(detections, test.boxes, test.labels, 10)["map50"] > 0.15  # measured 0.31; chance ~0

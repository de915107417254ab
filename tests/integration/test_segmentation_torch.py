"""Semantic segmentation end to end: digit scenes with class masks, the small FCN and its
trainer (partial labels), dense probabilities (predict, mc_predict, iter_predict), mIoU."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from activecv._errors import InputError, InputTypeError
from activecv.datasets import SegmentationScenes, make_scenes, make_segmentation_scenes
from activecv.sim import _miou
from activecv.sim._miou import mean_iou

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from activecv.adapters.torch import (  # noqa: E402
    SegmentationFCN,
    iter_predict,
    mc_predict,
    predict,
    predict_masks,
    train_segmenter,
)

pytestmark = pytest.mark.torch
DIGITS = tuple(str(d) for d in range(10))


def fcn(n_classes: int = 4, width: int = 8, dropout: float = 0.2, seed: int = 0) -> SegmentationFCN:
    torch.manual_seed(seed)
    return SegmentationFCN(n_classes, width=width, dropout=dropout)


# --- scenes -----------------------------------------------------------------------------------


def test_segmentation_scenes_have_shapes_classes_and_masks_where_the_ink_is() -> None:
    scenes = make_segmentation_scenes(20, size=64, max_objects=3, seed=3)
    assert isinstance(scenes, SegmentationScenes) and len(scenes) == 20
    assert scenes.images.shape == (20, 1, 64, 64) and scenes.images.dtype == np.float32
    assert scenes.masks.shape == (20, 64, 64) and scenes.masks.dtype == np.int64
    assert 0 <= scenes.images.min() and scenes.images.max() <= 1
    assert scenes.class_names == ("background", *DIGITS)
    assert scenes.masks.min() == 0 and scenes.masks.max() <= 10 and len(np.unique(scenes.masks)) > 5
    np.testing.assert_array_equal(scenes.masks > 0, scenes.images[:, 0] > 0.5)  # foreground = ink > 0.5

    # the placement is make_scenes' own: same canvases, and each box holds its digit's class
    boxes = make_scenes(20, size=64, max_objects=3, seed=3)
    np.testing.assert_array_equal(scenes.images, boxes.images)
    for mask, image_boxes, labels in zip(scenes.masks, boxes.boxes, boxes.labels, strict=True):
        inside = np.zeros(mask.shape, dtype=bool)
        for (x1, y1, x2, y2), label in zip(image_boxes.astype(int), labels, strict=True):
            inside[y1:y2, x1:x2] = True
            assert set(np.unique(mask[y1:y2, x1:x2])) == {0, label + 1}
        assert (mask[~inside] == 0).all()

    counts = scenes.pixel_counts()
    assert counts.dtype == np.int64 and counts.shape == (11,) and counts.sum() == 20 * 64 * 64
    np.testing.assert_array_equal(counts, np.bincount(scenes.masks.ravel(), minlength=11))
    np.testing.assert_array_equal(
        scenes.pixel_counts(np.array([2, 5])), np.bincount(scenes.masks[[2, 5]].ravel(), minlength=11)
    )
    np.testing.assert_array_equal(scenes.pixel_counts(np.arange(20) < 3), scenes.pixel_counts([0, 1, 2]))
    assert scenes.pixel_counts([]).sum() == 0
    assert counts[0] > 0.8 * counts.sum()  # mostly background


def test_segmentation_scenes_are_seeded_and_the_test_split_differs() -> None:
    a = make_segmentation_scenes(6, seed=1)
    b = make_segmentation_scenes(6, seed=1)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    assert not np.array_equal(a.images, make_segmentation_scenes(6, seed=2).images)
    test = make_segmentation_scenes(6, split="test", seed=1)
    assert not np.array_equal(a.images, test.images)
    small = make_segmentation_scenes(3, size=32, max_objects=4, source="digits", seed=0)
    assert small.images.shape == (3, 1, 32, 32) and small.masks.max() <= 10
    with pytest.raises(ValueError, match="holds 4 digits of 28 px; got max_objects=5"):
        make_segmentation_scenes(2, size=64, max_objects=5)
    with pytest.raises(InputError, match="split must be one of train, test; got 'val'"):
        make_segmentation_scenes(2, split="val")


# --- the model ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(64, 64), (16, 30), (17, 31), (2, 3)])
def test_fcn_returns_logits_at_the_input_size_even_and_odd(size: tuple[int, int]) -> None:
    net = fcn(n_classes=5).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 1, *size))
    assert out.shape == (2, 5, *size)


def test_fcn_receptive_field_is_70_pixels() -> None:
    net = fcn(n_classes=3, width=8).eval()
    x = torch.rand(1, 1, 120, 120, requires_grad=True)
    net(x)[0, :, 60, 60].sum().backward()
    seen = x.grad[0, 0].abs() > 0
    rows, cols = torch.nonzero(seen.any(dim=1)).flatten(), torch.nonzero(seen.any(dim=0)).flatten()
    assert (int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1) == (70, 70)
    with pytest.raises(InputError, match=r"dropout must be a probability in \[0, 1\); got 1.0"):
        SegmentationFCN(3, dropout=1.0)


# --- dense predictions --------------------------------------------------------------------------


def test_dense_predict_is_a_per_pixel_softmax_and_iter_predict_concatenates_to_it() -> None:
    net = fcn(n_classes=4)
    x = torch.rand(7, 1, 12, 10)
    probs = predict(net, x, batch_size=3)
    assert probs.shape == (7, 4, 12, 10) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    net.eval()
    with torch.no_grad():
        expected = torch.softmax(net(x), dim=1).numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-6)

    batches = list(iter_predict(net, x, batch_size=3))
    assert [b.shape for b in batches] == [(3, 4, 12, 10), (3, 4, 12, 10), (1, 4, 12, 10)]
    assert all(b.dtype == np.float32 for b in batches)
    np.testing.assert_array_equal(np.concatenate(batches), probs)
    hot = np.concatenate(list(iter_predict(net, x.numpy(), batch_size=3, temperature=2.0)))
    np.testing.assert_array_equal(hot, predict(net, x, batch_size=3, temperature=2.0))
    assert not np.allclose(hot, probs)


def test_dense_mc_predict_stacks_samples_at_axis_1_and_iter_predict_matches_it() -> None:
    net = fcn(n_classes=4, dropout=0.5)
    x = torch.rand(7, 1, 12, 10)
    mc = mc_predict(net, x, k=5, seed=2, batch_size=3)
    assert mc.shape == (7, 5, 4, 12, 10) and mc.dtype == np.float32
    np.testing.assert_allclose(mc.sum(axis=2), 1.0, atol=1e-5)
    assert not np.allclose(mc[:, 0], mc[:, 1])  # dropout is sampled
    batches = list(iter_predict(net, x, batch_size=3, mc_samples=5, seed=2))
    assert [b.shape for b in batches] == [(3, 5, 4, 12, 10), (3, 5, 4, 12, 10), (1, 5, 4, 12, 10)]
    np.testing.assert_array_equal(np.concatenate(batches), mc)
    # consistent masks: sample k is one model for the whole pool, whatever the batching
    np.testing.assert_allclose(mc_predict(net, x, k=5, seed=2, batch_size=7), mc, atol=1e-6)
    assert not np.allclose(mc_predict(net, x, k=5, seed=3, batch_size=3), mc)


def test_classifier_outputs_stream_too() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    x = torch.randn(11, 6)
    np.testing.assert_array_equal(
        np.concatenate(list(iter_predict(net, x, batch_size=4))), predict(net, x, batch_size=4)
    )
    np.testing.assert_array_equal(
        np.concatenate(list(iter_predict(net, x, batch_size=4, mc_samples=3, seed=1))),
        mc_predict(net, x, k=3, seed=1, batch_size=4),
    )


def test_iter_predict_leaves_the_model_and_grad_mode_alone_between_batches() -> None:
    net = fcn(n_classes=3).train()
    batches = iter_predict(net, torch.rand(4, 1, 8, 8), batch_size=2, mc_samples=2)
    next(batches)
    assert net.training and all(m.training for m in net.modules()) and torch.is_grad_enabled()
    assert all(not m._forward_hooks for m in net.modules())
    assert len(list(batches)) == 1


def test_iter_predict_checks_its_arguments_at_the_call() -> None:
    net, x = fcn(n_classes=3), torch.rand(4, 1, 8, 8)
    with pytest.raises(InputError, match="mc_samples must be a positive integer; got 0"):
        iter_predict(net, x, mc_samples=0)
    with pytest.raises(InputError, match="temperature must be a positive finite number; got 0"):
        iter_predict(net, x, temperature=0)
    with pytest.raises(InputTypeError, match="temperature must be a positive number; got str"):
        iter_predict(net, x, temperature="1")
    with pytest.raises(InputError, match="batch_size must be a positive integer; got 0"):
        iter_predict(net, x, batch_size=0)
    with pytest.raises(InputTypeError, match="data must be a torch Tensor, a numpy array"):
        iter_predict(net, [[0.0]])
    plain = nn.Conv2d(1, 3, 1)
    with pytest.raises(InputError, match="mc_predict needs dropout layers in the model; found none"):
        iter_predict(plain, x, mc_samples=2)


def test_predict_masks_is_the_arg_max() -> None:
    net = fcn(n_classes=4)
    x = torch.rand(5, 1, 10, 12)
    masks = predict_masks(net, x, batch_size=2)
    assert masks.shape == (5, 10, 12) and masks.dtype == np.int64
    np.testing.assert_array_equal(masks, predict(net, x).argmax(axis=1))
    with pytest.raises(
        InputError, match=r"predict_masks needs a dense model returning logits \(B, C, H, W\)"
    ):
        predict_masks(nn.Sequential(nn.Flatten(), nn.Linear(120, 3)), x)
    with pytest.raises(InputError, match="images is empty"):
        predict_masks(net, torch.zeros(0, 1, 10, 12))


# --- training ---------------------------------------------------------------------------------


def test_train_segmenter_learns_digit_scenes_well_above_all_background() -> None:
    train = make_segmentation_scenes(64, seed=0)
    test = make_segmentation_scenes(32, split="test", seed=1)
    net = fcn(n_classes=11, width=16, dropout=0.1)
    state = torch.get_rng_state()
    losses = train_segmenter(net, train.images, train.masks, epochs=20, batch_size=2, lr=5e-3, seed=0)
    assert torch.equal(torch.get_rng_state(), state) and not net.training
    assert len(losses) == 20 and losses[-1] < 0.1 * losses[0] and losses[-1] < min(losses[:5])
    found = mean_iou(predict_masks(net, test.images), test.masks, n_classes=11)
    trivial = mean_iou(np.zeros_like(test.masks), test.masks, n_classes=11)
    print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; test mIoU {found['miou']:.3f} vs {trivial['miou']:.3f}")
    # seeds 0-5 reach 0.21-0.56 here (0.33 with this one), against 0.086 for all-background
    assert found["miou"] > 2 * trivial["miou"] and found["miou"] > 0.17
    assert found["pixel_accuracy"] > trivial["pixel_accuracy"]
    assert (found["iou"][1:] > 0.2).sum() >= 2  # digits told apart, not only ink from background


def partially_labeled(n: int = 4) -> tuple[np.ndarray, np.ndarray, tuple[slice, slice]]:
    scenes = make_segmentation_scenes(n, size=64, seed=5)
    region = (slice(8, 40), slice(16, 56))
    masks = np.full_like(scenes.masks, 255)
    masks[:, region[0], region[1]] = scenes.masks[:, region[0], region[1]]
    return scenes.images, masks, region


def test_ignored_pixels_contribute_nothing() -> None:
    images, masks, (rows, cols) = partially_labeled()
    net = fcn(n_classes=11, width=8, dropout=0.0)
    reference = copy.deepcopy(net)
    again = copy.deepcopy(net)
    losses = train_segmenter(net, images, masks, epochs=3, batch_size=len(images), lr=1e-2, seed=0)

    # the same training on the labeled region only: loss over that crop of the logits, no ignore
    optimizer = torch.optim.Adam(reference.parameters(), lr=1e-2)
    x, y = torch.from_numpy(images), torch.from_numpy(masks[:, rows, cols])
    expected = []
    for _ in range(3):
        reference.train()
        loss = nn.functional.cross_entropy(reference(x)[:, :, rows, cols], y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        expected.append(float(loss.detach()))
    np.testing.assert_allclose(losses, expected, rtol=1e-5)
    for trained, wanted in zip(net.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(trained, wanted, rtol=1e-4, atol=1e-5)

    # another ignore value gives the same; labelling everything gives another loss
    relabeled = np.where(masks == 255, -1, masks)
    same = train_segmenter(
        again, images, relabeled, epochs=3, batch_size=len(images), lr=1e-2, ignore_index=-1
    )
    np.testing.assert_allclose(same, losses, rtol=1e-6)
    full = make_segmentation_scenes(len(images), size=64, seed=5).masks
    other = train_segmenter(fcn(11, 8, 0.0), images, full, epochs=1, batch_size=len(images), lr=1e-2)
    assert abs(other[0] - losses[0]) > 1e-3


def test_training_is_seeded_and_skips_batches_without_labels() -> None:
    images, masks, _ = partially_labeled()
    masks[1] = 255  # image 1 has no labeled pixel: its batches are skipped, not NaN
    runs = [
        train_segmenter(fcn(11, 8, 0.3), images, masks, epochs=2, batch_size=1, seed=seed)
        for seed in (4, 4, 5)
    ]
    assert np.isfinite(runs[0]).all() and runs[0] == runs[1] and runs[0] != runs[2]


def test_train_segmenter_refuses_bad_training_sets() -> None:
    net = fcn(n_classes=3, width=4)
    images = np.random.default_rng(0).random((4, 1, 8, 8), dtype=np.float32)
    masks = np.zeros((4, 8, 8), dtype=np.int64)
    with pytest.raises(InputError, match=r"masks must have shape \(N, H, W\) = \(4, 8, 8\) to match images"):
        train_segmenter(net, images, masks[:, :, :7], epochs=1)
    with pytest.raises(InputError, match=r"masks must have shape \(N, H, W\); got \(4, 1, 8, 8\)"):
        train_segmenter(net, images, masks[:, None], epochs=1)
    with pytest.raises(InputTypeError, match="masks must hold integers; got dtype float32"):
        train_segmenter(net, images, masks.astype(np.float32), epochs=1)
    bad = masks.copy()
    bad[2, 3, 3] = 3
    with pytest.raises(
        InputError, match=r"classes in \[0, 3\) .* or ignore_index=255; got 3 \(first in image 2\)"
    ):
        train_segmenter(net, images, bad, epochs=1)
    bad[2, 3, 3] = -1
    with pytest.raises(InputError, match=r"got -1 \(first in image 2\)"):
        train_segmenter(net, images, bad, epochs=1)
    with pytest.raises(InputError, match="masks has no labeled pixel: every pixel is ignore_index=255"):
        train_segmenter(net, images, np.full_like(masks, 255), epochs=1)
    with pytest.raises(InputError, match="images must be finite"):
        train_segmenter(net, np.where(images > 0.5, np.nan, images), masks, epochs=1)
    shrinking = nn.Conv2d(1, 3, 3)
    with pytest.raises(InputError, match=r"the model must return logits \(B, C, H, W\) at the input's size"):
        train_segmenter(shrinking, images, masks, epochs=1)
    with pytest.raises(InputError, match="epochs must be a positive integer; got 0"):
        train_segmenter(net, images, masks, epochs=0)
    with pytest.raises(InputError, match="lr must be a positive finite number; got -1"):
        train_segmenter(net, images, masks, epochs=1, lr=-1)
    with pytest.raises(InputTypeError, match="ignore_index must be an integer; got float"):
        train_segmenter(net, images, masks, epochs=1, ignore_index=255.0)  # type: ignore[arg-type]


# --- mIoU ---------------------------------------------------------------------------------------


def test_mean_iou_hand_computed() -> None:
    predicted = np.array([[0, 0, 1], [1, 2, 2]])
    truth = np.array([[0, 1, 1], [1, 2, 255]])  # the last pixel is not labeled
    result = mean_iou(predicted, truth, n_classes=4)
    # counted (truth, predicted): (0,0) (1,0) (1,1) (1,1) (2,2)
    np.testing.assert_array_equal(result["confusion"][:3, :3], [[1, 0, 0], [1, 2, 0], [0, 0, 1]])
    np.testing.assert_allclose(result["iou"], [1 / 2, 2 / 3, 1.0, np.nan])  # class 3 absent: NaN
    assert result["miou"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert result["pixel_accuracy"] == pytest.approx(4 / 5)
    # a class only predicted counts, with IoU 0
    only_predicted = mean_iou(np.array([3, 1]), np.array([0, 1]), n_classes=4)
    np.testing.assert_allclose(only_predicted["iou"], [0.0, 1.0, np.nan, 0.0])
    assert only_predicted["miou"] == pytest.approx(1 / 3)


def test_mean_iou_matches_a_per_class_reference_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 5, size=(6, 9, 7))
    truth[rng.random(truth.shape) < 0.2] = 255
    predicted = np.where(rng.random(truth.shape) < 0.6, truth % 5, rng.integers(0, 5, size=truth.shape))
    counted = truth != 255
    reference = []
    for c in range(6):
        t, p = (truth == c) & counted, (predicted == c) & counted
        union = (t | p).sum()
        reference.append((t & p).sum() / union if union else np.nan)
    result = mean_iou(predicted, truth, n_classes=6)
    np.testing.assert_allclose(result["iou"], reference)
    assert np.isnan(result["iou"][5]) and result["miou"] == pytest.approx(np.nanmean(reference))
    assert result["pixel_accuracy"] == pytest.approx((predicted == truth)[counted].mean())
    monkeypatch.setattr(_miou, "CHUNK", 10)
    chunked = mean_iou(predicted.astype(np.uint8), truth.astype(np.int32), n_classes=6)
    np.testing.assert_array_equal(chunked["confusion"], result["confusion"])


def test_mean_iou_refuses_bad_inputs() -> None:
    truth = np.array([0, 1, 2])
    with pytest.raises(InputError, match=r"same shape; got \(2,\) and \(3,\)"):
        mean_iou(np.array([0, 1]), truth, 3)
    with pytest.raises(InputError, match=r"truth must hold classes in \[0, 3\) or ignore_index=255; got 7"):
        mean_iou(truth, np.array([0, 7, 255]), 3)
    with pytest.raises(InputError, match=r"predicted must hold classes in \[0, 3\); got -1"):
        mean_iou(np.array([0, -1, 2]), truth, 3)
    with pytest.raises(InputError, match="truth has no counted pixel"):
        mean_iou(truth, np.full(3, 255), 3)
    with pytest.raises(InputTypeError, match="predicted must hold integer class ids; got dtype float64"):
        mean_iou(truth.astype(float), truth, 3)
    with pytest.raises(InputError, match="n_classes must be a positive integer; got 0"):
        mean_iou(truth, truth, 0)

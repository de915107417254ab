"""Segmentation strategies and region selection against hand-checked vectors and the
classification measures applied pixel by pixel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import activecv as acv
from activecv.strategies import bald, entropy, least_confidence, margin, pixel_bald, pixel_uncertainty
from activecv.strategies._regions import region_scores, region_statistics, take_within_budget
from activecv.strategies._segmentation import class_weights, image_scores


def maps(n: int = 4, c: int = 3, h: int = 6, w: int = 5, seed: int = 0) -> np.ndarray:
    z = np.random.default_rng(seed).normal(scale=2.0, size=(n, c, h, w))
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def per_pixel(probs: np.ndarray) -> np.ndarray:
    """(n, C, H, W) as (n * H * W, C) rows, the classification layout."""
    return np.moveaxis(probs, 1, -1).reshape(-1, probs.shape[1])


@pytest.mark.parametrize(
    ("measure", "reference"),
    [("entropy", entropy), ("margin", margin), ("least_confidence", least_confidence)],
)
def test_pixel_measures_are_the_classification_measures_per_pixel(measure: str, reference: object) -> None:
    p = maps()
    expected = reference(per_pixel(p)).reshape(4, 6, 5)  # type: ignore[operator]
    np.testing.assert_allclose(pixel_uncertainty(p, measure), expected, atol=1e-12)


def test_pixel_bald_is_bald_per_pixel() -> None:
    mc = np.stack([maps(seed=s) for s in range(5)], axis=1)  # (n, K, C, H, W)
    rows = mc.transpose(0, 3, 4, 1, 2).reshape(-1, 5, 3)  # (n, H, W, K, C): one row per pixel
    np.testing.assert_allclose(pixel_bald(mc), bald(rows).reshape(4, 6, 5), atol=1e-12)


def test_aggregates_by_hand() -> None:
    u = np.array([[[0.1, 0.2], [0.3, 0.9]], [[0.5, 0.5], [0.5, 0.5]]])
    valid = np.array([[[True, True], [True, False]], [[False, False], [False, False]]])
    assert image_scores(u, "mean").tolist() == pytest.approx([0.375, 0.5])
    assert image_scores(u, "mean", valid=valid).tolist() == pytest.approx([0.2, 0.0])  # no valid pixel: 0
    assert image_scores(u, "max", valid=valid).tolist() == pytest.approx([0.3, 0.0])
    assert image_scores(u, "top_q", q=0.5).tolist() == pytest.approx([0.6, 0.5])  # the top 2 of 4
    assert image_scores(u, "top_q", q=0.01).tolist() == pytest.approx([0.9, 0.5])  # at least one pixel
    weights = np.array([[[2.0, 0.0], [1.0, 1.0]], [[1.0] * 2] * 2])
    assert image_scores(u, "mean", weights=weights).tolist() == pytest.approx([(0.2 + 0.3 + 0.9) / 4, 0.5])


def test_class_weights_by_hand() -> None:
    w = class_weights(np.array([9.0, 0.0, 4.0]))  # 1 / (n + 1) = 0.1, 1, 0.2; mean 13/30
    np.testing.assert_allclose(w, np.array([0.1, 1.0, 0.2]) / (1.3 / 3))


def test_image_scores_are_the_mean_pixel_score() -> None:
    p = maps()
    scores = acv.score("seg_entropy", seg_probs=p)
    np.testing.assert_allclose(scores, entropy(per_pixel(p)).reshape(4, -1).mean(axis=1))
    top = acv.score(acv.get_strategy("seg_margin", aggregate="top_q", q=0.2), seg_probs=p)
    pixel = margin(per_pixel(p)).reshape(4, -1)
    np.testing.assert_allclose(top, np.sort(pixel, axis=1)[:, -6:].mean(axis=1))  # 20% of 30 pixels


def test_streams_of_images_of_any_size_float16_and_logits() -> None:
    p = maps()
    whole = acv.score("seg_entropy", seg_probs=p)
    np.testing.assert_allclose(acv.score("seg_entropy", seg_probs=iter(list(p))), whole)
    half = acv.score("seg_entropy", seg_probs=p.astype(np.float16))
    np.testing.assert_allclose(half, whole, atol=2e-3)
    logits = np.log(p) + 3.0
    np.testing.assert_allclose(acv.score("seg_entropy", seg_logits=logits), whole, atol=1e-12)
    sizes = [maps(1, h=h, w=w, seed=h)[0] for h, w in ((6, 5), (3, 9), (8, 8))]
    scores = acv.score("seg_entropy", seg_probs=iter(sizes))
    np.testing.assert_allclose(scores, [entropy(per_pixel(m[None])).mean() for m in sizes])
    assert (
        acv.select("seg_entropy", 2, seg_probs=iter(sizes)).indices.tolist()
        == np.argsort(-scores)[:2].tolist()
    )


def test_ignored_pixels_do_not_count() -> None:
    p = maps()
    ignore = np.zeros((4, 6, 5), dtype=bool)
    ignore[0, :3] = True
    scores = acv.score("seg_entropy", seg_probs=p, ignore_mask=ignore)
    np.testing.assert_allclose(scores[0], entropy(per_pixel(p[:1, :, 3:])).mean())
    np.testing.assert_allclose(scores[1:], acv.score("seg_entropy", seg_probs=p)[1:])


def test_class_balance_weights_each_pixel_by_its_predicted_class() -> None:
    p = maps()
    counts = np.array([1000.0, 0.0, 10.0])
    scores = acv.score(
        acv.get_strategy("seg_entropy", class_balanced=True), seg_probs=p, labeled_class_counts=counts
    )
    w = class_weights(counts)[p.argmax(axis=1)]
    np.testing.assert_allclose(scores, (pixel_uncertainty(p, "entropy") * w).reshape(4, -1).mean(axis=1))


def test_bald_selects_where_the_samples_disagree() -> None:
    agree = np.stack([maps(2, seed=0)] * 4, axis=1)
    disagree = np.stack([maps(2, seed=s) for s in range(4)], axis=1)
    chosen = acv.select("seg_bald", 2, seg_mc_probs=np.concatenate([agree, disagree]))
    assert sorted(chosen.indices.tolist()) == [2, 3]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"seg_probs": np.full((2, 3, 4, 4), 0.5)},
            r"seg_probs must sum to 1 over the classes at every pixel .* image 0 sums to 1.5",
        ),
        ({"seg_probs": -maps()}, r"seg_probs must be probabilities \(>= 0\)"),
        ({"seg_probs": np.full((2, 1, 4, 4), 1.0)}, r"seg_probs must have shape \(N, C, H, W\) with C >= 2"),
        (
            {"seg_probs": maps()[0]},
            r"seg_probs must have shape \(N, C, H, W\) with C >= 2; got \(3, 6, 5\) float64. For one",
        ),
        (
            {"seg_probs": [maps(1)[0], maps(1, h=3)[0]]},
            r"The images of one array must share one size; pass an iterator of per-image arrays",
        ),
        (
            {"seg_probs": maps(), "ignore_mask": np.zeros((4, 6, 4), bool)},
            r"ignore_mask must have one \(H, W\) mask per image, shape \(4, 6, 5\); got \(4, 6, 4\)",
        ),
        ({"seg_probs": maps(), "ignore_mask": np.zeros((4, 6, 5))}, r"ignore_mask must hold booleans"),
        (
            {"seg_probs": iter([maps(1)[0], maps(1, c=4)[0]])},
            r"every seg_probs chunk must have trailing shape \(3,\)",
        ),
        ({"seg_logits": np.full((1, 2, 2, 2), np.inf)}, r"seg_logits must be finite"),
    ],
)
def test_bad_segmentation_inputs(kwargs: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        acv.select("seg_entropy", 1, **kwargs)


def test_class_balance_needs_the_labeled_counts() -> None:
    strategy = acv.get_strategy("seg_entropy", class_balanced=True)
    needs = r"requires seg_probs \(or seg_logits\) \+ labeled_class_counts; got seg_probs"
    with pytest.raises(ValueError, match=needs):
        acv.select(strategy, 1, seg_probs=maps())
    with pytest.raises(ValueError, match=r"labeled_class_counts must have one count per class \(3\); got 2"):
        acv.select(strategy, 1, seg_probs=maps(), labeled_class_counts=[1, 2])
    with pytest.raises(ValueError, match=r"aggregate must be one of 'mean', 'max', 'top_q'; got 'median'"):
        acv.get_strategy("seg_entropy", aggregate="median")
    with pytest.raises(ValueError, match=r"q must be a fraction in \(0, 1\]; got 2"):
        acv.get_strategy("seg_entropy", q=2)


# ---- regions ----------------------------------------------------------------------------------


def test_region_statistics_by_hand() -> None:
    u = np.array([[0.2, 0.4, 0.9], [0.6, 0.8, 0.1]])
    predicted = np.array([[0, 1, 1], [1, 1, 2]])
    regions = np.array([[5, 5, 7], [5, 5, 7]])
    valid = np.array([[True, True, True], [True, False, True]])
    stats = region_statistics(u, predicted, regions, 3, valid)
    assert stats.ids.tolist() == [5, 7]
    np.testing.assert_allclose(stats.uncertainty, [0.4, 0.5])  # (0.2+0.4+0.6)/3, (0.9+0.1)/2
    assert stats.dominant.tolist() == [1, 1] and stats.n_classes.tolist() == [2, 2]
    assert stats.pixels.tolist() == [3, 2]


def test_region_scores_follow_cai_et_al() -> None:
    u = np.array([0.2, 0.6, 1.0, 0.4])
    dominant = np.array([0, 0, 0, 1])  # p_0 = 3/4, p_1 = 1/4
    norm = (u - 0.2) / 0.8
    expected = norm * np.exp(-np.array([0.75, 0.75, 0.75, 0.25]))
    np.testing.assert_allclose(region_scores(u, dominant, 2, True), expected)
    np.testing.assert_allclose(region_scores(u, dominant, 2, False), norm)


def test_the_budget_is_spent_greedily_passing_over_regions_too_dear() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    costs = np.array([2.0, 3.0, 1.0, 2.0, 1.0])
    assert take_within_budget(scores, costs, 4.0).tolist() == [0, 2, 4]  # 3 does not fit after 0
    assert take_within_budget(scores, costs, 1.0).tolist() == [2]
    allowed = np.array([False, True, True, True, True])
    assert take_within_budget(scores, costs, 4.0, allowed).tolist() == [1, 2]


def test_select_regions_takes_the_uncertain_cells() -> None:
    p = np.zeros((2, 2, 4, 4))
    p[:, 0] = 1.0
    p[1, :, 2:, :2] = 0.5  # image 1, bottom-left cell of 2x2: uncertain
    p[0, :, :2, 2:] = np.array([0.6, 0.4])[:, None, None]  # image 0, top-right: a little
    chosen = acv.select_regions(2, seg_probs=p, cell=2, class_balance=False)
    assert (chosen.images.tolist(), chosen.regions.tolist(), chosen.clicks) == ([1, 0], [2, 1], 2.0)
    assert {k: v.tolist() for k, v in chosen.by_image().items()} == {1: [2], 0: [1]}
    skipped = acv.select_regions(1, seg_probs=p, cell=2, labeled=[1], class_balance=False)
    assert (skipped.images.tolist(), skipped.regions.tolist()) == ([0], [1])
    taken = acv.select_regions(1, seg_probs=p, cell=2, labeled_regions={1: [2]}, class_balance=False)
    assert (taken.images.tolist(), taken.regions.tolist()) == ([0], [1])


def test_select_regions_with_superpixels_own_costs_and_a_cap() -> None:
    p = maps(3, h=4, w=4)
    superpixels = [np.repeat(np.arange(4), 4).reshape(4, 4) for _ in range(3)]  # one region a row
    own = [np.array([1.0, 5.0, 5.0, 5.0])] * 3  # only row 0 is cheap
    chosen = acv.select_regions(3, seg_probs=p, regions=superpixels, region_costs=own)
    assert chosen.regions.tolist() == [0, 0, 0] and chosen.clicks == 3.0
    capped = acv.select_regions(100, seg_probs=p, regions=superpixels, max_regions_per_image=1)
    assert sorted(capped.images.tolist()) == [0, 1, 2]
    classes = acv.select_regions(100, seg_probs=p, cell=2, cost="classes")
    assert (classes.costs >= 1).all() and classes.clicks == classes.costs.sum()
    bald_chosen = acv.select_regions(
        2, measure="bald", seg_mc_probs=np.stack([p, maps(3, h=4, w=4, seed=9)], axis=1)
    )
    assert len(bald_chosen) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget": 0}, r"budget must be a positive number of clicks; got 0"),
        (
            {"measure": "ratio"},
            r"measure must be one of entropy, margin, least_confidence, bald; got 'ratio'",
        ),
        ({"cost": "vertices"}, r"cost must be one of dominant, classes; got 'vertices'"),
        (
            {"regions": [np.zeros((3, 3), int)] * 2},
            r"regions of image 0 must be an integer map of its size \(6, 5\); got \(3, 3\)",
        ),
        ({"regions": "slic"}, r"regions must be one \(H, W\) integer region map per image; got str"),
        (
            {"region_costs": [np.array([-1.0] * 30)] * 2},
            r"region_costs of image 0 must be positive finite numbers",
        ),
        ({"measure": "bald"}, r"measure 'bald' needs seg_mc_probs; got seg_probs"),
        ({"labeled": [0, 1]}, r"no candidate region is left"),
        ({"regions": 7}, r"regions must be one \(H, W\) integer region map per image; got int"),
        ({"regions": [np.zeros((6, 5), int)]}, r"regions must hold one map per image; it ran out at image 1"),
        ({"regions": iter([np.zeros((6, 5), int)] * 3)}, r"it has more than the 2 images"),
        (
            {"region_costs": np.ones((3, 30))},
            r"region_costs must hold one array per image: seg_probs has 2 images but region_costs has 3",
        ),
        (
            {"region_costs": (np.ones(30) for _ in range(2))},
            r"region_costs must be a sequence \(list\) of 1-D arrays, .* got generator",
        ),
        (
            {"ignore_mask": np.zeros((2, 6, 4), bool)},
            r"ignore_mask of image 0 must be \(6, 5\) like its maps",
        ),
    ],
)
def test_bad_region_requests(kwargs: dict, message: str) -> None:
    arguments = {"budget": 2, "seg_probs": maps(2), **kwargs}
    budget = arguments.pop("budget")
    with pytest.raises((ValueError, TypeError), match=message):
        acv.select_regions(budget, **arguments)


def test_per_click_ranks_by_score_over_cost_by_hand() -> None:
    top = np.array([1.0, 0.9, 0.7, 0.5])  # the top class's probability in each column
    p = np.empty((1, 2, 2, 4))
    p[0, 0], p[0, 1] = top, 1.0 - top
    p[0, :, 1, 2] = [0.3, 0.7]  # column 2: one pixel of each class, both 0.3 uncertain
    columns = [np.tile(np.arange(4), (2, 1))]  # region k = column k
    # least confidence 0, 0.1, 0.3, 0.5; min-max normalised 0, 0.2, 0.6, 1
    own = [np.array([1.0, 1.0, 2.0, 4.0])]
    common = {"measure": "least_confidence", "regions": columns, "class_balance": False}
    by_score = acv.select_regions(4, seg_probs=p, region_costs=own, **common)
    assert (by_score.regions.tolist(), by_score.clicks) == ([3], 4.0)  # 1.0 first; it takes all 4 clicks
    per_click = acv.select_regions(4, seg_probs=p, region_costs=own, per_click=True, **common)
    # per click 0 / 1, 0.2 / 1, 0.6 / 2, 1 / 4 = 0, 0.2, 0.3, 0.25: 2, then 3 (4 clicks: too dear), 1, 0
    assert (per_click.regions.tolist(), per_click.clicks) == ([2, 1, 0], 4.0)
    np.testing.assert_allclose(per_click.scores, [0.3, 0.2, 0.0], atol=1e-6)
    assert per_click.info["per_click"] and not by_score.info["per_click"]
    balanced = acv.select_regions(
        4, seg_probs=p, region_costs=own, per_click=True, **{**common, "class_balance": True}
    )  # every dominant class is 0: p_0 = 1, every score times exp(-1)
    np.testing.assert_allclose(balanced.scores, np.exp(-1.0) * np.array([0.3, 0.2, 0.0]), atol=1e-6)
    classes = acv.select_regions(100, seg_probs=p, cost="classes", per_click=True, **common)
    assert classes.regions.tolist() == [3, 2, 1, 0] and classes.costs.tolist() == [1.0, 2.0, 1.0, 1.0]
    np.testing.assert_allclose(classes.scores, [1.0, 0.3, 0.2, 0.0], atol=1e-6)  # 0.6 / 2 classes
    dominant = acv.select_regions(2, seg_probs=p, per_click=True, **common)  # one click each: unchanged
    assert dominant.regions.tolist() == acv.select_regions(2, seg_probs=p, **common).regions.tolist()


def test_own_costs_with_a_stream_of_maps_are_checked_image_by_image() -> None:
    p = maps(10, h=4, w=4)
    costs = [np.arange(1.0, 5.0)] * 10  # cells of 2x2: four regions an image
    whole = acv.select_regions(7, seg_probs=p, cell=2, region_costs=costs)
    streamed = acv.select_regions(7, seg_probs=iter(list(p)), cell=2, region_costs=costs)
    assert streamed.images.tolist() == whole.images.tolist()
    assert streamed.regions.tolist() == whole.regions.tolist()
    assert streamed.clicks == whole.clicks and streamed.info["cost"] == "own"
    short = r"seg_probs has more than the 8 images region_costs has arrays for \(image 8 has none\)"
    with pytest.raises(ValueError, match=short):
        acv.select_regions(7, seg_probs=iter(list(p)), cell=2, region_costs=costs[:8])
    long = r"region_costs must hold one array per image: seg_logits has 10 images but region_costs has 12"
    with pytest.raises(ValueError, match=long):
        acv.select_regions(7, seg_logits=iter(list(np.log(p))), cell=2, region_costs=costs + costs[:2])


def test_superpixels_are_cached_and_feed_region_selection(tmp_path: Path) -> None:
    pytest.importorskip("skimage")
    from activecv.adapters.skimage import superpixels

    images = np.zeros((3, 1, 16, 16))
    images[:, :, :8, :8], images[:, :, 8:, 8:] = 0.5, 1.0  # blocks SLIC separates
    images += np.random.default_rng(0).random(images.shape) * 0.05
    first = superpixels(images, n_segments=8, cache=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 3 and all(m.shape == (16, 16) for m in first)
    (tmp_path / "marker").write_text("")  # the second call reads the cache, not SLIC
    again = superpixels(images, n_segments=8, cache=tmp_path)
    assert all((a == b).all() for a, b in zip(first, again, strict=True))
    other = superpixels(images, n_segments=4, cache=tmp_path)  # other parameters: other maps
    assert len(list(tmp_path.glob("*.npy"))) == 6 and len(other) == 3
    chosen = acv.select_regions(4, seg_probs=maps(3, h=16, w=16), regions=first)
    assert chosen.clicks == 4
    assert all(r in first[i] for i, r in zip(chosen.images, chosen.regions, strict=True))
    with pytest.raises(ValueError, match=r"image 0 must be \(H, W\) or \(C, H, W\) with C = 1 or 3"):
        superpixels(np.zeros((1, 2, 4, 4)))


def test_superpixels_warn_when_slic_returns_far_fewer_than_asked(tmp_path: Path) -> None:
    pytest.importorskip("skimage")
    from activecv.adapters.skimage import superpixels

    noise = np.random.default_rng(0).random((2, 32, 32))
    few = r"superpixels of image [01]: SLIC returned 1 of the 16 segments asked for .* compactness 0.1"
    with pytest.warns(UserWarning, match=few) as record:
        (merged, _) = superpixels(noise, n_segments=16, cache=tmp_path)
    assert [str(w.message)[:24] for w in record] == ["superpixels of image 0: ", "superpixels of image 1: "]
    assert np.unique(merged).tolist() == [0]  # returned as computed
    with pytest.warns(UserWarning, match=few):  # the cached map too: the warning does not depend on the cache
        superpixels(noise, n_segments=16, cache=tmp_path)
    enough = superpixels(noise, n_segments=16, compactness=1.0)  # a quarter or more: no warning
    assert all(np.unique(m).shape[0] >= 4 for m in enough)

"""Detections, per-box uncertainty, ENMS and EBAL: §1.11 vectors, properties, §1.10 edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import make_detections

import activecv as acv
from activecv import Detections
from activecv.strategies._detection import (
    EbalParams,
    ImageSummary,
    box_uncertainty,
    ebal_select,
    enms,
    minority_quotas,
    prototypes,
    summarize_image,
)

BOX = [0.0, 0.0, 10.0, 10.0]


# --- §1.11 hand-checked vectors -------------------------------------------------------------


def test_enms_vector() -> None:
    labels = np.array([0, 0, 1, 0])
    h = np.array([0.9, 0.8, 0.7, 0.2])
    f = np.array([[1, 0], [0.9, 0.1], [1, 0], [0, 1]], dtype=float)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    score, keep = enms(h, labels, f, 0.5)
    assert keep.tolist() == [0, 2, 3]  # 1 is suppressed by 0 (same class, cos 0.9939)
    assert score == pytest.approx(1.8) and h.sum() == pytest.approx(2.6)
    protos = prototypes(h, labels, f, keep)
    np.testing.assert_allclose(protos[0], [0.9762, 0.2169], atol=1e-4)
    np.testing.assert_allclose(protos[1], [1.0, 0.0])


def _image(score: float, protos: dict[int, list[float]], presence: list[float] | None = None) -> ImageSummary:
    vectors = {c: np.array(v) / np.linalg.norm(v) for c, v in protos.items()}
    present = np.array(presence if presence is not None else [0.0, 0.0])
    return ImageSummary(score, score, np.arange(len(protos)), vectors, present)


def test_divproto_vector() -> None:
    images = [
        _image(3.0, {0: [1, 0]}),  # A
        _image(1.0, {0: [0.9762, 0.2169], 1: [1, 0]}),  # B: class 1 is new -> M_intra = -1
        _image(2.0, {0: [0.9762, 0.2169]}),  # B': every class close to A -> rejected
        _image(0.0, {}),  # no detections: passes the intra test
    ]
    positions = np.array([10, 11, 12, 13])
    params = EbalParams(alpha=0.0)  # no minority balance: the intra test alone
    chosen, scores, info = ebal_select(images, positions, np.zeros(2), 3, params)
    assert chosen.tolist() == [10, 11, 13] and scores.tolist() == [3.0, 1.0, 0.0]
    assert info["m_intra"][11] == -1.0 and info["m_intra"][12] == pytest.approx(0.9762, abs=1e-4)
    assert info["rejected"] == {"intra": 1, "inter": 0} and info["filled_by_score"] == 0
    ignore = EbalParams(alpha=0.0, novel_class_policy="ignore")  # B: min over covered classes only
    assert ebal_select(images, positions, np.zeros(2), 3, ignore)[2]["m_intra"][11] == pytest.approx(
        0.9762, abs=1e-4
    )


# --- per-box uncertainty and Detections -----------------------------------------------------


def test_box_uncertainty_modes_hand_checked() -> None:
    det = Detections(boxes=[BOX], class_probs=[[0.6, 0.3, 0.1]], background_index=2)
    full = -(0.6 * np.log(0.6) + 0.3 * np.log(0.3) + 0.1 * np.log(0.1))
    assert box_uncertainty(det, "entropy", "full")[0] == pytest.approx(full)
    fg = np.array([0.6, 0.3]) / 0.9
    assert box_uncertainty(det, "entropy", "foreground_renorm")[0] == pytest.approx(-(fg * np.log(fg)).sum())
    assert box_uncertainty(det, "entropy", "binary_top1")[0] == pytest.approx(
        -(0.6 * np.log(0.6) + 0.4 * np.log(0.4))
    )
    assert box_uncertainty(det, "least_confidence", "full")[0] == pytest.approx(0.4)
    assert box_uncertainty(det, "margin", "full")[0] == pytest.approx(1 - (0.6 - 0.3))
    sigmoid = Detections(boxes=[BOX, BOX], class_probs=[[0.5, 0.2], [0.9, 0.6]])  # sums 0.7 and 1.5
    got = box_uncertainty(sigmoid, "entropy", "sigmoid_plus_bg")
    first = np.array([0.5, 0.2, 0.3])
    second = np.array([0.9, 0.6]) / 1.5
    assert got[0] == pytest.approx(-(first * np.log(first)).sum())
    assert got[1] == pytest.approx(-(second * np.log(second)).sum())


def test_detection_entropy_aggregations() -> None:
    two = Detections(boxes=[BOX, BOX], class_probs=[[0.5, 0.5], [1.0, 0.0]])
    empty = Detections(boxes=np.zeros((0, 4)))
    for aggregation, expected in (("sum", np.log(2)), ("mean", np.log(2) / 2), ("max", np.log(2))):
        scores = acv.score(
            acv.get_strategy("detection_entropy", aggregation=aggregation), detections=[two, empty]
        )
        np.testing.assert_allclose(scores, [expected, 0.0], atol=1e-12)


def test_detections_defaults_and_read_only() -> None:
    det = Detections(boxes=[BOX, BOX], class_probs=[[0.1, 0.7, 0.2], [0.1, 0.2, 0.7]], background_index=0)
    assert det.labels.tolist() == [0, 1] and det.scores.tolist() == [0.7, 0.7]
    assert det.num_classes == 2 and len(det) == 2
    with pytest.raises(ValueError):
        det.boxes[0, 0] = 5.0
    scored = Detections(boxes=[BOX], labels=[3], scores=[0.4])
    assert scored.class_probs is None and scored.num_classes is None
    assert len(Detections(boxes=[])) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"boxes": [[0, 0, 1]], "labels": [0], "scores": [1.0]}, r"boxes must have shape \(M, 4\)"),
        ({"boxes": [[5, 0, 1, 1]], "labels": [0], "scores": [1.0]}, r"x2 >= x1 and y2 >= y1; box 0 is \[5.0"),
        ({"boxes": [BOX], "class_probs": [[1.2, 0.1]]}, r"class_probs must lie in \[0, 1\]"),
        (
            {"boxes": [BOX, BOX], "class_probs": [[0.5, 0.5]]},
            r"class_probs must have one row per box \(2\); got 1",
        ),
        (
            {"boxes": [BOX], "class_probs": [[0.5, 0.5]], "labels": [2]},
            r"labels must be class ids \[0, 2\); got 2..2",
        ),
        (
            {"boxes": [BOX], "class_probs": [[0.5, 0.5]], "background_index": 2},
            r"background_index must be a column",
        ),
        ({"boxes": [BOX]}, "Detections need class_probs, or labels and scores"),
        ({"boxes": [BOX], "labels": [0], "scores": [1.5]}, r"scores must lie in \[0, 1\]"),
        ({"boxes": [BOX], "labels": [0], "scores": [1.0], "features": [[1.0, np.nan]]}, "a whole row of NaN"),
        ({"boxes": [[0, 0, np.inf, 1]], "labels": [0], "scores": [1.0]}, "boxes must be finite"),
    ],
)
def test_bad_detections(kwargs: dict, message: str) -> None:
    with pytest.raises(acv.ActiveCVError, match=message):
        Detections(**kwargs)


def test_bad_detection_inputs_to_select() -> None:
    det = Detections(boxes=[BOX], class_probs=[[0.5, 0.5]])
    with pytest.raises(TypeError, match="item 1 is dict"):
        acv.select("detection_entropy", budget=1, detections=[det, {"boxes": []}])
    with pytest.raises(ValueError, match="strategy 'ebal' requires detections \\+ labeled_class_counts"):
        acv.select("ebal", budget=1, detections=[det])
    with pytest.raises(ValueError, match="labeled_class_counts must hold one non-negative count per class"):
        acv.select("ebal", budget=1, detections=[det], labeled_class_counts=[-1, 2])
    with pytest.raises(
        ValueError, match="labeled_class_counts has 3 classes but an image's class_probs have 2"
    ):
        acv.select("ebal", budget=1, detections=[det, det], labeled_class_counts=[1, 2, 3])
    with pytest.raises(ValueError, match="enms and ebal need per-box features"):
        acv.select("enms", budget=1, detections=[det])
    with pytest.raises(ValueError, match="entropy_mode 'full' needs class_probs"):
        acv.select(
            "detection_entropy", budget=1, detections=[Detections(boxes=[BOX], labels=[0], scores=[0.9])]
        )


# --- properties -----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 12), st.floats(-1.0, 1.5))
def test_enms_never_exceeds_summed_entropy(seed: int, m: int, threshold: float) -> None:
    rng = np.random.default_rng(seed)
    h = rng.uniform(0, 2, m)
    labels = rng.integers(0, 3, m)
    f = rng.normal(size=(m, 4))
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    score, keep = enms(h, labels, f, threshold)
    assert score <= h.sum() + 1e-12 and len(set(keep.tolist())) == keep.shape[0]
    assert enms(h, labels, f, 1.0)[0] == pytest.approx(h.sum())  # nothing exceeds cosine 1
    assert enms(h, np.arange(m), f, threshold)[0] == pytest.approx(h.sum())  # all classes distinct


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 40))
def test_ebal_meets_the_budget_once_per_image_deterministically(seed: int, budget: int) -> None:
    rng = np.random.default_rng(seed)
    dets = make_detections(30, 3, rng)
    counts = rng.integers(0, 10, 3).astype(float)
    labeled = rng.choice(30, 5, replace=False)
    sel = acv.select("ebal", budget=budget, detections=dets, labeled_class_counts=counts, labeled=labeled)
    assert len(sel) == min(budget, 25) and len(set(sel.indices.tolist())) == len(sel)
    assert not set(sel.indices.tolist()) & set(labeled.tolist())
    again = acv.select("ebal", budget=budget, detections=dets, labeled_class_counts=counts, labeled=labeled)
    np.testing.assert_array_equal(sel.indices, again.indices)


# --- §1.10 edge cases -----------------------------------------------------------------------


def _det(probs: list[list[float]], features: list[list[float]]) -> Detections:
    return Detections(
        boxes=[BOX] * len(probs), class_probs=probs, background_index=len(probs[0]) - 1, features=features
    )


def test_image_without_detections_waits_for_the_fill_up() -> None:
    busy = [_det([[0.5, 0.1, 0.4]], [[1.0, float(i)]]) for i in range(3)]  # class 0 only
    dets = [*busy, Detections(boxes=np.zeros((0, 4)))]
    # class 1 is the minority with quota 3 but nobody shows it: every image is rejected by the
    # inter-class test and the budget is met by fill-up in score order, the empty image last
    ebal = acv.get_strategy("ebal", alpha=0.5)
    sel = acv.select(ebal, budget=4, detections=[*dets, busy[0]], labeled_class_counts=[9, 0])
    assert 3 not in sel.indices.tolist()  # score 0: last in the fill-up order
    assert sel.info["filled_by_score"] == 4 and sel.info["quotas_left"] == {1: 3}
    assert sel.info["rejected"]["inter"] == 5


def test_budget_covering_the_pool_returns_it_in_enms_order() -> None:
    dets = make_detections(6, 3, np.random.default_rng(0))
    sel = acv.select("ebal", budget=10, detections=dets, labeled_class_counts=[1, 1, 1])
    enms_scores = acv.score("enms", detections=dets)
    np.testing.assert_array_equal(sel.indices, np.argsort(-enms_scores, kind="stable"))


def test_minority_classes_and_quotas() -> None:
    assert minority_quotas(np.array([3, 0, 5, 0, 1]), 0.5, 0.75, 10) == {1: 3, 3: 3}  # floor(7.5 / 2)
    assert minority_quotas(np.zeros(4), 0.5, 0.75, 2) == {0: 1, 1: 1}  # cold start: first ids, quota >= 1
    assert minority_quotas(np.array([2, 1]), 0.2, 0.75, 8) == {1: 6}  # alpha > 0 gives at least one
    assert minority_quotas(np.array([2, 1]), 0.0, 0.75, 8) == {}  # alpha = 0: no balance test


def test_quota_is_consumed_by_accepted_images_showing_the_minority() -> None:
    majority = [_det([[0.5, 0.05, 0.45]], [[1.0, float(i)]]) for i in range(4)]  # more uncertain
    minority = [_det([[0.1, 0.8, 0.1]], [[float(i), 1.0]]) for i in range(4)]  # shows class 1
    dets, counts = majority + minority, [10, 0]
    no_diversity = acv.get_strategy("ebal", t_intra=1.0)  # only the balance test acts
    sel = acv.select(no_diversity, budget=4, detections=dets, labeled_class_counts=counts)
    # class 1 gets floor(0.75 * 4 / 1) = 3 picks: the majority images are passed over until then
    assert sel.indices.tolist()[:3] == [4, 5, 6] and sel.info["quotas_left"] == {1: 0}
    assert sel.info["rejected"]["inter"] == 4
    unbalanced = acv.get_strategy("ebal", t_intra=1.0, alpha=0.0)
    assert acv.select(
        unbalanced, budget=4, detections=dets, labeled_class_counts=counts
    ).indices.tolist() == [0, 1, 2, 3]


def test_boxes_without_features_are_dissimilar_to_all() -> None:
    same = _det([[0.5, 0.1, 0.4], [0.5, 0.1, 0.4]], [[1.0, 0.0], [1.0, 0.0]])
    missing = _det([[0.5, 0.1, 0.4], [0.5, 0.1, 0.4]], [[1.0, 0.0], [np.nan, np.nan]])
    scores = acv.score("enms", detections=[same, missing])
    assert scores[1] == pytest.approx(2 * scores[0])  # the featureless box is never suppressed


def test_summaries_follow_prototype_and_presence_options() -> None:
    det = _det([[0.6, 0.3, 0.1], [0.55, 0.35, 0.1]], [[1.0, 0.0], [0.99, 0.1]])
    kept = summarize_image(det, 2, "full", 0.5, "kept", "max_prob")
    assert kept.keep.tolist() == [1] and kept.presence.tolist() == [0.55, 0.35]
    every = summarize_image(det, 2, "full", 0.5, "all", "pred_label")
    assert every.presence.tolist() == [0.55, 0.0]
    assert not np.allclose(every.prototypes[0], kept.prototypes[0])


def test_relaxed_fill_raises_the_intra_threshold_before_filling_by_score() -> None:
    images = [_image(3.0, {0: [1, 0]}), _image(2.0, {0: [0.9762, 0.2169]}), _image(1.0, {0: [1, 0.001]})]
    positions = np.arange(3)
    relax = EbalParams(t_intra=0.9, alpha=0.0, fill_mode="relax")
    chosen, _, info = ebal_select(images, positions, np.zeros(2), 2, relax)
    # the walk rejects both copies (0.976 and ~1.0 > 0.9); the relaxed walk (0.9 + 0.1) takes 0.976
    assert (
        chosen.tolist() == [0, 1] and info["accepted_by_relaxed_walk"] == 1 and info["filled_by_score"] == 0
    )
    plain = EbalParams(t_intra=0.9, alpha=0.0)
    chosen, _, info = ebal_select(images, positions, np.zeros(2), 2, plain)
    assert chosen.tolist() == [0, 1] and info["filled_by_score"] == 1  # same image, by score

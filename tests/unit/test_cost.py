"""Selection within an annotation cost budget: hand-computed vectors, EBAL in cost, errors."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import make_detections

import activecv as acv
from activecv import Detections

# least_confidence = 1 - max p, exact in binary fractions: 0.5, 0.375, 0.25, 0.125
PROBS = np.array([[0.5, 0.5], [0.625, 0.375], [0.75, 0.25], [0.875, 0.125]])


def test_cost_normalised_ranking_picks_differently_from_plain_ranking() -> None:
    costs = [10.0, 2.0, 1.0, 1.0]  # score / cost: 0.05, 0.1875, 0.25, 0.125
    plain = acv.select_within_cost("least_confidence", 10.0, costs, normalise=False, probs=PROBS)
    assert plain.indices.tolist() == [0] and plain.info["cost_spent"] == 10.0  # one dear image
    per_cost = acv.select_within_cost("least_confidence", 10.0, costs, probs=PROBS)
    assert per_cost.indices.tolist() == [2, 1, 3]  # item 0 no longer fits the 6 left
    assert per_cost.scores.tolist() == [0.25, 0.375, 0.125]  # the strategy's own scores
    assert per_cost.info["cost_spent"] == 4.0 and per_cost.info["costs"].tolist() == [1.0, 2.0, 1.0]
    assert per_cost.info["ranked_by"] == "score / cost" and per_cost.info["cost_budget"] == 10.0


def test_a_budget_two_dear_items_fill_or_five_cheap_ones() -> None:
    probs = np.array([[0.5, 0.5]] * 2 + [[0.625, 0.375]] * 5)  # 2 at 0.5, 5 at 0.375
    costs = [30.0] * 2 + [12.0] * 5  # per second: 0.0167 vs 0.03125
    plain = acv.select_within_cost("least_confidence", 60, costs, normalise=False, probs=probs)
    assert plain.indices.tolist() == [0, 1] and plain.info["cost_spent"] == 60.0
    per_cost = acv.select_within_cost("least_confidence", 60, costs, probs=probs)
    assert per_cost.indices.tolist() == [2, 3, 4, 5, 6] and per_cost.info["cost_spent"] == 60.0


def test_an_item_too_dear_for_what_is_left_is_skipped_and_the_walk_goes_on() -> None:
    sel = acv.select_within_cost("least_confidence", 4, [5.0, 3.0, 2.0, 1.0], normalise=False, probs=PROBS)
    assert sel.indices.tolist() == [1, 3]  # 0 never fits, 2 (2 > 1 left) is skipped, 3 fits
    assert sel.info["cost_spent"] == 4.0


def test_labeled_items_are_never_chosen() -> None:
    sel = acv.select_within_cost("least_confidence", 100, np.ones(4), labeled=[0, 2], probs=PROBS)
    assert sel.indices.tolist() == [1, 3]


def test_random_samples_within_the_budget_with_the_pool_size_from_costs() -> None:
    sel = acv.select_within_cost("random", 3.0, np.ones(10), rng=0, normalise=False)
    assert len(sel) == 3 and len(set(sel.indices.tolist())) == 3


def test_detection_costs_from_the_number_of_predicted_boxes() -> None:
    def boxes(n: int) -> Detections:
        return Detections(boxes=np.zeros((n, 4)), scores=np.full(n, 0.5), labels=np.zeros(n, int))

    dets = [boxes(0), boxes(3), boxes(1)]
    assert acv.detection_costs(dets, 7.0, 5.0).tolist() == [5.0, 26.0, 12.0]
    assert acv.detection_costs(dets[1:], 2).tolist() == [6.0, 2.0]


def test_ebal_with_unit_costs_is_ebal_with_a_budget_in_images() -> None:
    rng = np.random.default_rng(3)
    dets = make_detections(30, 3, rng)
    kw = {"detections": dets, "labeled_class_counts": [4.0, 1.0, 6.0], "labeled": [0, 5]}
    ebal = acv.get_strategy("ebal", alpha=0.0)
    by_count = acv.select(ebal, budget=7, **kw)
    by_cost = acv.select_within_cost(ebal, 7.0, np.ones(30), **kw)
    np.testing.assert_array_equal(by_cost.indices, by_count.indices)
    assert by_cost.info["cost_spent"] == 7.0


def test_ebal_spends_a_cost_budget_on_cheap_images_and_its_quotas_in_cost() -> None:
    rng = np.random.default_rng(1)
    dets = make_detections(20, 3, rng)
    costs = np.where(np.arange(20) % 2 == 0, 100.0, 1.0)  # even images dear
    kw = {"detections": dets, "labeled_class_counts": [5.0, 0.0, 5.0]}
    sel = acv.select_within_cost("ebal", 10.0, costs, **kw)
    assert len(sel) > 0 and all(i % 2 == 1 for i in sel.indices.tolist())  # a dear one never fits
    assert sel.info["cost_spent"] == float(costs[sel.indices].sum()) <= 10.0
    assert sel.info["minority_quotas"] == {1: 7.5}  # beta 0.75 of the 10 s, one minority class
    assert sel.info["rejected"]["too_dear"] > 0
    plain = acv.select_within_cost("ebal", 10.0, costs, normalise=False, **kw)
    assert plain.info["cost_spent"] <= 10.0
    whole = acv.select_within_cost("ebal", 1e6, costs, **kw)  # the whole pool fits
    assert sorted(whole.indices.tolist()) == list(range(20))


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("budget", "error", "match"),
    [
        ("10", TypeError, r"cost_budget must be a real number; got str '10'"),
        (True, TypeError, r"cost_budget must be a real number"),
        (0.0, ValueError, r"cost_budget must be a finite number > 0; got 0.0"),
        (float("inf"), ValueError, r"cost_budget must be a finite number > 0; got inf"),
    ],
)
def test_bad_cost_budget(budget: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        acv.select_within_cost("entropy", budget, np.ones(4), probs=PROBS)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("costs", "error", "match"),
    [
        (np.ones((4, 1)), ValueError, r"costs must have shape \(N,\), one annotation cost per pool item"),
        (np.array(["a"] * 4), TypeError, r"costs must hold real numbers"),
        (np.ones(3), ValueError, r"costs must have one entry per pool item, shape \(4,\); got \(3,\)"),
        ([1.0, 0.0, 1.0, -2.0], ValueError, r"positive and finite .* costs\[1\] is 0.0 \(2 bad in all"),
        ([1.0, 1.0, np.nan, 1.0], ValueError, r"costs\[2\] is nan"),
    ],
)
def test_bad_costs(costs: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        acv.select_within_cost("entropy", 5.0, costs, probs=PROBS)  # type: ignore[arg-type]


def test_other_errors_name_the_argument_and_the_fix() -> None:
    with pytest.raises(TypeError, match="normalise must be True or False; got str"):
        acv.select_within_cost("entropy", 5.0, np.ones(4), normalise="yes", probs=PROBS)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'coreset' chooses a batch jointly and has no cost budget"):
        acv.select_within_cost("coreset", 5.0, np.ones(4), embeddings=np.eye(4))
    with pytest.raises(TypeError, match="unknown input 'prob'; inputs are"):
        acv.select_within_cost("entropy", 5.0, np.ones(4), prob=PROBS)
    with pytest.raises(ValueError, match="needs inputs of known length"):
        acv.select_within_cost("entropy", 5.0, np.ones(4), probs=iter([PROBS]))
    with pytest.raises(ValueError, match=r"'random' samples by score.*pass normalise=False"):
        acv.select_within_cost("random", 5.0, np.ones(4), rng=0)
    with pytest.raises(ValueError, match=r"needs scores >= 0; strategy 'learning_loss' gave -1.0"):
        acv.select_within_cost("learning_loss", 5.0, np.ones(2), predicted_loss=np.array([-1.0, 2.0]))
    with pytest.raises(ValueError, match="requires probs"):
        acv.select_within_cost("entropy", 5.0, np.ones(4))
    with pytest.raises(ValueError, match="every one of the 4 pool items is labeled"):
        acv.select_within_cost("entropy", 5.0, np.ones(4), labeled=np.ones(4, bool), probs=PROBS)


def test_detection_costs_errors() -> None:
    det = Detections(boxes=np.zeros((0, 4)))
    with pytest.raises(ValueError, match=r"seconds_per_box must be a finite number >= 0; got -1.0"):
        acv.detection_costs([det], -1.0, 1.0)
    with pytest.raises(TypeError, match="seconds_per_image must be a real number; got NoneType"):
        acv.detection_costs([det], 1.0, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="detections must be a sequence of Detections, one per image; got"):
        acv.detection_costs(det, 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"detections\[1\] must be a Detections; got dict"):
        acv.detection_costs([det, {}], 1.0)  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"would make image 0 free .*pass seconds_per_image > 0"):
        acv.detection_costs([det], 7.0)

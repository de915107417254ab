"""MI-AOD (ALGORITHMS.md §8): each loss by hand on tiny tensors, what each stage may change, the
adversarial steps moving the discrepancy the way they should, and the strategy."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import activecv as acv  # noqa: E402
from activecv.adapters.torch import (  # noqa: E402
    MIAODDetector,
    MIAODOutput,
    MIAODSettings,
    detect_mi_aod,
    mi_aod_loss,
    mi_aod_uncertainty,
    set_mi_aod_stage,
    train_mi_aod,
)
from activecv.adapters.torch._mi_aod import (  # noqa: E402
    _grid_box_loss,
    _grid_targets,
    discrepancy_loss,
    focal_loss,
    image_labels,
    instance_uncertainty,
    mil_loss,
    mil_weights,
    pseudo_labels,
    uniform_weights,
)
from activecv.adapters.torch._train import make_optimizer  # noqa: E402
from activecv.datasets import make_scenes  # noqa: E402

pytestmark = pytest.mark.torch
LN3 = math.log(3.0)


def output(logits1: list, logits2: list, mil: list | None = None) -> MIAODOutput:
    a, b = torch.tensor([logits1]), torch.tensor([logits2])
    m = torch.tensor([mil]) if mil is not None else torch.zeros_like(a)
    return MIAODOutput(a, b, m, torch.zeros(1), torch.zeros(1))


def test_focal_loss_by_hand() -> None:
    # p = 0.5 everywhere, CE = ln 2. Positive: alpha (1 - 0.5)^2 = 0.0625; negative: 0.75 * 0.25 =
    # 0.1875. One positive in the image: (0.0625 + 0.1875) ln 2 / 1.
    logits = torch.zeros(1, 2, 1)
    assert float(focal_loss(logits, torch.tensor([[0, 1]]))) == pytest.approx(0.25 * math.log(2))
    # no positive: the divisor is still 1 per image
    assert float(focal_loss(logits, torch.tensor([[1, 1]]))) == pytest.approx(0.375 * math.log(2))
    # gamma 0, alpha 0.5: half the summed binary cross-entropy
    assert float(focal_loss(logits, torch.tensor([[0, 1]]), alpha=0.5, gamma=0.0)) == pytest.approx(
        math.log(2)
    )


def test_mil_weights_image_scores_and_loss_by_hand() -> None:
    # f1 = f2: mean scores sigmoid(l): instance 0 [0.5, 0.75] (max 0.75), instance 1 [0.5, 0.5] (0.5);
    # softmax over instances of (0.75, 0.5): 0.56218, 0.43782. f_mil softmax over classes:
    # [0.5, 0.5] and [0.75, 0.25].
    out = output([[0.0, LN3], [0.0, 0.0]], [[0.0, LN3], [0.0, 0.0]], [[0.0, 0.0], [LN3, 0.0]])
    s0 = 1 / (1 + math.exp(-0.25))
    expected = [[0.5 * s0, 0.5 * s0], [0.75 * (1 - s0), 0.25 * (1 - s0)]]
    np.testing.assert_allclose(mil_weights(out)[0].numpy(), expected, rtol=1e-6)
    # image scores [0.60945, 0.39055]; labels [1, 0]: BCE = -(ln 0.60945 + ln 0.60945) / 2
    score = 0.5 * s0 + 0.75 * (1 - s0)
    loss = mil_loss(mil_weights(out), torch.tensor([[1.0, 0.0]]))
    assert float(loss) == pytest.approx(-math.log(score), rel=1e-6)


def test_mil_weights_do_not_train_the_instance_classifiers() -> None:
    out = output([[0.3, -0.2]], [[0.1, 0.4]], [[0.5, -0.5]])
    for t in (out.logits1, out.logits2, out.mil):
        t.requires_grad_(True)
    mil_loss(mil_weights(out), torch.tensor([[1.0, 0.0]])).backward()
    assert out.logits1.grad is None and out.logits2.grad is None and out.mil.grad is not None


def test_discrepancy_losses_by_hand() -> None:
    # p1 = [0.5, 0.5], p2 = [0.75, 0.25]: |gap| = 0.25 per class; weights [0.4, 0.2]
    out = output([[0.0, 0.0]], [[LN3, -LN3]])
    w = torch.tensor([[[0.4, 0.2]]])
    assert float(discrepancy_loss(out, w, 0.5, maximize=False)) == pytest.approx(0.5 * (0.1 + 0.05) / 2)
    assert float(discrepancy_loss(out, w, 0.5, maximize=True)) == pytest.approx(0.5 * (0.3 + 0.15) / 2)
    # summed over instances and images, not averaged
    two = MIAODOutput(*(torch.cat([t, t]) for t in out[:3]), torch.zeros(1), torch.zeros(1))
    assert float(discrepancy_loss(two, torch.cat([w, w]), 0.5, False)) == pytest.approx(0.075)
    # uniform weights 1 / (N C)
    np.testing.assert_allclose(uniform_weights(out).numpy(), np.full((1, 1, 2), 0.5))


def test_instance_uncertainty_is_the_top_k_mean_of_squared_gaps() -> None:
    # instance 0: squared gaps 0.0625 each (mean 0.0625); instance 1: agreement (0)
    out = output([[0.0, 0.0], [1.0, -1.0]], [[LN3, -LN3], [1.0, -1.0]])
    assert float(instance_uncertainty(out, 1)[0]) == pytest.approx(0.0625)
    assert float(instance_uncertainty(out, 2)[0]) == pytest.approx(0.03125)
    assert float(instance_uncertainty(out)[0]) == pytest.approx(0.03125)  # k beyond N: all


def test_image_and_pseudo_labels() -> None:
    # classes in [0, C]; C = 2 is background
    np.testing.assert_array_equal(
        image_labels(torch.tensor([[0, 2, 2], [2, 1, 1]]), 2).numpy(), [[1, 0], [0, 1]]
    )
    labels, every = pseudo_labels(output([[0.0, -3.0], [-3.0, -3.0]], [[0.0, -3.0], [-3.0, -3.0]]))
    np.testing.assert_array_equal(labels.numpy(), [[1.0, 0.0]])  # a mean score of exactly 0.5 counts
    assert every
    _, every = pseudo_labels(output([[-1.0, -3.0]], [[-1.0, -3.0]]))
    assert not every  # an image without any class: the batch's image loss is dropped


@pytest.fixture(scope="module")
def scenes():
    return make_scenes(24, size=64, max_objects=3, seed=0)


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items())


@pytest.mark.parametrize(
    ("stage", "moves", "still"),
    [
        ("labeled", ("backbone", "regressor", "f1", "f2", "f_mil"), ()),
        ("min", ("backbone", "regressor", "f_mil"), ("f1", "f2")),
        ("max", ("f1", "f2"), ("backbone", "regressor", "f_mil")),
    ],
)
def test_a_step_changes_only_what_its_stage_trains(scenes, stage: str, moves: tuple, still: tuple) -> None:
    torch.manual_seed(0)
    model = MIAODDetector.grid(len(scenes.class_names), 1, width=8)
    x = torch.from_numpy(scenes.images[:4].astype(np.float32))
    cls, reg, positive = _grid_targets(model, x, scenes.boxes[:4], scenes.labels[:4])
    settings = MIAODSettings()
    before = {name: _snapshot(getattr(model, name)) for name in (*moves, *still)}
    optimizer = make_optimizer("sgd", set_mi_aod_stage(model, stage), 0.1, 0.9, 5e-4)
    batches = [(x, cls, _grid_box_loss(reg, positive))]
    if stage != "labeled":
        batches.append((torch.from_numpy(scenes.images[4:8].astype(np.float32)), None, None))
    for images, classes, box_loss in batches:
        optimizer.zero_grad()
        mi_aod_loss(model, images, stage, settings, classes, box_loss).backward()
        optimizer.step()
    for name in moves:
        assert _changed(before[name], getattr(model, name)), f"{stage}: {name} did not train"
    for name in still:  # parameters and normalisation statistics alike
        assert not _changed(before[name], getattr(model, name)), f"{stage}: {name} changed"


def test_max_step_raises_and_min_step_lowers_the_discrepancy(scenes) -> None:
    unlabeled = scenes.images[8:].astype(np.float32)

    def discrepancy_after(stage: str) -> tuple[float, float]:
        torch.manual_seed(1)
        model = MIAODDetector.grid(len(scenes.class_names), 1, width=8)
        train_mi_aod(
            model, scenes.images[:8], scenes.boxes[:8], scenes.labels[:8], unlabeled,
            MIAODSettings(optimizer="adam", lr=1e-2, batch_size=4, repeat=5, outer_loops=0), seed=0,
        )  # fmt: skip
        before = float(mi_aod_uncertainty(model, unlabeled).mean())
        optimizer = torch.optim.Adam(set_mi_aod_stage(model, stage), lr=1e-2)
        u = torch.from_numpy(unlabeled[:8])
        for _ in range(10):
            optimizer.zero_grad()
            mi_aod_loss(model, u, stage, MIAODSettings(mil=False)).backward()
            optimizer.step()
        return before, float(mi_aod_uncertainty(model, unlabeled).mean())

    before, after = discrepancy_after("max")
    assert after > 2 * before
    before, after = discrepancy_after("min")
    assert after < before


def test_training_runs_the_stages_in_order_and_the_strategy_ranks(scenes) -> None:
    torch.manual_seed(0)
    model = MIAODDetector.grid(len(scenes.class_names), 1, width=8)
    settings = MIAODSettings(labeled_epochs=1, unlabeled_epochs=1, outer_loops=2, repeat=1, batch_size=8)
    history = train_mi_aod(
        model, scenes.images[:8], scenes.boxes[:8], scenes.labels[:8], scenes.images[8:], settings
    )
    assert [stage for stage, _ in history] == ["labeled", "min", "max", "labeled", "min", "max", "labeled"]
    assert all(np.isfinite(loss) for _, loss in history)
    assert all(p.requires_grad for p in model.parameters()) and not model.training
    no_iul = MIAODSettings(labeled_epochs=1, outer_loops=2, adversarial=False)
    assert [s for s, _ in no_iul.stages()] == ["labeled"] * 3

    u = mi_aod_uncertainty(model, scenes.images[8:], top_k=16)
    assert u.shape == (16,) and u.dtype == np.float64 and (u >= 0).all()
    picked = acv.select("mi_aod", 3, instance_uncertainty=u)
    np.testing.assert_array_equal(picked.indices, np.argsort(-u, kind="stable")[:3])
    found = detect_mi_aod(model, scenes.images[:2])
    assert len(found) == 2 and all(d.background_index is None for d in found)


def test_bad_settings_and_inputs_are_named(scenes) -> None:
    with pytest.raises(ValueError, match=r"lam must be >= 0; got -1\.0"):
        MIAODSettings(lam=-1.0)
    with pytest.raises(ValueError, match="lam must be a finite number; got None"):
        MIAODSettings(lam=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="repeat must be a positive integer; got 0"):
        MIAODSettings(repeat=0)
    with pytest.raises(TypeError, match="outer_loops must be a positive integer; got str '2'"):
        MIAODSettings(outer_loops="2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="optimizer must be 'adam' or 'sgd'"):
        MIAODSettings(optimizer="rmsprop")
    with pytest.raises(ValueError, match="prior must lie in"):
        MIAODDetector(torch.nn.Identity(), torch.nn.Identity(), 8, 3, prior=1.0)
    two = MIAODDetector(torch.nn.Conv2d(1, 8, 8, stride=8), torch.nn.Conv2d(8, 8, 1), 8, 3, anchors=2)
    with pytest.raises(ValueError, match="anchors must be 1; got 2"):
        detect_mi_aod(two, scenes.images[:1])
    with pytest.raises(ValueError, match="anchors must be 1; got 2"):
        train_mi_aod(two, scenes.images[:2], scenes.boxes[:2], scenes.labels[:2], scenes.images[2:])
    coarse = MIAODDetector(torch.nn.Conv2d(1, 8, 16, stride=16), torch.nn.Conv2d(8, 4, 1), 8, 3)
    with pytest.raises(ValueError, match=r"stride 8: images \(64, 64\) gave a 4 x 4 feature map"):
        train_mi_aod(coarse, scenes.images[:2], scenes.boxes[:2], scenes.labels[:2], scenes.images[2:])
    model = MIAODDetector.grid(len(scenes.class_names), 1, width=8)
    with pytest.raises(ValueError, match="unlabeled must hold at least one image"):
        train_mi_aod(model, scenes.images[:2], scenes.boxes[:2], scenes.labels[:2], scenes.images[:0])
    with pytest.raises(ValueError, match="of one length; got 2, 1, 2"):
        train_mi_aod(model, scenes.images[:2], scenes.boxes[:1], scenes.labels[:2], scenes.images[2:])
    with pytest.raises(ValueError, match="top_k must be a positive integer; got 0"):
        mi_aod_uncertainty(model, scenes.images[:2], top_k=0)
    with pytest.raises(ValueError, match="stage must be one of labeled, min, max; got 'both'"):
        set_mi_aod_stage(model, "both")
    with pytest.raises(ValueError, match="stage must be one of labeled, min, max; got 'maximize'"):
        mi_aod_loss(model, torch.zeros(1, 1, 64, 64), "maximize", MIAODSettings())
    with pytest.raises(ValueError, match="the labeled stage trains on labeled batches only"):
        mi_aod_loss(model, torch.zeros(1, 1, 64, 64), "labeled", MIAODSettings())
    with pytest.raises(ValueError, match="a labeled batch needs box_loss"):
        mi_aod_loss(
            model, torch.zeros(1, 1, 64, 64), "labeled", MIAODSettings(), torch.zeros(1, 64, dtype=torch.long)
        )
    with pytest.raises(ValueError, match="requires instance_uncertainty"):
        acv.select("mi_aod", 1, probs=np.array([[0.5, 0.5]]))


def test_a_detection_simulation_trains_and_selects_with_mi_aod(tmp_path) -> None:
    pytest.importorskip("pycocotools")
    from activecv.sim import SimulationConfig, preset, simulate

    config = preset(
        "digit-scenes-detection",
        model="mi_aod_detector",  # every strategy on the detector MI-AOD trains
        strategies=("mi_aod", "detection_entropy"),
        limit=100,
        initial=16,
        budget=8,
        rounds=1,
        seeds=(0,),
        candidates=30,
        train_steps=4,
    )
    result = simulate(config, tmp_path, progress=False)
    rows = [r for r in result.rows if r["strategy"] == "mi_aod"]
    assert [r["n_labeled"] for r in rows] == [16, 24]
    assert all(0 <= r["metric"] <= 1 and r["training_seconds"] > 0 for r in result.rows)
    assert {r["strategy"] for r in result.rows} == {"random", "mi_aod", "detection_entropy"}
    assert len({r["metric"] for r in result.rows if r["round"] == 0}) == 1  # one detector, one start
    with pytest.raises(
        ValueError, match="mi_aod trains a detector's own heads: it runs with task='detection'"
    ):
        SimulationConfig(strategies=("mi_aod",))


def test_post_hoc_strategies_read_the_sigmoid_scores_with_a_background_mass() -> None:
    from activecv.sim import preset
    from activecv.sim._mi_aod import _for_sigmoid_scores

    config = preset(
        "digit-scenes-detection", model="mi_aod_detector", strategies=("detection_entropy", "ebal")
    )
    assert (
        _for_sigmoid_scores(acv.get_strategy("detection_entropy"), config).entropy_mode == "sigmoid_plus_bg"
    )
    assert _for_sigmoid_scores(acv.get_strategy("ebal"), config).entropy_mode == "sigmoid_plus_bg"
    assert _for_sigmoid_scores(acv.get_strategy("random"), config).name == "random"
    chosen = preset(
        "digit-scenes-detection",
        model="mi_aod_detector",
        strategies=("detection_entropy",),
        strategy_params={"detection_entropy": {"entropy_mode": "full"}},
    )
    assert _for_sigmoid_scores(acv.get_strategy("detection_entropy"), chosen).entropy_mode == "full"

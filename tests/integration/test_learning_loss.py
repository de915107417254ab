"""Learning Loss (§5): the ranking loss by hand, the gradient stop, and a real training run."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import activecv as acv  # noqa: E402
from activecv.adapters.torch import (  # noqa: E402
    GalCNN,
    LearningLoss,
    LossPredictionModule,
    fit,
    predict_logits,
    predict_loss,
    ranking_loss,
    small_resnet,
)
from activecv.datasets import load  # noqa: E402

pytestmark = pytest.mark.torch


def test_ranking_loss_hand_checked() -> None:
    # pairs (0, 3) and (1, 2): gaps 1 and 1; true order agrees for the first (loss 0), not the
    # second (s = -1: max(0, 1 + 1) = 2); mean 1.0.
    predicted = torch.tensor([3.0, 1.0, 0.0, 2.0])
    target = torch.tensor([1.0, 0.5, 2.0, 0.1])
    assert float(ranking_loss(predicted, target)) == pytest.approx(1.0)
    assert float(ranking_loss(predicted, target, margin=0.5)) == pytest.approx(0.75)
    # odd batch: the middle item sits out, pairs (0, 4) and (1, 3)
    odd = ranking_loss(torch.tensor([3.0, 1.0, 9.0, 0.0, 2.0]), torch.tensor([1.0, 0.5, 7.0, 2.0, 0.1]))
    assert float(odd) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 2 items; got 1"):
        ranking_loss(torch.tensor([1.0]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match=r"shape \(B,\); got \(2,\) and \(3,\)"):
        ranking_loss(torch.zeros(2), torch.zeros(3))


def test_target_gets_no_gradient() -> None:
    predicted = torch.tensor([0.2, -0.1], requires_grad=True)
    target = torch.tensor([1.0, 2.0], requires_grad=True)
    ranking_loss(predicted, target).backward()
    assert target.grad is None and predicted.grad is not None


def test_module_shapes_and_errors() -> None:
    module = LossPredictionModule((4, 8), hidden=16)
    out = module([torch.zeros(3, 4, 5, 5), torch.zeros(3, 8)])
    assert out.shape == (3,)
    with pytest.raises(ValueError, match=r"one tensor per branch \(2\); got 1"):
        module([torch.zeros(3, 4)])
    with pytest.raises(ValueError, match="channels must be a non-empty sequence"):
        LossPredictionModule(())
    with pytest.raises(ValueError, match="layer 'nope' is not a module"):
        LearningLoss(GalCNN(), ["nope"])
    with pytest.raises(ValueError, match="optimizer must be 'adam' or 'sgd'; got 'rmsprop'"):
        LearningLoss(GalCNN(), ["features"], optimizer="rmsprop")


def _backbone_gradient(epoch: int, detach_after: int | None) -> float:
    torch.manual_seed(0)
    model = small_resnet()
    ll = LearningLoss(model, model.stage_names, detach_after=detach_after)
    x, y = torch.randn(6, 1, 28, 28), torch.arange(6)
    per_item = torch.nn.functional.cross_entropy(model(x), y, reduction="none")
    ll.extra_loss(epoch, per_item).backward()
    assert ll.module is not None and all(p.grad is not None for p in ll.module.parameters())
    return sum(float(p.grad.abs().sum()) for p in model.parameters() if p.grad is not None)


def test_gradient_stops_flowing_into_the_backbone_after_detach_epoch() -> None:
    assert _backbone_gradient(epoch=5, detach_after=None) > 0
    assert _backbone_gradient(epoch=5, detach_after=5) > 0  # epoch 5 is not after 5
    assert _backbone_gradient(epoch=6, detach_after=5) == 0


def test_predicted_loss_correlates_with_true_loss_on_held_out_data() -> None:
    data = load("mnist5k")
    x, y = data.x_train[:1000, None], data.y_train[:1000]
    x_test, y_test = data.x_test[:500, None], data.y_test[:500]
    torch.manual_seed(0)
    model = GalCNN()
    ll = LearningLoss(model, ["conv", "features"])
    fit(model, x, y, epochs=3, seed=0, callbacks=[ll])
    predicted = predict_loss(ll, x_test)
    logits = torch.from_numpy(predict_logits(model, x_test))
    true = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y_test), reduction="none").numpy()
    ranks = [np.argsort(np.argsort(v)) for v in (predicted, true)]
    spearman = np.corrcoef(*ranks)[0, 1]
    assert spearman > 0.25, spearman
    # the strategy ranks by it: its top 50 carry well above the average true loss (chance: 1x)
    chosen = acv.select("learning_loss", budget=50, predicted_loss=predicted).indices
    assert true[chosen].mean() > 1.5 * true.mean()
    ll.remove()
    model(torch.from_numpy(x_test[:2]))
    assert ll._captured == [None, None]  # hooks are gone


def test_predict_loss_needs_a_trained_module() -> None:
    ll = LearningLoss(GalCNN(), ["features"])
    with pytest.raises(ValueError, match="untrained"):
        predict_loss(ll, np.zeros((2, 1, 28, 28), dtype=np.float32))

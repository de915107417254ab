"""PyTorch adapters: predictions, consistent MC dropout, embeddings, closed-form gradients."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import activecv as acv  # noqa: E402
from activecv.adapters.torch import (  # noqa: E402
    embed,
    ensemble_predict,
    gradient_embeddings,
    mc_predict,
    predict,
    predict_logits,
)

pytestmark = pytest.mark.torch


def small_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(6, 16),
        nn.BatchNorm1d(16),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(16, 12),
        nn.ReLU(),
        nn.Linear(12, 4),
    )


@pytest.fixture
def x() -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(0).normal(size=(50, 6)).astype(np.float32))


def test_predict_matches_the_model_for_every_input_kind(x: torch.Tensor) -> None:
    model = small_net()
    model.eval()
    with torch.no_grad():
        expected = torch.softmax(model(x), dim=1).numpy()
    dataset = torch.utils.data.TensorDataset(x, torch.zeros(50))
    loader = torch.utils.data.DataLoader(dataset, batch_size=7, shuffle=False)
    for data in (x, x.numpy(), dataset, loader):
        np.testing.assert_allclose(predict(model, data, batch_size=8), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(predict_logits(model, x).shape, (50, 4))


def test_state_is_restored_and_no_gradient_is_kept(x: torch.Tensor) -> None:
    model = small_net()
    model.train()
    predict(model, x)
    mc_predict(model, x, k=3)
    assert all(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())


def test_shuffled_loader_and_bad_data_are_refused(x: torch.Tensor) -> None:
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=5, shuffle=True)
    with pytest.raises(ValueError, match="DataLoader that shuffles"):
        predict(small_net(), loader)
    with pytest.raises(
        TypeError, match="data must be a torch Tensor, a numpy array, a Dataset or a DataLoader; got list"
    ):
        predict(small_net(), [[0.0] * 6])


def test_mc_predict_gives_k_distinct_samples_and_leaves_batch_norm_alone(x: torch.Tensor) -> None:
    model = small_net()
    model.train()
    model(x)  # give batch-norm non-trivial running statistics
    bn = model[1]
    before = (bn.running_mean.clone(), bn.running_var.clone(), int(bn.num_batches_tracked))
    mc = mc_predict(model, x, k=6, seed=1)
    assert mc.shape == (50, 6, 4)
    np.testing.assert_allclose(mc.sum(axis=2), 1.0, rtol=1e-5)
    assert len({mc[:, j].tobytes() for j in range(6)}) == 6  # six different sampled models
    after = (bn.running_mean, bn.running_var, int(bn.num_batches_tracked))
    assert torch.equal(before[0], after[0]) and torch.equal(before[1], after[1]) and before[2] == after[2]


def test_consistent_masks_are_shared_across_items_and_seeded(x: torch.Tensor) -> None:
    model = small_net()
    twins = torch.cat([x[:1], x[:1]])
    consistent = mc_predict(model, twins, k=8, seed=3)
    np.testing.assert_allclose(consistent[0], consistent[1], atol=1e-6)  # same masks for every item
    independent = mc_predict(model, twins, k=8, seed=3, consistent=False)
    assert np.abs(independent[0] - independent[1]).max() > 1e-3
    np.testing.assert_allclose(  # the same masks whatever the batching (float rounding aside)
        mc_predict(model, x, k=4, seed=3), mc_predict(model, x, k=4, seed=3, batch_size=9), atol=1e-6
    )
    assert not np.array_equal(mc_predict(model, x, k=4, seed=3), mc_predict(model, x, k=4, seed=4))


def test_mc_predict_without_dropout_and_ensembles() -> None:
    plain = nn.Sequential(nn.Linear(6, 3))
    with pytest.raises(ValueError, match="mc_predict needs dropout layers in the model; found none"):
        mc_predict(plain, torch.zeros(2, 6))
    with pytest.raises(ValueError, match="k must be a positive integer; got 0"):
        mc_predict(small_net(), torch.zeros(2, 6), k=0)
    members = [small_net(seed) for seed in range(3)]
    mc = ensemble_predict(members, torch.randn(10, 6))
    assert mc.shape == (10, 3, 4)
    sel = acv.select("bald", budget=3, mc_probs=mc)
    assert len(sel) == 3


def test_embed_returns_the_named_layer(x: torch.Tensor) -> None:
    model = small_net()
    model.eval()
    with torch.no_grad():
        expected = model[:6](x).numpy()
    np.testing.assert_allclose(embed(model, x, layer="5"), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="layer 'fc' is not a module of the model; its modules: 0, 1, 2"):
        embed(model, x, layer="fc")


def test_closed_form_gradient_embeddings_equal_autograd(x: torch.Tensor) -> None:
    model = small_net()
    model.eval()
    g = gradient_embeddings(model, x[:10])
    assert g.shape == (10, 4 * 12)
    last = model[6]
    for i in range(10):
        model.zero_grad()
        logits = model(x[i : i + 1])
        loss = nn.functional.cross_entropy(logits, logits.argmax(dim=1))
        loss.backward()
        np.testing.assert_allclose(g[i], last.weight.grad.flatten().numpy(), rtol=1e-4, atol=1e-6)


def test_adapters_feed_the_strategies(x: torch.Tensor) -> None:
    model = small_net()
    assert len(acv.select("batchbald", budget=4, mc_probs=mc_predict(model, x, k=5), rng=0)) == 4
    assert len(acv.select("badge", budget=4, gradient_embeddings=gradient_embeddings(model, x), rng=0)) == 4

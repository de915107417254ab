"""One call from a model to a selection: the inputs each strategy needs, computed by the adapters."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import activecv as acv  # noqa: E402
from activecv.adapters.torch import (  # noqa: E402
    GalCNN,
    LearningLoss,
    embed,
    fit,
    mc_predict,
    predict,
    select,
    strategy_inputs,
)
from activecv.datasets import load  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def trained() -> tuple[GalCNN, np.ndarray, LearningLoss]:
    data = load("digits")
    x = np.pad(data.x_train, ((0, 0), (10, 10), (10, 10)))[:, None]  # 8x8 digits on a 28x28 canvas
    torch.manual_seed(0)
    model = GalCNN()
    ll = LearningLoss(model, ["features"])
    fit(model, x[:300], data.y_train[:300], epochs=2, seed=0, callbacks=[ll])
    return model, x[300:500], ll


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("entropy", {"probs"}),
        ("bald", {"mc_probs"}),
        ("coreset", {"embeddings"}),
        ("badge", {"probs", "embeddings"}),  # cheaper than explicit gradient embeddings
        ("cluster_margin", {"probs", "embeddings"}),
        ("learning_loss", {"predicted_loss"}),
        ("random", set()),
    ],
)
def test_strategy_inputs_are_the_cheapest_sufficient_set(
    trained: tuple, strategy: str, expected: set
) -> None:
    model, x, ll = trained
    inputs = strategy_inputs(strategy, model, x[:7], learning_loss=ll, k=3)
    assert set(inputs) == expected
    assert all(v.shape[0] == 7 for v in inputs.values())


def test_learning_loss_without_its_module_is_a_clear_error(trained: tuple) -> None:
    model, x, _ = trained
    with pytest.raises(ValueError, match="pass learning_loss="):
        strategy_inputs("learning_loss", model, x[:3])


@pytest.mark.parametrize("strategy", ["margin", "bald", "coreset", "badge"])
def test_select_from_a_model_equals_select_from_its_arrays(trained: tuple, strategy: str) -> None:
    model, x, _ = trained
    labeled = np.arange(0, 200, 10)
    arrays = {
        "margin": {"probs": predict(model, x)},
        "bald": {"mc_probs": mc_predict(model, x, k=20, seed=0)},
        "coreset": {"embeddings": embed(model, x, "features")},
        "badge": {"probs": predict(model, x), "embeddings": embed(model, x, "features")},
    }[strategy]
    expected = acv.select(strategy, budget=8, labeled=labeled, rng=4, **arrays)
    got = select(strategy, budget=8, model=model, data=x, labeled=labeled, rng=4)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_allclose(got.scores, expected.scores, rtol=1e-6)


def test_candidates_run_the_model_on_the_subset_only(trained: tuple) -> None:
    model, x, _ = trained
    seen = []
    handle = model.register_forward_hook(lambda module, inputs, output: seen.append(output.shape[0]))
    try:
        got = select("entropy", budget=5, model=model, data=x, labeled=[1, 2, 3], candidates=40, rng=9)
    finally:
        handle.remove()
    assert sum(seen) == 43  # 3 labeled + 40 candidates, not the 200 of the pool
    expected = acv.select(
        "entropy", budget=5, probs=predict(model, x), labeled=[1, 2, 3], candidates=40, rng=9
    )
    np.testing.assert_array_equal(got.indices, expected.indices)
    assert got.info["candidates"] == 40


def test_datasets_loaders_and_random(trained: tuple) -> None:
    model, x, _ = trained
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.zeros(len(x)))
    loader = torch.utils.data.DataLoader(dataset, batch_size=32)
    from_array = select("margin", budget=6, model=model, data=x, candidates=50, rng=1)
    for data in (dataset, loader):
        got = select("margin", budget=6, model=model, data=data, candidates=50, rng=1)
        np.testing.assert_array_equal(got.indices, from_array.indices)
    chosen = select("random", budget=4, model=model, data=x, labeled=[0, 5], rng=0)
    assert len(chosen) == 4 and not {0, 5} & set(chosen.indices.tolist())


def test_data_without_a_length_is_refused(trained: tuple) -> None:
    model, x, _ = trained
    with pytest.raises(ValueError, match="data must have a length"):
        select("margin", budget=2, model=model, data=iter(x))

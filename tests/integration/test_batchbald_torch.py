"""BatchBALD's torch kernel: the numpy kernel's entropies and picks, chosen by name at selection time."""

from __future__ import annotations

import numpy as np
import pytest

import activecv as acv
from activecv.adapters.torch import TorchJointEntropies, batchbald_kernel
from activecv.strategies import batchbald

pytestmark = pytest.mark.torch


def pool(seed: int, n: int, k: int, c: int, sharpness: float) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=(n, k, c)) * sharpness
    p = np.exp(logits - logits.max(axis=2, keepdims=True))
    return p / p.sum(axis=2, keepdims=True)


def test_torch_kernel_computes_the_numpy_kernels_entropies() -> None:
    from activecv.strategies._batchbald import NumpyJointEntropies

    p = pool(0, 200, 8, 5, 2.0)
    weights = np.random.default_rng(1).dirichlet(np.ones(8), size=3000).astype(np.float32)
    pi = np.random.default_rng(2).dirichlet(np.ones(3000))
    candidates = np.arange(3, 200, 2)
    kernel = batchbald_kernel(p, device="cpu")
    assert isinstance(kernel, TorchJointEntropies) and kernel.name == "torch"
    np.testing.assert_allclose(
        kernel(weights, pi, candidates), NumpyJointEntropies(p)(weights, pi, candidates), atol=1e-5
    )


@pytest.mark.parametrize("seed", range(3))
def test_torch_backend_makes_the_numpy_picks_in_the_exact_regime(seed: int) -> None:
    p = pool(seed, 300, 10, 3, 2.0)
    expected = batchbald(p, 6, num_samples=1_000)  # 3^6 = 729 <= 1000: exact throughout
    sel = acv.select(acv.get_strategy("batchbald", num_samples=1_000, backend="torch"), budget=6, mc_probs=p)
    assert sel.indices.tolist() == expected.indices.tolist()
    np.testing.assert_allclose(sel.scores, expected.scores, atol=1e-5)
    assert sel.info["backend"] == "torch"


def test_torch_backend_in_the_sampled_regime_returns_a_full_batch() -> None:
    p = pool(3, 500, 10, 10, 2.0)
    sel = batchbald(p, 8, num_samples=1_000, rng=0, backend="torch")  # sampled from t = 4
    assert len(set(sel.indices.tolist())) == 8

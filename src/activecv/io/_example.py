"""A generated predictions file for trying the CLI without a model."""

from __future__ import annotations

import numpy as np

from activecv.strategies import softmax


def make_example_predictions(
    n_items: int = 10_000, n_classes: int = 10, mc_samples: int = 10, dim: int = 32, seed: int = 0
) -> dict[str, np.ndarray]:
    """Predictions of a noisy linear classifier on a Gaussian-mixture pool.

    Returns ``ids``, ``probs (N, C)``, ``mc_probs (N, K, C)`` (K perturbed copies of the
    classifier, like an ensemble), ``embeddings (N, D)`` and a ``labeled`` mask (1%).
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(n_classes, dim))
    classes = rng.integers(n_classes, size=n_items)
    embeddings = centres[classes] + rng.normal(size=(n_items, dim))
    weights = centres.T / dim
    logits = embeddings @ weights
    members = weights[None] + rng.normal(scale=0.5 / dim, size=(mc_samples, dim, n_classes))
    mc_logits = np.einsum("nd,kdc->nkc", embeddings, members)
    labeled = np.zeros(n_items, dtype=bool)
    labeled[rng.choice(n_items, max(1, n_items // 100), replace=False)] = True
    return {
        "ids": np.array([f"img_{i:06d}.png" for i in range(n_items)]),
        "probs": softmax(logits * 4.0).astype(np.float32),
        "mc_probs": softmax(mc_logits.reshape(-1, n_classes) * 4.0)
        .reshape(mc_logits.shape)
        .astype(np.float32),
        "embeddings": embeddings.astype(np.float32),
        "labeled": labeled,
    }

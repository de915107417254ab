"""Discriminative Active Learning (Gissin & Shalev-Shwartz 2019), ALGORITHMS.md §6.

A binary MLP learns to tell labeled from unlabeled embeddings; the unlabeled items it is most
sure are "unlabeled" are the ones the labeled set represents worst. The batch is built in
mini-queries, each retraining the discriminator from scratch with the items chosen so far
counted as labeled. The MLP is plain numpy (float32, Adam) so the core needs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from scipy.special import expit

from activecv._progress import Progress
from activecv.strategies._ranking import top_k


@dataclass(frozen=True)
class TrainingSettings:
    """How the discriminator trains."""

    hidden: int
    lr: float
    max_epochs: int
    batch_size: int
    accuracy_stop: float


def training_settings(
    dim: int,
    hidden: int | None,
    lr: float | None,
    max_epochs: int | None,
    batch_size: int | None,
    accuracy_stop: float,
) -> TrainingSettings:
    """The given settings, the rest from the reference code's choices by input size (128-d,
    512-d embeddings, pixels); width 20 for tiny inputs."""
    if dim <= 128:
        defaults = (1e-4, 1000, 128)
    elif dim < 784:
        defaults = (2e-4, 500, 1024)
    else:
        defaults = (3e-4, 200, 1024)
    return TrainingSettings(
        hidden=hidden if hidden is not None else (20 if dim <= 20 else 256),
        lr=lr if lr is not None else defaults[0],
        max_epochs=max_epochs if max_epochs is not None else defaults[1],
        batch_size=batch_size if batch_size is not None else defaults[2],
        accuracy_stop=accuracy_stop,
    )


class _Adam:
    """Adam with Keras' defaults (beta 0.9 / 0.999, epsilon 1e-7)."""

    def __init__(self, params: list[np.ndarray], lr: float) -> None:
        self.params, self.lr, self.t = params, lr, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        scale = self.lr * np.sqrt(1 - 0.999**self.t) / (1 - 0.9**self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            p -= scale * m / (np.sqrt(v) + 1e-7)


class Discriminator:
    """MLP with three ReLU hidden layers and a 2-way softmax; Glorot-uniform weights, zero biases."""

    def __init__(self, dim: int, hidden: int, rng: np.random.Generator) -> None:
        sizes = [dim, hidden, hidden, hidden, 2]
        self.weights = [
            rng.uniform(-1, 1, (a, b)).astype(np.float32) * np.float32(np.sqrt(6 / (a + b)))
            for a, b in pairwise(sizes)
        ]
        self.biases = [np.zeros(b, dtype=np.float32) for b in sizes[1:]]

    def _forward(self, x: np.ndarray) -> list[np.ndarray]:
        activations = [x]
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = activations[-1] @ w + b
            activations.append(np.maximum(z, 0) if i < len(self.weights) - 1 else z)
        return activations

    def prob_unlabeled(self, x: np.ndarray, batch: int = 8192) -> np.ndarray:
        """P(unlabeled | x), float64 (n,)."""
        out = []
        for start in range(0, x.shape[0], batch):
            logits = self._forward(x[start : start + batch])[-1].astype(np.float64)
            out.append(expit(logits[:, 1] - logits[:, 0]))  # 2-way softmax, overflow-free
        return np.concatenate(out) if out else np.empty(0)

    def gradients(
        self, x: np.ndarray, y: np.ndarray, class_weight: np.ndarray
    ) -> tuple[float, list[np.ndarray], int]:
        """Class-weighted cross-entropy averaged over the batch (Keras' class_weight), its
        gradients (weights then biases) and the number of correct predictions."""
        acts = self._forward(x)
        logits = acts[-1]
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        rows = np.arange(x.shape[0])
        weight = class_weight[y] / x.shape[0]
        loss = float(-(weight * log_probs[rows, y]).sum())
        grad = np.exp(log_probs)
        grad[rows, y] -= 1.0
        grad *= weight[:, None]
        n_layers = len(self.weights)
        w_grads: list[np.ndarray] = [np.empty(0)] * n_layers
        b_grads: list[np.ndarray] = [np.empty(0)] * n_layers
        for i in range(n_layers - 1, -1, -1):
            w_grads[i] = acts[i].T @ grad
            b_grads[i] = grad.sum(axis=0)
            if i > 0:
                grad = (grad @ self.weights[i].T) * (acts[i] > 0)
        correct = int((logits.argmax(axis=1) == y).sum())
        return loss, [*w_grads, *b_grads], correct

    def fit(self, x: np.ndarray, y: np.ndarray, settings: TrainingSettings, rng: np.random.Generator) -> int:
        """Adam on the class-weighted cross-entropy (w_c = n / n_c) until an epoch's training
        accuracy exceeds ``accuracy_stop``, or ``max_epochs``. Returns the epochs run."""
        counts = np.bincount(y, minlength=2)
        class_weight = (y.shape[0] / np.maximum(counts, 1)).astype(np.float32)
        optimizer = _Adam([*self.weights, *self.biases], settings.lr)
        for epoch in range(settings.max_epochs):
            order = rng.permutation(x.shape[0])
            correct = 0
            for start in range(0, x.shape[0], settings.batch_size):
                batch = order[start : start + settings.batch_size]
                _, grads, right = self.gradients(x[batch], y[batch], class_weight)
                optimizer.step(grads)
                correct += right
            if correct / x.shape[0] > settings.accuracy_stop:
                return epoch + 1
        return settings.max_epochs


def discriminative_select(
    x: np.ndarray,
    labeled: np.ndarray,
    budget: int,
    n_sub: int,
    sub_ratio: int,
    settings: TrainingSettings,
    rng: np.random.Generator,
    progress: Progress,
) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    """DAL batch: ``n_sub`` mini-queries, each training a fresh discriminator on the labeled
    (and already chosen) items against a random subset of ``sub_ratio`` times as many
    unlabeled items, and taking the subset members most confidently "unlabeled".

    With nothing labeled the first mini-query is uniform (there is nothing to discriminate);
    its items score 1. Returns (indices, P(unlabeled) when each was chosen, diagnostics) with
    the epochs each discriminator trained.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    in_labeled = np.zeros(x.shape[0], dtype=bool)
    in_labeled[labeled] = True
    budget = min(budget, int((~in_labeled).sum()))
    n_queries = min(n_sub, budget)
    per_query = budget // n_queries
    chosen: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    epochs: list[int] = []
    n_chosen = query = 0
    while n_chosen < budget:  # a subset smaller than its query's share adds queries
        take = per_query if query < n_queries - 1 else budget - n_chosen
        remaining = np.flatnonzero(~in_labeled)
        n_labeled = x.shape[0] - remaining.shape[0]
        if n_labeled == 0:  # everything is unlabeled: P(unlabeled) = 1 for all
            chosen.append(np.sort(rng.choice(remaining, take, replace=False)))
            scores.append(np.ones(take))
        else:
            size = min(sub_ratio * n_labeled, remaining.shape[0])
            subset = np.sort(rng.choice(remaining, size, replace=False))
            train_x = np.concatenate([x[in_labeled], x[subset]])
            train_y = np.concatenate([np.zeros(n_labeled, np.int64), np.ones(size, np.int64)])
            model = Discriminator(x.shape[1], settings.hidden, rng)
            epochs.append(model.fit(train_x, train_y, settings, rng))
            p = model.prob_unlabeled(x[subset])
            best = top_k(p, min(take, size))
            chosen.append(subset[best])
            scores.append(p[best])
        in_labeled[chosen[-1]] = True
        n_chosen += chosen[-1].shape[0]
        query += 1
        progress.update(n_chosen)
    info: dict[str, object] = {"mini_queries": query, "epochs": epochs}
    return np.concatenate(chosen), np.concatenate(scores), info

"""Shared fixtures: a small pool with every input a strategy can require."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import activecv as acv


def make_pool(n: int = 60, c: int = 4, k: int = 6, d: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    """Every canonical input for ``n`` items, with distinct scores (no accidental ties)."""
    rng = np.random.default_rng(seed)
    embeddings = rng.normal(size=(n, d))
    logits = embeddings @ rng.normal(size=(d, c))
    mc_logits = logits[:, None, :] + rng.normal(scale=1.0, size=(n, k, c))

    def softmax(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    seg_logits = rng.normal(scale=2.0, size=(n, 1, c, 4, 5)) + logits[:, None, :, None, None]
    seg_mc = softmax(np.moveaxis(seg_logits + rng.normal(size=(n, k, c, 4, 5)), 2, -1))
    return {
        "probs": softmax(logits),
        "seg_probs": np.moveaxis(softmax(np.moveaxis(seg_logits[:, 0], 1, -1)), -1, 1),
        "seg_mc_probs": np.moveaxis(seg_mc, -1, 2),
        "mc_probs": softmax(mc_logits),
        "embeddings": embeddings,
        "gradient_embeddings": rng.normal(size=(n, c * d)),
        "cluster_ids": rng.integers(0, 6, size=n),
        "predicted_loss": rng.gamma(2.0, size=n),
        "instance_uncertainty": rng.gamma(1.0, 0.01, size=n),
        "detections": make_detections(n, c, rng),
        "labeled_class_counts": rng.integers(0, 20, size=c).astype(float),
    }


def make_detections(n: int, c: int, rng: np.random.Generator, d: int = 6) -> np.ndarray:
    """``n`` images with 1-7 boxes each: softmax over c classes plus background (last), features."""
    out = np.empty(n, dtype=object)
    for i in range(n):
        m = int(rng.integers(1, 8))
        corner = rng.uniform(0, 50, size=(m, 2))
        boxes = np.concatenate([corner, corner + rng.uniform(1, 30, size=(m, 2))], axis=1)
        z = rng.normal(scale=2.0, size=(m, c + 1))
        probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        out[i] = acv.Detections(
            boxes=boxes, class_probs=probs, background_index=c, features=rng.normal(size=(m, d))
        )
    return out


def inputs_for(name: str, pool: dict[str, np.ndarray]) -> dict[str, Any]:
    """The pool arrays that satisfy ``name``'s first requirement set (a size hint for random)."""
    group = acv.get_strategy(name).requirements()[0]
    inputs = {n: pool[n] for n in group}
    return inputs or {"probs": pool["probs"]}


@pytest.fixture
def pool() -> dict[str, np.ndarray]:
    return make_pool()


__all__ = ["inputs_for", "make_pool"]


def write_digit_images(folder: Any, n: int, start: int = 0) -> list[int]:
    """``n`` real 8x8 digits (scaled to 16x16 PNGs) as ``folder/NNN.png``; returns their classes."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        pixels = (digits.images[i] * 15).astype(np.uint8)
        Image.fromarray(pixels).resize((16, 16), Image.NEAREST).save(folder / f"{i:03d}.png")
    return [int(t) for t in digits.target[start : start + n]]


@pytest.fixture
def digit_pool(tmp_path: Any) -> tuple[Any, list[int]]:
    """A folder of 40 real digit images and their true classes."""
    return tmp_path / "pool", write_digit_images(tmp_path / "pool", 40)


@pytest.fixture(scope="session")
def digit_folder(tmp_path_factory: Any) -> Any:
    """A folder of 40 real digit images shared by a session's tests: never write into it."""
    folder = tmp_path_factory.mktemp("digits") / "pool"
    write_digit_images(folder, 40)
    return folder

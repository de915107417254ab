"""Streaming selection (memmaps, iterators of chunks, files) equals the in-memory path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import activecv as acv
from activecv.io import PredictionsFile, save_predictions

SCORE_NAMES = [
    "entropy",
    "margin",
    "least_confidence",
    "ratio",
    "bald",
    "power_bald",
    "random",
    "power_entropy",
]


def chunks(arr: np.ndarray, sizes: list[int]):
    start = 0
    for size in sizes:
        yield arr[start : start + size]
        start += size


@pytest.mark.parametrize("name", SCORE_NAMES)
@pytest.mark.parametrize("seeded", [False, True])
def test_iterator_of_chunks_equals_in_memory(name: str, seeded: bool) -> None:
    rng = np.random.default_rng(0)
    key = "mc_probs" if name in ("bald", "power_bald") else "probs"
    arr = rng.dirichlet(np.ones(4), size=(1000, 5)) if key == "mc_probs" else rng.dirichlet(np.ones(4), 1000)
    arr = np.round(arr, 2)  # coarse values make ties, so the tie rule is exercised
    arr /= arr.sum(axis=-1, keepdims=True)
    labeled = rng.choice(1000, 50, replace=False)
    seed = 7 if seeded or name in ("random", "power_bald", "power_entropy") else None
    expected = acv.select(name, budget=40, labeled=labeled, rng=seed, **{key: arr})
    streamed = acv.select(
        name, budget=40, labeled=labeled, rng=seed, **{key: chunks(arr, [1, 333, 17, 600, 49])}
    )
    np.testing.assert_array_equal(streamed.indices, expected.indices)
    np.testing.assert_array_equal(streamed.scores, expected.scores)


def test_memmap_equals_in_memory(tmp_path: Path) -> None:
    probs = np.random.default_rng(1).dirichlet(np.ones(10), 5000).astype(np.float32)
    np.save(tmp_path / "p.npy", probs)
    mapped = np.load(tmp_path / "p.npy", mmap_mode="r")
    for name in ("entropy", "margin"):
        np.testing.assert_array_equal(
            acv.select(name, budget=100, probs=mapped).indices,
            acv.select(name, budget=100, probs=probs).indices,
        )


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_file_stream_equals_in_memory(tmp_path: Path, suffix: str) -> None:
    probs = np.random.default_rng(2).dirichlet(np.ones(6), 3000)
    path = tmp_path / f"p{suffix}"
    save_predictions(path, ids=np.arange(3000), probs=probs)
    stream = PredictionsFile(path).stream("probs", 256)
    np.testing.assert_array_equal(
        acv.select("entropy", budget=50, probs=stream).indices,
        acv.select("entropy", budget=50, probs=probs).indices,
    )


def test_bad_chunk_is_reported_at_its_pool_row() -> None:
    good = np.full((10, 2), 0.5)
    bad = good.copy()
    bad[3] = [0.9, 0.9]
    with pytest.raises(ValueError, match=r"row 13 sums to 1\.8"):
        acv.select("entropy", budget=2, probs=iter([good, bad]))


def test_chunks_of_different_widths_are_refused() -> None:
    with pytest.raises(ValueError, match=r"every probs chunk must have trailing shape \(2,\); got \(3, 3\)"):
        acv.select("entropy", budget=2, probs=iter([np.full((3, 2), 0.5), np.full((3, 3), 1 / 3)]))


def test_labeled_mask_longer_than_the_stream_is_refused() -> None:
    with pytest.raises(ValueError, match=r"labeled mask must have one entry per pool item, shape \(6,\)"):
        acv.select("entropy", budget=2, probs=iter([np.full((6, 2), 0.5)]), labeled=np.zeros(9, dtype=bool))

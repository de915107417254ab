"""The screened top-k (float32 screening, float64 re-scoring near the k-th) returns exactly the
float64 selection: the same items in the same order with the same scores, in memory and
streamed, with ties broken by position or by a seeded rng, labeled items left out."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

import activecv as acv
from activecv.strategies import _bayesian as bayes
from activecv.strategies import _uncertainty as unc
from activecv.strategies._ranking import screen_scores, screened_candidates, top_k

PROBS_KERNELS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "entropy": unc._entropy,
    "least_confidence": unc._least_confidence,
    "margin": unc._margin,
    "ratio": unc._ratio,
}
MC_KERNELS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "bald": bayes._bald,
    "predictive_entropy": bayes._predictive_entropy,
    "variation_ratio": bayes._variation_ratio,
    "mean_std": bayes._mean_std,
}


def softmax32(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def random_probs(n: int, c: int, seed: int, scale: float = 3.0) -> np.ndarray:
    return softmax32(np.random.default_rng(seed).standard_normal((n, c)) * scale)


def peaked_probs(n: int, c: int, seed: int) -> np.ndarray:
    """Confident rows: one class near 1 and the rest near 1e-7, many exactly equal."""
    rng = np.random.default_rng(seed)
    z = np.zeros((n, c))
    z[np.arange(n), rng.integers(c, size=n)] = 16.0
    z += rng.integers(0, 3, size=(n, c)) * 1e-3  # few distinct values: ties at every level
    return softmax32(z)


def near_tie_probs(n: int, c: int, seed: int) -> np.ndarray:
    """Copies of one row moved by a few float32 ulps between two classes: their float64
    entropies differ by about 1e-9, far below float32's rounding of the entropy."""
    rng = np.random.default_rng(seed)
    base = random_probs(1, c, seed)[0]
    rows = np.repeat(base[None, :], n, axis=0)
    i, j = np.argsort(base)[-2:]
    steps = rng.integers(-50, 50, size=n).astype(np.float32) * np.spacing(base[i])
    rows[:, i] += steps
    rows[:, j] -= steps
    return rows


def tied_probs(n: int, c: int, seed: int) -> np.ndarray:
    """Exact duplicates of a handful of rows, and exact one-hot rows (score 0 ties)."""
    rng = np.random.default_rng(seed)
    rows = random_probs(7, c, seed)[rng.integers(7, size=n)]
    onehot = rng.random(n) < 0.3
    rows[onehot] = np.eye(c, dtype=np.float32)[rng.integers(c, size=int(onehot.sum()))]
    return rows


MAKERS = {"random": random_probs, "peaked": peaked_probs, "near_ties": near_tie_probs, "tied": tied_probs}


def expected(
    kernel: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    budget: int,
    labeled: np.ndarray | None,
    seed: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The float64 reference: every score in float64, then the tie rule of ALGORITHMS.md §0.3
    (random keys drawn one per row in pool order, as the streaming selection draws them)."""
    scores = kernel(np.asarray(x, dtype=np.float64))
    keep = np.ones(x.shape[0], dtype=bool)
    if labeled is not None:
        keep[labeled] = False
    positions = np.flatnonzero(keep)
    ties = None if seed is None else np.random.default_rng(seed).random(x.shape[0])[positions]
    order = positions[top_k(scores[positions], budget, ties)]
    return order, scores[order]


def chunks(x: np.ndarray, seed: int) -> Iterator[np.ndarray]:
    """Row chunks of uneven sizes, as a stream of shards would come."""
    rng = np.random.default_rng(seed)
    start = 0
    while start < x.shape[0]:
        stop = start + int(rng.integers(1, 700))
        yield x[start:stop]
        start = stop


def check_same(name: str, kernel: Callable[[np.ndarray], np.ndarray], x: np.ndarray, key: str) -> None:
    labeled = np.random.default_rng(1).choice(x.shape[0], 40, replace=False)
    for budget in (1, 50, 500):
        for seed in (None, 3):
            order, scores = expected(kernel, x, budget, labeled, seed)
            for given in (x, chunks(x, budget)):
                sel = acv.select(name, budget=budget, rng=seed, labeled=labeled, **{key: given})
                np.testing.assert_array_equal(sel.indices, order)
                np.testing.assert_array_equal(sel.scores, scores)
            # the float64 path (every score kept) agrees too
            old = acv.select(name, budget=budget, rng=seed, labeled=labeled, pool_scores=True, **{key: x})
            np.testing.assert_array_equal(old.indices, order)


@pytest.mark.parametrize("kind", sorted(MAKERS))
@pytest.mark.parametrize("name", sorted(PROBS_KERNELS))
def test_probs_top_k_equals_float64(name: str, kind: str) -> None:
    x = MAKERS[kind](3000, 37, seed=11)
    check_same(name, PROBS_KERNELS[name], x, "probs")


@pytest.mark.parametrize("kind", ["random", "peaked", "tied"])
@pytest.mark.parametrize("name", sorted(MC_KERNELS))
def test_mc_top_k_equals_float64(name: str, kind: str) -> None:
    x = MAKERS[kind](2000 * 6, 5, seed=12).reshape(2000, 6, 5)
    check_same(name, MC_KERNELS[name], x, "mc_probs")


def test_float32_alone_would_reorder_near_ties() -> None:
    """The near-tie pool is a real test: ranking by float32 entropy alone picks other items."""
    x = near_tie_probs(3000, 37, seed=11)
    exact = unc._entropy(x.astype(np.float64))
    rounded = -(x * np.log(x)).sum(axis=1)
    assert not np.array_equal(top_k(rounded, 50), top_k(exact, 50))
    assert acv.select("entropy", budget=50, probs=x).indices.tolist() == top_k(exact, 50).tolist()


def test_large_pool_many_chunks_and_threads() -> None:
    """Several array chunks (the running k-th then prunes later chunks), float32 and float64."""
    x = random_probs(120_000, 40, seed=5)
    for dtype in (np.float32, np.float64):
        arr = x.astype(dtype)
        for name, kernel in PROBS_KERNELS.items():
            order, scores = expected(kernel, arr, 700, None, None)
            sel = acv.select(name, budget=700, probs=arr)
            np.testing.assert_array_equal(sel.indices, order)
            np.testing.assert_array_equal(sel.scores, scores)


def test_other_dtypes_and_memmaps(tmp_path: object) -> None:
    x = tied_probs(500, 4, seed=2)
    path = f"{tmp_path}/p.npy"
    np.save(path, x)
    mapped = np.load(path, mmap_mode="r")
    order, _ = expected(unc._entropy, x, 30, None, None)
    assert acv.select("entropy", budget=30, probs=mapped).indices.tolist() == order.tolist()
    halves = np.array([[0.5, 0.25, 0.25, 0.0], [1.0, 0, 0, 0], [0.25] * 4, [0.5, 0.5, 0, 0]], np.float16)
    assert acv.select("entropy", budget=3, probs=halves).indices.tolist() == [2, 0, 3]
    onehot = np.eye(3, dtype=np.int64)[[0, 1, 2, 1]]
    assert acv.select("margin", budget=2, probs=onehot).indices.tolist() == [0, 1]


def test_candidates_are_few_on_random_pools() -> None:
    x = random_probs(50_000, 100, seed=4)
    keep = np.ones(x.shape[0], dtype=bool)
    approx, delta = screen_scores(x, unc._entropy_screen, lambda block, start: None)
    assert 0 < delta < 1e-4
    cand = screened_candidates(approx, delta, 1000, -np.inf, keep)
    assert 1000 <= cand.shape[0] < 1100


@pytest.mark.parametrize("name", ["entropy", "margin"])
def test_invalid_rows_are_named_as_on_the_float64_path(name: str) -> None:
    x = random_probs(30_000, 10, seed=6)
    bad = x.copy()
    bad[25_123, 3] = np.nan
    bad[27_000, 1] = np.nan
    with pytest.raises(ValueError, match=r"probs must be finite; got NaN or inf \(first at row 25123\)"):
        acv.select(name, budget=5, probs=bad)
    neg = x.copy()
    neg[12_345, 0] = -0.5
    with pytest.raises(ValueError, match=r"first negative at row 12345"):
        acv.select(name, budget=5, probs=neg)
    off = x.copy()
    off[20_001] *= 1.01
    with pytest.raises(ValueError, match=r"row 20001 sums to 1\.01"):
        acv.select(name, budget=5, probs=off)


def test_sums_within_the_tolerance_are_accepted() -> None:
    """A row off by more than the quick check's half tolerance, within the tolerance itself,
    goes to the exact check and is accepted, as on the float64 path."""
    x = random_probs(5000, 10, seed=7).astype(np.float64)
    x[4321] *= 1 + 8e-5
    order, scores = expected(unc._entropy, x, 10, None, None)
    sel = acv.select("entropy", budget=10, probs=x)
    np.testing.assert_array_equal(sel.indices, order)
    np.testing.assert_array_equal(sel.scores, scores)


def test_mc_invalid_rows_are_named() -> None:
    x = MAKERS["random"](900 * 4, 3, seed=8).reshape(900, 4, 3)
    x[777, 2, 1] = np.inf
    with pytest.raises(ValueError, match=r"mc_probs must be finite; got NaN or inf \(first at row 777\)"):
        acv.select("bald", budget=5, mc_probs=x)

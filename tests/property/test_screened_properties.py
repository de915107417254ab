"""Hypothesis: the screened top-k (float32 screening, exact re-scoring) selects exactly what
the float64 path selects, on small pools with many ties, in memory and streamed."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import activecv as acv

PROBS_NAMES = ("entropy", "least_confidence", "margin", "ratio")
MC_NAMES = ("bald", "predictive_entropy", "variation_ratio", "mean_std")


@st.composite
def pools(draw: st.DrawFn, mc: bool) -> np.ndarray:
    """float32 probabilities from logits on a coarse grid: duplicate rows and exact ties."""
    n = draw(st.integers(1, 60))
    shape = (n, draw(st.integers(1, 4)), draw(st.integers(2, 6))) if mc else (n, draw(st.integers(2, 9)))
    seed = draw(st.integers(0, 2**32 - 1))
    grid = draw(st.sampled_from([0.5, 2.0, 8.0]))
    z = np.random.default_rng(seed).integers(-3, 4, size=shape) * grid
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def chunked(x: np.ndarray, size: int) -> list[np.ndarray]:
    return [x[i : i + size] for i in range(0, x.shape[0], size)]


def same_as_float64(name: str, key: str, x: np.ndarray, budget: int, seed: int | None, size: int) -> None:
    labeled = np.arange(0, x.shape[0], 7)[: x.shape[0] - 1]
    reference = acv.select(name, budget=budget, rng=seed, labeled=labeled, pool_scores=True, **{key: x})
    for given_x in (x, iter(chunked(x, size))):
        sel = acv.select(name, budget=budget, rng=seed, labeled=labeled, **{key: given_x})
        np.testing.assert_array_equal(sel.indices, reference.indices)
        np.testing.assert_array_equal(sel.scores, reference.scores)


@settings(max_examples=60, deadline=None)
@given(
    pools(mc=False),
    st.sampled_from(PROBS_NAMES),
    st.integers(1, 70),
    st.one_of(st.none(), st.integers(0, 5)),
    st.integers(1, 20),
)
def test_probs_screened_equals_float64(
    x: np.ndarray, name: str, budget: int, seed: int | None, size: int
) -> None:
    same_as_float64(name, "probs", x, budget, seed, size)


@settings(max_examples=60, deadline=None)
@given(
    pools(mc=True),
    st.sampled_from(MC_NAMES),
    st.integers(1, 70),
    st.one_of(st.none(), st.integers(0, 5)),
    st.integers(1, 20),
)
def test_mc_screened_equals_float64(
    x: np.ndarray, name: str, budget: int, seed: int | None, size: int
) -> None:
    same_as_float64(name, "mc_probs", x, budget, seed, size)

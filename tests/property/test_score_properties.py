"""Hypothesis properties of the scores and of selection."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import activecv as acv
from activecv.strategies import (
    bald,
    entropy,
    least_confidence,
    margin,
    mean_std,
    predictive_entropy,
    ratio,
    variation_ratio,
)

finite = st.floats(-30, 30, allow_nan=False, allow_infinity=False)


@st.composite
def probs(draw: st.DrawFn, max_n: int = 30, max_c: int = 8) -> np.ndarray:
    n, c = draw(st.integers(1, max_n)), draw(st.integers(2, max_c))
    z = draw(arrays(np.float64, (n, c), elements=finite))
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@st.composite
def mc_probs(draw: st.DrawFn) -> np.ndarray:
    n, k, c = draw(st.integers(1, 15)), draw(st.integers(1, 6)), draw(st.integers(2, 6))
    z = draw(arrays(np.float64, (n, k, c), elements=finite))
    e = np.exp(z - z.max(axis=2, keepdims=True))
    return e / e.sum(axis=2, keepdims=True)


TOL = 1e-9


@given(probs())
def test_single_model_scores_stay_in_their_ranges(p: np.ndarray) -> None:
    c = p.shape[1]
    h = entropy(p)
    assert ((h >= -TOL) & (h <= np.log(c) + TOL)).all()
    lc = least_confidence(p)
    assert ((lc >= -TOL) & (lc <= 1 - 1 / c + TOL)).all()
    for s in (margin(p), ratio(p)):
        assert ((s >= -TOL) & (s <= 1 + TOL)).all()


@given(mc_probs())
def test_bayesian_scores_stay_in_their_ranges(p: np.ndarray) -> None:
    _, k, c = p.shape
    pe, mi = predictive_entropy(p), bald(p)
    assert (mi >= -1e-9).all() and (mi <= pe + TOL).all() and (pe <= np.log(c) + TOL).all()
    assert (mi <= np.log(k) + TOL).all()  # I(y; w) <= H(w) = log K
    vr = variation_ratio(p)
    assert ((vr >= 0) & (vr <= 1 - np.ceil(k / min(c, k)) / k + TOL)).all()
    assert ((mean_std(p) >= 0) & (mean_std(p) <= 0.5 + TOL)).all()


@settings(max_examples=50)
@given(probs(max_n=60), st.integers(1, 70), st.integers(0, 2**32 - 1))
def test_selection_is_a_prefix_of_the_full_ranking(p: np.ndarray, budget: int, seed: int) -> None:
    labeled = np.random.default_rng(seed).random(p.shape[0]) < 0.2
    if labeled.all():
        labeled[0] = False
    sel = acv.select("margin", budget=budget, probs=p, labeled=labeled)
    full = acv.select("margin", budget=p.shape[0], probs=p, labeled=labeled)
    np.testing.assert_array_equal(sel.indices, full.indices[: len(sel)])
    assert len(sel) == min(budget, int((~labeled).sum()))


@settings(max_examples=40)
@given(probs(max_n=200, max_c=4), st.lists(st.integers(1, 50), min_size=1, max_size=8), st.integers(1, 30))
def test_streaming_equals_in_memory_for_any_chunking(p: np.ndarray, sizes: list[int], budget: int) -> None:
    p = np.round(p, 1)  # ties
    p /= p.sum(axis=1, keepdims=True)
    cuts = np.cumsum(sizes)
    cuts = cuts[cuts < p.shape[0]]
    expected = acv.select("entropy", budget=budget, probs=p)
    streamed = acv.select("entropy", budget=budget, probs=iter(np.split(p, cuts)))
    np.testing.assert_array_equal(streamed.indices, expected.indices)

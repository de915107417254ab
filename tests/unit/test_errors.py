"""Every bad input raises a clear error naming the argument, the expected and the received."""

from __future__ import annotations

import numpy as np
import pytest

import activecv as acv
from activecv import ActiveCVError, EmptyPoolError, PoolExhaustedError, UnknownStrategyError

P = np.full((4, 2), 0.5)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"probs": np.array([[0.5, np.nan]])},
            ValueError,
            r"probs must be finite; got NaN or inf \(first at row 0\)",
        ),
        (
            {"probs": np.array([[0.5, 0.5], [1.5, -0.5]])},
            ValueError,
            r"probs must be probabilities \(>= 0\); got -0.5 \(first negative at row 1\)",
        ),
        (
            {"probs": np.array([[0.5, 0.5], [0.6, 0.6]])},
            ValueError,
            r"probs rows must sum to 1 \(tolerance 0.0001\); row 1 sums to 1.2",
        ),
        (
            {"probs": np.full(4, 0.5)},
            ValueError,
            r"probs must have shape \(N, C\) with C >= 2; got \(4,\) float64. For one image",
        ),
        ({"probs": np.ones((4, 1))}, ValueError, r"probs must have shape \(N, C\) with C >= 2; got \(4, 1\)"),
        ({"probs": np.array([["a", "b"]])}, TypeError, r"probs must hold real numbers; got dtype <U1"),
        ({"probs": "probs.npy"}, TypeError, r"probs must be an array of shape \(N, C\) with C >= 2; got str"),
        ({"logits": np.array([[np.inf, 0.0]])}, ValueError, r"logits must be finite"),
        ({"probs": P, "logits": P}, ValueError, r"pass either probs or logits, not both"),
        ({"probs": P, "temperature": 2.0}, ValueError, r"temperature applies to logits only"),
        (
            {"logits": P, "temperature": 0.0},
            ValueError,
            r"temperature must be a positive finite number; got 0.0",
        ),
        (
            {"probs": P, "labeled": np.ones(3, dtype=bool)},
            ValueError,
            r"labeled mask must have one entry per pool item, shape \(4,\); got \(3,\) bool",
        ),
        ({"probs": P, "labeled": [0, 9]}, ValueError, r"labeled indices must lie in \[0, 4\); got 9"),
        (
            {"probs": P, "labeled": np.ones((2, 2))},
            ValueError,
            r"labeled must be a boolean mask of shape \(N,\) or a 1-D array of indices",
        ),
        (
            {"probs": P, "rng": np.random.RandomState(0)},
            TypeError,
            r"rng must be an int seed, a numpy.random.Generator or None; got RandomState",
        ),
        ({"probs": P, "candidates": 0}, ValueError, r"candidates must be a positive integer; got 0"),
    ],
)
def test_bad_inputs_to_select(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message) as caught:
        acv.select("entropy", budget=2, **kwargs)
    assert isinstance(caught.value, ActiveCVError)


def test_mismatched_lengths_are_named() -> None:
    with pytest.raises(ValueError, match=r"one row per pool item; got probs has 4, embeddings has 3"):
        acv.select("badge", budget=2, probs=P, embeddings=np.ones((3, 2)))


@pytest.mark.parametrize(
    ("budget", "error", "message"),
    [
        (0, ValueError, "budget must be a positive integer; got 0"),
        (-3, ValueError, "budget must be a positive integer; got -3"),
        (2.5, TypeError, "budget must be a positive integer; got float 2.5"),
        (True, TypeError, "budget must be a positive integer; got bool True"),
    ],
)
def test_bad_budget(budget: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        acv.select("entropy", budget=budget, probs=P)  # type: ignore[arg-type]


def test_unknown_strategy_lists_valid_names() -> None:
    with pytest.raises(UnknownStrategyError, match=r"unknown strategy 'entropie'; valid names: badge, bald"):
        acv.select("entropie", budget=1, probs=P)


def test_unknown_parameter_lists_valid_ones() -> None:
    with pytest.raises(TypeError, match=r"strategy 'batchbald' has no parameter samples; valid: num_samples"):
        acv.get_strategy("batchbald", samples=10)


def test_empty_pool_and_exhausted_pool() -> None:
    with pytest.raises(EmptyPoolError, match="the pool is empty"):
        acv.select("entropy", budget=1, probs=np.empty((0, 3)))
    with pytest.raises(PoolExhaustedError, match="every one of the 4 pool items is labeled"):
        acv.select("entropy", budget=1, probs=P, labeled=np.ones(4, dtype=bool))


def test_mc_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match=r"mc_probs must have shape \(N, K, C\)"):
        acv.select("bald", budget=1, mc_probs=P)
    with pytest.raises(ValueError, match=r"mc_probs rows must sum to 1"):
        acv.select("bald", budget=1, mc_probs=np.full((2, 3, 2), 0.4))
    with pytest.raises(ValueError, match=r"mc_log_probs must be log-probabilities \(<= 0\)"):
        acv.select("bald", budget=1, mc_log_probs=np.full((2, 3, 2), 0.5))


def test_score_refuses_batch_strategies() -> None:
    with pytest.raises(ValueError, match="'coreset' chooses a batch jointly and has no per-item score"):
        acv.score("coreset", probs=P)


def test_random_without_any_input_needs_the_pool_size() -> None:
    with pytest.raises(ValueError, match="the pool size is unknown"):
        acv.select("random", budget=1)
    assert len(acv.select("random", budget=2, labeled=np.zeros(5, dtype=bool), rng=0)) == 2


def test_bad_strategy_parameters() -> None:
    with pytest.raises(ValueError, match="first must be one of 'max_norm', 'random'; got 'min'"):
        acv.get_strategy("badge", first="min")
    with pytest.raises(ValueError, match="num_samples must be a positive integer; got 0"):
        acv.get_strategy("batchbald", num_samples=0)
    with pytest.raises(ValueError, match=r"k_m_factor must be a finite number >= 1\.0; got 0\.5"):
        acv.get_strategy("cluster_margin", k_m_factor=0.5)


def test_bad_embeddings() -> None:
    with pytest.raises(ValueError, match="embeddings must be finite"):
        acv.select("coreset", budget=1, embeddings=np.array([[0.0], [np.nan]]))

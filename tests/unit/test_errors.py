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


def test_bad_predicted_loss() -> None:
    with pytest.raises(ValueError, match=r"predicted_loss must be finite; got NaN or inf \(first at row 1\)"):
        acv.select("learning_loss", budget=1, predicted_loss=[0.3, np.nan])
    with pytest.raises(ValueError, match=r"predicted_loss must have shape \(N,\); got \(2, 1\)"):
        acv.select("learning_loss", budget=1, predicted_loss=np.ones((2, 1)))


def test_bad_embeddings() -> None:
    with pytest.raises(ValueError, match="embeddings must be finite"):
        acv.select("coreset", budget=1, embeddings=np.array([[0.0], [np.nan]]))


def test_ragged_and_mistyped_inputs() -> None:
    with pytest.raises(ValueError, match=r"probs must be a rectangular array of shape \(N, C\)"):
        acv.select("entropy", budget=1, probs=[[0.5, 0.5], [1.0]])
    with pytest.raises(
        TypeError, match="labeled must be a boolean mask or integer indices; got dtype float64"
    ):
        acv.select("entropy", budget=1, probs=P, labeled=np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match=r"candidates must be a positive integer; got float 2\.0"):
        acv.select("entropy", budget=1, probs=P, candidates=2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="strategy name must be a str; got int"):
        acv.get_strategy(3)  # type: ignore[arg-type]


def test_streams_must_stay_aligned() -> None:
    def stream(sizes: list[int], width: int):
        for n in sizes:
            yield np.full((n, width), 1 / width)

    from activecv.strategies._pool import Pool

    misaligned = Pool({"probs": stream([2, 2], 2), "embeddings": stream([3, 1], 4)})
    with pytest.raises(
        ValueError, match=r"streamed inputs must yield chunks of equal length in step; got probs: 2"
    ):
        list(misaligned.iter_chunks(("probs", "embeddings")))
    with pytest.raises(
        ValueError,
        match="every input must have one row per pool item; embeddings had 5 rows, another input 4",
    ):
        acv.select("badge", budget=1, probs=stream([2, 2], 2), embeddings=stream([3, 2], 4))
    with pytest.raises(ValueError, match="embeddings has 5 rows but the stream had 4"):
        acv.select("badge", budget=1, probs=stream([2, 2], 2), embeddings=np.ones((5, 3)))
    with pytest.raises(ValueError, match="candidates needs inputs of known length"):
        acv.select("entropy", budget=1, probs=stream([2], 2), candidates=1)


def test_public_functions_check_their_input() -> None:
    from activecv.strategies import entropy, softmax, stochastic_sample

    with pytest.raises(ValueError, match=r"probs must have shape \(N, C\) with C >= 2; got \(3, 1\)"):
        entropy(np.ones((3, 1)))
    with pytest.raises(ValueError, match=r"logits must have shape \(N, C\) with C >= 2; got \(2, 1\)"):
        softmax(np.zeros((2, 1)))
    with pytest.raises(ValueError, match="beta must be a finite number >= 0; got -1"):
        stochastic_sample(np.ones(3), 1, beta=-1)


def test_selection_checks_its_arrays() -> None:
    with pytest.raises(
        ValueError, match=r"Selection indices and scores must be 1-D of one length; got \(2,\) and \(3,\)"
    ):
        acv.Selection(np.arange(2), np.zeros(3))
    indices = np.arange(3)
    acv.Selection(indices, np.zeros(3))
    indices[0] = 5  # the caller's array stays writable


def test_registering_a_name_twice_is_refused() -> None:
    from activecv.strategies._base import register
    from activecv.strategies._score_strategies import Entropy

    with pytest.raises(RuntimeError, match="strategy name 'entropy' is empty or already registered"):
        register(Entropy)


def test_missing_extra_names_the_install_line() -> None:
    from activecv._errors import missing_extra

    error = missing_extra("pyarrow", "parquet")
    assert isinstance(error, ImportError) and isinstance(error, ActiveCVError)
    assert "pip install 'activecv[parquet]'" in str(error)


def test_cli_param_syntax() -> None:
    from activecv.cli._args import parse_param

    assert parse_param("beta=2") == ("beta", 2)
    assert parse_param("mode=softrank") == ("mode", "softrank")
    with pytest.raises(ValueError, match="--param must look like key=value; got 'beta'"):
        parse_param("beta")


def test_an_empty_stream_is_an_empty_pool() -> None:
    with pytest.raises(EmptyPoolError, match="the pool is empty"):
        acv.select("entropy", budget=1, probs=iter([]))
    with pytest.raises(EmptyPoolError, match="the pool is empty: embeddings yielded no rows"):
        acv.select("coreset", budget=1, embeddings=iter([]))

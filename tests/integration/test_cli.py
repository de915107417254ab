"""The activecv command, run as a user runs it (a subprocess)."""

from __future__ import annotations

import csv
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import activecv as acv
from activecv.io import load_predictions, save_predictions


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``activecv COMMAND`` in a subprocess, as a user types it."""
    args = shlex.split(command)
    return subprocess.run([sys.executable, "-m", "activecv", *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "example.npz"
    done = run(f"example --out {path} --n 600", cwd=path.parent)
    assert done.returncode == 0, done.stderr
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_strategies_lists_every_name_with_inputs(tmp_path: Path) -> None:
    done = run("strategies", cwd=tmp_path)
    assert done.returncode == 0
    for name in acv.list_strategies():
        assert f"\n{name} " in done.stdout
    assert "mc_probs (or mc_log_probs)" in done.stdout


@pytest.mark.parametrize("strategy", ["entropy", "bald", "coreset", "badge", "batchbald", "power_bald"])
def test_select_writes_rank_id_score_matching_the_python_api(
    example: Path, tmp_path: Path, strategy: str
) -> None:
    out = tmp_path / "sel.csv"
    command = f"select --predictions {example} --strategy {strategy} --budget 7 --seed 3 --out {out}"
    done = run(command, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = read_csv(out)
    assert list(rows[0]) == ["rank", "id", "score"]
    assert [int(r["rank"]) for r in rows] == list(range(1, 8))
    data = load_predictions(example)
    inputs = {k: data[k] for k in ("probs", "mc_probs", "embeddings") if k in data}
    needed = next(g for g in acv.get_strategy(strategy).requirements() if set(g) <= set(inputs))
    expected = acv.select(
        strategy, budget=7, rng=3, labeled=data["labeled"], **{k: inputs[k] for k in needed}
    )
    assert [r["id"] for r in rows] == data["ids"][expected.indices].tolist()
    np.testing.assert_allclose([float(r["score"]) for r in rows], expected.scores)


def test_candidates_and_params(example: Path, tmp_path: Path) -> None:
    out = tmp_path / "sel.csv"
    done = run(
        f"select --predictions {example} --strategy stochastic --param base=margin --param mode=softrank "
        f"--param beta=2 --budget 5 --candidates 100 --seed 0 --out {out}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert len(read_csv(out)) == 5


def test_parquet_input(tmp_path: Path) -> None:
    probs = np.random.default_rng(0).dirichlet(np.ones(3), 50)
    save_predictions(tmp_path / "p.parquet", ids=np.arange(100, 150), probs=probs)
    done = run("select --predictions p.parquet --strategy margin --budget 3 --out s.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    expected = acv.select("margin", budget=3, probs=probs).indices + 100
    assert [int(r["id"]) for r in read_csv(tmp_path / "s.csv")] == expected.tolist()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "nope", "--budget", "3"], "unknown strategy 'nope'"),
        (["--strategy", "entropy", "--budget", "0"], "budget must be a positive integer; got 0"),
        (["--strategy", "coreset", "--budget", "3", "--param", "first=1"], "has no parameter first"),
    ],
)
def test_errors_exit_2_with_a_message(example: Path, tmp_path: Path, args: list[str], message: str) -> None:
    done = run(f"select --predictions {example} --out x.csv {' '.join(args)}", cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr


@pytest.mark.parametrize(
    ("arrays", "strategy", "message"),
    [
        ({"probs": np.full((3, 2), 0.5)}, "entropy", "must hold 'ids' naming each item; it holds probs"),
        ({"ids": np.arange(3), "probs": np.full((3, 2), 0.5)}, "bald", "strategy 'bald' requires mc_probs"),
        (
            {"ids": np.arange(2), "probs": np.full((3, 2), 0.5)},
            "entropy",
            "'ids' has 2 entries but 'probs' has 3 rows",
        ),
    ],
)
def test_missing_ids_and_inputs_are_named(tmp_path: Path, arrays: dict, strategy: str, message: str) -> None:
    np.savez(tmp_path / "p.npz", **arrays)
    done = run(f"select --predictions p.npz --strategy {strategy} --budget 1 --out x.csv", cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr

"""``select --engine ray`` on a real local Ray: per-shard winners merged give exactly the
single-process selection, ties and labeled items included."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("pyarrow")

import activecv  # noqa: E402
from activecv._errors import InputError  # noqa: E402
from activecv.cli import main  # noqa: E402
from activecv.io import save_predictions  # noqa: E402
from activecv.scale import select_on_ray, shard_paths  # noqa: E402

pytestmark = [pytest.mark.slow]

N, SHARDS = 3_000, 4


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """4 parquet shards of uneven size: probabilities whose scores tie, MC samples, logits,
    and a labeled column."""
    rng = np.random.default_rng(7)
    rows = rng.dirichlet(np.ones(5), size=40)
    pool = {
        "ids": np.array([f"img{i:05d}.png" for i in range(N)]),
        "probs": rows[rng.integers(0, 40, size=N)],  # 40 distinct rows: scores tie across shards
        "logits": rng.normal(size=(N, 5)),
        "mc_probs": rng.dirichlet(np.ones(5), size=(N, 4)),
        "labeled": rng.random(N) < 0.2,
    }
    folder = tmp_path_factory.mktemp("shards")
    cuts = [0, 500, 1_400, 1_500, N]
    for k in range(SHARDS):
        part = {name: value[cuts[k] : cuts[k + 1]] for name, value in pool.items()}
        save_predictions(folder / f"part-{k:05d}.parquet", **{n: v for n, v in part.items() if n != "logits"})
        (folder / "logits").mkdir(exist_ok=True)
        save_predictions(folder / "logits" / f"part-{k:05d}.parquet", ids=part["ids"], logits=part["logits"])
    return folder, pool


@pytest.mark.parametrize(
    ("strategy", "seed", "extra"),
    [
        ("entropy", None, {}),
        ("margin", 3, {}),  # random ties: the same draws as one process
        ("least_confidence", None, {}),
        ("bald", None, {}),
        ("entropy", 11, {"temperature": 2.0}),  # logits
    ],
)
def test_ray_selection_equals_the_single_process_one(
    local_ray: None, shards: tuple[Path, dict[str, np.ndarray]], strategy: str, seed: int | None, extra: Any
) -> None:
    folder, pool = shards
    name = "logits" if "temperature" in extra else ("mc_probs" if strategy == "bald" else "probs")
    expected = activecv.select(
        strategy, 250, rng=seed, labeled=pool["labeled"], **{name: pool[name]}, **extra
    )
    where = folder / "logits" if name == "logits" else folder
    if name == "logits":  # the logits shards carry no labeled column
        expected = activecv.select(strategy, 250, rng=seed, logits=pool["logits"], **extra)
    selection, ids = select_on_ray(strategy, 250, where, seed=seed, **extra)
    assert selection.indices.tolist() == expected.indices.tolist()
    assert selection.scores.tolist() == expected.scores.tolist()
    assert ids.tolist() == pool["ids"][expected.indices].tolist()
    assert name == "logits" or not pool["labeled"][selection.indices].any()


def test_the_command_line_engine(local_ray: None, shards: tuple[Path, Any], tmp_path: Path) -> None:
    folder, pool = shards
    out = tmp_path / "sel.csv"
    pattern = str(folder / "part-*.parquet")
    assert main(["select", "--predictions", pattern, "--strategy", "entropy", "--budget", "40",
                 "--engine", "ray", "--out", str(out), "--quiet"]) == 0  # fmt: skip
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    expected = activecv.select("entropy", 40, probs=pool["probs"], labeled=pool["labeled"])
    assert [r["id"] for r in rows] == pool["ids"][expected.indices].tolist()
    assert [float(r["score"]) for r in rows] == expected.scores.tolist()
    assert main(["select", "--predictions", pattern, "--strategy", "coreset", "--budget", "4",
                 "--engine", "ray", "--out", str(out)]) == 2  # fmt: skip


def test_what_does_not_distribute_is_refused(shards: tuple[Path, Any], tmp_path: Path) -> None:
    folder, _ = shards
    with pytest.raises(
        InputError, match=r"--engine ray ranks score strategies .*'coreset' chooses items jointly"
    ):
        select_on_ray("coreset", 5, folder)
    with pytest.raises(InputError, match="'power_bald' draws its ranking at random"):
        select_on_ray("power_bald", 5, folder)
    with pytest.raises(InputError, match=r"budget must be an integer >= 1; got 0"):
        select_on_ray("entropy", 0, folder)
    with pytest.raises(InputError, match=r"names no parquet shard"):
        shard_paths(tmp_path / "none-*.parquet")
    (tmp_path / "x.npz").write_bytes(b"")
    with pytest.raises(InputError, match=r"reads parquet shards only; got \['x.npz'\]"):
        shard_paths(tmp_path / "x.*")
    assert [p.name for p in shard_paths(folder)] == [f"part-{k:05d}.parquet" for k in range(SHARDS)]

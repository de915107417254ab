"""``activecv select --cost-budget`` and ``project round --cost-budget``: a predictions-file
column of costs, or boxes x seconds."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.integration.test_cli import run
from tests.integration.test_detection_io import DATASET, RESULTS

from activecv.cli import main
from activecv.io import save_predictions


def ids_of(path: Path) -> list[str]:
    with open(path, newline="") as handle:
        return [row["id"] for row in csv.DictReader(handle)]


@pytest.fixture
def predictions(tmp_path: Path) -> Path:
    path = tmp_path / "preds.npz"
    probs = np.array([[0.5, 0.5], [0.625, 0.375], [0.75, 0.25], [0.875, 0.125]])
    save_predictions(path, ids=np.array(["a", "b", "c", "d"]), probs=probs, seconds=np.array([10.0, 2, 1, 1]))
    return path


def test_cost_budget_from_a_costs_column(predictions: Path, tmp_path: Path) -> None:
    out = tmp_path / "sel.csv"
    base = f"select --predictions {predictions} --strategy least_confidence --out {out}"
    done = run(f"{base} --cost-budget 10 --costs-column seconds", tmp_path)
    assert done.returncode == 0, done.stderr
    assert ids_of(out) == ["c", "b", "d"]  # score per second 0.25, 0.1875, 0.125; "a" (10 s) no longer fits
    assert "selected 3 of 4 items with least_confidence, costing 4 of 10" in done.stderr
    done = run(f"{base} --budget 1", tmp_path)
    assert done.returncode == 0 and ids_of(out) == ["a"]  # in items, the dear one first


def test_cost_budget_on_detections_from_boxes_times_seconds(tmp_path: Path) -> None:
    results, images, out = tmp_path / "results.json", tmp_path / "images.json", tmp_path / "sel.csv"
    results.write_text(json.dumps(RESULTS))
    images.write_text(json.dumps(DATASET))
    base = (
        f"select --predictions {results} --images-json {images} --background-index 2 "
        f"--strategy detection_entropy --out {out}"
    )
    done = run(f"{base} --budget 1", tmp_path)
    assert done.returncode == 0 and ids_of(out) == ["7"]  # two uncertain boxes
    # costs 9: 5 + 10 x 1 = 15, 8: 5, 7: 5 + 10 x 2 = 25 -> 7 never fits 20 s
    done = run(f"{base} --cost-budget 20 --seconds-per-box 10 --seconds-per-image 5", tmp_path)
    assert done.returncode == 0, done.stderr
    assert ids_of(out) == ["9", "8"] and "costing 20 of 20" in done.stderr
    done = run(f"{base} --cost-budget 20", tmp_path)
    assert done.returncode == 2 and "--cost-budget on detection JSON needs --seconds-per-box" in done.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("", "select needs --budget N (items) or --cost-budget C (annotation cost), not both."),
        ("--budget 2 --cost-budget 5 --costs-column seconds", "not both"),
        (
            "--budget 2 --costs-column seconds",
            "--costs-column and --seconds-per-box apply with --cost-budget",
        ),
        ("--cost-budget 5 --costs-column seconds --candidates 2", "drop --engine ray and --candidates"),
        ("--cost-budget 5", "--cost-budget on a predictions file needs --costs-column NAME"),
        ("--cost-budget 5 --costs-column minutes", "--costs-column 'minutes' is not in"),
        ("--cost-budget 0 --costs-column seconds", "cost_budget must be a finite number > 0; got 0.0"),
    ],
)
def test_cost_budget_errors(predictions: Path, tmp_path: Path, arguments: str, message: str) -> None:
    done = run(
        f"select --predictions {predictions} --strategy least_confidence "
        f"--out {tmp_path / 's.csv'} {arguments}",
        tmp_path,
    )
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_project_round_within_a_cost_budget(
    tmp_path: Path, digit_pool: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    pool, _ = digit_pool
    project = tmp_path / "project"
    assert main(["project", "init", str(project), "--images", str(pool), "--task", "classification",
                 "--classes", "0,1,2,3,4,5,6,7,8,9"]) == 0  # fmt: skip
    paths = sorted(p.name for p in pool.iterdir())
    probs = np.full((40, 10), 0.1)
    probs[:2] = [0.9] + [0.1 / 9] * 9  # the first two images are the sure ones
    seconds = np.array([1.0, 1.0] + [30.0] * 38)
    np.savez(tmp_path / "p.npz", ids=np.array(paths), probs=probs, seconds=seconds)
    base = f"project round {project} --predictions {tmp_path}/p.npz --strategy least_confidence --quiet"
    capsys.readouterr()
    assert main(f"{base} --cost-budget 60 --costs-column seconds".split()) == 0
    out = capsys.readouterr().out
    # least confidence per second: 0.1 for the two cheap images, 0.03 for the dear ones: one of those fits
    assert "round 1: 3 images selected with least_confidence, costing 32 of 60" in out
    assert main(f"project status {project} --json".split()) == 0
    assert json.loads(capsys.readouterr().out)["rounds"][0]["selected"] == 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("", "project round needs --budget N (images) or --cost-budget C (annotation cost), not both; got"),
        (
            "--budget 2 --cost-budget 5 --costs-column seconds",
            "not both; got --budget 2 and --cost-budget 5.0",
        ),
        ("--budget 2 --seconds-per-box 7", "--seconds-per-box apply with --cost-budget C; add it."),
        ("--cost-budget 5", "--cost-budget on a predictions file needs --costs-column NAME"),
        ("--cost-budget 5 --costs-column minutes", "costs_column 'minutes' is not in"),
        ("--cost-budget -1 --costs-column seconds", "cost_budget must be a finite number > 0; got -1.0"),
    ],
)
def test_project_round_cost_budget_errors(
    tmp_path: Path, digit_pool: Any, capsys: pytest.CaptureFixture[str], arguments: str, message: str
) -> None:
    pool, _ = digit_pool
    project = tmp_path / "project"
    assert main(f"project init {project} --images {pool} --task classification --classes 0,1".split()) == 0
    paths = sorted(p.name for p in pool.iterdir())
    np.savez(tmp_path / "p.npz", ids=np.array(paths), probs=np.full((40, 2), 0.5), seconds=np.ones(40))
    capsys.readouterr()
    command = f"project round {project} --predictions {tmp_path}/p.npz --strategy entropy {arguments}"
    assert main(command.split()) == 2
    assert message in capsys.readouterr().err


def test_project_round_cost_budget_on_detections_needs_seconds_per_box(
    tmp_path: Path, digit_pool: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    pool, _ = digit_pool
    project = tmp_path / "project"
    assert main(f"project init {project} --images {pool} --task detection --classes digit".split()) == 0
    (tmp_path / "r.json").write_text("[]")
    capsys.readouterr()
    command = f"project round {project} --predictions {tmp_path}/r.json --strategy detection_entropy"
    assert main(f"{command} --cost-budget 60".split()) == 2
    assert "--cost-budget on COCO detection results needs --seconds-per-box S" in capsys.readouterr().err

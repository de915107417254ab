"""A tiny simulation end to end: real training on bundled digits, outputs consistent, resumable."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tests.integration.test_cli import run

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from activecv.datasets import load
from activecv.sim import SimulationConfig, preset, simulate

pytestmark = pytest.mark.torch

STRATEGIES = ("entropy", "bald", "coreset", "badge")


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 8x8 digits as 64-d feature vectors with their labels."""
    data = load("digits")
    path = tmp_path_factory.mktemp("sim") / "digits.npz"
    x = np.concatenate([data.x_train, data.x_test]).reshape(-1, 64)
    np.savez(path, embeddings=x, labels=np.concatenate([data.y_train, data.y_test]))
    return path


def _config(features: Path, **overrides: object) -> SimulationConfig:
    settings: dict = {
        "features": str(features),
        "model": "mlp",
        "strategies": STRATEGIES,
        "initial": 20,
        "budget": 10,
        "rounds": 3,
        "seeds": (0, 1),
        "candidates": 300,
        "train_steps": 20,
        "mc_samples": 4,
        "targets": (0.5, 0.99),
        "target_mode": "absolute",
    }
    settings.update(overrides)
    return SimulationConfig(**settings)


@pytest.fixture(scope="module")
def finished(features: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[SimulationConfig, Path]:
    config = _config(features)
    out = tmp_path_factory.mktemp("sim") / "out"
    simulate(config, out, workers=2, progress=False)
    return config, out


def test_outputs_exist_and_every_strategy_has_every_round(finished: tuple) -> None:
    config, out = finished
    files = (
        "config.json",
        "results.csv",
        "results.json",
        "learning_curves.png",
        "cost_curves.png",
        "report.md",
    )
    for name in files:
        assert (out / name).stat().st_size > 0
    rows = json.loads((out / "results.json").read_text())
    with open(out / "results.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == len(rows) == len(config.strategies) * len(config.seeds) * (config.rounds + 1)
    assert list(table[0]) == [
        "strategy",
        "seed",
        "round",
        "n_labeled",
        "metric",
        "selection_seconds",
        "training_seconds",
        "train_metric",
        "kappa",
        "annotation_seconds",
    ]
    for strategy in config.strategies:
        for seed in config.seeds:
            run_rows = sorted(
                (r for r in rows if (r["strategy"], r["seed"]) == (strategy, seed)), key=lambda r: r["round"]
            )
            assert [r["round"] for r in run_rows] == list(range(config.rounds + 1))
            assert [r["n_labeled"] for r in run_rows] == [20 + 10 * k for k in range(config.rounds + 1)]
            assert all(0 <= r["metric"] <= 1 for r in run_rows)
            assert run_rows[0]["selection_seconds"] == 0 and all(
                r["selection_seconds"] > 0 for r in run_rows[1:]
            )
    for seed in config.seeds:  # the same initial set and weights: one first point per seed
        first = {r["metric"] for r in rows if r["seed"] == seed and r["round"] == 0}
        assert len(first) == 1
    report = (out / "report.md").read_text()
    assert all(f"`{s}`" in report for s in config.strategies)
    assert "Too few seeds to tell" in report  # two seeds: no interval, said plainly
    assert "## When to stop" in report and "Round-0 model" in report
    for row in rows:  # train accuracy, agreement with the last round, classes picked
        assert 0 <= row["train_metric"] <= 1
        assert (row["kappa"] is None) == (row["round"] == 0) and (row["picked"] is None) == (
            row["round"] == 0
        )
        assert row["round"] == 0 or sum(row["picked"]) == 10
        assert row["annotation_seconds"] == config.seconds_per_image * row["n_labeled"]  # 1 s an image
    assert "## Accuracy against annotation cost" in report and "(cost_curves.png)" in report


def _key(row: dict) -> tuple:
    return (row["strategy"], row["seed"], row["round"], row["n_labeled"], row["metric"])


def test_runs_resume_and_reproduce(finished: tuple) -> None:
    config, out = finished
    before = sorted(map(_key, json.loads((out / "results.json").read_text())))
    (out / "runs" / "coreset-seed1.json").unlink()
    kept = (out / "runs" / "entropy-seed0.json").stat().st_mtime_ns
    result = simulate(config, out, workers=1, progress=False)
    assert sorted(map(_key, result.rows)) == before  # the deleted pair re-ran to the same numbers
    assert (out / "runs" / "entropy-seed0.json").stat().st_mtime_ns == kept  # finished pairs are kept


def test_a_different_configuration_in_the_same_directory_is_refused(finished: tuple, features: Path) -> None:
    _, out = finished
    with pytest.raises(ValueError, match="holds results of a different configuration"):
        simulate(_config(features, rounds=4), out, progress=False)
    with pytest.raises(ValueError, match="holds results of a different configuration"):
        simulate(_config(features, seconds_per_image=2.0), out, progress=False)


def test_results_written_before_annotation_seconds_still_resume(finished: tuple, tmp_path: Path) -> None:
    config, out = finished
    old = tmp_path / "old"
    shutil.copytree(out, old)
    (old / "cost_curves.png").unlink()
    settings = json.loads((old / "config.json").read_text())
    for name in ("seconds_per_box", "seconds_per_image", "cost_budget"):
        del settings[name]  # a config.json written before these settings existed
    (old / "config.json").write_text(json.dumps(settings))
    for path in (old / "runs").iterdir():
        path.write_text(
            json.dumps(
                [
                    {k: v for k, v in r.items() if k != "annotation_seconds"}
                    for r in json.loads(path.read_text())
                ]
            )
        )
    result = simulate(config, old, workers=1, progress=False)  # nothing to run: every pair is there
    assert result.summary.cost is None and not (old / "cost_curves.png").exists()
    report = (old / "report.md").read_text()
    assert "These results do not record annotation seconds" in report


def test_learning_loss_and_warm_start_run(features: Path, tmp_path: Path) -> None:
    config = _config(
        features,
        strategies=("learning_loss",),
        seeds=(0,),
        rounds=2,
        retrain="warm",
        loss_layers=("features",),
    )
    result = simulate(config, tmp_path, progress=False)
    assert [r["n_labeled"] for r in result.rows if r["strategy"] == "learning_loss"] == [20, 30, 40]


def test_cli_simulate_and_its_errors(features: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    done = run(
        f"simulate --features {features} --model mlp --strategies margin --seeds 2 --rounds 1 --budget 5 "
        f"--train-steps 10 --workers 1 --out {out}",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert f"report: {out / 'report.md'}" in done.stdout
    assert "[margin seed 1] round 1/1: 25 labeled" in done.stderr  # progress lines
    assert (out / "learning_curves.png").exists()
    done = run(f"simulate --images {tmp_path / 'missing'} --out {tmp_path / 'x'}", tmp_path)
    assert done.returncode == 2 and "does not exist" in done.stderr
    done = run("simulate --strategies margin,nope", tmp_path)
    assert done.returncode == 2 and "unknown strategy 'nope'" in done.stderr
    done = run("simulate --cost-budget 60", tmp_path)  # the default preset classifies
    assert done.returncode == 2 and "cost_budget buys seconds of box annotation in detection" in done.stderr
    done = run("simulate --preset digit-scenes-detection --cost-budget 60 --seconds-per-image 0", tmp_path)
    assert done.returncode == 2 and "needs seconds_per_image > 0" in done.stderr
    done = run("simulate --seconds-per-box -2", tmp_path)
    assert (
        done.returncode == 2
        and "seconds_per_box must be a finite number of seconds >= 0; got -2.0" in done.stderr
    )


def test_detection_simulation_runs_every_detection_strategy(tmp_path: Path) -> None:
    pytest.importorskip("pycocotools")
    config = preset(
        "digit-scenes-detection",
        limit=120,
        initial=20,
        budget=10,
        rounds=1,
        seeds=(0,),
        candidates=40,
        train_steps=8,
    )
    result = simulate(config, tmp_path, progress=False)
    assert {r["strategy"] for r in result.rows} == {"random", "detection_entropy", "enms", "ebal"}
    assert all(r["n_labeled"] == 20 + 10 * r["round"] and 0 <= r["metric"] <= 1 for r in result.rows)
    assert len({r["metric"] for r in result.rows if r["round"] == 0}) == 1  # one shared start
    assert "mAP@0.5" in (tmp_path / "report.md").read_text()
    with pytest.raises(ValueError, match="detection simulations run on dataset 'digit-scenes'"):
        preset("digit-scenes-detection", model="gal_cnn")


@pytest.mark.slow
def test_segmentation_simulation_pays_clicks_for_images_and_regions(tmp_path: Path) -> None:
    config = preset(
        "digit-scenes-segmentation",
        limit=40,
        initial=2,
        budget=60,
        rounds=1,
        seeds=(0,),
        candidates=20,
        train_steps=4,
        segments=16,
        strategies=("seg_entropy", "regions"),
    )
    result = simulate(config, tmp_path, progress=False)
    by = {(r["strategy"], r["round"]): r for r in result.rows}
    assert {s for s, _ in by} == {"random", "seg_entropy", "regions"}
    start = by[("random", 0)]["n_labeled"]
    assert all(by[(s, 0)]["n_labeled"] == start for s in ("seg_entropy", "regions"))  # one shared start
    assert by[("regions", 1)]["n_labeled"] - start == 60  # one click a superpixel: the budget spent exactly
    assert all(
        0 < by[(s, 1)]["n_labeled"] - start <= 60 for s in ("random", "seg_entropy")
    )  # whole images fit
    report = (tmp_path / "report.md").read_text()
    assert "mIoU" in report and "clicks to 90% of random's best" in report
    with pytest.raises(ValueError, match="segmentation simulations run on dataset 'digit-scenes' with model"):
        preset("digit-scenes-segmentation", model="gal_cnn")
    with pytest.raises(ValueError, match="regions has no parameter cell; valid: measure, class_balance"):
        preset("digit-scenes-segmentation", strategy_params={"regions": {"cell": 4}})


def test_a_failing_run_stops_the_simulation(features: Path, tmp_path: Path) -> None:
    # a factory that fails in the worker processes: ResNet takes blocks and widths, not these
    config = _config(features, model="activecv.adapters.torch:ResNet", seeds=(0, 1))
    with pytest.raises(TypeError, match="missing 2 required positional arguments"):
        simulate(config, tmp_path, workers=2, progress=False)
    assert not list((tmp_path / "runs").iterdir())  # nothing half-written


def test_detection_simulation_buys_seconds_of_annotation(tmp_path: Path) -> None:
    pytest.importorskip("pycocotools")
    from activecv.sim import load_simulation_data
    from activecv.sim._loop import initial_set

    config = preset(
        "digit-scenes-detection",
        strategies=("detection_entropy", "ebal"),
        limit=120,
        initial=20,
        rounds=2,
        seeds=(0,),
        candidates=40,
        train_steps=8,
        cost_budget=150.0,  # detect() keeps at most 100 boxes: a scene is priced at most 102 s
        seconds_per_box=1.0,
        seconds_per_image=2.0,
    )
    result = simulate(config, tmp_path, progress=False)
    data = load_simulation_data(config)
    assert data.boxes_pool is not None
    start = initial_set(data.y_pool, 20, "random", 0)
    first = 1.0 * sum(len(data.boxes_pool[i]) for i in start) + 2.0 * 20  # true boxes x 1 s + 2 s a scene
    for strategy in config.strategies:
        run_rows = sorted((r for r in result.rows if r["strategy"] == strategy), key=lambda r: r["round"])
        seconds = [r["annotation_seconds"] for r in run_rows]
        assert seconds[0] == first and seconds == sorted(seconds)
        assert run_rows[0]["n_labeled"] == 20 < run_rows[1]["n_labeled"]  # every round buys a scene or more
        assert all(r["annotation_seconds"] >= 2.0 * r["n_labeled"] for r in run_rows)
    report = (tmp_path / "report.md").read_text()
    assert "+150 s of annotation per round" in report and "Each round bought 150 s of annotation" in report
    assert (tmp_path / "cost_curves.png").stat().st_size > 0

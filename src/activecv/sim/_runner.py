"""Run every (strategy, seed) pair, resumably and in parallel, and write the output directory.

out/config.json            the configuration (a different one in the same directory is refused)
out/runs/S-seedK.json      one finished pair; kept across restarts, so runs resume
out/results.csv|json       the tidy table: strategy, seed, round, n_labeled, metric, times,
                           train metric, kappa with the last round, annotation seconds so far
                           (json: classes picked)
out/learning_curves.png    mean ± std per strategy
out/cost_curves.png        the same against annotation seconds (not for segmentation: clicks)
out/report.md              AUBC, labels to reach each target, accuracy at equal cost, final
                           metric, the verdict
"""

from __future__ import annotations

import csv
import functools
import json
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activecv._errors import InputError
from activecv._validation import check_positive_int
from activecv.sim._config import SimulationConfig
from activecv.sim._cost import COST, has_costs
from activecv.sim._data import SimulationData, load_simulation_data
from activecv.sim._loop import run_strategy
from activecv.sim._plot import plot_learning_curves
from activecv.sim._report import Summary, render_markdown, summarize

COLUMNS = (
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
)  # fmt: skip; results.json also holds "picked" (per class, the items each acquisition labeled)


@dataclass(frozen=True)
class SimulationResult:
    """The rows of every finished run, their summary and where the report is."""

    out_dir: Path
    rows: list[dict[str, Any]]
    summary: Summary

    @property
    def report(self) -> Path:
        return self.out_dir / "report.md"


def _write_atomic(path: Path, text: str) -> None:
    """Write next to ``path`` and rename: a crash leaves the old file or the new, never half."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def _run_file(out_dir: Path, strategy: str, seed: int) -> Path:
    return out_dir / "runs" / f"{strategy}-seed{seed}.json"


@functools.lru_cache(maxsize=1)
def _data(config_json: str) -> SimulationData:
    return load_simulation_data(SimulationConfig.from_dict(json.loads(config_json)))


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _run_pair(config_json: str, strategy: str, seed: int, progress: bool) -> list[dict[str, Any]]:
    config = SimulationConfig.from_dict(json.loads(config_json))
    return run_strategy(config, _data(config_json), strategy, seed, progress)


def _log(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def _same_config(text: str, config: SimulationConfig) -> bool:
    """Whether ``config.json`` holds ``config``; one written before a setting existed holds it
    at its default."""
    try:
        return SimulationConfig.from_dict(json.loads(text)) == config
    except (ValueError, TypeError):  # unreadable, or settings this activecv does not know
        return False


def simulate(
    config: SimulationConfig, out_dir: str | Path, workers: int = 1, progress: bool = True
) -> SimulationResult:
    """Simulate annotation rounds for every strategy and seed of ``config`` into ``out_dir``.

    Finished (strategy, seed) pairs already in ``out_dir`` are kept, so an interrupted run
    resumes where it stopped. ``workers`` > 1 runs pairs in that many processes, each with
    an equal share of the CPU threads; processes are spawned, so a script calling this needs
    the ``if __name__ == "__main__":`` guard.
    """
    workers = check_positive_int(workers, "workers")
    out = Path(out_dir)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    config_json = config.to_json()
    config_path = out / "config.json"
    if config_path.exists() and not _same_config(config_path.read_text(), config):
        raise InputError(
            f"{str(out)!r} holds results of a different configuration (see its config.json); "
            "use a new output directory, or delete it to start over."
        )
    data = _data(config_json)  # fails fast on bad data, before any process starts
    _write_atomic(config_path, config_json)
    pairs = [(s, seed) for s in config.strategies for seed in config.seeds]
    pending = [p for p in pairs if not _run_file(out, *p).exists()]
    _log(
        progress,
        f"simulate: {data.name}, pool {data.x_pool.shape[0]}, test {data.x_test.shape[0]}; "
        f"{len(pending)} of {len(pairs)} runs to do ({len(pairs) - len(pending)} already finished) "
        f"on {min(workers, max(len(pending), 1))} worker(s)",
    )

    def finished(pair: tuple[str, int], rows: list[dict[str, Any]], done: int) -> None:
        _write_atomic(_run_file(out, *pair), json.dumps(rows))
        _log(progress, f"simulate: finished {pair[0]} seed {pair[1]} ({done}/{len(pending)})")

    if workers == 1 or len(pending) <= 1:
        for done, pair in enumerate(pending, 1):
            finished(pair, _run_pair(config_json, *pair, progress), done)
    else:
        threads = max(1, (os.cpu_count() or 1) // workers)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(threads,)
        ) as pool:
            futures = {pool.submit(_run_pair, config_json, *pair, progress): pair for pair in pending}
            try:
                for done, future in enumerate(as_completed(futures), 1):
                    finished(futures[future], future.result(), done)
            except BaseException:  # a failed run stops the rest; finished pairs stay saved
                for future in futures:
                    future.cancel()
                raise
    return write_outputs(config, out, data.name)


def write_outputs(config: SimulationConfig, out: Path, data_name: str) -> SimulationResult:
    """Gather the finished runs into the table, the plot and the report."""
    rows = []
    for strategy in config.strategies:
        for seed in config.seeds:
            path = _run_file(out, strategy, seed)
            if path.exists():
                rows += json.loads(path.read_text())
    with open(out / "results.csv.partial", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(out / "results.csv.partial", out / "results.csv")
    _write_atomic(out / "results.json", json.dumps(rows, indent=1))
    summary = summarize(rows, config)
    title = f"{data_name}, {config.model}: {config.metric_name}, mean ± std over {len(config.seeds)} seeds"
    plot_learning_curves(
        rows, config.strategies, out / "learning_curves.png", title, config.metric_name, config.cost_name
    )
    cost_plot = None
    if config.task != "segmentation" and has_costs(rows):
        cost_plot = "cost_curves.png"
        plot_learning_curves(
            rows, config.strategies, out / cost_plot, title, config.metric_name, "annotation seconds", x=COST
        )
    data_line = f"`{data_name}`"
    report = render_markdown(summary, config, data_line, "learning_curves.png", cost_plot)
    _write_atomic(out / "report.md", report)
    return SimulationResult(out, rows, summary)

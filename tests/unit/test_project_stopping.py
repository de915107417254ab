"""When to stop a project: kappa between successive rounds' recorded predictions, missing and
changed files reported, in status and its CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from activecv.cli import main
from activecv.project import Project


def _labels_file(path: Path, ids: list[str], labels: np.ndarray) -> Path:
    probs = np.full((len(ids), 3), 0.1)
    probs[np.arange(len(ids)), labels] = 0.8
    np.savez(path, ids=np.array(ids), probs=probs)
    return path


def test_kappa_of_successive_rounds_and_files_gone_or_changed(
    tmp_path: Path, digit_pool: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    pool, _ = digit_pool
    project = Project.init(tmp_path / "project", task="classification", classes=["a", "b", "c"], images=pool)
    ids = [item.path for item in project.items()]  # 40 items: all of them form the stop set
    first = np.arange(40) % 2  # 20 of class 0, 20 of class 1
    second = first.copy()
    second[:4] = 1 - second[:4]  # 4 flips, 2 each way: still 20 and 20
    # p_o = 36/40 = 0.9, p_e = 0.5*0.5 + 0.5*0.5 = 0.5: kappa = (0.9 - 0.5) / 0.5 = 0.8
    files = [
        _labels_file(tmp_path / "r1.npz", ids, first),
        _labels_file(tmp_path / "r2.npz", ids, second),
        _labels_file(tmp_path / "r3.npz", ids[::-1], second[::-1]),  # same labels, other row order
    ]
    for k, path in enumerate(files):
        project.round(path, "entropy", 2, seed=k)
    signal = project.stopping(threshold=0.99, window=1)
    assert signal.stop_set == 40
    assert [(r.round, r.status) for r in signal.rounds] == [(1, "ok"), (2, "ok"), (3, "ok")]
    assert [r.kappa for r in signal.rounds] == [None, pytest.approx(0.8), 1.0]
    assert signal.stable_since == 3
    assert project.stopping(window=2).stable_since is None  # mean(0.8, 1.0) < 0.99

    files[0].unlink()
    _labels_file(files[1], ids, first)  # rewritten after its round: hash mismatch
    signal = project.stopping(window=1)
    assert [r.status for r in signal.rounds] == ["missing", "changed", "ok"]
    assert signal.rounds[2].kappa is None and signal.stable_since is None
    project.close()

    assert main(["project", "status", str(tmp_path / "project")]) == 0
    out = capsys.readouterr().out
    assert "stopping (kappa of successive rounds on 40 items, >= 0.99 over 3 rounds):" in out
    assert f"round 1: missing: {files[0]} (left out)" in out and "round 2: changed:" in out
    assert "not stable yet: keep annotating" in out
    assert main(["project", "status", str(tmp_path / "project"), "--json"]) == 0
    stopping = json.loads(capsys.readouterr().out)["stopping"]
    assert [r["status"] for r in stopping["rounds"]] == ["missing", "changed", "ok"]


def test_a_project_without_rounds_prints_no_signal(tmp_path: Path, digit_pool: Any, capsys: Any) -> None:
    pool, _ = digit_pool
    Project.init(tmp_path / "p", task="classification", classes=["a", "b"], images=pool).close()
    assert main(["project", "status", str(tmp_path / "p")]) == 0
    assert "stopping" not in capsys.readouterr().out

"""``activecv project ...`` end to end on real digit images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from activecv.cli import main

CLASSES = ",".join(str(k) for k in range(10))


def cli(command: str) -> int:
    return main(command.split())


def test_a_whole_round_from_the_command_line(
    tmp_path: Path, digit_pool: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    pool, truth = digit_pool
    project = tmp_path / "project"
    (tmp_path / "classes.txt").write_text("\n".join(CLASSES.split(",")) + "\n")
    classes = f"@{tmp_path}/classes.txt"
    assert cli(f"project init {project} --images {pool} --task classification --classes {classes}") == 0
    assert "40 images added" in capsys.readouterr().out
    paths = sorted(p.name for p in pool.iterdir())
    np.savez(
        tmp_path / "p.npz", ids=np.array(paths), embeddings=np.random.default_rng(0).normal(size=(40, 3))
    )
    round_args = f"--predictions {tmp_path}/p.npz --strategy typiclust --budget 6 --param k_nn=5 --quiet"
    assert cli(f"project round {project} {round_args}") == 0
    assert "round 1: 6 images selected with typiclust" in capsys.readouterr().out
    assert cli(f"project export {project} --format csv --out {tmp_path}/sel.csv") == 0
    selected = [line.split(",")[0] for line in (tmp_path / "sel.csv").read_text().splitlines()[1:]]
    assert len(selected) == 6 and "wrote 6 images" in capsys.readouterr().out
    assert cli(f"project next {project} --annotator ann --n 4") == 0
    assert [line.split("\t")[1] for line in capsys.readouterr().out.splitlines()] == selected[:4]
    (tmp_path / "labels.csv").write_text(
        "path,label\n" + "".join(f"{p},{truth[int(p[:3])]}\n" for p in selected)
    )
    assert cli(f"project import {project} {tmp_path}/labels.csv --format csv") == 0
    assert "6 newly labeled" in capsys.readouterr().out
    assert cli(f"project status {project} --json") == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["labeled"], status["rounds"][0]["labeled"], status["leases"]) == (6, 6, {})
    assert sum(status["class_balance"].values()) == 6
    assert cli(f"project status {project}") == 0
    assert "round 1 (typiclust): 6 selected, 6 labeled" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("project status {tmp}", "is not an activecv project"),
        (
            "project round {project} --predictions {tmp}/none.npz --strategy margin --budget 2",
            "does not exist",
        ),
        ("project round {project} --predictions {tmp}/p.npz --strategy nope --budget 2", "unknown strategy"),
        ("project export {project} --format csv --out {tmp}/x.csv", "has no round yet"),
        ("project import {project} {tmp}/bad.json --format labelstudio", "is not valid JSON"),
    ],
)
def test_errors_exit_with_status_2(
    tmp_path: Path, digit_pool: Any, capsys: pytest.CaptureFixture[str], command: str, message: str
) -> None:
    pool, _ = digit_pool
    project = tmp_path / "project"
    assert cli(f"project init {project} --images {pool} --task classification --classes {CLASSES}") == 0
    np.savez(tmp_path / "p.npz", ids=np.array(["000.png"]), probs=np.full((1, 10), 0.1))
    (tmp_path / "bad.json").write_text("[{")
    capsys.readouterr()
    assert cli(command.format(tmp=tmp_path, project=project)) == 2
    assert message in capsys.readouterr().err

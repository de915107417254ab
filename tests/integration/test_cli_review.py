"""``activecv review-labels``: AUM over a bundled dataset or an image folder, as a CSV to review."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from tests.integration.test_cli import run

pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def test_review_list_of_a_bundled_dataset_with_planted_noise(tmp_path: Path) -> None:
    out = tmp_path / "review.csv"
    done = run(
        f"review-labels --dataset digits --limit 400 --noise 0.1 --model small_resnet --epochs 8 --out {out}",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and list(rows[0]) == ["rank", "id", "label", "aum"]
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    aum = [float(r["aum"]) for r in rows]
    assert aum == sorted(aum)  # most suspect first
    assert len({r["id"] for r in rows}) == len(rows)
    assert f"flagged {len(rows)} of 400 labels" in done.stdout
    precision = float(done.stdout.split("precision ")[1].split(",")[0])
    assert precision > 0.3  # base rate 0.1; measured 0.629


def test_review_list_of_an_image_folder_names_files(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, level in (("dark", 40), ("light", 200)):
        (tmp_path / "images" / name).mkdir(parents=True)
        for i in range(12):
            pixels = np.clip(rng.normal(level, 20, (10, 10)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "images" / name / f"{i}.png")
    out = tmp_path / "review.csv"
    done = run(f"review-labels --images {tmp_path / 'images'} --epochs 2 --out {out}", tmp_path)
    assert done.returncode == 0, done.stderr
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert all(r["id"].split("/")[0] == r["label"] for r in rows)  # ids are paths under the root


def test_review_errors_exit_2(tmp_path: Path) -> None:
    done = run(f"review-labels --images {tmp_path / 'missing'}", tmp_path)
    assert done.returncode == 2 and "does not exist" in done.stderr
    done = run("review-labels --dataset digits --model vgg", tmp_path)
    assert done.returncode == 2 and "model must be one of gal_cnn, small_resnet" in done.stderr

"""review-labels --method confident, and the review list in a project: ledger and export."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from activecv import InputError
from activecv.cli import main
from activecv.io import save_predictions
from activecv.project import Project, export
from activecv.review import find_label_issues, read_review_csv

sys.path.insert(0, str(Path(__file__).parents[1]))
from conftest import write_digit_images


def probabilities(n: int = 60, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(classes, 0.4), n)
    labels = probs.argmax(axis=1)
    labels[:6] = (labels[:6] + 1) % classes
    return probs, labels


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_predictions_file_gives_the_flags_of_find_label_issues(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    probs, labels = probabilities()
    ids = np.array([f"img{i:02d}.png" for i in range(60)])
    save_predictions(tmp_path / "p.npz", ids=ids, probs=probs, labels=labels)
    out = tmp_path / "review.csv"
    main(
        [
            "review-labels",
            "--method",
            "confident",
            "--predictions",
            str(tmp_path / "p.npz"),
            "--out",
            str(out),
        ]
    )
    expected = find_label_issues(labels, probs)
    written = rows(out)
    assert list(written[0]) == ["rank", "id", "label", "suggested", "self_confidence", "normalized_margin"]
    assert [r["id"] for r in written] == ids[expected.indices].tolist()
    assert [int(r["rank"]) for r in written] == list(range(1, len(written) + 1))
    assert f"flagged {len(written)} of 60 labels" in capsys.readouterr().out


def test_logits_and_noise(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    probs, labels = probabilities()
    save_predictions(tmp_path / "p.npz", ids=np.arange(60), logits=np.log(probs), labels=labels)
    out = tmp_path / "review.csv"
    args = [
        "review-labels",
        "--method",
        "confident",
        "--predictions",
        str(tmp_path / "p.npz"),
        "--out",
        str(out),
    ]
    main([*args, "--noise", "0.2", "--filter-by", "both"])
    assert "planted 12 flipped labels: precision" in capsys.readouterr().out


def test_a_predictions_file_needs_labels_and_probabilities(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save_predictions(tmp_path / "p.npz", ids=np.arange(4), probs=np.full((4, 2), 0.5))
    assert main(["review-labels", "--method", "confident", "--predictions", str(tmp_path / "p.npz")]) == 2
    assert (
        "must hold 'labels' and 'probs' (or 'logits'), one row per id; got ids, probs"
        in capsys.readouterr().err
    )


def test_aum_refuses_a_predictions_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    probs, labels = probabilities()
    save_predictions(tmp_path / "p.npz", ids=np.arange(60), probs=probs, labels=labels)
    assert main(["review-labels", "--predictions", str(tmp_path / "p.npz")]) == 2
    assert "--predictions gives probabilities, which AUM cannot use" in capsys.readouterr().err


def fit_predict_prior(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, classes: int, seed: int
) -> np.ndarray:
    """A user model for --fit-predict: nearest class mean on pixels, softened."""
    means = np.stack(
        [x_train[y_train == c].reshape(-1, x_train[0].size).mean(axis=0) for c in range(classes)]
    )
    distance = ((x_test.reshape(x_test.shape[0], -1)[:, None, :] - means[None]) ** 2).sum(axis=2)
    weights = np.exp(-(distance - distance.min(axis=1, keepdims=True)))
    return np.asarray(weights / weights.sum(axis=1, keepdims=True))


def test_cross_validated_user_callable_finds_planted_noise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "review.csv"
    main(
        [
            "review-labels", "--method", "confident", "--dataset", "digits", "--limit", "500", "--folds", "3",
            "--noise", "0.1", "--fit-predict", f"{__name__}:fit_predict_prior", "--out", str(out), "--quiet",
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    recall = float(printed.rsplit("recall ", 1)[1])
    assert recall > 0.5 and rows(out)


def test_fit_predict_must_name_a_callable(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["review-labels", "--method", "confident", "--dataset", "digits", "--limit", "50"]
    assert main([*base, "--fit-predict", "nocolon"]) == 2
    assert "fit-predict must be 'module:callable'; got 'nocolon'" in capsys.readouterr().err
    assert main([*base, "--fit-predict", "json:nothing"]) == 2
    assert "fit-predict 'json:nothing' names no callable in module 'json'" in capsys.readouterr().err


def test_suspects_go_to_the_ledger_and_out_for_relabeling(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = tmp_path / "pool"
    pool.mkdir()
    write_digit_images(pool, 6)
    Project.init(
        tmp_path / "p", task="classification", classes=[str(k) for k in range(10)], images=pool
    ).close()
    review = tmp_path / "review.csv"
    review.write_text(
        "rank,id,label,suggested,self_confidence,normalized_margin\n"
        "1,003.png,3,8,0.05,0.1\n2,001.png,1,7,0.2,0.3\n"
    )
    main(["project", "suspects", str(tmp_path / "p"), str(review)])
    assert "recorded 2 suspect labels (confident)" in capsys.readouterr().out
    with Project(tmp_path / "p") as project:
        found = project.suspects()
        assert [(s.rank, s.method, s.score, s.suggested) for s in found] == [
            (1, "confident", 0.05, "8"),
            (2, "confident", 0.2, "7"),
        ]
        assert [project.item(s.item_id).path for s in found] == ["003.png", "001.png"]
        assert export(project, "csv", tmp_path / "out.csv", items="suspect") == 2
        assert [r["path"] for r in rows(tmp_path / "out.csv")] == ["003.png", "001.png"]
        assert export(project, "labelstudio", tmp_path / "tasks.json", items="suspect") == 2
        assert len(json.loads((tmp_path / "tasks.json").read_text())) == 2
        assert export(project, "coco", tmp_path / "coco.json", items="suspect") == 2
    aum = tmp_path / "aum.csv"
    aum.write_text("rank,id,label,aum\n1,002.png,2,-1.5\n")
    main(["project", "suspects", str(tmp_path / "p"), str(aum)])
    with Project(tmp_path / "p") as project:  # a new review list replaces the old one
        assert [(s.method, s.score, s.suggested) for s in project.suspects()] == [("aum", -1.5, None)]


def test_a_review_file_needs_its_columns(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("rank,path,score\n1,a.png,0.1\n")
    with pytest.raises(
        InputError, match=r"must have the columns rank,id,label then aum .*; got rank,path,score"
    ):
        read_review_csv(bad)

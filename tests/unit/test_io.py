"""Predictions files: symmetric save/load in .npz and .parquet, and clear errors."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from activecv.io import PredictionsFile, load_predictions, save_predictions


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "probs": rng.dirichlet(np.ones(3), 7).astype(np.float32),
        "mc_probs": rng.dirichlet(np.ones(3), (7, 4)),
        "labeled": np.array([True, False] * 3 + [False]),
    }
    path = tmp_path / f"preds{suffix}"
    save_predictions(path, ids=[f"im{i}.jpg" for i in range(7)], **arrays)
    loaded = load_predictions(path)
    assert loaded["ids"].tolist() == [f"im{i}.jpg" for i in range(7)]
    for name, arr in arrays.items():
        np.testing.assert_array_equal(loaded[name], arr)
        assert loaded[name].dtype == arr.dtype
    file = PredictionsFile(path)
    assert file.shape("mc_probs") == (7, 4, 3)
    np.testing.assert_array_equal(np.concatenate(list(file.stream("mc_probs", 3))), arrays["mc_probs"])


def test_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"predictions file must end in .npz or .parquet; got 'x.csv'"):
        PredictionsFile("x.csv")
    with pytest.raises(ValueError, match="does not exist"):
        PredictionsFile(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_text("not a zip")
    with pytest.raises(ValueError, match=r"is not a valid \.npz file"):
        PredictionsFile(tmp_path / "bad.npz")
    save_predictions(tmp_path / "p.npz", ids=np.arange(2), probs=np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match=r"has no array 'logits'; it holds ids, probs"):
        PredictionsFile(tmp_path / "p.npz").load("logits")
    with pytest.raises(ValueError, match=r"probs must have one row per id \(3\); got shape \(2, 2\)"):
        save_predictions(tmp_path / "q.npz", ids=np.arange(3), probs=np.full((2, 2), 0.5))


def test_pickled_objects_are_never_loaded(tmp_path: Path) -> None:
    np.savez(tmp_path / "obj.npz", ids=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"cannot be read|holds Python objects"):
        PredictionsFile(tmp_path / "obj.npz").load("ids")


def test_truncated_member_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "t.npz"
    save_predictions(path, ids=np.arange(100), probs=np.full((100, 2), 0.5))
    with zipfile.ZipFile(path) as archive:
        data = archive.read("probs.npy")
    with zipfile.ZipFile(tmp_path / "cut.npz", "w") as archive:
        archive.writestr("probs.npy", data[:-40])
    with pytest.raises(ValueError, match="is truncated"):
        list(PredictionsFile(tmp_path / "cut.npz").stream("probs", 64))


def test_parquet_columns_must_be_rectangular_and_complete(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cases = {
        "ragged": (pa.array([[0.5, 0.5], [1.0]]), "holds lists of unequal length"),
        "null_row": (pa.array([[0.5, 0.5], None]), "has missing rows"),
        "null_value": (pa.array([0.5, None]), "has missing values"),
    }
    for name, (column, message) in cases.items():
        pq.write_table(pa.table({"ids": pa.array([0, 1]), "probs": column}), tmp_path / f"{name}.parquet")
        with pytest.raises(ValueError, match=message):
            PredictionsFile(tmp_path / f"{name}.parquet").load("probs")

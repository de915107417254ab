"""Bundled datasets and the image-folder loader, on the real packaged images."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest

from activecv.datasets import list_datasets, load, load_image_folder
from activecv.datasets._bundled import _ArraysOnly

EXPECTED = {"mnist5k": (5000, 28), "digits": (1797, 8), "animal_shapes": (10000, 28)}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bundled_datasets_load_split_by_class_and_deterministically(name: str) -> None:
    data = load(name)
    total, side = EXPECTED[name]
    assert data.x_train.shape[1:] == (side, side) and data.x_train.dtype == np.float32
    assert data.x_train.shape[0] + data.x_test.shape[0] == total
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0 and data.x_train.max() > 0.5
    assert len(data.class_names) == 10 and set(np.unique(data.y_train)) == set(range(10))
    counts_test = np.bincount(data.y_test, minlength=10)
    counts_all = counts_test + np.bincount(data.y_train, minlength=10)
    assert np.all(np.abs(counts_test - 0.2 * counts_all) <= 1)  # stratified
    again = load(name)
    np.testing.assert_array_equal(again.x_test, data.x_test)
    assert not np.array_equal(load(name, seed=1).x_test, data.x_test)  # the seed picks the split
    assert len(np.unique(data.y_train[:100])) == 10  # shuffled: a prefix holds every class


def test_dataset_errors() -> None:
    assert list_datasets() == ["animal_shapes", "digits", "mnist5k"]
    with pytest.raises(
        ValueError, match="unknown dataset 'cifar10'; valid names: animal_shapes, digits, mnist5k"
    ):
        load("cifar10")
    with pytest.raises(ValueError, match=r"test_fraction must lie strictly between 0 and 1; got 1\.5"):
        load("digits", test_fraction=1.5)


def test_dataset_files_may_hold_arrays_only() -> None:
    class Evil:
        def __reduce__(self) -> tuple:
            return (print, ("owned",))

    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load builtins\.print"):
        _ArraysOnly(io.BytesIO(pickle.dumps(Evil()))).load()
    arr = np.arange(6, dtype=np.uint8).reshape(2, 3)
    np.testing.assert_array_equal(_ArraysOnly(io.BytesIO(pickle.dumps(arr))).load(), arr)


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    from PIL import Image

    data = load("digits")
    images = (data.x_test[:12] * 255).round().astype(np.uint8)
    labels = data.y_test[:12]
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        (tmp_path / f"class_{label}").mkdir(exist_ok=True)
        Image.fromarray(image).save(tmp_path / f"class_{label}" / f"{i:03d}.png")
    return tmp_path, images, labels


def test_image_folder_round_trip(folder: tuple[Path, np.ndarray, np.ndarray]) -> None:
    root, images, labels = folder
    x, y, classes, paths = load_image_folder(root, grayscale=True)
    assert classes == tuple(sorted(f"class_{c}" for c in set(labels.tolist())))
    for pixels, label, path in zip(x, y, paths, strict=True):
        i = int(path.stem)
        assert classes[label] == f"class_{labels[i]}"
        np.testing.assert_allclose(pixels, images[i] / 255.0, atol=1e-6)
    rgb, *_ = load_image_folder(root, size=(16, 16))
    assert rgb.shape == (12, 16, 16, 3)


def test_image_folder_errors_name_the_file(
    folder: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    from PIL import Image

    root, _, _ = folder
    bad = next(root.iterdir()) / "zz_broken.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"cannot read image '.*zz_broken\.png'"):
        load_image_folder(root)
    bad.unlink()
    Image.fromarray(np.zeros((9, 9), dtype=np.uint8)).save(next(root.iterdir()) / "zz_big.png")
    with pytest.raises(ValueError, match=r"has shape \(9, 9\) but .* has \(8, 8\); pass size="):
        load_image_folder(root, grayscale=True)
    with pytest.raises(ValueError, match="does not exist or is not a folder"):
        load_image_folder(tmp_path / "missing")
    (root / "empty_class").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        load_image_folder(root, size=(8, 8))
    with pytest.raises(ValueError, match="has no class folders"):
        load_image_folder(root / "empty_class")

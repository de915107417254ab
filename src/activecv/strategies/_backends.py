"""Injectable distance kernels of the diversity methods, and the backends that provide them.

Core-set, BADGE (explicit gradient embeddings), TypiClust and Cluster-Margin (k-means
clustering) spend their time in three kernels: distances from every point to one new centre,
the nearest of a set of centres for every point, and each point's k nearest neighbours. A
``Backend`` provides them; the numpy one (here, the default) and FAISS
(``activecv.scale.faiss_backend``, in the ``scale`` extra) implement the same maths, so the
strategies' loops, tie rules and randomness are shared and the selections agree.

A strategy takes ``backend="numpy"`` (default), ``"faiss"`` (exact ``IndexFlatL2``) or
``"faiss-ivf"`` (approximate nearest labeled centre for core-set), or a backend object. Names
resolve here at selection time; the FAISS ones import ``activecv.scale`` only then, so this
package never imports FAISS.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

import numpy as np

from activecv._errors import InputError, InputTypeError
from activecv.strategies._distances import (
    BLOCK_ELEMENTS,
    min_squared_distances,
    squared_distances_to,
    squared_norms,
)


class Space(Protocol):
    """Points ``x (N, D)`` with squared Euclidean distances."""

    sq: np.ndarray  # (N,) float64 squared norms

    def squared_distances_to(self, j: int) -> np.ndarray:
        """``||x_i - x_j||^2`` for every i, float64 (N,)."""

    def min_squared_distances(self, centres: np.ndarray) -> np.ndarray:
        """``min_c ||x_i - x_c||^2`` over the positions ``centres``, float64 (N,)."""

    def nearest(self, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest row of ``centres (K, D)`` for every point: int64 labels (N,) and the
        float64 squared distance to it (N,). Ties go to the lower centre."""


@runtime_checkable
class Backend(Protocol):
    """The kernels a diversity method needs; see the module docstring."""

    @property
    def name(self) -> str:
        """Recorded in a selection's ``info["backend"]``."""

    def points(self, x: np.ndarray) -> Space:
        """``x (N, D)`` prepared for repeated distance queries."""

    def knn_squared(self, x: np.ndarray, k: int) -> np.ndarray:
        """Squared distances (N, k) from each row to its k nearest other rows, nearest first."""


class NumpyPoints:
    """Explicit vectors, distances by the norm expansion in float64 blocks."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x
        self.sq = squared_norms(x)

    def squared_distances_to(self, j: int) -> np.ndarray:
        return squared_distances_to(self.x, self.sq, j)

    def min_squared_distances(self, centres: np.ndarray) -> np.ndarray:
        return min_squared_distances(self.x, self.sq, centres)

    def nearest(self, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, sq = self.x, self.sq
        labels = np.empty(x.shape[0], dtype=np.int64)
        d2 = np.empty(x.shape[0])
        centre_sq = squared_norms(centres)
        step = max(1, BLOCK_ELEMENTS // centres.shape[0])
        for start in range(0, x.shape[0], step):
            rows = slice(start, start + step)
            block = centre_sq[None, :] - 2.0 * (x[rows] @ centres.T)
            labels[rows] = block.argmin(axis=1)
            d2[rows] = np.maximum(block[np.arange(block.shape[0]), labels[rows]] + sq[rows], 0.0)
        return labels, d2


class NumpyBackend:
    """The default: numpy (BLAS) in blocks that fit in cache."""

    name = "numpy"

    def points(self, x: np.ndarray) -> Space:
        return NumpyPoints(x)

    def knn_squared(self, x: np.ndarray, k: int) -> np.ndarray:
        sq = squared_norms(x)
        out = np.empty((x.shape[0], k))
        step = max(1, BLOCK_ELEMENTS // x.shape[0])
        for start in range(0, x.shape[0], step):
            rows = np.arange(start, min(start + step, x.shape[0]))
            d2 = np.maximum(sq[rows, None] + sq[None, :] - 2.0 * (x[rows] @ x.T), 0.0)
            d2[np.arange(rows.shape[0]), rows] = np.inf  # a row is not its own neighbour
            out[rows] = np.sort(np.partition(d2, k - 1, axis=1)[:, :k], axis=1)
        return out


NUMPY = NumpyBackend()

_NAMED: dict[str, tuple[str, str, dict[str, Any]]] = {
    # name: (module, factory, keyword arguments), imported at selection time
    "faiss": ("activecv.scale", "faiss_backend", {"index": "flat"}),
    "faiss-ivf": ("activecv.scale", "faiss_backend", {"index": "ivf"}),
}
BACKEND_NAMES = ("numpy", *_NAMED)


def check_backend(value: object) -> None:
    """Raise unless ``value`` is a backend name or a backend object (strategy validation)."""
    if isinstance(value, str):
        if value not in BACKEND_NAMES:
            raise InputError(f"backend must be one of {', '.join(map(repr, BACKEND_NAMES))}; got {value!r}.")
    elif not isinstance(value, Backend):
        raise InputTypeError(
            f"backend must be a name ({', '.join(map(repr, BACKEND_NAMES))}) or an object with "
            f"name, points and knn_squared (e.g. activecv.scale.faiss_backend()); "
            f"got {type(value).__name__}."
        )


def resolve_backend(value: str | Backend) -> Backend:
    """The backend a strategy's ``backend`` parameter names (FAISS imported only now)."""
    check_backend(value)
    if not isinstance(value, str):
        return value
    if value == "numpy":
        return NUMPY
    module, factory, kwargs = _NAMED[value]
    backend: Backend = getattr(importlib.import_module(module), factory)(**kwargs)
    return backend


def backend_name(value: str | Backend) -> str:
    """The name recorded in a selection's ``info``."""
    return value if isinstance(value, str) else value.name

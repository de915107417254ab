"""Row chunking: how every per-item computation walks a pool without copying it whole."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

CHUNK_BYTES = 8 * 2**20
"""Target size of one float64 chunk: large enough for vectorised numpy, small enough for cache."""


def chunk_rows(row_shape: tuple[int, ...]) -> int:
    """Rows per chunk for items of ``row_shape`` (at least 1)."""
    row_bytes = 8 * int(np.prod(row_shape, dtype=np.int64))
    return max(1, CHUNK_BYTES // max(row_bytes, 1))


def iter_row_chunks(arr: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(offset, rows) slices of ``arr`` along axis 0; slices of a memmap stay views."""
    step = chunk_rows(arr.shape[1:])
    for start in range(0, arr.shape[0], step):
        yield start, arr[start : start + step]


def map_rows(kernel: Callable[[np.ndarray], np.ndarray], arr: np.ndarray) -> np.ndarray:
    """``kernel`` applied to float64 row chunks of ``arr``, results concatenated: shape (N,)."""
    out = np.empty(arr.shape[0], dtype=np.float64)
    for start, rows in iter_row_chunks(arr):
        out[start : start + rows.shape[0]] = kernel(np.asarray(rows, dtype=np.float64))
    return out

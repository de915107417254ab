"""Squared Euclidean distances by the norm expansion, in blocks that fit in cache."""

from __future__ import annotations

import numpy as np

BLOCK_ELEMENTS = 2**22
"""Entries of one (rows x columns) distance block."""


def squared_norms(x: np.ndarray) -> np.ndarray:
    """Row-wise ``||x_i||^2`` in float64, shape (N,)."""
    return np.einsum("ij,ij->i", x, x, dtype=np.float64)


def squared_distances_to(x: np.ndarray, sq: np.ndarray, j: int) -> np.ndarray:
    """``||x_i - x_j||^2`` for every i, clipped at 0 (rounding), shape (N,)."""
    return np.maximum(sq + sq[j] - 2.0 * (x @ x[j]), 0.0)


def min_squared_distances(x: np.ndarray, sq: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """``min_j ||x_i - x_j||^2`` over ``centres`` (positions), for every i: shape (N,)."""
    out = np.full(x.shape[0], np.inf)
    col_step = max(1, min(centres.shape[0], 1024))
    row_step = max(1, BLOCK_ELEMENTS // col_step)
    for c0 in range(0, centres.shape[0], col_step):
        cols = centres[c0 : c0 + col_step]
        xc, sqc = x[cols], sq[cols]
        for r0 in range(0, x.shape[0], row_step):
            rows = slice(r0, r0 + row_step)
            block = sq[rows, None] + sqc[None, :] - 2.0 * (x[rows] @ xc.T)
            np.minimum(out[rows], block.min(axis=1), out=out[rows])
    return np.maximum(out, 0.0)

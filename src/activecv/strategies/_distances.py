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


PROJECTION_RANK = 64
"""Principal directions the pruned core-set updates project onto."""
PROJECTION_SAMPLE = 8192
"""Rows (evenly spaced, no randomness) whose covariance gives the principal directions."""


class PrunedMinDistances:
    """``d2 = min(d2, ||x_i - x_j||^2)`` for a new centre j, computing the full distance only
    for the rows a lower bound cannot rule out.

    The bound is the distance between the rows' projections on ``rank`` principal directions
    (orthonormal ``V``: ``||V^T (x_i - x_j)|| <= ||x_i - x_j||``), one product over (N, rank)
    float32 instead of (N, D). A row is skipped only when the bound, less the rounding of both
    the bound and the full formula, is still at least its ``d2``: the full formula would have
    left it unchanged too, so ``d2`` is bit for bit the one of :func:`squared_distances_to`
    applied to every row, up to how BLAS rounds a dot product for a subset of rows. On
    clustered embeddings (real features, the benchmark's) most rows are skipped; on isotropic
    ones few are and the projection costs rank / D extra.

    Rows with ``d2 == -inf`` (taken) are never updated.
    """

    def __init__(self, x: np.ndarray, sq: np.ndarray, rank: int = PROJECTION_RANK) -> None:
        self.x, self.sq = x, sq
        n, d = x.shape
        sample = np.asarray(x[:: max(1, n // PROJECTION_SAMPLE)], dtype=np.float64)
        centred = sample - sample.mean(axis=0)
        _, vectors = np.linalg.eigh(centred.T @ centred)
        basis = vectors[:, -min(rank, d) :]  # orthonormal columns
        self.z = np.empty((n, basis.shape[1]), dtype=np.float32)
        step = max(1, BLOCK_ELEMENTS // d)
        for start in range(0, n, step):
            self.z[start : start + step] = np.asarray(x[start : start + step], dtype=np.float64) @ basis
        z_sq = squared_norms(self.z)
        # |bound - its computed value| and |distance - its computed value| are each at most
        # sum over the pair of c_i = (terms + 8) u |row|^2 (dot products of that many terms in
        # float32 or x's precision; 1e-9 for V's orthonormality); a safety factor of 2.
        u32, ux = 2.0**-24, float(np.finfo(x.dtype).eps) / 2
        slack = 2.0 * (((basis.shape[1] + 8) * u32 + 1e-9) * z_sq + (d + 8) * ux * sq)
        self.z_sq_less = z_sq - slack  # bound(i, j) - slack = z_sq_less[i] + z_sq_less[j] - 2 z_i.z_j
        self.rows_computed = 0

    def update(self, d2: np.ndarray, j: int) -> None:
        """Lower ``d2`` (float64 (N,), in place) to the squared distances to row ``j`` where smaller."""
        dots = self.z @ self.z[j]
        # skip i when z_sq_less[i] + z_sq_less[j] - 2 dots[i] >= d2[i]
        limit = self.z_sq_less + (self.z_sq_less[j] - d2)
        limit *= 0.5
        rows = np.flatnonzero(dots > limit)
        if rows.shape[0] == 0:
            return
        self.rows_computed += rows.shape[0]
        x, sq = self.x, self.sq
        near = np.maximum(sq[rows] + sq[j] - 2.0 * (x[rows] @ x[j]), 0.0)
        d2[rows] = np.minimum(d2[rows], near)

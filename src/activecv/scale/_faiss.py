"""FAISS kernels for the diversity methods (core-set, BADGE, TypiClust, Cluster-Margin).

The strategies take ``backend="faiss"`` (or ``"faiss-ivf"``, or the object
:func:`faiss_backend` returns); their loops, tie rules and randomness stay in
``activecv.strategies``, and only the distance work comes here:

- distances from every point to one new centre (core-set and k-means++ updates):
  ``faiss.fvec_L2sqr_ny``, direct differences in float32 SIMD, one pass over the pool;
- the nearest of a set of centres (core-set's labeled set, the k-means assignment step):
  ``IndexFlatL2`` (exact), or for core-set's labeled set optionally ``IndexIVFFlat`` or
  ``IndexHNSWFlat`` (approximate);
- k nearest neighbours inside a TypiClust cluster: ``IndexFlatL2`` (squared distances, as
  the reference uses them).

FAISS computes in float32: distances differ from the float64 numpy path by float32 rounding,
so the picks are the same except where two candidates' distances are within that rounding
of each other (exact ties and near-ties; see :func:`faiss_backend`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from activecv._errors import InputError, missing_extra
from activecv._validation import check_positive_int

INDEXES = ("flat", "ivf", "hnsw")


def _faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise missing_extra("faiss-cpu", "scale") from None
    return faiss


def _float32(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


@dataclass(frozen=True)
class FaissBackend:
    """Configuration of the FAISS kernels; build it with :func:`faiss_backend`."""

    index: str = "flat"
    nprobe: int = 8
    nlist: int | None = None
    hnsw_m: int = 32
    ef_search: int = 64

    @property
    def name(self) -> str:
        return "faiss" if self.index == "flat" else f"faiss-{self.index}"

    def points(self, x: np.ndarray) -> FaissPoints:
        return FaissPoints(x, self)

    def knn_squared(self, x: np.ndarray, k: int) -> np.ndarray:
        """Squared distances (N, k) to the k nearest other rows (k < N), nearest first."""
        faiss = _faiss()
        x32 = _float32(x)
        index = faiss.IndexFlatL2(x32.shape[1])
        index.add(x32)
        dist, ids = index.search(x32, k + 1)
        drop = ids == np.arange(x32.shape[0])[:, None]  # each row's own entry ...
        drop[~drop.any(axis=1), -1] = True  # ... or, where a duplicate hid it, the farthest
        return np.maximum(dist[~drop].reshape(x32.shape[0], k), 0.0).astype(np.float64)

    def labeled_index(self, vectors: np.ndarray) -> Any:
        """The index over core-set's initial centres: exact or approximate."""
        faiss = _faiss()
        n, d = vectors.shape
        if self.index == "ivf":
            nlist = min(self.nlist or max(1, round(np.sqrt(n))), n)
            index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist)
            index.cp.min_points_per_centroid = 1  # no stderr warning on small labeled sets
            index.train(vectors)
            index.nprobe = min(self.nprobe, nlist)
        elif self.index == "hnsw":
            index = faiss.IndexHNSWFlat(d, self.hnsw_m)
            index.hnsw.efSearch = self.ef_search
        else:
            index = faiss.IndexFlatL2(d)
        index.add(vectors)
        return index


class FaissPoints:
    """The pool ``x (N, D)`` as float32 for FAISS, with float64 squared norms like numpy's."""

    def __init__(self, x: np.ndarray, config: FaissBackend) -> None:
        self.faiss = _faiss()
        self.x32 = _float32(x)
        self.sq = np.einsum("ij,ij->i", x, x, dtype=np.float64)
        self.config = config

    def squared_distances_to(self, j: int) -> np.ndarray:
        out = np.empty(self.x32.shape[0], dtype=np.float32)
        ptr = self.faiss.swig_ptr
        centre = np.ascontiguousarray(self.x32[j])
        self.faiss.fvec_L2sqr_ny(ptr(out), ptr(centre), ptr(self.x32), self.x32.shape[1], self.x32.shape[0])
        return out.astype(np.float64)

    def min_squared_distances(self, centres: np.ndarray) -> np.ndarray:
        index = self.config.labeled_index(self.x32[centres])
        dist, _ = index.search(self.x32, 1)
        return np.maximum(dist[:, 0], 0.0).astype(np.float64)

    def nearest(self, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index = self.faiss.IndexFlatL2(self.x32.shape[1])
        index.add(_float32(centres))
        dist, ids = index.search(self.x32, 1)
        return ids[:, 0].astype(np.int64), np.maximum(dist[:, 0], 0.0).astype(np.float64)


def faiss_backend(
    index: str = "flat", nprobe: int = 8, nlist: int | None = None, hnsw_m: int = 32, ef_search: int = 64
) -> FaissBackend:
    """FAISS kernels for ``coreset``, ``badge``, ``typiclust`` and ``cluster_margin``.

    Pass the result as the strategy's ``backend`` (the names ``"faiss"`` and ``"faiss-ivf"``
    build it with the defaults).

    Parameters
    ----------
    index : {"flat", "ivf", "hnsw"}
        Index over core-set's labeled items for the first nearest-centre pass. ``"flat"``
        (``IndexFlatL2``) is exact. ``"ivf"`` (``IndexIVFFlat``, ``nlist`` lists, ``nprobe``
        searched) and ``"hnsw"`` (``IndexHNSWFlat``, ``hnsw_m`` links, ``ef_search``) are
        approximate: a missed nearest labeled item overstates an item's distance, so the
        picks drift from the exact ones as recall drops; raise ``nprobe`` or ``ef_search``
        for recall, lower them for speed. Every other kernel (distances to new centres,
        k-means assignment, TypiClust's neighbours) is exact whatever ``index`` says.
    nprobe, nlist : int
        IVF: lists searched (8) and lists in all (default ``sqrt(|L|)``).
    hnsw_m, ef_search : int
        HNSW: links per node (32) and search breadth (64).

    Returns
    -------
    FaissBackend

    Notes
    -----
    FAISS computes in float32 while the numpy path accumulates in float64: distances agree to
    float32 rounding (relative error about 1e-7 of the squared norms for the ``IndexFlatL2``
    searches, of the distance itself for distances to one centre). Selections are equal except
    where candidates tie within that rounding (exact duplicates, ties broken by position).

    Examples
    --------
    >>> import activecv as acv
    >>> x = np.array([[0.0], [1.0], [5.0], [10.0]], dtype=np.float32)
    >>> coreset = acv.get_strategy("coreset", backend=faiss_backend())
    >>> acv.select(coreset, budget=2, embeddings=x, labeled=[0]).indices.tolist()
    [3, 2]
    """
    if index not in INDEXES:
        raise InputError(f"index must be one of {', '.join(map(repr, INDEXES))}; got {index!r}.")
    for value, label in ((nprobe, "nprobe"), (hnsw_m, "hnsw_m"), (ef_search, "ef_search")):
        check_positive_int(value, label)
    if nlist is not None:
        check_positive_int(nlist, "nlist")
    _faiss()  # a missing extra fails here, not in the middle of a selection
    return FaissBackend(index, nprobe, nlist, hnsw_m, ef_search)

"""Registered batch strategies: BatchBALD, core-set, BADGE, TypiClust, Cluster-Margin, DAL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from activecv._errors import InputError
from activecv._progress import Progress
from activecv._validation import check_positive_int
from activecv.strategies._backends import Backend, backend_name, check_backend, resolve_backend
from activecv.strategies._base import (
    BatchStrategy,
    Context,
    Requirements,
    check_choice,
    check_number,
    register,
)
from activecv.strategies._batchbald import check_batchbald_backend, greedy_batchbald, resolve_batchbald_kernel
from activecv.strategies._cluster_margin import candidate_clusters, cluster_margin_select
from activecv.strategies._coreset import greedy_kcenter
from activecv.strategies._discriminative import discriminative_select, training_settings
from activecv.strategies._pool import Pool
from activecv.strategies._seeding import Distances, Points, kmeans_pp_seeding
from activecv.strategies._typiclust import typiclust_select
from activecv.types import Selection


def _progress(name: str, budget: int, available: np.ndarray, ctx: Context) -> Progress:
    return Progress(name, min(budget, int(available.sum())), ctx.progress)


def _backend_info(backend: str | Backend) -> dict[str, str]:
    """``{"backend": name}`` in a selection's info, unless it is the default numpy."""
    name = backend_name(backend)
    return {} if name == "numpy" else {"backend": name}


@register
@dataclass(frozen=True)
class BatchBald(BatchStrategy):
    """Greedy joint mutual information; exact joint entropies while small, sampled beyond.

    Parameters
    ----------
    num_samples : int
        Label configurations M of the sampled estimator (10,000 as in the paper).
    backend : {"numpy", "torch", "auto"}
        Who evaluates the candidates: numpy (default), torch (float32, on the GPU when there is
        one; ``activecv[torch]``, imported only now) or "auto" (torch when it sees a GPU).
    """

    name: ClassVar[str] = "batchbald"
    description: ClassVar[str] = "greedy joint mutual information of the batch (Kirsch et al. 2019)"
    requires: ClassVar[Requirements] = (("mc_probs",),)
    stochastic: ClassVar[bool] = True
    num_samples: int = 10_000
    backend: str = "numpy"

    def __post_init__(self) -> None:
        check_positive_int(self.num_samples, "num_samples")
        check_batchbald_backend(self.backend)

    def select(self, pool: Pool, budget: int, ctx: Context) -> Selection:
        p = pool.full("mc_probs")
        available = ctx.unlabeled(0, p.shape[0])
        progress = _progress(self.name, budget, available, ctx)
        kernel = resolve_batchbald_kernel(self.backend, p)
        indices, scores = greedy_batchbald(p, budget, available, self.num_samples, ctx.rng, progress, kernel)
        info: dict[str, object] = {"num_samples": self.num_samples}
        if kernel is not None:
            info["backend"] = kernel.name
        return Selection(indices, scores, self.name, info)


@register
@dataclass(frozen=True)
class Coreset(BatchStrategy):
    """k-center greedy on embeddings against the labeled set (Sener & Savarese 2018).

    Parameters
    ----------
    backend : {"numpy", "faiss", "faiss-ivf"} or backend object
        Who computes the distances: numpy (default); FAISS with an exact ``IndexFlatL2``
        (the same picks up to float32 rounding); ``"faiss-ivf"``, FAISS with an approximate
        ``IndexIVFFlat`` over the labeled items for the first nearest-centre pass (faster
        with many labeled items, but a missed nearest centre overstates an item's distance);
        or ``activecv.scale.faiss_backend(index=..., nprobe=...)``. FAISS needs
        ``activecv[scale]``.
    """

    name: ClassVar[str] = "coreset"
    description: ClassVar[str] = "k-center greedy: cover the embedding space (Sener & Savarese 2018)"
    requires: ClassVar[Requirements] = (("embeddings",),)
    backend: str | Backend = "numpy"

    def __post_init__(self) -> None:
        check_backend(self.backend)

    def select(self, pool: Pool, budget: int, ctx: Context) -> Selection:
        x = pool.full("embeddings")
        available = ctx.unlabeled(0, x.shape[0])
        progress = _progress(self.name, budget, available, ctx)
        rng = ctx.rng if ctx.rng_given else None
        backend = resolve_backend(self.backend)
        indices, radii = greedy_kcenter(x, ctx.labeled, budget, rng, progress, backend)
        return Selection(indices, radii, self.name, _backend_info(self.backend))


@register
@dataclass(frozen=True)
class Badge(BatchStrategy):
    """k-means++ seeding on gradient embeddings (Ash et al. 2020).

    Parameters
    ----------
    first : {"max_norm", "random"}
        First seed: largest gradient norm (reference code) or uniform (k-means++).
    backend : {"numpy", "faiss", "faiss-ivf"} or backend object
        Who computes distances between explicit ``gradient_embeddings`` (FAISS needs
        ``activecv[scale]``; the same seeds up to float32 rounding). From ``probs`` and
        ``embeddings`` the gradient distances are always the numpy trick of §7.2, which never
        materialises the C·d vectors.
    """

    name: ClassVar[str] = "badge"
    description: ClassVar[str] = "k-means++ seeding on last-layer gradient embeddings (Ash et al. 2020)"
    requires: ClassVar[Requirements] = (("gradient_embeddings",), ("probs", "embeddings"))
    stochastic: ClassVar[bool] = True
    first: str = "max_norm"
    backend: str | Backend = "numpy"

    def __post_init__(self) -> None:
        check_choice(self.first, "first", ("max_norm", "random"))
        check_backend(self.backend)

    def select(self, pool: Pool, budget: int, ctx: Context) -> Selection:
        points: Distances
        if "gradient_embeddings" in pool.names:
            points = resolve_backend(self.backend).points(pool.full("gradient_embeddings"))
            info = _backend_info(self.backend)
        else:
            points, info = Points(probs=pool.full("probs"), embeddings=pool.full("embeddings")), {}
        available = ctx.unlabeled(0, points.sq.shape[0])
        progress = _progress(self.name, budget, available, ctx)
        indices, dists = kmeans_pp_seeding(points, available, budget, self.first, ctx.rng, progress)
        return Selection(indices, dists, self.name, info)


@register
@dataclass(frozen=True)
class TypiClust(BatchStrategy):
    """The most typical item of each cluster without labels (Hacohen et al. 2022).

    Meant for small budgets (a few items per class) on self-supervised embeddings.

    Parameters
    ----------
    max_clusters, k_nn, min_cluster_size : int
        500, 20 and 5 as in the reference code.
    normalize : bool
        L2-normalise the embeddings first (the reference does).
    backend : {"numpy", "faiss", "faiss-ivf"} or backend object
        Who computes the k-means distances and the k nearest neighbours: numpy (default) or
        FAISS (exact ``IndexFlatL2`` in both names; needs ``activecv[scale]``). Both run the
        same seeding and Lloyd iterations, so the clusters and picks agree up to float32
        rounding.
    """

    name: ClassVar[str] = "typiclust"
    description: ClassVar[str] = "most typical item per uncovered k-means cluster (Hacohen et al. 2022)"
    requires: ClassVar[Requirements] = (("embeddings",),)
    stochastic: ClassVar[bool] = True
    max_clusters: int = 500
    k_nn: int = 20
    min_cluster_size: int = 5
    normalize: bool = True
    backend: str | Backend = "numpy"

    def __post_init__(self) -> None:
        check_positive_int(self.max_clusters, "max_clusters")
        check_positive_int(self.k_nn, "k_nn")
        check_number(self.min_cluster_size, "min_cluster_size", 0)
        check_backend(self.backend)

    def select(self, pool: Pool, budget: int, ctx: Context) -> Selection:
        x = np.asarray(pool.full("embeddings"), dtype=np.float64)
        if self.normalize:
            norms = np.linalg.norm(x, axis=1, keepdims=True)
            x = x / np.where(norms > 0, norms, 1.0)
        available = ctx.unlabeled(0, x.shape[0])
        progress = _progress(self.name, budget, available, ctx)
        backend = resolve_backend(self.backend)
        indices, typ = typiclust_select(
            x,
            ctx.labeled,
            budget,
            ctx.rng,
            self.max_clusters,
            self.k_nn,
            self.min_cluster_size,
            progress,
            backend,
        )
        return Selection(indices, typ, self.name, _backend_info(self.backend))


@register
@dataclass(frozen=True)
class ClusterMargin(BatchStrategy):
    """Smallest-margin candidates, spread round-robin over clusters (Citovsky et al. 2021).

    Parameters
    ----------
    k_m_factor : float
        Candidates k_m = k_m_factor * budget (10 in the paper).
    distance_threshold : float, optional
        Average-linkage cut when clustering ``embeddings``; None cuts into ``budget`` clusters.
    max_hac_points : int
        Largest candidate set clustered by average linkage (memory is quadratic).
    clustering : {"average_linkage", "kmeans"}
        How the candidates' ``embeddings`` are clustered: the paper's average linkage, or
        k-means into ``budget`` clusters (not the paper's; linear memory, so no
        ``max_hac_points`` limit). k-means draws its seeds from the rng (seed 0 when none).
    backend : {"numpy", "faiss", "faiss-ivf"} or backend object
        Who computes the k-means distances (``clustering="kmeans"`` only; FAISS has no
        average linkage): numpy (default) or FAISS (needs ``activecv[scale]``), which agree
        up to float32 rounding.
    """

    name: ClassVar[str] = "cluster_margin"
    description: ClassVar[str] = "margin candidates round-robin over clusters (Citovsky et al. 2021)"
    requires: ClassVar[Requirements] = (("probs", "cluster_ids"), ("probs", "embeddings"))
    k_m_factor: float = 10.0
    distance_threshold: float | None = None
    max_hac_points: int = 20_000
    clustering: str = "average_linkage"
    backend: str | Backend = "numpy"

    def __post_init__(self) -> None:
        check_number(self.k_m_factor, "k_m_factor", 1.0)
        if self.distance_threshold is not None:
            check_number(self.distance_threshold, "distance_threshold", 0.0, low_inclusive=False)
        check_positive_int(self.max_hac_points, "max_hac_points")
        check_choice(self.clustering, "clustering", ("average_linkage", "kmeans"))
        check_backend(self.backend)
        if self.clustering == "kmeans" and self.distance_threshold is not None:
            raise InputError(
                "distance_threshold cuts the average-linkage tree; clustering='kmeans' makes "
                f"budget clusters. Drop distance_threshold={self.distance_threshold!r} or use "
                "clustering='average_linkage'."
            )
        if self.clustering == "average_linkage" and backend_name(self.backend) != "numpy":
            raise InputError(
                f"backend={backend_name(self.backend)!r} computes k-means distances; average linkage "
                "runs in scipy. Pass clustering='kmeans' with it, or backend='numpy'."
            )

    def select(self, pool: Pool, budget: int, ctx: Context) -> Selection:
        probs = pool.full("probs")
        clusters = pool.full("cluster_ids") if "cluster_ids" in pool.names else None
        embeddings = pool.full("embeddings") if clusters is None else None
        kmeans_rng = ctx.rng if ctx.rng_given else np.random.default_rng(0)

        def clusters_of(x: np.ndarray) -> np.ndarray:
            return candidate_clusters(
                x,
                budget,
                self.clustering,
                self.distance_threshold,
                self.max_hac_points,
                kmeans_rng,
                resolve_backend(self.backend),
            )

        indices, scores = cluster_margin_select(
            probs,
            ctx.unlabeled(0, probs.shape[0]),
            budget,
            clusters,
            embeddings,
            self.k_m_factor,
            clusters_of,
            ctx.rng if ctx.rng_given else None,
        )
        info = _backend_info(self.backend) if embeddings is not None else {}
        return Selection(indices, scores, self.name, info)


@register
@dataclass(frozen=True)
class Discriminative(BatchStrategy):
    """Discriminative Active Learning (Gissin & Shalev-Shwartz 2019) on embeddings.

    Parameters
    ----------
    n_sub : int
        Mini-queries per batch (20 for learned representations, 10 for raw pixels).
    sub_ratio : int
        Unlabeled items drawn per labeled one to train each discriminator (10).
    hidden, lr, max_epochs, batch_size : optional
        Discriminator width and Adam settings; by default the reference code's choices for the
        embedding size (<= 128-d: lr 1e-4, 1000 epochs, batch 128; < 784-d: 2e-4, 500, 1024;
        pixels: 3e-4, 200, 1024) and width 256 (20 for inputs of <= 20 dimensions).
    accuracy_stop : float
        Stop training once an epoch's training accuracy exceeds this (0.98): under-fitting on
        purpose, so unlabeled items like labeled ones do not look confidently unlabeled.
    """

    name: ClassVar[str] = "discriminative"
    description: ClassVar[str] = "labeled-vs-unlabeled MLP discriminator, in mini-queries (Gissin 2019)"
    requires: ClassVar[Requirements] = (("embeddings",),)
    stochastic: ClassVar[bool] = True
    n_sub: int = 20
    sub_ratio: int = 10
    hidden: int | None = None
    lr: float | None = None
    max_epochs: int | None = None
    batch_size: int | None = None
    accuracy_stop: float = 0.98

    def __post_init__(self) -> None:
        check_positive_int(self.n_sub, "n_sub")
        check_positive_int(self.sub_ratio, "sub_ratio")
        for name in ("hidden", "max_epochs", "batch_size"):
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name)
        if self.lr is not None:
            check_number(self.lr, "lr", 0.0, low_inclusive=False)
        check_number(self.accuracy_stop, "accuracy_stop", 0.0)

    def select(self, pool: Pool, budget: int, ctx: Context) -> Selection:
        x = pool.full("embeddings")
        settings = training_settings(
            x.shape[1], self.hidden, self.lr, self.max_epochs, self.batch_size, self.accuracy_stop
        )
        progress = _progress(self.name, budget, ctx.unlabeled(0, x.shape[0]), ctx)
        indices, scores, info = discriminative_select(
            x, ctx.labeled, budget, self.n_sub, self.sub_ratio, settings, ctx.rng, progress
        )
        return Selection(indices, scores, self.name, info)

"""BatchBALD: greedy maximisation of the joint mutual information of a batch (ALGORITHMS.md §3.2).

Notation: ``p (N, K, C)`` holds K consistent MC samples per item. For a set A of chosen items,
a configuration m of their labels has probability ``P[m, k] = prod_i p^k_i(y_i)`` under model k
and ``q_m = mean_k P[m, k]`` under the mixture. Adding candidate n, the joint entropy splits as

    H(y_A, y_n) = sum_m pi_m * ( -log q_m + H(r_m,n) ),   r_m,n = sum_k w[m, k] p^k_n,

with ``w[m] = P[m] / sum_k P[m, k]`` the posterior over models given configuration m. With the
exact table of all C^|A| configurations ``pi = q``; with M configurations sampled from the
mixture ``pi = 1/M`` (this is the importance-weighted estimator of the reference code,
rearranged so that no tiny q_m is ever divided by). The gain of n is

    g(n | A) = I(y_n; w | y_A) = sum_m pi_m H(r_m,n) - (1/K) sum_k H(p^k_n),

and one evaluation costs an (M x K) @ (K x C) product and M C logarithms per candidate.

Three things keep the greedy loop cheap:

* **Bounded (lazy) greedy.** A candidate is evaluated only if no upper bound of its gain
  rules it out. Two bounds: (1) ``I(y_n; w | y_A)`` can only decrease as A grows (the labels are
  independent given the model, so the batch MI is submodular), so in the exact regime a
  candidate's last computed gain bounds its current one; (2) every step, entropy's concavity
  bounds ``sum_m pi_m H(r_m,n)`` by the same sum over groups of configurations with alike
  posteriors (``_group_bounds``), at a cost of groups instead of configurations. (2) holds for
  the sampled estimator too, exactly, since it is a statement about the sampled table itself; (1)
  does not (each step's sample differs), so sampled steps use only (2). Exact regime: a
  candidate is skipped only if a bound is below the best fresh gain by ``LAZY_TOLERANCE``
  (float32 rounding), so the picks are those of evaluating every candidate. Sampled regime: a
  candidate is skipped once its bound is within ``SAMPLED_TOLERANCE`` (1e-4 nats) of the best
  fresh gain, below the estimator's own sampling error.
* **Reused products.** The exact table grows by one outer product per chosen item. Sampled
  configurations are drawn once (M // K from each model) and then extended: each keeps the
  model it was drawn from and draws the new item's label from it, so its ``P[m, :]`` is
  updated, not recomputed, and the estimates of successive steps share their randomness.
* **Merged configurations.** Identical sampled configurations are evaluated once with their
  count as weight (exact; it saves most of the work on peaked models).

The candidate evaluations are a kernel: numpy (default; float32 blocks sized for cache, BLAS
held to one thread and the blocks spread over the cores when ``threadpoolctl`` is installed,
small single-threaded blocks otherwise) or torch (``backend="torch"``; the GPU when there is
one), imported from ``activecv.adapters.torch`` only when asked for.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Protocol

import numpy as np
from scipy.special import logsumexp, softmax

from activecv._errors import InputError, InputTypeError, missing_extra
from activecv._progress import Progress
from activecv._validation import EPS, RngLike, as_rng, check_budget, check_positive_int
from activecv.strategies._bayesian import _expected_entropy, check_mc_probs
from activecv.types import Selection

BLOCK_ELEMENTS = 2**17
"""Elements of one (candidate classes x configurations) float32 block: 512 KB, cache-sized."""
SMALL_BLOCK_ELEMENTS = 2**13
"""Block size when BLAS threads cannot be limited: small enough that OpenBLAS stays on one
thread (its threshold is m n k <= 262,144), since its spinning threads collapse on a busy
machine (40x slower measured at load average 6 on 2 cores)."""
ROWS = 1024
"""Configurations per float32 partial sum (then summed in float64): keeps its error near 1e-7."""
LAZY_TOLERANCE = 1e-5
"""Exact tables: a candidate is skipped only if its bound is below the best fresh gain by this
much (nats, about ten times the float32 error of a gain), so that the picks are those of
evaluating every candidate."""
SAMPLED_TOLERANCE = 1e-4
"""Sampled tables: a candidate is skipped once its bound is at most this much (nats) above the
best fresh gain. The pick's estimated gain is then within 1e-4 of the largest; below that the
estimates differ by less than their sampling error, and once the model is pinned down all gains
are ~0 and evaluating every candidate would only rank rounding noise."""
FIRST_CHUNK = 64
"""Candidates evaluated first in a lazy step; the chunk doubles until the bound test passes."""
BACKENDS = ("numpy", "torch", "auto")


class JointEntropyKernel(Protocol):
    """``sum_m pi_m H(sum_k weights[m, k] p^k_n)`` for each candidate n."""

    @property
    def name(self) -> str:
        """Recorded in a selection's ``info["backend"]``."""

    def __call__(self, weights: np.ndarray, pi: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """``weights (M, K)`` float32 rows summing to 1, ``pi (M,)`` float64, ``candidates``
        int64 positions; returns float64 ``(len(candidates),)``."""


@contextmanager
def _blas_on_one_thread() -> Iterator[bool]:
    """Hold BLAS to one thread if ``threadpoolctl`` is installed; yields whether it is."""
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:
        yield False
        return
    with threadpool_limits(1, user_api="blas"):
        yield True


class NumpyJointEntropies:
    """The numpy kernel: float32 blocks, sums in float64.

    Use it as a context manager: inside, BLAS is held to one thread (with ``threadpoolctl``)
    and large evaluations are split over ``workers`` threads (numpy releases the GIL).
    """

    name = "numpy"

    def __init__(self, p: np.ndarray, workers: int | None = None) -> None:
        # (N, C, K): a candidate's rows are contiguous; clipped so that every r > 0
        self._qt = np.ascontiguousarray(np.maximum(p, EPS).astype(np.float32).transpose(0, 2, 1))
        self._workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        self._block = SMALL_BLOCK_ELEMENTS
        self._pool: ThreadPoolExecutor | None = None

    @contextmanager
    def running(self) -> Iterator[NumpyJointEntropies]:
        with _blas_on_one_thread() as limited:
            self._block = BLOCK_ELEMENTS if limited else SMALL_BLOCK_ELEMENTS
            workers = self._workers if limited else 1
            with ThreadPoolExecutor(workers) as pool:
                self._pool = pool if workers > 1 else None
                try:
                    yield self
                finally:
                    self._pool = None

    def __call__(self, weights: np.ndarray, pi: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        wt = np.ascontiguousarray(weights.T, dtype=np.float32)  # (K, M)
        pi32 = pi.astype(np.float32)
        m, c = wt.shape[1], self._qt.shape[1]
        if self._pool is None or candidates.shape[0] * m * c < 4 * BLOCK_ELEMENTS:
            return self._entropies(wt, pi32, candidates)
        parts = np.array_split(candidates, self._workers)
        return np.concatenate(list(self._pool.map(lambda part: self._entropies(wt, pi32, part), parts)))

    def _entropies(self, wt: np.ndarray, pi32: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        k, m = wt.shape
        c = self._qt.shape[1]
        rows = min(m, ROWS, max(1, self._block // c))
        step = max(1, self._block // (rows * c))  # candidates per block
        r_buf = np.empty(step * c * rows, dtype=np.float32)
        h_buf = np.empty_like(r_buf)
        acc = np.empty(step * c, dtype=np.float32)
        out = np.zeros(candidates.shape[0] * c)
        for start in range(0, candidates.shape[0], step):
            q = self._qt[candidates[start : start + step]].reshape(-1, k)  # (items * C, K)
            width = q.shape[0]
            for r0 in range(0, m, rows):
                r1 = min(m, r0 + rows)
                r = r_buf[: width * (r1 - r0)].reshape(width, r1 - r0)
                h = h_buf[: r.size].reshape(r.shape)
                np.matmul(q, wt[:, r0:r1], out=r)  # predictive of the candidates given configs
                np.log(r, out=h)
                h *= r
                np.matmul(h, pi32[r0:r1], out=acc[:width])
                out[start * c : start * c + width] -= acc[:width]
        return out.reshape(-1, c).sum(axis=1)


class _Configurations:
    """Label configurations of the chosen items: their ``log P (M, K)`` and weights ``pi``.

    Exact (all C^|A| rows, ``pi = q``) while C^|A| <= ``num_samples``, then ``K * max(1,
    num_samples // K)`` configurations sampled from the mixture, each from a fixed model, and
    extended by one label per chosen item.
    """

    def __init__(self, log_p: np.ndarray, num_samples: int, rng: np.random.Generator) -> None:
        self._log_p = log_p
        self._num_samples = num_samples
        self._rng = rng
        self._chosen: list[int] = []
        self._table = np.zeros((1, log_p.shape[1]))  # log P, one row per (sample) configuration
        self._labels: np.ndarray | None = None  # (M, |A|) labels once sampled
        self._models = np.empty(0, dtype=np.int64)  # (M,) the model each sample was drawn from

    @property
    def sampled(self) -> bool:
        return self._labels is not None

    def add(self, item: int) -> None:
        c = self._log_p.shape[2]
        self._chosen.append(item)
        if self._labels is None and c ** len(self._chosen) <= self._num_samples:
            k = self._table.shape[1]
            self._table = (self._table[:, None, :] + self._log_p[item].T[None, :, :]).reshape(-1, k)
        elif self._labels is None:
            self._draw()
        else:
            label = self._draw_labels(item)
            self._labels = np.column_stack([self._labels, label])
            self._table += self._log_p[item][:, label].T

    def _draw_labels(self, item: int) -> np.ndarray:
        """One label of ``item`` per sample, from the sample's own model (inverse CDF)."""
        cdf = np.cumsum(np.exp(self._log_p[item]), axis=1)[self._models]  # (M, C)
        u = self._rng.random((self._models.shape[0], 1))
        return np.minimum((u > cdf).sum(axis=1), cdf.shape[1] - 1)

    def _draw(self) -> None:
        k = self._log_p.shape[1]
        self._models = np.repeat(np.arange(k), max(1, self._num_samples // k))
        self._labels = np.column_stack([self._draw_labels(i) for i in self._chosen])
        self._table = np.zeros((self._models.shape[0], k))
        for column, i in enumerate(self._chosen):
            self._table += self._log_p[i][:, self._labels[:, column]].T

    def summary(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Posterior weights (M', K) float32, pi (M',) and H(y_A) (merged rows when sampled)."""
        table, counts = self._table, None
        if self._labels is not None:
            first, counts = _merge_duplicates(self._labels)
            table = table[first]
        log_q = logsumexp(table, axis=1) - np.log(table.shape[1])  # log-probability under the mixture
        pi = np.exp(log_q) if counts is None else counts / counts.sum()
        weights = softmax(table, axis=1).astype(np.float32)
        return weights, pi, float(-(pi * log_q).sum())


def _merge_duplicates(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One position per distinct row of ``labels`` (M, t) and each row's count.

    Rows are sorted by a 64-bit hash and equal neighbours merged: exact whatever the hash
    does, since a collision can only leave two equal rows unmerged (same estimate, less saving).
    """
    multipliers = np.random.default_rng(0).integers(1, 2**63, size=labels.shape[1], dtype=np.uint64)
    keys = (labels.astype(np.uint64) * multipliers).sum(axis=1)  # wraps modulo 2^64
    order = np.argsort(keys, kind="stable")
    rows = labels[order]
    starts = np.flatnonzero(np.r_[True, (rows[1:] != rows[:-1]).any(axis=1)])
    return order[starts], np.diff(np.r_[starts, rows.shape[0]])


def _group_bounds(weights: np.ndarray, pi: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Configurations pooled into groups of similar posteriors, coarse to fine: (w_g, pi_g).

    Entropy is concave, so for any grouping ``sum_m pi_m H(r_m) <= sum_g pi_g H(r_g)`` with
    ``pi_g`` the group's weight and ``r_g`` its ``pi``-weighted mean predictive, which is the
    predictive of the mean posterior ``w_g``: the kernel on ``(w_g, pi_g)`` bounds every
    candidate's gain from above, exactly (up to rounding), for exact and sampled tables alike.
    Groups: the most probable model; then the two most probable and how sure the posterior is.
    The bound is tight when a group's posteriors are alike, as they become once a few labels
    have pinned the model down.
    """
    m, k = weights.shape
    ranks = np.argsort(weights, axis=1)
    top = weights[np.arange(m), ranks[:, -1]].astype(np.float64)
    doubt = -np.log2(np.maximum(1.0 - top, 2.0**-32))  # how sure: 0 (unsure) to 32 bits
    fine = np.minimum(np.floor(doubt * 2), 63).astype(np.int64)
    coarse = fine // 4
    first, second = ranks[:, -1], ranks[:, -2]
    pair = first * k + second
    for key in (first * 16 + coarse, first * 64 + fine, pair * 16 + coarse, pair * 64 + fine):
        order = np.argsort(key, kind="stable")
        starts = np.flatnonzero(np.r_[True, key[order][1:] != key[order][:-1]])
        if starts.shape[0] * 2 > m:
            return  # hardly fewer groups than configurations: no cheaper than the exact gains
        pi_g = np.add.reduceat(pi[order], starts)
        w_g = np.add.reduceat(pi[order, None] * weights[order], starts, axis=0) / pi_g[:, None]
        yield w_g.astype(np.float32), pi_g


def _best_candidate(
    kernel: JointEntropyKernel,
    weights: np.ndarray,
    pi: np.ndarray,
    cond: np.ndarray,
    bound: np.ndarray,
    order: np.ndarray,
    slack: float,
) -> tuple[int, float, int]:
    """The candidate of largest gain (ties: lowest position), its gain and how many were evaluated.

    ``bound`` holds upper bounds of the gains (or +inf) and is updated in place: group bounds
    first, the fresh gain of every candidate evaluated. A candidate is evaluated while its bound
    exceeds the best fresh gain plus ``slack`` (``-LAZY_TOLERANCE``: exact argmax;
    ``SAMPLED_TOLERANCE``: a gain within that of the largest).
    ``order``: the candidates, most promising first.
    """
    head, rest = order[:FIRST_CHUNK], order[FIRST_CHUNK:]
    bound[head] = kernel(weights, pi, head) - cond[head]
    best_gain = float(bound[head].max())
    evaluated = [head]
    for w_g, pi_g in _group_bounds(weights, pi):
        rest = rest[bound[rest] > best_gain + slack]
        if rest.shape[0] == 0:
            break
        bound[rest] = np.minimum(bound[rest], kernel(w_g, pi_g, rest) - cond[rest])
    rest = rest[bound[rest] > best_gain + slack]
    rest = rest[np.argsort(-bound[rest], kind="stable")]
    done, size = 0, FIRST_CHUNK
    while done < rest.shape[0] and bound[rest[done]] > best_gain + slack:
        chunk = rest[done : done + size]
        bound[chunk] = kernel(weights, pi, chunk) - cond[chunk]
        best_gain = max(best_gain, float(bound[chunk].max()))
        evaluated.append(chunk)
        done += chunk.shape[0]
        size *= 2
    tried = np.sort(np.concatenate(evaluated))
    best = int(tried[np.argmax(bound[tried])])  # first maximum: the lowest position
    return best, float(bound[best]), tried.shape[0]


def greedy_batchbald(
    p: np.ndarray,
    budget: int,
    available: np.ndarray,
    num_samples: int,
    rng: np.random.Generator,
    progress: Progress | None = None,
    kernel: JointEntropyKernel | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy BatchBALD on validated float64 ``p (N, K, C)``.

    Returns the chosen positions in order and the batch mutual information after each choice.
    Only positions with ``available`` True are chosen; ties go to the lower position.
    Candidates are evaluated by ``kernel`` (numpy float32 by default, about 1e-6 relative error).
    """
    if kernel is None:
        numpy_kernel = NumpyJointEntropies(p)
        with numpy_kernel.running():
            return _greedy(p, budget, available, num_samples, rng, progress, numpy_kernel)
    return _greedy(p, budget, available, num_samples, rng, progress, kernel)


def _greedy(
    p: np.ndarray,
    budget: int,
    available: np.ndarray,
    num_samples: int,
    rng: np.random.Generator,
    progress: Progress | None,
    kernel: JointEntropyKernel,
) -> tuple[np.ndarray, np.ndarray]:
    cond = _expected_entropy(p)
    configurations = _Configurations(np.log(np.clip(p, EPS, 1.0)), num_samples, rng)
    last_gain = np.full(p.shape[0], np.inf)  # the latest computed gain or bound of each item
    candidates = np.flatnonzero(available)
    chosen: list[int] = []
    batch_mi: list[float] = []
    for step in range(min(budget, candidates.shape[0])):
        weights, pi, h_a = configurations.summary()
        # exact tables: gains only decrease as the batch grows (submodular), so the last ones
        # bound these; sampled ones: a new estimator each step, whose own group bounds are used
        bound = np.full(p.shape[0], np.inf) if configurations.sampled else last_gain
        slack = SAMPLED_TOLERANCE if configurations.sampled else -LAZY_TOLERANCE
        order = candidates[np.argsort(-last_gain[candidates], kind="stable")]  # most promising first
        best, gain, _ = _best_candidate(kernel, weights, pi, cond, bound, order, slack)
        last_gain = bound
        chosen.append(best)
        batch_mi.append(h_a - float(cond[chosen[:-1]].sum()) + gain)
        candidates = candidates[candidates != best]
        configurations.add(best)
        if progress is not None:
            progress.update(step + 1)
    return np.asarray(chosen, dtype=np.int64), np.asarray(batch_mi)


def check_batchbald_backend(value: object) -> None:
    """Raise unless ``value`` names a BatchBALD backend."""
    if not isinstance(value, str):
        raise InputTypeError(
            f"backend must be a string, one of {', '.join(map(repr, BACKENDS))}; got {type(value).__name__}."
        )
    if value not in BACKENDS:
        raise InputError(
            f"backend must be one of {', '.join(map(repr, BACKENDS))}; got {value!r}. "
            "'torch' needs pip install 'activecv[torch]'; 'auto' takes torch when a CUDA device is there."
        )


def resolve_batchbald_kernel(backend: str, p: np.ndarray) -> JointEntropyKernel | None:
    """The kernel ``backend`` names for ``p``; None for numpy. torch is imported only now.

    ``"auto"`` takes torch when it is installed and sees a CUDA device, else numpy (on a CPU,
    numpy's float32 logarithm and OpenBLAS beat torch's here: 1 vs 6 ns per element).
    """
    check_batchbald_backend(backend)
    if backend == "numpy":
        return None
    try:
        adapters = importlib.import_module("activecv.adapters.torch")
    except ImportError:
        if backend == "auto":
            return None
        raise missing_extra("torch", "torch") from None
    if backend == "auto" and not importlib.import_module("torch").cuda.is_available():
        return None
    factory: Callable[[np.ndarray], JointEntropyKernel] = adapters.batchbald_kernel
    return factory(p)


def batchbald(
    mc_probs: object, budget: int, num_samples: int = 10_000, rng: RngLike = None, backend: str = "numpy"
) -> Selection:
    """Choose a batch greedily by BatchBALD's joint mutual information.

    Joint entropies are exact while the chosen set has at most ``num_samples``
    label configurations (C^|A|), then estimated from ``num_samples`` configurations
    sampled from the K-model mixture.

    Parameters
    ----------
    mc_probs : array, shape (N, K, C)
        Predictions of K *consistent* sampled models (the same K dropout masks for every item).
    budget : int
    num_samples : int
        Configurations M of the sampled estimator (reference: 10,000).
    rng : int, Generator or None
        Draws the sampled configurations.
    backend : {"numpy", "torch", "auto"}
        Who evaluates the candidates: numpy (default), torch (float32, on the GPU when there is
        one; needs ``activecv[torch]``) or ``"auto"`` (torch when it sees a CUDA device).

    Returns
    -------
    Selection
        ``scores[t]`` is the mutual information of the first t+1 chosen items jointly.

    Examples
    --------
    >>> a, b = [0.999, 0.001], [0.001, 0.999]
    >>> m = np.array([[a, a, b, b], [a, a, b, b], [a, b, a, b]])
    >>> batchbald(m, 2).indices.tolist()
    [0, 2]

    References
    ----------
    Kirsch, van Amersfoort, Gal. BatchBALD: Efficient and Diverse Batch Acquisition for Deep
    Bayesian Active Learning. NeurIPS 2019.
    """
    p = np.asarray(check_mc_probs(mc_probs), dtype=np.float64)
    budget = check_budget(budget)
    num_samples = check_positive_int(num_samples, "num_samples")
    kernel = resolve_batchbald_kernel(backend, p)
    available = np.ones(p.shape[0], dtype=bool)
    indices, scores = greedy_batchbald(p, budget, available, num_samples, as_rng(rng), kernel=kernel)
    info = {} if kernel is None else {"backend": kernel.name}
    return Selection(indices, scores, "batchbald", info)

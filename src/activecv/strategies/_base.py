"""Strategy base classes and the registry of canonical names.

A strategy is a frozen dataclass holding configuration only. Score-based strategies give
each item a score from its own row and are selected by a streaming top-k; batch strategies
(BatchBALD, core-set, BADGE, ...) look at the whole pool at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np

from activecv._errors import InputError, InputTypeError, UnknownStrategyError
from activecv._progress import Progress
from activecv.strategies._pool import ALIASES, SHARED, SPECS, Pool
from activecv.strategies._ranking import RunningTopK, Screen, screen_scores, screened_candidates
from activecv.types import Selection

Requirements = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Context:
    """What a selection needs besides the inputs."""

    labeled: np.ndarray  # sorted unique positions of labeled items
    rng: np.random.Generator
    rng_given: bool  # ties (and cold starts) are broken by the rng instead of by position
    progress: bool
    scores_seen: list[tuple[np.ndarray, np.ndarray]] | None = None  # (positions, scores) per chunk

    def unlabeled(self, offset: int, rows: int) -> np.ndarray:
        """Boolean mask of the rows [offset, offset + rows) that are not labeled."""
        mask = np.ones(rows, dtype=bool)
        lo, hi = np.searchsorted(self.labeled, [offset, offset + rows])
        mask[self.labeled[lo:hi] - offset] = False
        return mask


def format_requirements(requirements: Requirements) -> str:
    """Human-readable inputs: ``probs (or logits)``, alternatives joined by ``or``."""
    aliases: dict[str, list[str]] = {}
    for alias, canonical in ALIASES.items():
        aliases.setdefault(canonical, []).append(alias)

    def one(name: str) -> str:
        return f"{name} (or {', '.join(aliases[name])})" if name in aliases else name

    groups = [" + ".join(one(n) for n in group) or "nothing (pool size only)" for group in requirements]
    return " | ".join(groups)


@dataclass(frozen=True)
class Strategy:
    """Base class: configuration only; ``select`` does the work."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    requires: ClassVar[Requirements] = ((),)
    stochastic: ClassVar[bool] = False  # uses randomness beyond tie-breaking

    def requirements(self) -> Requirements:
        """Alternative sets of canonical inputs, any one of which suffices."""
        return self.requires

    def inputs_needed(self, pool: Pool) -> tuple[str, ...]:
        """The first satisfied set of required inputs, or a clear error."""
        for group in self.requirements():
            if set(group) <= pool.names:
                return group
        given = ", ".join(sorted(pool.given_name(n) for n in pool.names)) or "none"
        raise InputError(
            f"strategy {self.name!r} requires {format_requirements(self.requirements())}; got {given}."
        )

    def inputs_among(self, names: Sequence[str], where: str) -> list[str]:
        """The names among ``names`` (as a user passes them: ``logits`` stands for ``probs``)
        that satisfy the first satisfiable set of required inputs; ``where`` names the holder
        in the error, e.g. ``"'preds.npz' holds"``."""
        present = {ALIASES.get(n, n): n for n in names if n in SPECS or n in SHARED}
        for group in self.requirements():
            if set(group) <= set(present):
                return [present[canonical] for canonical in group]
        raise InputError(
            f"strategy {self.name!r} requires {format_requirements(self.requirements())}; "
            f"{where} {', '.join(names) or 'nothing'}."
        )

    def select(self, pool: Pool, budget: int, ctx: Context) -> Selection:
        raise NotImplementedError


@dataclass(frozen=True)
class ScoreStrategy(Strategy):
    """A strategy that scores each item from its own row: streams in O(chunk + budget)."""

    def score_chunk(self, chunk: dict[str, np.ndarray], rows: int, rng: np.random.Generator) -> np.ndarray:
        """Scores (rows,) of one chunk of validated float64 inputs; higher = label first."""
        raise NotImplementedError

    def constants(self, pool: Pool) -> dict[str, np.ndarray]:
        """Inputs about the whole pool each chunk's scores need too (none by default)."""
        return {}

    def keys(self, scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Ranking keys of one chunk; the scores themselves unless the strategy samples."""
        return scores

    def scores(self, pool: Pool, rng: np.random.Generator) -> np.ndarray:
        """Scores of the whole pool, shape (N,)."""
        names, constants = self.inputs_needed(pool), self.constants(pool)
        parts = [
            self.score_chunk({**chunk, **constants}, rows, rng) for _, rows, chunk in pool.iter_chunks(names)
        ]
        return np.concatenate(parts) if parts else np.empty(0)

    def screen(self) -> Screen | None:
        """Approximate scores in the input's own precision with an error bound, for the
        screened top-k (see ``_ranking.screen_scores``); None where the strategy has none."""
        return None

    def select(self, pool: Pool, budget: int, ctx: Context) -> Selection:
        names, constants = self.inputs_needed(pool), self.constants(pool)
        screen = self.screen()
        screenable = len(names) == 1 and pool.given_name(names[0]) == names[0] and not constants
        if screen is not None and ctx.scores_seen is None and not self.stochastic and screenable:
            return self._select_screened(pool, budget, ctx, names[0], screen)
        random_ties = ctx.rng_given and not self.stochastic
        ranking = RunningTopK(budget, with_tie_keys=random_ties)
        progress = Progress(f"{self.name} scoring", pool.n_items, ctx.progress)
        for offset, rows, chunk in pool.iter_chunks(names):
            scores = self.score_chunk({**chunk, **constants}, rows, ctx.rng)
            keys = self.keys(scores, ctx.rng)
            ties = ctx.rng.random(rows) if random_ties else None
            keep = ctx.unlabeled(offset, rows)
            positions = np.arange(offset, offset + rows, dtype=np.int64)
            ranking.push(keys[keep], scores[keep], positions[keep], None if ties is None else ties[keep])
            if ctx.scores_seen is not None:
                ctx.scores_seen.append((positions[keep], scores[keep]))
            progress.update(offset + rows)
        return Selection(ranking.positions, ranking.scores, self.name)

    def _select_screened(self, pool: Pool, budget: int, ctx: Context, name: str, screen: Screen) -> Selection:
        """The same selection as the float64 path, from approximate scores in the input's float
        precision computed on every core; only the candidates the error bound cannot rule out
        are scored exactly (float64) and ranked. Random tie keys are drawn per row as there."""
        check = SPECS[name].check
        assert check is not None  # probs and mc_probs are checked as simplices
        ranking = RunningTopK(budget, with_tie_keys=ctx.rng_given)
        progress = Progress(f"{self.name} scoring", pool.n_items, ctx.progress)
        for offset, rows, chunk in pool.iter_chunks((name,), convert=False, step=_screen_rows(pool, name)):
            raw = np.asarray(chunk[name])
            if raw.dtype not in (np.float32, np.float64):
                raw = raw.astype(np.float64)
            approx, delta = screen_scores(
                raw,
                screen,
                lambda block, start: check(block, name, offset + start),  # noqa: B023
            )
            ties = ctx.rng.random(rows) if ctx.rng_given else None
            keep = ctx.unlabeled(offset, rows)
            cand = screened_candidates(approx, delta, budget, ranking.floor(), keep)
            exact = self.score_chunk({name: np.asarray(raw[cand], dtype=np.float64)}, cand.shape[0], ctx.rng)
            ranking.push(exact, exact, cand + offset, None if ties is None else ties[cand])
            progress.update(offset + rows)
        return Selection(ranking.positions, ranking.scores, self.name)


SCREEN_CHUNK_ELEMENTS = 2**24
"""Elements of one array chunk of the screened top-k (a view; its blocks go to the threads)."""


def _screen_rows(pool: Pool, name: str) -> int:
    shape = pool.row_shape(name)
    return max(1, SCREEN_CHUNK_ELEMENTS // max(1, int(np.prod(shape, dtype=np.int64))))


@dataclass(frozen=True)
class BatchStrategy(Strategy):
    """A strategy whose choices depend on each other (diversity, joint information)."""


_REGISTRY: dict[str, type[Strategy]] = {}
S = TypeVar("S", bound=type[Strategy])


def register(cls: S) -> S:
    """Class decorator: make a strategy available under its canonical ``name``."""
    if not cls.name or cls.name in _REGISTRY:
        raise RuntimeError(f"strategy name {cls.name!r} is empty or already registered")
    _REGISTRY[cls.name] = cls
    return cls


def list_strategies() -> list[str]:
    """Canonical names of every registered strategy, sorted.

    Examples
    --------
    >>> "entropy" in list_strategies()
    True
    """
    return sorted(_REGISTRY)


def get_strategy(name: str, **params: Any) -> Strategy:
    """The strategy registered as ``name``, configured with ``params``.

    Examples
    --------
    >>> get_strategy("power_bald", beta=2.0).beta
    2.0
    """
    if not isinstance(name, str):
        raise InputTypeError(f"strategy name must be a str; got {type(name).__name__}.")
    cls = _REGISTRY.get(name)
    if cls is None:
        raise UnknownStrategyError(f"unknown strategy {name!r}; valid names: {', '.join(list_strategies())}.")
    fields = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(set(params) - set(fields))
    if unknown:
        valid = ", ".join(fields) or "none"
        raise InputTypeError(f"strategy {name!r} has no parameter {', '.join(unknown)}; valid: {valid}.")
    return cls(**params)


def resolve_strategy(strategy: str | Strategy) -> Strategy:
    """A Strategy from a name or an instance."""
    if isinstance(strategy, Strategy):
        return strategy
    return get_strategy(strategy)


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> None:
    """Raise unless ``value`` is one of ``choices`` (strategy parameter validation)."""
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}.")


def check_number(value: Any, name: str, low: float, low_inclusive: bool = True) -> None:
    """Raise unless ``value`` is a finite real number >= low (or > low)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
    if ok:
        ok = value >= low if low_inclusive else value > low
    if not ok:
        bound = f">= {low}" if low_inclusive else f"> {low}"
        raise InputError(f"{name} must be a finite number {bound}; got {value!r}.")

"""The inputs of one selection: validated per-item arrays, or streams of row chunks.

Users pass inputs by keyword under the names of ALGORITHMS.md §0.1. Two names are aliases
converted chunk by chunk: ``logits`` (with a temperature) stands in for ``probs``, and
``mc_log_probs`` for ``mc_probs``. An input is either array-like (ndarray, memmap, list) or an
iterator of row chunks; a pool with a stream is never materialised by score-based strategies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from activecv._chunks import chunk_rows
from activecv._errors import EmptyPoolError, InputError, InputTypeError
from activecv._validation import (
    as_array,
    check_finite,
    check_log_simplex,
    check_pixel_simplex,
    check_simplex,
    describe,
)
from activecv.strategies._uncertainty import _softmax, check_temperature

SEG_SHAPE = "(N, C, H, W) with C >= 2"
SEG_MC_SHAPE = "(N, K, C, H, W) with C >= 2"
SPATIAL = ("maps", "mask")  # per-image maps: an iterator may yield one image at a time, of any H, W


@dataclass(frozen=True)
class InputSpec:
    """What one named input must be, and how a chunk of it becomes the canonical array."""

    name: str
    canonical: str
    shape: str
    ndim: int
    min_trailing: tuple[int, ...]  # minimum size of each axis after the first
    check: Callable[[np.ndarray, str, int], None] | None
    kind: str = "float"


SPECS: dict[str, InputSpec] = {
    spec.name: spec
    for spec in (
        InputSpec("probs", "probs", "(N, C) with C >= 2", 2, (2,), check_simplex),
        InputSpec("logits", "probs", "(N, C) with C >= 2", 2, (2,), check_finite),
        InputSpec("mc_probs", "mc_probs", "(N, K, C) with C >= 2", 3, (1, 2), check_simplex),
        InputSpec("mc_log_probs", "mc_probs", "(N, K, C) with C >= 2", 3, (1, 2), check_log_simplex),
        InputSpec("embeddings", "embeddings", "(N, D)", 2, (1,), check_finite),
        InputSpec("gradient_embeddings", "gradient_embeddings", "(N, G)", 2, (1,), check_finite),
        InputSpec("cluster_ids", "cluster_ids", "(N,)", 1, (), None, kind="int"),
        InputSpec("predicted_loss", "predicted_loss", "(N,)", 1, (), check_finite),
        InputSpec("instance_uncertainty", "instance_uncertainty", "(N,)", 1, (), check_finite),
        InputSpec("detections", "detections", "a sequence of N Detections", 1, (), None, kind="objects"),
        # maps are checked in _convert, after the cast to float32 (see there)
        InputSpec("seg_probs", "seg_probs", SEG_SHAPE, 4, (2, 1, 1), None, kind="maps"),
        InputSpec("seg_logits", "seg_probs", SEG_SHAPE, 4, (2, 1, 1), None, kind="maps"),
        InputSpec("seg_mc_probs", "seg_mc_probs", SEG_MC_SHAPE, 5, (1, 2, 1, 1), None, kind="maps"),
        InputSpec("ignore_mask", "ignore_mask", "(N, H, W) bool", 3, (1, 1), None, kind="mask"),
    )
}
SHARED = ("labeled_class_counts",)  # inputs about the pool as a whole, not one row per item
DETECTION_CHUNK = 1024
ALIASES = {spec.name: spec.canonical for spec in SPECS.values() if spec.name != spec.canonical}


def _is_stream(value: Any) -> bool:
    """An iterator of chunks (generator, iterator): not an array-like."""
    return isinstance(value, Iterator) or (
        isinstance(value, Iterable) and not isinstance(value, (np.ndarray, Sequence))
    )


@dataclass
class _Source:
    spec: InputSpec
    value: Any  # ndarray, or an iterator of chunks

    @property
    def is_stream(self) -> bool:
        return not isinstance(self.value, np.ndarray)


class Pool:
    """Validated inputs of one selection, all describing the same N items.

    Parameters
    ----------
    given : dict
        Inputs by their user-facing names; None values are ignored.
    temperature : float, optional
        Softmax temperature for ``logits``; only valid together with ``logits``.
    """

    def __init__(
        self, given: dict[str, Any], temperature: float | None = None, shared: dict[str, Any] | None = None
    ) -> None:
        self._sources: dict[str, _Source] = {}
        self._shared = {k: _check_class_counts(v) for k, v in (shared or {}).items() if v is not None}
        for name, value in given.items():
            if value is None:
                continue
            spec = SPECS[name]
            if spec.canonical in self._sources:
                other = self._sources[spec.canonical].spec.name
                raise InputError(f"pass either {other} or {name}, not both; they describe the same thing.")
            if spec.kind == "objects":
                value = _detection_chunks(value) if _is_stream(value) else _as_detections(value, 0)
            elif not _is_stream(value):
                value = _as_input_array(spec, value)
            self._sources[spec.canonical] = _Source(spec, value)
        if temperature is not None:
            if not any(s.spec.name in ("logits", "seg_logits") for s in self._sources.values()):
                raise InputError("temperature applies to logits only; pass logits= or drop temperature.")
            check_temperature(temperature)
        self.temperature = 1.0 if temperature is None else float(temperature)
        lengths = {s.spec.name: s.value.shape[0] for s in self._sources.values() if not s.is_stream}
        if len(set(lengths.values())) > 1:
            described = ", ".join(f"{k} has {v}" for k, v in lengths.items())
            raise InputError(f"every input must have one row per pool item; got {described}.")
        self.n_items: int | None = next(iter(lengths.values()), None)
        if any(s.is_stream for s in self._sources.values()):
            self.n_items = None

    @property
    def names(self) -> frozenset[str]:
        """Canonical names of the inputs present (shared ones included)."""
        return frozenset(self._sources) | frozenset(self._shared)

    def shared(self, name: str) -> np.ndarray:
        """A whole-pool input such as ``labeled_class_counts``."""
        return self._shared[name]

    def row_shape(self, canonical: str) -> tuple[int, ...]:
        """The shape of one item of an array input (``()`` for a stream: unknown yet)."""
        source = self._sources[canonical]
        return tuple(source.value.shape[1:]) if not source.is_stream else ()

    def given_name(self, canonical: str) -> str:
        """The name the user passed for a canonical input (``logits`` for ``probs``...)."""
        return self._sources[canonical].spec.name if canonical in self._sources else canonical

    def _convert(self, source: _Source, chunk: np.ndarray, offset: int) -> np.ndarray:
        spec = source.spec
        if spec.kind == "maps":
            return self._maps(spec, chunk, offset)
        if spec.check is not None:
            spec.check(chunk, spec.name, offset)
        if spec.kind == "int":
            return np.asarray(chunk, dtype=np.int64)
        if spec.kind == "objects":
            return chunk
        if spec.name == "logits":
            return _softmax(np.asarray(chunk, dtype=np.float64), self.temperature)

        if spec.kind == "mask":
            return np.asarray(chunk, dtype=bool)
        if spec.name == "mc_log_probs":
            return np.exp(np.asarray(chunk, dtype=np.float64))
        if spec.canonical in ("probs", "mc_probs"):
            return np.asarray(chunk, dtype=np.float64)
        return chunk if chunk.dtype.kind == "f" else chunk.astype(np.float64)

    def _maps(self, spec: InputSpec, chunk: np.ndarray, offset: int) -> np.ndarray:
        """Class maps in float32 (float64 stays), checked after the cast: numpy's float16
        arithmetic is slow, and per-pixel work needs no more than float32 (sums are float64)."""
        stored = np.asarray(chunk).dtype
        maps = np.asarray(chunk, dtype=np.float64 if stored == np.float64 else np.float32)
        if spec.name == "seg_logits":  # the class axis is 1
            check_finite(maps, spec.name, offset)
            return np.moveaxis(_softmax(np.moveaxis(maps, 1, -1), self.temperature), -1, 1)
        check_pixel_simplex(
            maps, spec.name, offset, axis=1 if spec.name == "seg_probs" else 2, precision=stored
        )
        return maps

    def full(self, canonical: str) -> np.ndarray:
        """The whole validated input as one array (streams are concatenated).

        An array that needs no conversion is validated and returned as it is, not copied.
        """
        source = self._sources[canonical]
        parts = [chunk[canonical] for _, _, chunk in self.iter_chunks((canonical,))]
        if not source.is_stream and all(np.may_share_memory(p, source.value) for p in parts):
            return source.value
        if not parts:
            raise EmptyPoolError(f"the pool is empty: {source.spec.name} yielded no rows.")
        return np.concatenate(parts) if len(parts) != 1 else parts[0]

    def iter_chunks(
        self, names: Sequence[str], convert: bool = True, step: int | None = None
    ) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
        """(offset, rows, {name: chunk}) over aligned row chunks of the named inputs.

        With no names (a strategy that needs only the pool size) chunks are empty dicts and
        the first input present sets the rows. Streams set the chunk sizes; arrays follow
        (``step`` rows per chunk when given). ``convert=False`` yields the chunks as stored,
        neither validated nor cast: the caller validates them (the screened top-k does).
        """
        if not names:
            if not self._sources:
                yield from self._iter_array_chunks({})
                return
            for offset, rows, _ in self.iter_chunks(tuple(self._sources)[:1]):
                yield offset, rows, {}
            return
        sources = {name: self._sources[name] for name in names}
        streams = {name: s for name, s in sources.items() if s.is_stream}
        if not streams:
            yield from self._iter_array_chunks(sources, convert, step)
            return
        iterators = {name: iter(s.value) for name, s in streams.items()}
        first_shape: dict[str, tuple[int, ...]] = {}
        offset = 0
        while True:
            raw: dict[str, np.ndarray] = {}
            for name, it in iterators.items():
                chunk = next(it, None)
                if chunk is not None:
                    raw[name] = self._stream_chunk(streams[name].spec, chunk, first_shape)
            if not raw:
                break
            if len(raw) != len(iterators) or len({c.shape[0] for c in raw.values()}) > 1:
                raise InputError(
                    "streamed inputs must yield chunks of equal length in step; got "
                    + ", ".join(f"{k}: {v.shape[0]} rows" for k, v in raw.items())
                    + f" at row {offset}."
                )
            rows = next(iter(raw.values())).shape[0]
            out = {}
            for name, source in sources.items():
                chunk = raw[name] if name in raw else source.value[offset : offset + rows]
                out[name] = self._convert(source, chunk, offset) if convert else chunk
            yield offset, rows, out
            offset += rows
        if self.n_items is not None and self.n_items != offset:  # another stream was read before
            raise InputError(
                f"every input must have one row per pool item; {', '.join(streams)} had {offset} rows, "
                f"another input {self.n_items}."
            )
        self.n_items = offset
        for source in self._sources.values():  # arrays not read in this pass too
            if not source.is_stream and source.value.shape[0] != offset:
                raise InputError(
                    f"every input must have one row per pool item; {source.spec.name} has "
                    f"{source.value.shape[0]} rows but the stream had {offset}."
                )

    def _iter_array_chunks(
        self, sources: dict[str, _Source], convert: bool = True, step: int | None = None
    ) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
        if self.n_items is None:
            raise InputError(
                "the pool size is unknown: pass at least one per-item input "
                "(probs=, embeddings=, ...) or a boolean labeled mask."
            )
        widest = max((s.value.shape[1:] for s in sources.values()), key=np.prod, default=())
        step = step or chunk_rows(widest)
        for start in range(0, self.n_items, step):
            rows = min(step, self.n_items - start)
            chunk = {
                name: self._convert(source, source.value[start : start + rows], start)
                if convert
                else source.value[start : start + rows]
                for name, source in sources.items()
            }
            yield start, rows, chunk

    @staticmethod
    def _stream_chunk(spec: InputSpec, chunk: Any, first: dict[str, tuple[int, ...]]) -> np.ndarray:
        if spec.kind == "objects":
            return np.asarray(chunk)  # already checked by _detection_chunks
        if spec.kind in SPATIAL and np.ndim(chunk) == spec.ndim - 1:
            chunk = np.asarray(chunk)[None]  # one image
        arr = as_array(chunk, f"{spec.name} chunk", spec.shape, spec.ndim, spec.kind)
        _check_trailing(spec, arr.shape)
        kept = arr.shape[1:-2] if spec.kind in SPATIAL else arr.shape[1:]  # images differ in H, W
        expected = first.setdefault(spec.name, kept)
        if kept != expected:
            raise InputError(
                f"every {spec.name} chunk must have trailing shape {expected}; got {describe(arr)}."
            )
        return arr

    def subset(self, positions: np.ndarray) -> Pool:
        """The pool restricted to ``positions`` (sorted), for candidate subsampling."""
        sub = Pool.__new__(Pool)
        sub._sources = {k: _Source(s.spec, s.value[positions]) for k, s in self._sources.items()}
        sub._shared = self._shared
        sub.temperature = self.temperature
        sub.n_items = int(positions.shape[0])
        return sub


def _as_input_array(spec: InputSpec, value: Any) -> np.ndarray:
    try:
        arr = as_array(value, spec.name, spec.shape, spec.ndim, spec.kind)
    except InputError as exc:
        if spec.kind in SPATIAL and "rectangular" in str(exc):
            raise InputError(
                f"{exc} The images of one array must share one size; pass an iterator of per-image "
                "arrays for images of different sizes."
            ) from None
        raise
    _check_trailing(spec, arr.shape)
    return arr


def _check_trailing(spec: InputSpec, shape: tuple[int, ...]) -> None:
    if any(size < low for size, low in zip(shape[1:], spec.min_trailing, strict=True)):
        raise InputError(f"{spec.name} must have shape {spec.shape}; got {shape}.")


def _as_detections(value: Any, offset: int) -> np.ndarray:
    """A sequence of Detections as a 1-D object array (cheap to index and slice)."""
    from activecv.types import Detections

    if isinstance(value, (str, bytes, dict)) or not isinstance(value, (Sequence, np.ndarray)):
        raise InputTypeError(
            f"detections must be a sequence of Detections, one per image; got {type(value).__name__}."
        )
    out = np.empty(len(value), dtype=object)
    for i, item in enumerate(value):
        if not isinstance(item, Detections):
            raise InputTypeError(
                "detections must hold activecv.Detections, one per image; "
                f"item {offset + i} is {type(item).__name__}."
            )
        out[i] = item
    return out


def _detection_chunks(stream: Iterable[Any]) -> Iterator[np.ndarray]:
    """Group a stream of single Detections into object-array chunks."""
    batch: list[Any] = []
    offset = 0
    for item in stream:
        batch.append(item)
        if len(batch) == DETECTION_CHUNK:
            yield _as_detections(batch, offset)
            offset += len(batch)
            batch = []
    if batch:
        yield _as_detections(batch, offset)


def _check_class_counts(value: Any) -> np.ndarray:
    counts = as_array(value, "labeled_class_counts", "(C,)", 1)
    check_finite(counts, "labeled_class_counts")
    if counts.shape[0] == 0 or (counts < 0).any():
        raise InputError(
            f"labeled_class_counts must hold one non-negative count per class; got {counts.tolist()[:10]}."
        )
    return np.asarray(counts, dtype=np.float64)

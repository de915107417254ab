"""Predictions files: ``ids`` plus arrays named like the Python inputs, in .npz or .parquet.

Arrays can be read whole or streamed in row chunks without loading the file: .npz members
are read straight from the (possibly compressed) zip stream, .parquet by row batches. Pickled
objects are never loaded.
"""

from __future__ import annotations

import csv
import os
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from activecv._chunks import chunk_rows
from activecv._errors import InputError, missing_extra
from activecv.strategies import Strategy, softmax
from activecv.types import Selection

SUFFIXES = (".npz", ".parquet")
CLASS_PROBS = ("probs", "logits", "mc_probs", "mc_log_probs")  # arrays a prediction's class comes from
CLASS_MAPS = {"seg_probs": 1, "seg_logits": 1, "seg_mc_probs": 2}  # segmentation: each one's class axis


def _import_pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise missing_extra("pyarrow", "parquet") from None
    return pa, pq


def _check_suffix(path: Path) -> None:
    if path.suffix not in SUFFIXES:
        raise InputError(f"predictions file must end in {' or '.join(SUFFIXES)}; got {str(path)!r}.")


class PredictionsFile:
    """Read access to a predictions file.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "p.npz")
    >>> save_predictions(path, ids=np.arange(3), probs=np.full((3, 2), 0.5))
    >>> PredictionsFile(path).names
    ['ids', 'probs']
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        _check_suffix(self.path)
        if not self.path.is_file():
            raise InputError(f"predictions file {str(self.path)!r} does not exist.")
        if self.path.suffix == ".npz":
            try:
                with zipfile.ZipFile(self.path) as archive:
                    members = archive.namelist()
            except zipfile.BadZipFile:
                raise InputError(f"{str(self.path)!r} is not a valid .npz file.") from None
            self.names = sorted(m[: -len(".npy")] for m in members if m.endswith(".npy"))
        else:
            self.names = sorted(self._parquet().schema_arrow.names)

    def _parquet(self) -> Any:
        pa, pq = _import_pyarrow()
        try:
            return pq.ParquetFile(self.path)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{str(self.path)!r} is not a readable Parquet file: {exc}") from None

    def _require(self, name: str) -> None:
        if name not in self.names:
            raise InputError(
                f"{str(self.path)!r} has no array {name!r}; it holds {', '.join(self.names) or 'nothing'}."
            )

    def inputs_for(self, strategy: Strategy, supplied: Sequence[str] = ()) -> list[str]:
        """The arrays that satisfy the strategy's first satisfiable set of required inputs,
        ``supplied`` ones (the caller has them) apart; with segmentation maps, the file's
        ``ignore_mask`` too."""
        names = strategy.inputs_among([*self.names, *supplied], f"{str(self.path)!r} holds")
        found = [n for n in names if n not in supplied]
        if "ignore_mask" in self.names and any(n in CLASS_MAPS for n in found):
            found.append("ignore_mask")
        return found

    def shape(self, name: str) -> tuple[int, ...]:
        """Shape of array ``name``, read from the header and the first row, not the data."""
        self._require(name)
        if self.path.suffix == ".npz":
            with zipfile.ZipFile(self.path) as archive, archive.open(f"{name}.npy") as fp:
                return tuple(_read_npy_header(fp)[0])
        first = next(self.stream(name, 1), None)
        row = tuple(first.shape[1:]) if first is not None else ()
        return (self._parquet().metadata.num_rows, *row)

    def load(self, name: str) -> np.ndarray:
        """The whole array ``name``; refused before allocating when its declared size does not
        fit in memory (a small compressed file can declare gigabytes)."""
        self._require(name)
        self._check_fits(name)
        if self.path.suffix == ".npz":
            with np.load(self.path, allow_pickle=False) as data:
                try:
                    return np.asarray(data[name])
                except ValueError as exc:  # object arrays need pickle
                    raise InputError(f"array {name!r} in {str(self.path)!r} cannot be read: {exc}") from None
        chunks = list(self.stream(name, 1 << 16))
        return np.concatenate(chunks) if chunks else np.empty(0)

    def _check_fits(self, name: str) -> None:
        if self.path.suffix == ".npz":
            with zipfile.ZipFile(self.path) as archive, archive.open(f"{name}.npy") as fp:
                shape, _, dtype = _read_npy_header(fp)
        else:
            first = next(self.stream(name, 1), np.empty(0))
            shape, dtype = self.shape(name), first.dtype
        count = int(np.prod(shape, dtype=np.int64))
        needed = count * (dtype.itemsize + 8)  # the array, and the float64 copy strategies compute on
        available = available_memory()
        if available is not None and needed > available:
            raise InputError(
                f"array {name!r} in {str(self.path)!r} declares shape {tuple(shape)} {dtype}: loading it "
                f"and computing on it needs about {needed / 2**30:.1f} GiB, and this machine has "
                f"{available / 2**30:.1f} GiB available. Score strategies stream the file instead; "
                "for this strategy, use a machine with more memory or split the pool."
            )

    def ids(self) -> np.ndarray:
        """The ``ids`` array: one item id (integer) or path (string) per row, each once."""
        if "ids" not in self.names:
            raise InputError(
                f"predictions file {str(self.path)!r} must hold 'ids' naming each item; "
                f"it holds {', '.join(self.names) or 'nothing'}."
            )
        return checked_ids(self.load("ids"), f"'ids' in {str(self.path)!r}")

    def class_probs_source(self) -> str | None:
        """The array class probabilities come from (probs, logits, MC samples or their
        segmentation maps), if any."""
        return next((n for n in (*CLASS_PROBS, *CLASS_MAPS) if n in self.names), None)

    def class_axis(self) -> tuple[str, int] | None:
        """The array holding class scores and its class axis, if the file has one."""
        name = self.class_probs_source()
        return None if name is None else (name, CLASS_MAPS.get(name, -1))

    def class_maps(self, rows: np.ndarray) -> list[np.ndarray] | None:
        """The arg-max class map (H, W) uint8 of each of the given rows of a segmentation file,
        in that order, read image by image; None when it has no segmentation maps."""
        name = next((n for n in CLASS_MAPS if n in self.names), None)
        if name is None:
            return None
        wanted = {int(r): k for k, r in enumerate(np.asarray(rows).tolist())}
        found: list[np.ndarray | None] = [None] * len(wanted)
        offset = 0
        for chunk in self.stream(name, 1):
            if offset in wanted:
                maps = chunk[0] if name != "seg_mc_probs" else chunk[0].astype(np.float64).mean(axis=0)
                found[wanted[offset]] = np.argmax(maps, axis=0).astype(np.uint8)
            offset += 1
        return [m for m in found if m is not None]

    def class_probs(self, rows: np.ndarray) -> np.ndarray | None:
        """Class probabilities (len(rows), C) of the given rows, from probs, logits or the mean
        of MC samples, for pre-annotations; None when the file has none of them."""
        name = next((n for n in CLASS_PROBS if n in self.names), None)
        if name is None:
            return None
        picked = self.rows(name, rows)
        if name == "logits":
            return softmax(picked)
        if name == "mc_log_probs":
            return np.exp(picked.astype(np.float64)).mean(axis=1)
        return picked.mean(axis=1) if name == "mc_probs" else picked.astype(np.float64)

    def rows(self, name: str, positions: np.ndarray) -> np.ndarray:
        """The rows ``positions`` of array ``name``, in that order, read chunk by chunk."""
        positions = np.asarray(positions, dtype=np.int64)
        order = np.argsort(positions, kind="stable")
        picked: list[np.ndarray] = []
        offset = lo = 0
        for chunk in self.stream(name, chunk_rows(self.shape(name)[1:])):
            hi = int(np.searchsorted(positions[order], offset + chunk.shape[0]))
            picked.append(chunk[positions[order[lo:hi]] - offset])
            offset, lo = offset + chunk.shape[0], hi
        out = np.concatenate(picked) if picked else np.empty((0, *self.shape(name)[1:]))
        return out[np.argsort(order, kind="stable")]

    def stream(self, name: str, rows: int) -> Iterator[np.ndarray]:
        """Chunks of up to ``rows`` rows of array ``name``, read lazily."""
        self._require(name)
        if self.path.suffix == ".npz":
            yield from self._stream_npz(name, rows)
        else:
            yield from self._stream_parquet(name, rows)

    def _stream_npz(self, name: str, rows: int) -> Iterator[np.ndarray]:
        with zipfile.ZipFile(self.path) as archive, archive.open(f"{name}.npy") as fp:
            shape, fortran, dtype = _read_npy_header(fp)
            if dtype.hasobject:
                raise InputError(f"array {name!r} in {str(self.path)!r} holds Python objects; not loaded.")
            if fortran and len(shape) > 1:
                fp.close()
                yield from _row_chunks(self.load(name), rows)
                return
            row_shape = tuple(shape[1:])
            row_bytes = dtype.itemsize * int(np.prod(row_shape, dtype=np.int64))
            for start in range(0, shape[0] if shape else 0, rows):
                count = min(rows, shape[0] - start)
                buffer = fp.read(count * row_bytes)
                if len(buffer) != count * row_bytes:
                    raise InputError(f"array {name!r} in {str(self.path)!r} is truncated.")
                yield np.frombuffer(buffer, dtype=dtype).reshape((count, *row_shape))

    def _stream_parquet(self, name: str, rows: int) -> Iterator[np.ndarray]:
        pa, _ = _import_pyarrow()
        batches = self._parquet().iter_batches(batch_size=rows, columns=[name])
        while True:
            try:
                batch = next(batches, None)
            except (pa.ArrowException, OSError) as exc:
                raise InputError(f"column {name!r} of {str(self.path)!r} cannot be read: {exc}") from None
            if batch is None:
                return
            yield _column_to_numpy(batch.column(0), name)


@dataclass(frozen=True)
class StrategyInputs:
    """What one strategy reads from a predictions file: the item ids, its inputs by name
    (whole arrays, or streams of row chunks), and the file's ``labeled`` mask if it has one."""

    file: PredictionsFile
    ids: np.ndarray
    inputs: dict[str, Any]
    labeled: np.ndarray | None
    chunk: int  # rows per streamed chunk, the same for every input (they are read in step)


def read_strategy_inputs(
    path: str | Path, strategy: Strategy, *, stream: bool, supplied: Sequence[str] = ()
) -> StrategyInputs:
    """The ids and the inputs ``strategy`` needs from a predictions file, each checked to have
    one row per id; ``supplied`` inputs the caller adds itself. ``stream`` reads inputs as row
    chunks (score strategies never hold the pool in memory); otherwise whole."""
    file = PredictionsFile(path)
    ids = file.ids()
    names = file.inputs_for(strategy, supplied)
    for name in names:
        rows = file.shape(name)[0]
        if rows != ids.shape[0]:
            raise InputError(
                f"'ids' has {ids.shape[0]} entries but {name!r} has {rows} rows in {str(file.path)!r}; "
                "one id per row is needed."
            )
    chunk = min((chunk_rows(file.shape(name)[1:]) for name in names), default=1)
    inputs = {name: file.stream(name, chunk) if stream else file.load(name) for name in names}
    labeled = file.load("labeled") if "labeled" in file.names else None
    return StrategyInputs(file, ids, inputs, labeled, chunk)


def checked_ids(ids: np.ndarray, what: str) -> np.ndarray:
    """Item ids as int64 or str: refuses floats and booleans (they would be truncated) and
    repeats; bytes are read as UTF-8."""
    if ids.ndim != 1:
        raise InputError(f"{what} must be 1-D, one id per row; got shape {ids.shape}.")
    if ids.dtype.kind == "S":
        try:
            ids = np.char.decode(ids, "utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{what} holds bytes that are not UTF-8; write the ids as strings.") from None
    elif ids.dtype.kind == "O" and all(isinstance(v, str) for v in ids.tolist()):
        ids = ids.astype(str)
    if ids.dtype.kind in "iu":
        ids = ids.astype(np.int64)
    elif ids.dtype.kind != "U":
        example = ids[0].item() if ids.size else None
        raise InputError(
            f"{what} must be integers (item ids) or strings (paths); got dtype {ids.dtype} "
            f"(e.g. {example!r}). Write them as int64 or str: a float id would be truncated."
        )
    if len(set(ids.tolist())) != ids.shape[0]:  # a set: hashing is far cheaper than sorting strings
        values, counts = np.unique(ids, return_counts=True)
        raise InputError(f"{what} must name each item once; repeated: {values[counts > 1][:5].tolist()}.")
    return ids


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _read_npy_header(fp: Any) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """(shape, fortran_order, dtype) of an open .npy stream, left at the first data byte."""
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fp)
    return np.lib.format.read_array_header_2_0(fp)


def _row_chunks(arr: np.ndarray, rows: int) -> Iterator[np.ndarray]:
    for start in range(0, arr.shape[0], rows):
        yield arr[start : start + rows]


def _column_to_numpy(column: Any, name: str) -> np.ndarray:
    """A pyarrow column of scalars or (nested) equal-length lists as an N-D array."""
    pa, _ = _import_pyarrow()
    shape = [len(column)]
    values = column
    while (
        pa.types.is_list(values.type)
        or pa.types.is_fixed_size_list(values.type)
        or pa.types.is_large_list(values.type)
    ):
        if values.null_count:
            raise InputError(f"column {name!r} has missing rows; every row needs a value.")
        lengths = (
            np.diff(np.asarray(values.offsets)) if not pa.types.is_fixed_size_list(values.type) else None
        )
        width = values.type.list_size if lengths is None else (int(lengths[0]) if lengths.size else 0)
        if lengths is not None and lengths.size and not (lengths == width).all():
            raise InputError(
                f"column {name!r} holds lists of unequal length; every row needs the same shape."
            )
        shape.append(width)
        values = values.flatten()
    if values.null_count:
        raise InputError(f"column {name!r} has missing values.")
    return np.asarray(values.to_numpy(zero_copy_only=False)).reshape(shape)


def load_predictions(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of a predictions file, by name."""
    file = PredictionsFile(path)
    return {name: file.load(name) for name in file.names}


def save_predictions(path: str | Path, ids: Sequence[Any] | np.ndarray, **arrays: np.ndarray) -> None:
    """Write ``ids`` and named arrays (one row per id) to .npz or .parquet.

    Parquet stores 2-D and 3-D arrays as fixed-size list columns.
    """
    path = Path(path)
    _check_suffix(path)
    ids = np.asarray(ids)
    for name, arr in arrays.items():
        if np.asarray(arr).shape[:1] != ids.shape[:1]:
            raise InputError(
                f"{name} must have one row per id ({ids.shape[0]}); got shape {np.asarray(arr).shape}."
            )
    if path.suffix == ".npz":
        members: dict[str, Any] = {"ids": ids, **arrays}
        np.savez(path, **members)
        return
    pa, pq = _import_pyarrow()
    columns = {"ids": pa.array(ids)}
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        column = pa.array(arr.reshape(-1))
        for width in reversed(arr.shape[1:]):
            column = pa.FixedSizeListArray.from_arrays(column, width)
        columns[name] = column
    pq.write_table(pa.table(columns), path)


def write_selection_csv(path: str | Path, selection: Selection, ids: np.ndarray) -> None:
    """Write ``rank,id,score`` rows (rank 1 = label first)."""
    chosen_ids = np.asarray(ids)[selection.indices].tolist()
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["rank", "id", "score"])
        for rank, (item, value) in enumerate(zip(chosen_ids, selection.scores.tolist(), strict=True), 1):
            writer.writerow([rank, item, repr(value)])


def write_review_csv(
    path: str | Path, ids: Sequence[Any], labels: Sequence[str], aum: np.ndarray, flagged: np.ndarray
) -> int:
    """Write the flagged items as ``rank,id,label,aum`` rows, lowest AUM (most suspect) first.

    Returns the number of rows written.
    """
    order = np.flatnonzero(flagged)
    order = order[np.argsort(aum[order], kind="stable")]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["rank", "id", "label", "aum"])
        for rank, i in enumerate(order.tolist(), 1):
            writer.writerow([rank, ids[i], labels[i], repr(float(aum[i]))])
    return int(order.shape[0])

"""Predictions files: ``ids`` plus arrays named like the Python inputs, in .npz or .parquet.

Arrays can be read whole or streamed in row chunks without loading the file: .npz members
are read straight from the (possibly compressed) zip stream, .parquet by row batches. Pickled
objects are never loaded.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from activecv._errors import InputError, missing_extra
from activecv.strategies import Strategy, format_requirements
from activecv.strategies._pool import ALIASES, SPECS
from activecv.types import Selection

SUFFIXES = (".npz", ".parquet")


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
            _, pq = _import_pyarrow()
            self.names = sorted(pq.ParquetFile(self.path).schema_arrow.names)

    def _require(self, name: str) -> None:
        if name not in self.names:
            raise InputError(
                f"{str(self.path)!r} has no array {name!r}; it holds {', '.join(self.names) or 'nothing'}."
            )

    def inputs_for(self, strategy: Strategy) -> list[str]:
        """The arrays that satisfy the strategy's first satisfiable set of required inputs."""
        present = {ALIASES.get(n, n): n for n in self.names if n in SPECS}
        for group in strategy.requirements():
            if set(group) <= set(present):
                return [present[canonical] for canonical in group]
        raise InputError(
            f"strategy {strategy.name!r} requires {format_requirements(strategy.requirements())}; "
            f"{str(self.path)!r} holds {', '.join(self.names)}."
        )

    def shape(self, name: str) -> tuple[int, ...]:
        """Shape of array ``name``, read from the header and the first row, not the data."""
        self._require(name)
        if self.path.suffix == ".npz":
            with zipfile.ZipFile(self.path) as archive, archive.open(f"{name}.npy") as fp:
                return tuple(_read_npy_header(fp)[0])
        _, pq = _import_pyarrow()
        first = next(self.stream(name, 1), None)
        row = tuple(first.shape[1:]) if first is not None else ()
        return (pq.ParquetFile(self.path).metadata.num_rows, *row)

    def load(self, name: str) -> np.ndarray:
        """The whole array ``name``."""
        self._require(name)
        if self.path.suffix == ".npz":
            with np.load(self.path, allow_pickle=False) as data:
                try:
                    return np.asarray(data[name])
                except ValueError as exc:  # object arrays need pickle
                    raise InputError(f"array {name!r} in {str(self.path)!r} cannot be read: {exc}") from None
        return np.concatenate(list(self.stream(name, 1 << 16)))

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
        _, pq = _import_pyarrow()
        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=rows, columns=[name]):
            yield _column_to_numpy(batch.column(0), name)


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

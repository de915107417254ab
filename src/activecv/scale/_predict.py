"""A model over an image pool into one predictions file, through resumable parquet shards.

The pool is cut into shards of ``shard_rows`` consecutive items. Each shard is computed whole,
written to a temporary name and renamed into ``<out>.shards/part-NNNNN.parquet``, so a shard
file is either complete or absent: a rerun skips the shards that exist, and a shard computed
twice (a retried Ray task) is the same file written twice. ``job.json`` beside the shards records
what the job is (the caller's description of the model and settings, the inputs' digest); a
rerun with another job is refused. When every shard exists they are concatenated, in pool
order, into ``out``: the file ``activecv select`` and ``project round`` read.

The model and the decoder come in as functions, so this module knows nothing of model formats:
``loader()`` returns ``model(batch) -> {name: array}`` (batch: (B, channels, H, W) float32;
arrays: one row per image, e.g. ``probs`` (B, C)), and ``decoder(file)`` returns one image
(channels, H, W) float32. The local engine calls ``loader`` once; the Ray engine once per actor.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from activecv._errors import InputError, InputTypeError, missing_extra, shown
from activecv._progress import Progress
from activecv.io import save_predictions

BatchModel = Callable[[np.ndarray], Mapping[str, np.ndarray]]
Loader = Callable[[], BatchModel]
Decoder = Callable[[str], np.ndarray]

SHARD_ROWS = 4096
JOB_FILE = "job.json"
ENGINES = ("local", "ray")
FORMAT = 1


@dataclass(frozen=True)
class PredictReport:
    """What :func:`predict_pool` did: the predictions file, its shards' folder, the items, the
    shards in all and how many an earlier run had already written, and the seconds taken."""

    out: Path
    shards: Path
    items: int
    shards_total: int
    shards_reused: int
    seconds: float


def shard_folder(out: str | Path) -> Path:
    """Where the shards of predictions file ``out`` live: ``<out>.shards``."""
    out = Path(out)
    return out.with_name(out.name + ".shards")


def shard_name(index: int) -> str:
    """The file name of shard ``index`` (deterministic: a retried shard overwrites itself)."""
    return f"part-{index:05d}.parquet"


def _check_count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _check_pool(ids: Sequence[str], files: Sequence[str]) -> None:
    if len(ids) == 0:
        raise InputError("the pool is empty: no images to predict. Check --images, --manifest or --project.")
    if len(ids) != len(files):
        raise InputError(f"ids and files must pair up; got {len(ids)} ids and {len(files)} files.")
    if not all(isinstance(i, str) for i in ids):
        raise InputTypeError("ids must be strings (the images' paths as the pool names them).")
    if len(set(ids)) != len(ids):
        values, counts = np.unique(np.asarray(ids), return_counts=True)
        raise InputError(f"ids must name each image once; repeated: {shown(values[counts > 1].tolist())}.")


def _job_record(
    job: Mapping[str, Any], ids: Sequence[str], files: Sequence[str], shard_rows: int
) -> dict[str, Any]:
    digest = hashlib.sha256()
    for item, file in zip(ids, files, strict=True):
        digest.update(f"{item}\t{file}\n".encode())
    return {
        "format": FORMAT,
        "job": json.loads(json.dumps(dict(job), sort_keys=True, default=str)),
        "items": len(ids),
        "inputs_sha256": digest.hexdigest(),
        "shard_rows": shard_rows,
    }


def _claim_folder(folder: Path, record: dict[str, Any]) -> None:
    """Create the shards' folder with ``job.json``, or check an existing one is this job's."""
    path = folder / JOB_FILE
    if path.is_file():
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(
                f"{str(path)!r} cannot be read ({exc}); delete {str(folder)!r} to start over."
            ) from None
        if found != record:
            differ = "; ".join(_differences(record, found))
            raise InputError(
                f"the shards in {str(folder)!r} were written by another job ({differ}); "
                "resuming would mix two jobs' predictions. Rerun with the same model, inputs and settings, "
                "or delete that folder (or choose another --out) to start over."
            )
        return
    if folder.exists() and any(folder.glob("part-*.parquet")):
        raise InputError(
            f"{str(folder)!r} holds shards but no {JOB_FILE}, so what wrote them is unknown; "
            "delete that folder (or choose another --out) to start over."
        )
    folder.mkdir(parents=True, exist_ok=True)
    _replace_atomically(
        path, lambda tmp: tmp.write_text(json.dumps(record, indent=1, sort_keys=True), "utf-8")
    )


def _differences(record: Mapping[str, Any], found: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``key: this run's value, the folder's value`` for every setting that differs."""
    differ = []
    for key in sorted(set(record) | set(found), key=str):
        mine, theirs = record.get(key), found.get(key)
        if isinstance(mine, Mapping) and isinstance(theirs, Mapping):
            differ += _differences(mine, theirs, f"{prefix}{key}.")
        elif mine != theirs:
            differ.append(f"{prefix}{key} is {mine!r} now, {theirs!r} there")
    return differ


def _replace_atomically(path: Path, write: Callable[[Path], Any]) -> None:
    """``write(tmp)`` to a unique temporary name in ``.tmp`` beside ``path`` (where no glob of
    the folder sees it), then rename it to ``path``: readers see the whole file or none."""
    staging = path.parent / ".tmp"
    staging.mkdir(exist_ok=True)
    tmp = staging / f"{uuid.uuid4().hex}-{path.name}"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def run_shard(
    model: BatchModel, decoder: Decoder, files: Sequence[str], batch_size: int
) -> dict[str, np.ndarray]:
    """The model's arrays for ``files``, batch by batch, concatenated: one row per file."""
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(files), batch_size):
        batch = np.stack([decoder(f) for f in files[start : start + batch_size]])
        outputs = model(batch)
        if not isinstance(outputs, Mapping) or not outputs:
            raise InputTypeError(
                f"the model must return a mapping of array names to arrays; got {type(outputs).__name__}."
            )
        if parts and set(outputs) != set(parts):
            raise InputError(f"the model returned arrays {sorted(outputs)} after {sorted(parts)}.")
        for name, value in outputs.items():
            array = np.asarray(value)
            if array.shape[:1] != (batch.shape[0],):
                raise InputError(
                    f"the model's {name!r} must have one row per image ({batch.shape[0]}); got {array.shape}."
                )
            parts.setdefault(name, []).append(array)
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def write_shard(folder: Path, index: int, ids: Sequence[str], arrays: Mapping[str, np.ndarray]) -> Path:
    """Shard ``index`` written atomically (same name every time; a rerun replaces it whole)."""
    path = folder / shard_name(index)
    columns = {name: np.asarray(a) for name, a in arrays.items()}
    _replace_atomically(path, lambda tmp: save_predictions(tmp, np.asarray(ids, dtype=str), **columns))
    return path


def _merge(folder: Path, shards: int, out: Path) -> None:
    """Concatenate the shards, in order, into ``out`` (one row group per shard)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise missing_extra("pyarrow", "scale") from None

    def write(tmp: Path) -> None:
        writer = None
        try:
            for index in range(shards):
                table = pq.read_table(folder / shard_name(index))
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                elif table.schema != writer.schema:
                    raise InputError(
                        f"shard {shard_name(index)!r} has columns {table.schema.names} of other types than "
                        f"the first shard's; delete {str(folder)!r} and run the job again."
                    )
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()

    _replace_atomically(out, write)


def predict_pool(
    ids: Sequence[str],
    files: Sequence[str],
    loader: Loader,
    decoder: Decoder,
    out: str | Path,
    *,
    job: Mapping[str, Any],
    batch_size: int = 256,
    shard_rows: int = SHARD_ROWS,
    engine: str = "local",
    concurrency: int = 1,
    num_gpus: float = 0.0,
    num_cpus: int | None = None,
    progress: bool = False,
) -> PredictReport:
    """Run a model over a pool of images and write the predictions file ``out`` (.parquet).

    Parameters
    ----------
    ids : sequence of str, (N,)
        What the file names each image (``ids``), e.g. its path as the project registered it.
    files : sequence of str, (N,)
        Where each image is read from, passed to ``decoder``.
    loader : callable
        ``loader()`` returns ``model(batch)``: (B, channels, H, W) float32 in, a mapping of
        array names (``probs`` (B, C), ``mc_probs`` (B, K, C), ``embeddings`` (B, D)) out.
        With the Ray engine it must pickle (a module-level function or a partial of one).
    decoder : callable
        ``decoder(file)``: one image (channels, H, W) float32; raises InputError if unreadable.
    out : path
        The predictions file; its shards go to ``<out>.shards`` and stay there (a rerun after an
        interruption skips the shards written).
    job : mapping
        What makes this job this job (model, its hash, settings), JSON-serialisable: a rerun
        whose job, inputs or shard size differ is refused rather than mixed with the old shards.
    batch_size, shard_rows : int
        Images per model call; images per shard.
    engine : {"local", "ray"}
        One process, or a Ray Data pipeline (``RAY_ADDRESS`` if set, else a local Ray with
        ``num_cpus``) with ``concurrency`` actors of ``num_gpus`` GPUs each.

    Returns
    -------
    PredictReport

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> ones = lambda file: np.ones((1, 2, 2), np.float32)
    >>> def loader():
    ...     return lambda batch: {"probs": np.full((len(batch), 2), 0.5)}
    >>> report = predict_pool(["a.png", "b.png"], ["a.png", "b.png"], loader, ones,
    ...                       folder / "p.parquet", job={"model": "halves"})
    >>> report.items, report.shards_total
    (2, 1)
    """
    started = time.perf_counter()
    out = Path(out)
    if out.suffix != ".parquet":
        raise InputError(f"out must be a .parquet file; got {str(out)!r}.")
    if out.is_dir():
        raise InputError(f"out {str(out)!r} is a folder; give the path of the .parquet file to write.")
    _check_pool(ids, files)
    batch_size = _check_count(batch_size, "batch_size", 1)
    shard_rows = _check_count(shard_rows, "shard_rows", 1)
    concurrency = _check_count(concurrency, "concurrency", 1)
    if engine not in ENGINES:
        raise InputError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}.")
    if isinstance(num_gpus, bool) or not isinstance(num_gpus, int | float) or not num_gpus >= 0:
        raise InputError(f"num_gpus must be a number >= 0; got {num_gpus!r}.")
    folder = shard_folder(out)
    _claim_folder(folder, _job_record(job, ids, files, shard_rows))
    total = -(-len(ids) // shard_rows)
    pending = [i for i in range(total) if not (folder / shard_name(i)).is_file()]
    report = Progress(f"predict {out.name}", len(ids), progress)
    done = sum(min(shard_rows, len(ids) - i * shard_rows) for i in range(total) if i not in set(pending))
    report.update(done)
    tasks = [
        (
            i,
            list(ids[i * shard_rows : (i + 1) * shard_rows]),
            list(files[i * shard_rows : (i + 1) * shard_rows]),
        )
        for i in pending
    ]
    if engine == "local" and tasks:
        model = loader()
        for index, shard_ids, shard_files in tasks:
            write_shard(folder, index, shard_ids, run_shard(model, decoder, shard_files, batch_size))
            done += len(shard_ids)
            report.update(done)
    elif tasks:
        from activecv.scale._ray_predict import run_on_ray

        for rows in run_on_ray(
            tasks, loader, decoder, folder, batch_size, concurrency, num_gpus, num_cpus, progress
        ):
            done += rows
            report.update(done)
    missing = [shard_name(i) for i in range(total) if not (folder / shard_name(i)).is_file()]
    if missing:
        raise InputError(f"shards {shown(missing)} of {str(folder)!r} were not written; run the job again.")
    _merge(folder, total, out)
    return PredictReport(out, folder, len(ids), total, total - len(pending), time.perf_counter() - started)

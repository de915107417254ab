"""The predict job as a Ray Data pipeline: one row per pending shard, ``map_batches`` over an
actor pool whose actors load the model once, each shard written by the actor that computed it.

A shard's file name is fixed by its index and written by atomic rename, so a task that Ray
retries after its actor died (actors restart, tasks retry: Ray Data's defaults for actor pools)
rewrites the same file whole: the output is complete and holds each image once.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from activecv._errors import InputError, missing_extra
from activecv.scale._predict import Decoder, Loader, run_shard, write_shard


class ShardWriter:
    """A Ray Data actor: loads the model once, then computes and writes whole shards."""

    def __init__(self, loader: Loader, decoder: Decoder, folder: str, batch_size: int) -> None:
        self.model = loader()
        self.decoder = decoder
        self.folder = Path(folder)
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = []
        for index, ids, files in zip(batch["shard"], batch["ids"], batch["files"], strict=True):
            shard_ids, shard_files = json.loads(str(ids)), json.loads(str(files))
            arrays = run_shard(self.model, self.decoder, shard_files, self.batch_size)
            write_shard(self.folder, int(index), shard_ids, arrays)
            rows.append(len(shard_ids))
        return {"shard": np.asarray(batch["shard"], dtype=np.int64), "rows": np.asarray(rows, dtype=np.int64)}


def connect(num_cpus: int | None) -> bool:
    """Join the cluster at ``RAY_ADDRESS``, or start a local Ray (``num_cpus``) unless one is
    running in this process; True when this call started it (the caller shuts it down)."""
    try:
        import ray
    except ImportError:
        raise missing_extra("ray", "scale") from None
    if ray.is_initialized():
        return False
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    return True


def run_on_ray(
    tasks: Sequence[tuple[int, list[str], list[str]]],
    loader: Loader,
    decoder: Decoder,
    folder: Path,
    batch_size: int,
    concurrency: int,
    num_gpus: float,
    num_cpus: int | None,
    progress: bool,
) -> Iterator[int]:
    """Compute and write ``tasks`` (shard index, ids, files) on Ray; yields each finished
    shard's row count as it completes."""
    started = connect(num_cpus)
    try:
        import ray

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress
        rows = [
            {"shard": index, "ids": json.dumps(ids), "files": json.dumps(files)}
            for index, ids, files in tasks
        ]
        shards = ray.data.from_items(rows, override_num_blocks=len(rows))
        written = shards.map_batches(
            ShardWriter,
            fn_constructor_args=(loader, decoder, str(folder), batch_size),
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=concurrency),
            num_gpus=num_gpus or None,
        )
        try:
            for batch in written.iter_batches(batch_size=None, batch_format="numpy"):
                yield from (int(n) for n in batch["rows"])
        except ray.exceptions.RayError as exc:
            cause = _user_error(exc)
            if cause is not None:
                raise cause from None
            raise
    finally:
        if started:
            import ray

            ray.shutdown()


def _user_error(exc: BaseException) -> InputError | None:
    """The InputError a worker raised (an unreadable image, a wrong model output), if any: as
    named in the traceback text Ray carries back from the worker, or in the chain of causes."""
    found = re.search(r"activecv\._errors\.\w*Error: (.+)", str(exc))
    if found:
        return InputError(found.group(1))
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, InputError):
            return InputError(str(seen))
        seen = seen.__cause__ or seen.__context__
    return None

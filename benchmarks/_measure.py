"""Run one measurement in a fresh process: wall time and the peak RSS of the timed call."""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import time
from collections.abc import Callable
from typing import Any


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as handle:
        line = next(line for line in handle if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def _child(fn: Callable[..., Any], args: tuple[Any, ...], queue: Any) -> None:
    try:
        _timed(fn, args, queue)
    except BaseException as exc:  # the parent waits on the queue: it must hear of a failure too
        queue.put({"error": f"{type(exc).__name__}: {exc}"})
        raise


def _timed(fn: Callable[..., Any], args: tuple[Any, ...], queue: Any) -> None:
    run = fn(*args)  # prepares the inputs, returns the zero-argument callable that is timed
    rss_before = _status_mib("VmRSS")
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # reset the RSS high-water mark: the peak below is the call's own
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    queue.put(
        {
            "seconds": seconds,
            "peak_rss_mib": _status_mib("VmHWM"),
            "rss_before_mib": rss_before,
            "result": result,
        }
    )


def measure(fn: Callable[..., Any], *args: Any) -> dict[str, Any]:
    """``fn(*args)`` prepares inputs and returns the callable to time; runs in a new process.

    Returns seconds, the process's peak RSS during the call (MiB, inputs included), its RSS
    just before the call, and the callable's (picklable) result.
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    out = queue.get()
    proc.join()
    if "error" in out:
        raise RuntimeError(f"the measured call failed in its process: {out['error']}")
    return dict(out)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"

"""Run one measurement in a fresh process: wall time and the process's peak RSS."""

from __future__ import annotations

import multiprocessing as mp
import platform
import resource
import time
from collections.abc import Callable
from typing import Any


def _child(fn: Callable[..., Any], args: tuple[Any, ...], queue: Any) -> None:
    setup = fn(*args)  # returns a zero-argument callable: what is timed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = setup()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((seconds, peak / 1024, before / 1024, result))


def measure(fn: Callable[..., Any], *args: Any) -> dict[str, Any]:
    """``fn(*args)`` prepares inputs and returns the callable to time; runs in a new process.

    Returns seconds, peak RSS (MiB) over the whole process, the RSS peak before timing, and
    the callable's result (which must be picklable).
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    seconds, peak, before, result = queue.get()
    proc.join()
    return {"seconds": seconds, "peak_rss_mib": peak, "setup_rss_mib": before, "result": result}


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import os

    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"

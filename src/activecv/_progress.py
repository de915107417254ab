"""Periodic progress lines on stderr for selections that take seconds or more."""

from __future__ import annotations

import sys
import time


class Progress:
    """Writes ``label: done/total (elapsed)`` at most once per ``interval`` seconds, and at the end.

    ``total`` None (a stream of unknown length) writes ``label: done items (elapsed)``.
    """

    def __init__(self, label: str, total: int | None, enabled: bool, interval: float = 2.0) -> None:
        self.label = label
        self.total = total
        self.enabled = enabled
        self.interval = interval
        self.start = time.perf_counter()
        self.last = self.start

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if (self.total is None or done < self.total) and now - self.last < self.interval:
            return
        self.last = now
        count = f"{done:,} items" if self.total is None else f"{done:,}/{self.total:,}"
        print(f"{self.label}: {count} ({now - self.start:.1f} s)", file=sys.stderr, flush=True)

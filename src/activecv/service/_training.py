"""The retrain hook: one run at a time in a thread of the service, its state reported."""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import HTTPException


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Training:
    """The retrain hook (``module:callable``, called with the project directory) and its last run."""

    hook: str | None
    project: Path | None
    state: str = "idle"  # idle | running | succeeded | failed
    runs: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def report(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("state", "runs", "started_at", "finished_at", "error")}

    def start(self) -> dict[str, Any]:
        """Start a run unless one is running; 409 without a hook."""
        if self.hook is None:
            raise HTTPException(
                409, "no retrain hook is configured (start the service with --retrain module:callable)."
            )
        with self.lock:
            if self.state == "running":
                return {"status": "running", **self.report()}
            self.state, self.runs = "running", self.runs + 1
            self.started_at, self.finished_at, self.error = now(), None, None
        threading.Thread(target=self._run, args=(self.hook,), daemon=True).start()
        return {"status": "started", **self.report()}

    def _run(self, hook: str) -> None:
        module, _, name = hook.partition(":")
        try:
            getattr(importlib.import_module(module), name)(self.project)
            state, error = "succeeded", None
        except Exception as exc:  # the hook is user code: report whatever it raised
            state, error = "failed", f"{type(exc).__name__}: {exc}"
        with self.lock:
            self.state, self.error, self.finished_at = state, error, now()

"""How the service runs: its settings, checked once at start."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from activecv._errors import InputError
from activecv.service._measures import AnnotatePolicy


@dataclass
class ServiceConfig:
    """How the service runs. ``token`` protects every endpoint but ``/health``, ``/metrics``
    and the docs (None only with ``allow_anonymous``). Flagged images go to the ``project``
    ledger when one is given; ``images_root`` (default: the project's) is the only place
    task images are read from; Label Studio's local-files URLs are relative to
    ``local_files_root`` (default: the document root the project was pushed with, else the
    images root). ``plain`` serves predictions without the active-learning
    part (no measures, policy or queue): the baseline of the load benchmark."""

    policy: AnnotatePolicy
    token: str | None = None
    allow_anonymous: bool = False
    project: Path | None = None
    images_root: Path | None = None
    local_files_root: Path | None = None
    max_upload_bytes: int = 20 * 2**20
    max_pixels: int = 40_000_000
    max_images: int = 32
    concurrency: int = 2
    max_waiting: int = 64
    retrain: str | None = None
    plain: bool = False

    def __post_init__(self) -> None:
        if self.token is None and not self.allow_anonymous:
            raise InputError(
                "the service needs a token (ACTIVECV_SERVICE_TOKEN or --token); anonymous only on request."
            )
        if self.token is not None and len(self.token) < 16:
            raise InputError(f"token must have at least 16 characters; got {len(self.token)}.")
        for name in ("max_upload_bytes", "max_pixels", "max_images", "concurrency", "max_waiting"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1; got {getattr(self, name)}.")

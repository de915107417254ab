"""``activecv project ui``: the review page of a project on uvicorn, loopback by default."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from activecv._errors import InputError


def _ui(args: argparse.Namespace) -> int:
    import uvicorn

    from activecv.cli._serve import LOOPBACK  # here: _serve imports this module's importer
    from activecv.service import ReviewConfig, create_review_app

    if args.allow_anonymous and args.host not in LOOPBACK and not args.host.startswith("127."):
        raise InputError(
            f"--allow-anonymous serves without a token, so only on a loopback host (127.0.0.1, ::1, "
            f"localhost); got --host {args.host}. Set ACTIVECV_SERVICE_TOKEN to serve on the network."
        )
    if args.token:
        print(
            "warning: --token is visible to other users of this machine in the process list; "
            "prefer the ACTIVECV_SERVICE_TOKEN environment variable",
            file=sys.stderr,
        )
    token = args.token or os.environ.get("ACTIVECV_SERVICE_TOKEN")
    config = ReviewConfig(
        project=args.dir,
        token=None if args.allow_anonymous and not token else token,
        allow_anonymous=args.allow_anonymous,
        simulation=args.simulation,
        suspects=args.suspects,
    )
    app = create_review_app(config)
    login = "" if config.token is None else "?token=<token>"
    print(f"review page of {args.dir} on http://{args.host}:{args.port}/{login}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def add_ui_parser(project_commands: Any) -> None:
    """``project ui DIR``: registered under ``activecv project``."""
    ui = project_commands.add_parser(
        "ui", help="review page: a round's ranked queue with thumbnails, boxes, regions; curves"
    )
    ui.add_argument("dir", type=Path)
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=8765)
    ui.add_argument(
        "--token",
        help="required on every page; prefer ACTIVECV_SERVICE_TOKEN (a command-line token shows in "
        "the process list). A browser logs in once with /?token=...",
    )
    ui.add_argument("--allow-anonymous", action="store_true", help="run without a token (loopback only!)")
    ui.add_argument("--simulation", type=Path, help="an `activecv simulate --out` directory to show")
    ui.add_argument("--suspects", type=Path, help="the CSV of `activecv review-labels --out` to show")
    ui.set_defaults(run=_ui)

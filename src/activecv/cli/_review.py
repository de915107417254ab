"""``activecv project ui``: the review page of a project on uvicorn, loopback by default."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any


def _ui(args: argparse.Namespace) -> int:
    import uvicorn

    from activecv.cli._serve import check_host_and_token  # here: _serve imports this module's importer
    from activecv.service import ReviewConfig, create_review_app

    check_host_and_token(args)
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

"""``activecv serve``: the prediction service on uvicorn."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from activecv._errors import InputError
from activecv.cli._args import pixel_pair
from activecv.cli._project import read_classes

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def check_host_and_token(args: argparse.Namespace) -> None:
    """Anonymous only on a loopback host; a token on the command line is warned about."""
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


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from activecv.service import AnnotatePolicy, ModelSpec, ServiceConfig, create_app, load_predictor

    spec = ModelSpec(
        model=args.model,
        task=args.task,
        classes=tuple(read_classes(args.classes)),
        input_size=args.input_size,
        channels=args.channels,
        mean=args.mean,
        std=args.std,
        outputs=args.outputs,
    )
    defaults = {"classification": "entropy", "detection": "entropy_max", "segmentation": "entropy_mean"}
    metric = args.annotate_metric or defaults[args.task]
    top = args.top if args.threshold is None else None
    policy = AnnotatePolicy(metric, threshold=args.threshold, top=top, window=args.window)
    check_host_and_token(args)
    config = ServiceConfig(
        policy=policy,
        token=args.token or os.environ.get("ACTIVECV_SERVICE_TOKEN"),
        allow_anonymous=args.allow_anonymous,
        project=args.project,
        images_root=args.images_root,
        local_files_root=args.local_files_root,
        max_upload_bytes=int(args.max_upload_mb * 2**20),
        max_pixels=args.max_pixels,
        max_images=args.max_images,
        concurrency=args.concurrency,
        retrain=args.retrain,
        plain=args.plain,
    )
    app = create_app(config, load_predictor(spec, args.model_version))
    print(f"serving {args.model} on http://{args.host}:{args.port} (docs at /docs)")
    uvicorn.run(
        app, host=args.host, port=args.port, log_level="warning", limit_concurrency=args.max_connections
    )
    return 0


def add_serve_parser(commands: Any) -> None:
    serve = commands.add_parser(
        "serve", help="prediction service with active-learning measures; Label Studio ML backend"
    )
    serve.add_argument("--model", required=True, help=".onnx, TorchScript .pt, or module:callable")
    serve.add_argument(
        "--task", choices=["classification", "detection", "segmentation"], default="classification"
    )
    serve.add_argument("--classes", required=True, help="a,b,c or @FILE with one class per line")
    serve.add_argument("--input-size", type=pixel_pair("HEIGHT,WIDTH"), default=(28, 28), metavar="H,W")
    serve.add_argument("--channels", type=int, choices=[1, 3], default=1)
    serve.add_argument("--mean", type=float, default=0.0, help="after scaling pixels to [0, 1]")
    serve.add_argument("--std", type=float, default=1.0)
    serve.add_argument(
        "--outputs", choices=["logits", "probs"], default="logits", help="what a classifier returns"
    )
    serve.add_argument("--model-version", help="default: the model file's name and hash")
    serve.add_argument(
        "--project", type=Path, help="activecv project that receives flagged images and labels"
    )
    serve.add_argument(
        "--images-root", type=Path, help="where task images may be read (default: the project's)"
    )
    serve.add_argument(
        "--local-files-root",
        type=Path,
        help="Label Studio's local-files document root (default: the one `project push` used)",
    )
    serve.add_argument(
        "--annotate-metric",
        help="classification: entropy (default), margin, ratio, least_confidence; "
        "detection: entropy_max (default), entropy_mean, entropy_sum; "
        "segmentation: entropy_mean (default), entropy_top, margin_mean, margin_top",
    )
    rule = serve.add_mutually_exclusive_group()
    rule.add_argument("--threshold", type=float, help="annotate when the metric is at least this")
    rule.add_argument(
        "--top", type=float, default=0.1, help="annotate the top fraction of recent traffic (default)"
    )
    serve.add_argument(
        "--window", type=int, default=1000, help="recent requests the --top rule ranks against"
    )
    serve.add_argument(
        "--token",
        help="required on every endpoint but /health, /metrics, /docs; prefer ACTIVECV_SERVICE_TOKEN "
        "(a command-line token shows in the process list)",
    )
    serve.add_argument("--allow-anonymous", action="store_true", help="run without a token (loopback only!)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--concurrency", type=int, default=2, help="model calls at once")
    serve.add_argument("--max-connections", type=int, default=256, help="open connections before 503")
    serve.add_argument("--max-upload-mb", type=float, default=20.0)
    serve.add_argument("--max-pixels", type=int, default=40_000_000, help="per image")
    serve.add_argument(
        "--max-images",
        type=int,
        default=32,
        help="per upload to /v1/predict; Label Studio's /predict runs its tasks this many at a time",
    )
    serve.add_argument(
        "--retrain", help="module:callable run (with the project dir) on Label Studio's START_TRAINING"
    )
    serve.add_argument(
        "--plain", action="store_true", help="predictions only, no active-learning part (baseline)"
    )
    serve.set_defaults(run=_serve)

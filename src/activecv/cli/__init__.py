"""The ``activecv`` command: argument parsing only; the work happens in the layers below."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import activecv
from activecv._errors import ActiveCVError, InputError
from activecv.cli._args import add_budget_arguments, parse_param, pixel_pair
from activecv.cli._labels import add_confident_arguments, run_confident
from activecv.cli._predict import add_predict_parser
from activecv.cli._project import add_project_parser
from activecv.cli._serve import add_serve_parser
from activecv.io import (
    count_coco_boxes,
    load_coco_detections,
    make_example_predictions,
    read_strategy_inputs,
    save_predictions,
    write_review_csv,
    write_selection_csv,
)
from activecv.strategies import ScoreStrategy, Strategy, format_requirements, get_strategy, list_strategies


def _cmd_strategies(args: argparse.Namespace) -> int:
    strategies = [get_strategy(n) for n in list_strategies()]
    rows = [(s.name, format_requirements(s.requirements()), s.description) for s in strategies]
    widths = [max(len(r[i]) for r in rows) for i in (0, 1)]
    print(f"{'name':<{widths[0]}}  {'requires':<{widths[1]}}  description")
    for name, requires, description in rows:
        print(f"{name:<{widths[0]}}  {requires:<{widths[1]}}  {description}")
    return 0


def _select_detections(args: argparse.Namespace, strategy: Strategy) -> int:
    """``select`` over a COCO detection results file."""
    pool = load_coco_detections(
        args.predictions, images=args.images_json, background_index=args.background_index
    )
    counts = None
    labeled = None
    if args.labeled_annotations is not None:
        counts = count_coco_boxes(args.labeled_annotations, pool.category_ids)
        annotated = {
            image["id"] for image in json.loads(args.labeled_annotations.read_text()).get("images", [])
        }
        labeled = np.array([image_id in annotated for image_id in pool.image_ids])
    if args.class_counts is not None:
        counts = np.array(args.class_counts)
    ids = np.array(pool.image_ids, dtype=object)
    costs = None
    if args.cost_budget is not None:
        if args.seconds_per_box is None:
            raise InputError(
                "--cost-budget on detection JSON needs --seconds-per-box (the cost of an image)."
            )
        per_image = args.seconds_per_image or 0.0
        costs = activecv.detection_costs(pool.detections, args.seconds_per_box, per_image)
    return _select_and_write(
        args, strategy, ids, "images", labeled, costs, detections=pool.detections, labeled_class_counts=counts
    )


def _select_and_write(
    args: argparse.Namespace,
    strategy: Strategy,
    ids: np.ndarray,
    what: str,
    labeled: Any,
    costs: np.ndarray | None = None,
    **inputs: Any,
) -> int:
    """Run the selection (in items, or within ``--cost-budget`` with ``costs``), write
    ``rank,id,score`` to ``--out`` and say what was chosen."""
    if costs is not None:
        selection = activecv.select_within_cost(
            strategy, args.cost_budget, costs, rng=args.seed, labeled=labeled, **inputs
        )
    else:
        selection = activecv.select(
            strategy,
            args.budget,
            rng=args.seed,
            labeled=labeled,
            candidates=args.candidates,
            progress=not args.quiet,
            **inputs,
        )
    write_selection_csv(args.out, selection, ids)
    if not args.quiet:
        chosen = f"selected {len(selection)} of {ids.shape[0]} {what} with {strategy.name}"
        if costs is not None:
            chosen += f", costing {selection.info['cost_spent']:g} of {args.cost_budget:g}"
        print(f"{chosen}; wrote {args.out}", file=sys.stderr)
    return 0


def _select_on_ray(args: argparse.Namespace, strategy: Strategy) -> int:
    """``select --engine ray``: parquet shards scored in parallel, per-shard winners merged."""
    from activecv.scale import select_on_ray

    if args.candidates is not None:
        raise InputError("--candidates draws from the whole pool in one process; drop it with --engine ray.")
    selection, ids = select_on_ray(
        strategy,
        args.budget,
        args.predictions,
        seed=args.seed,
        temperature=args.temperature,
        workers=args.workers,
    )
    ranked = activecv.Selection(np.arange(len(ids)), selection.scores, selection.strategy)
    write_selection_csv(args.out, ranked, ids)
    if not args.quiet:
        print(f"selected {len(ids)} items with {strategy.name} on Ray; wrote {args.out}", file=sys.stderr)
    return 0


def _check_budget_arguments(args: argparse.Namespace) -> None:
    """Exactly one of --budget (items) and --cost-budget (with where the costs come from)."""
    if (args.budget is None) == (args.cost_budget is None):
        raise InputError("select needs --budget N (items) or --cost-budget C (annotation cost), not both.")
    if args.cost_budget is None and (args.costs_column or args.seconds_per_box is not None):
        raise InputError("--costs-column and --seconds-per-box apply with --cost-budget; add it.")
    if args.cost_budget is not None and (args.engine == "ray" or args.candidates is not None):
        raise InputError(
            "--cost-budget runs in one process on the whole pool; drop --engine ray and --candidates."
        )
    if args.cost_budget is not None and args.predictions.suffix.lower() != ".json" and not args.costs_column:
        raise InputError("--cost-budget on a predictions file needs --costs-column NAME (one cost per item).")


def _column_costs(pool: Any, name: str) -> np.ndarray:
    if name not in pool.file.names:
        raise InputError(
            f"--costs-column {name!r} is not in {str(pool.file.path)!r}; "
            f"it holds {', '.join(pool.file.names)}."
        )
    return np.asarray(pool.file.load(name))


def _cmd_select(args: argparse.Namespace) -> int:
    strategy = get_strategy(args.strategy, **dict(parse_param(p) for p in args.param))
    _check_budget_arguments(args)
    if args.engine == "ray":
        return _select_on_ray(args, strategy)
    if args.predictions.suffix.lower() == ".json":
        return _select_detections(args, strategy)
    # A score strategy streams the file: O(chunk + budget) memory, the pool is never loaded whole.
    stream = isinstance(strategy, ScoreStrategy) and args.candidates is None and args.cost_budget is None
    pool = read_strategy_inputs(args.predictions, strategy, stream=stream)
    costs = _column_costs(pool, args.costs_column) if args.cost_budget is not None else None
    return _select_and_write(
        args, strategy, pool.ids, "items", pool.labeled, costs, temperature=args.temperature, **pool.inputs
    )


def _cmd_example(args: argparse.Namespace) -> int:
    data = make_example_predictions(args.n, args.classes, args.mc_samples, seed=args.seed)
    save_predictions(args.out, **data)
    print(f"wrote {args.out}: {', '.join(f'{k} {v.shape}' for k, v in data.items())}", file=sys.stderr)
    return 0


def _labeled_images(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], list[Any]]:
    """Images (N, C, H, W), labels, class names and item ids from --dataset or --images."""
    from activecv import datasets

    if args.images is not None:
        x, y, names, paths = datasets.load_image_folder(args.images, size=args.size)
        ids: list[Any] = [str(p.relative_to(args.images)) for p in paths]
    else:
        data = datasets.load(args.dataset)
        x, y, names, ids = data.x_train, data.y_train, data.class_names, list(range(len(data.y_train)))
    if args.limit is not None:
        x, y, ids = x[: args.limit], y[: args.limit], ids[: args.limit]
    return datasets.channels_first(x), y, names, ids


def _cmd_review_labels(args: argparse.Namespace) -> int:
    if args.method == "confident":
        return run_confident(args, _labeled_images)
    if args.predictions is not None:
        raise InputError(
            "--predictions gives probabilities, which AUM cannot use (it trains the model); "
            "add --method confident, or pass --dataset or --images."
        )
    import torch

    from activecv.adapters.torch import build_model, find_mislabeled
    from activecv.datasets import flip_labels

    x, y, names, ids = _labeled_images(args)
    planted = None
    if args.noise is not None:
        y, planted = flip_labels(y, args.noise, len(names), rng=args.seed)

    def make_model(outputs: int) -> torch.nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(args.seed)
            return build_model(args.model, outputs, x.shape[1:])

    report = find_mislabeled(
        make_model,
        x,
        y,
        len(names),
        epochs=args.epochs,
        seed=args.seed,
        lr=args.lr,
        batch_size=args.batch_size,
        progress=not args.quiet,
    )
    rows = write_review_csv(args.out, ids, [names[label] for label in y], report.aum, report.flagged)
    print(f"flagged {rows} of {len(y)} labels as likely wrong; review list (most suspect first): {args.out}")
    if planted is not None:
        found = int((report.flagged & planted).sum())
        precision = found / max(rows, 1)
        recall = found / max(int(planted.sum()), 1)
        print(f"planted {int(planted.sum())} flipped labels: precision {precision:.3f}, recall {recall:.3f}")
    return 0


def _seeds(text: str) -> tuple[int, ...]:
    """``3`` means seeds 0, 1, 2; ``4,7`` means exactly those."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a count (3) or a list of seeds (0,1,2); got {text!r}"
        ) from None
    return tuple(range(values[0])) if len(values) == 1 else values


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers; got {text!r}") from None


_SIM_SETTINGS = (
    "dataset", "images", "features", "image_size", "limit", "model", "initial", "initial_mode", "budget",
    "rounds", "seeds", "candidates", "retrain", "train_steps", "epochs", "batch_size", "lr", "mc_samples",
    "targets", "target_mode", "loss_layers", "segments", "stop_threshold", "stop_window", "cost_budget",
    "seconds_per_box", "seconds_per_image",
)  # fmt: skip


def _cmd_simulate(args: argparse.Namespace) -> int:
    from activecv.sim import preset, simulate

    overrides: dict[str, Any] = {k: getattr(args, k) for k in _SIM_SETTINGS if getattr(args, k) is not None}
    if args.images is not None or args.features is not None:
        overrides["dataset"] = None
    if args.strategies is not None:
        overrides["strategies"] = tuple(s for s in args.strategies.split(",") if s)
    params: dict[str, dict[str, Any]] = {}
    for text in args.param:
        key, value = parse_param(text)
        strategy, dot, name = key.partition(".")
        if not dot or not name:
            raise InputError(f"--param for simulate must look like strategy.key=value; got {text!r}.")
        params.setdefault(strategy, {})[name] = value
    if params:
        overrides["strategy_params"] = params
    config = preset(args.preset, **overrides)
    result = simulate(config, args.out, workers=args.workers, progress=not args.quiet)
    summary = result.summary
    if summary.recommended is not None:
        gain = summary.comparisons[summary.recommended].gain
        print(
            f"recommended: {summary.recommended} (AUBC {gain.mean:+.4f} over random, "
            f"95% CI {gain.low:+.4f} to {gain.high:+.4f})"
        )
    else:
        print("no strategy beat random: no 95% interval of an AUBC gain lies above zero (see the report)")
    print(f"report: {result.report}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="activecv", description="Which images to annotate next.")
    parser.add_argument("--version", action="version", version=f"activecv {activecv.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("strategies", help="list strategies with their required inputs")
    listing.set_defaults(run=_cmd_strategies)

    sel = commands.add_parser("select", help="rank a predictions file and write the items to label")
    sel.add_argument(
        "--predictions",
        required=True,
        type=Path,
        help=".npz or .parquet with ids and inputs, or COCO detection results .json",
    )
    sel.add_argument("--strategy", required=True, help="a name from `activecv strategies`")
    add_budget_arguments(sel, "items")
    sel.add_argument("--candidates", type=int, help="score only a random subset of this many unlabeled items")
    sel.add_argument("--seed", type=int, help="random seed (ties break at random when given)")
    sel.add_argument("--temperature", type=float, help="softmax temperature for logits")
    sel.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="strategy parameter, repeatable (e.g. --param mode=softmax)",
    )
    sel.add_argument("--images-json", type=Path, help="detections: COCO dataset whose images are the pool")
    sel.add_argument(
        "--labeled-annotations",
        type=Path,
        help="detections: COCO annotations of the labeled images (class counts)",
    )
    sel.add_argument(
        "--class-counts", type=_floats, help="detections: labeled boxes per class, comma-separated"
    )
    sel.add_argument("--background-index", type=int, help="detections: background column of class_probs")
    sel.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="ray: score parquet shards ('shards/*.parquet' or a folder) in parallel, RAY_ADDRESS or local",
    )
    sel.add_argument("--workers", type=int, help="--engine ray without RAY_ADDRESS: CPUs of the local Ray")
    sel.add_argument("--out", required=True, type=Path, help="CSV with columns rank,id,score")
    sel.add_argument("--quiet", action="store_true", help="no progress lines")
    sel.set_defaults(run=_cmd_select)

    example = commands.add_parser("example", help="write a generated predictions file to try select on")
    example.add_argument("--out", required=True, type=Path, help=".npz or .parquet")
    example.add_argument("--n", type=int, default=10_000, help="items (default 10000)")
    example.add_argument("--classes", type=int, default=10)
    example.add_argument("--mc-samples", type=int, default=10)
    example.add_argument("--seed", type=int, default=0)
    example.set_defaults(run=_cmd_example)

    review = commands.add_parser(
        "review-labels",
        help="list labels that are likely wrong (AUM or confident learning), most suspect first",
        description="Trains the model twice with threshold samples (Pleiss et al. 2020) and lists the "
        "labels whose AUM falls below the 99th percentile of the thresholds'. Needs the torch extra. "
        "--method confident: confident learning (Northcutt et al. 2021) on out-of-sample probabilities, "
        "from --predictions or from --folds-fold cross-validation of --model or --fit-predict.",
    )
    source = review.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="a bundled dataset (its training split)")
    source.add_argument("--images", type=Path, help="folder of ROOT/<class>/<image>")
    review.add_argument("--size", type=pixel_pair("WIDTH,HEIGHT"), help="resize images to WIDTH,HEIGHT")
    review.add_argument("--limit", type=int, help="use only the first N items")
    review.add_argument("--noise", type=float, help="flip this fraction of labels first and score the finds")
    review.add_argument("--model", default="gal_cnn", help="gal_cnn (default), small_resnet, resnet18_cifar")
    review.add_argument("--epochs", type=int, default=10, help="epochs per training run (default 10)")
    review.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate, constant (default 1e-3)")
    review.add_argument("--batch-size", type=int, default=64)
    review.add_argument("--seed", type=int, default=0)
    add_confident_arguments(review, source)
    review.add_argument(
        "--out", type=Path, default=Path("review.csv"), help="CSV rank,id,label,aum (or confident's)"
    )
    review.add_argument("--quiet", action="store_true", help="no progress lines")
    review.set_defaults(run=_cmd_review_labels)

    from activecv.sim import PRESETS  # loads without the sim extra

    sim = commands.add_parser(
        "simulate",
        help="simulate annotation rounds on labeled data: which strategy beats random here?",
        description="Runs every strategy (and random) for several seeds on data that is already labeled, "
        "and writes learning curves, a results table and a report. Settings not given come from the "
        "preset. Needs the sim extra.",
    )
    sim.add_argument("--preset", default="quick-mnist", choices=list(PRESETS), help="default: quick-mnist")
    data = sim.add_mutually_exclusive_group()
    data.add_argument("--dataset", help="a bundled dataset: mnist5k, digits, animal_shapes")
    data.add_argument("--images", help="your labeled images, ROOT/<class>/<image>")
    data.add_argument("--features", help=".npz with embeddings (N, D) and labels (N,)")
    sim.add_argument("--image-size", type=pixel_pair("WIDTH,HEIGHT"), help="resize images to WIDTH,HEIGHT")
    sim.add_argument("--limit", type=int, help="use only the first N pool items")
    sim.add_argument(
        "--model",
        help="gal_cnn, small_resnet, resnet18_cifar, mlp, or module:callable; detection: grid_detector, "
        "mi_aod_detector (every strategy on the detector MI-AOD trains)",
    )
    sim.add_argument("--strategies", help="comma-separated names; random is always added")
    sim.add_argument("--param", action="append", default=[], metavar="STRATEGY.KEY=VALUE")
    sim.add_argument("--initial", type=int, help="initial labeled items")
    sim.add_argument("--initial-mode", choices=["random", "balanced"])
    sim.add_argument("--budget", type=int, help="items labeled per round")
    sim.add_argument("--rounds", type=int, help="acquisition rounds")
    sim.add_argument("--seeds", type=_seeds, help="a count (3) or a list (0,1,2)")
    sim.add_argument(
        "--candidates", type=int, help="select from a random subset of this many unlabeled items"
    )
    sim.add_argument("--retrain", choices=["scratch", "warm"])
    sim.add_argument("--train-steps", type=int, help="optimizer steps per round (at least one epoch)")
    sim.add_argument("--epochs", type=int, help="epochs per round instead of --train-steps")
    sim.add_argument("--batch-size", type=int)
    sim.add_argument("--lr", type=float)
    sim.add_argument("--mc-samples", type=int, help="MC-dropout passes for Bayesian strategies")
    sim.add_argument("--loss-layers", type=lambda t: tuple(t.split(",")), help="learning_loss: module names")
    sim.add_argument(
        "--targets",
        type=_floats,
        help="levels to count labels to reach: fractions of random's best metric (default 0.9,0.95,0.98)",
    )
    sim.add_argument(
        "--target-mode",
        choices=["relative", "absolute"],
        help="relative (default): --targets scale random's best metric; absolute: they are the metric",
    )
    sim.add_argument("--stop-threshold", type=float, help="stabilising predictions: kappa (default 0.99)")
    sim.add_argument("--stop-window", type=int, help="rounds the kappa (or plateau) must hold (default 3)")
    sim.add_argument("--segments", type=int, help="segmentation: superpixels per image (the labeling units)")
    sim.add_argument(
        "--cost-budget",
        type=float,
        help="detection: seconds of annotation per round (scenes priced by predicted boxes), not --budget",
    )
    sim.add_argument(
        "--seconds-per-box", type=float, help="annotation seconds per box (default 7: extreme clicking)"
    )
    sim.add_argument(
        "--seconds-per-image", type=float, help="annotation seconds per image (default 1, assumed)"
    )
    sim.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="parallel processes")
    sim.add_argument(
        "--out", type=Path, default=Path("simulation"), help="output directory (default simulation)"
    )
    sim.add_argument("--quiet", action="store_true", help="no progress lines")
    sim.set_defaults(run=_cmd_simulate)

    add_project_parser(commands)
    add_serve_parser(commands)
    add_predict_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``activecv`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ActiveCVError as exc:
        print(f"activecv: error: {exc}", file=sys.stderr)
        return 2

"""``activecv project ...``: the annotation-project subcommands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from activecv._files import read_text
from activecv.cli._args import parse_param
from activecv.cli._review import add_ui_parser
from activecv.project import EXPORT_FORMATS, IMPORT_FORMATS, ITEM_SETS, Project, export, import_labels


def read_classes(text: str) -> list[str]:
    """``a,b,c`` or ``@FILE`` with one class per line."""
    if text.startswith("@"):
        return [line.strip() for line in read_text(text[1:], "--classes file").splitlines() if line.strip()]
    return [name.strip() for name in text.split(",")]


def _init(args: argparse.Namespace) -> int:
    project = Project.init(
        args.dir,
        task=args.task,
        classes=read_classes(args.classes),
        images=args.images,
        manifest=args.manifest,
        root=args.root,
    )
    report = project.registered
    assert report is not None  # init always registers
    print(f"project {args.dir}: {report.added} images added, {report.existing} already registered")
    for path in report.changed:
        print(f"warning: {path} changed since it was registered; its record was kept")
    for group in report.duplicates:
        print(f"duplicate content: {', '.join(group)}")
    if report.repeated:
        print(
            f"{report.repeated} entries named a file already listed (a link or a repeated path); "
            "each file was registered once"
        )
    return 0


def _round(args: argparse.Namespace) -> int:
    params = dict(parse_param(p) for p in args.param)
    with Project(args.dir) as project:
        rows = project.round(
            args.predictions,
            args.strategy,
            args.budget,
            params=params,
            candidates=args.candidates,
            seed=args.seed,
            model_version=args.model_version,
            background_index=args.background_index,
            progress=not args.quiet,
        )
    print(f"round {rows[0].round if rows else '-'}: {len(rows)} images selected with {args.strategy}")
    for row in rows[: args.show]:
        print(f"{row.rank:>5}  {row.score:.6g}  {row.path}")
    return 0


def _regions(args: argparse.Namespace) -> int:
    with Project(args.dir) as project:
        rows = project.round_regions(
            args.predictions,
            args.budget,
            measure=args.measure,
            regions=args.regions,
            cell=args.cell,
            n_segments=args.segments,
            cost=args.cost,
            class_balance=not args.no_class_balance,
            max_regions_per_image=args.max_per_image,
            model_version=args.model_version,
            progress=not args.quiet,
        )
    clicks = sum(entry["cost"] for row in rows for entry in (row.prediction or {}).get("regions", []))
    regions = sum(len((row.prediction or {}).get("regions", [])) for row in rows)
    number = rows[0].round if rows else "-"
    print(f"round {number}: {regions} regions of {len(rows)} images selected, {clicks:g} clicks")
    for row in rows[: args.show]:
        chosen = ", ".join(f"{e['region']} ({e['class']})" for e in (row.prediction or {}).get("regions", []))
        print(f"{row.rank:>5}  {row.score:.6g}  {row.path}: {chosen}")
    return 0


def _export(args: argparse.Namespace) -> int:
    with Project(args.dir) as project:
        written = export(
            project,
            args.format,
            args.out,
            round_number=args.round,
            items=args.items,
            image_url=args.image_url,
            local_files_root=args.local_files_root,
            model_version=args.model_version,
        )
    print(f"wrote {written} images to {args.out}")
    return 0


def _import(args: argparse.Namespace) -> int:
    with Project(args.dir) as project:
        report = import_labels(project, args.file, args.format, annotator=args.annotator)
    print(
        f"imported {args.file}: {report.added} newly labeled, {report.relabeled} relabeled, "
        f"{report.unchanged} already in the ledger, {report.skipped} without a label"
    )
    return 0


def _next(args: argparse.Namespace) -> int:
    with Project(args.dir) as project:
        items = project.next(args.annotator, args.n, lease_seconds=args.lease_minutes * 60)
    for item in items:
        print(f"{item.id}\t{item.path}")
    if not items:
        print("nothing to hand out: every selected image is labeled or leased to someone else")
    return 0


def _status(args: argparse.Namespace) -> int:
    with Project(args.dir) as project:
        status = project.status()
    if args.json:
        print(json.dumps(status.as_dict(), indent=2))
        return 0
    print(f"project {status.project_id} ({status.task}): {status.items} images")
    print(f"labeled {status.labeled}, unlabeled {status.unlabeled}")
    for entry in status.rounds:
        print(f"round {entry.round} ({entry.strategy}): {entry.selected} selected, {entry.labeled} labeled")
    balance = ", ".join(f"{name} {count}" for name, count in status.class_balance.items())
    print(f"class balance ({'boxes' if status.task == 'detection' else 'images'}): {balance}")
    leases = ", ".join(f"{who} {count}" for who, count in status.leases.items()) or "none"
    print(f"pending leases: {leases}")
    return 0


def add_project_parser(commands: Any) -> None:
    project = commands.add_parser("project", help="annotation project: pool, rounds, exports and imports")
    sub = project.add_subparsers(dest="project_command", required=True)

    init = sub.add_parser("init", help="create a project over a folder, glob or manifest of images")
    init.add_argument("dir", type=Path)
    source = init.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", help="folder (searched recursively) or glob pattern of images")
    source.add_argument("--manifest", type=Path, help="CSV (a 'path' column) or JSONL ({\"path\": ...})")
    init.add_argument("--root", type=Path, help="folder manifest paths are relative to (default: its folder)")
    init.add_argument("--task", choices=["classification", "detection", "segmentation"], required=True)
    init.add_argument("--classes", required=True, help="a,b,c or @FILE with one class per line")
    init.set_defaults(run=_init)

    rnd = sub.add_parser("round", help="select the next images to label and record the round")
    rnd.add_argument("dir", type=Path)
    rnd.add_argument(
        "--predictions", type=Path, required=True, help=".npz/.parquet with ids, or COCO results .json"
    )
    rnd.add_argument("--strategy", required=True)
    rnd.add_argument("--budget", type=int, required=True)
    rnd.add_argument(
        "--candidates", type=int, help="score only a random subset of this many unlabeled images"
    )
    rnd.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="strategy parameter")
    rnd.add_argument("--seed", type=int, default=0)
    rnd.add_argument("--model-version", help="recorded with the round and sent to Label Studio")
    rnd.add_argument("--background-index", type=int, help="class_probs column of the background (detection)")
    rnd.add_argument("--show", type=int, default=10, help="print this many of the selected images")
    rnd.add_argument("--quiet", action="store_true")
    rnd.set_defaults(run=_round)

    reg = sub.add_parser(
        "regions", help="segmentation: select the regions to label within a budget of clicks"
    )
    reg.add_argument("dir", type=Path)
    reg.add_argument("--predictions", type=Path, required=True, help=".npz/.parquet with ids and seg_probs")
    reg.add_argument("--budget", type=int, required=True, help="clicks to spend")
    reg.add_argument(
        "--measure", choices=["entropy", "margin", "least_confidence", "bald"], default="entropy"
    )
    reg.add_argument("--regions", choices=["grid", "superpixels"], default="grid")
    reg.add_argument("--cell", type=int, default=16, help="grid: region side in pixels")
    reg.add_argument("--segments", type=int, default=256, help="superpixels: about how many per image")
    reg.add_argument(
        "--cost",
        choices=["dominant", "classes"],
        default="dominant",
        help="clicks per region: 1 (one label each), or its number of predicted classes",
    )
    reg.add_argument("--no-class-balance", action="store_true", help="drop the exp(-p_c) rarity weight")
    reg.add_argument("--max-per-image", type=int, help="at most this many regions of one image")
    reg.add_argument("--model-version", help="recorded with the round and sent to Label Studio")
    reg.add_argument("--show", type=int, default=10)
    reg.add_argument("--quiet", action="store_true")
    reg.set_defaults(run=_regions)

    out = sub.add_parser("export", help="write a round's selection (or other images) for annotation")
    out.add_argument("dir", type=Path)
    out.add_argument("--round", type=int, help="round number (default: the latest)")
    out.add_argument("--items", choices=ITEM_SETS, default="selection")
    out.add_argument("--format", choices=EXPORT_FORMATS, required=True)
    out.add_argument("--out", type=Path, required=True)
    out.add_argument("--image-url", help="URL prefix for image paths in Label Studio tasks")
    out.add_argument("--local-files-root", type=Path, help="Label Studio's local-files document root")
    out.add_argument("--model-version", help="Label Studio prediction model_version (default: the round's)")
    out.set_defaults(run=_export)

    imp = sub.add_parser("import", help="import labels from an annotation tool's export")
    imp.add_argument("dir", type=Path)
    imp.add_argument("file", type=Path)
    imp.add_argument("--format", choices=IMPORT_FORMATS, required=True)
    imp.add_argument("--annotator", help="who labeled (for formats that do not say)")
    imp.set_defaults(run=_import)

    nxt = sub.add_parser("next", help="hand selected images to an annotator under a lease")
    nxt.add_argument("dir", type=Path)
    nxt.add_argument("--annotator", required=True)
    nxt.add_argument("--n", type=int, default=10)
    nxt.add_argument("--lease-minutes", type=float, default=60.0)
    nxt.set_defaults(run=_next)

    status = sub.add_parser("status", help="labeled/unlabeled, rounds, class balance, leases")
    status.add_argument("dir", type=Path)
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=_status)
    add_ui_parser(sub)

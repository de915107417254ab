"""``activecv project ...``: the annotation-project subcommands."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from activecv._files import read_text
from activecv.cli._args import add_budget_arguments, parse_param
from activecv.cli._review import add_ui_parser
from activecv.io import LabelStudioClient
from activecv.project import (
    EXPORT_FORMATS,
    IMPORT_FORMATS,
    ITEM_SETS,
    Project,
    ProjectError,
    export,
    import_labels,
    pull,
    push,
)


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


def _check_round_budget(args: argparse.Namespace) -> None:
    """Exactly one of --budget (images) and --cost-budget (with where the costs come from)."""
    if (args.budget is None) == (args.cost_budget is None):
        raise ProjectError(
            "project round needs --budget N (images) or --cost-budget C (annotation cost), not both; "
            f"got --budget {args.budget} and --cost-budget {args.cost_budget}."
        )
    priced = [
        flag
        for flag, value in (
            ("--costs-column", args.costs_column),
            ("--seconds-per-box", args.seconds_per_box),
            ("--seconds-per-image", args.seconds_per_image),
        )
        if value is not None
    ]
    if args.cost_budget is None and priced:
        raise ProjectError(f"{' and '.join(priced)} apply with --cost-budget C; add it.")
    if args.cost_budget is None:
        return
    detections = args.predictions.suffix.lower() == ".json"
    if detections and args.seconds_per_box is None:
        raise ProjectError(
            "--cost-budget on COCO detection results needs --seconds-per-box S (an image costs "
            "--seconds-per-image + S x its predicted boxes)."
        )
    if not detections and args.costs_column is None:
        raise ProjectError(
            "--cost-budget on a predictions file needs --costs-column NAME, its column of per-image costs."
        )


def _round(args: argparse.Namespace) -> int:
    params = dict(parse_param(p) for p in args.param)
    _check_round_budget(args)
    with Project(args.dir) as project:
        rows = project.round(
            args.predictions,
            args.strategy,
            args.budget,
            cost_budget=args.cost_budget,
            costs_column=args.costs_column,
            seconds_per_box=args.seconds_per_box,
            seconds_per_image=args.seconds_per_image,
            params=params,
            candidates=args.candidates,
            seed=args.seed,
            model_version=args.model_version,
            background_index=args.background_index,
            progress=not args.quiet,
        )
        record = next((r for r in project.rounds() if rows and r.number == rows[0].round), None)
    chosen = f"round {rows[0].round if rows else '-'}: {len(rows)} images selected with {args.strategy}"
    if record is not None and record.cost is not None:
        chosen += f", costing {record.cost['spent']:g} of {record.cost['budget']:g}"
    print(chosen)
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
            per_click=args.per_click,
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


def _suspects(args: argparse.Namespace) -> int:
    from activecv.review import read_review_csv

    rows = read_review_csv(args.file)
    with Project(args.dir) as project:
        recorded = project.record_suspects(rows)
    method = rows[0][1] if rows else "review"
    print(
        f"recorded {recorded} suspect labels ({method}) in {args.dir}; send them for relabeling with: "
        f"activecv project export {args.dir} --items suspect --format labelstudio|csv|coco --out F"
    )
    return 0


def _import(args: argparse.Namespace) -> int:
    with Project(args.dir) as project:
        report = import_labels(project, args.file, args.format, annotator=args.annotator)
    print(
        f"imported {args.file}: {report.added} newly labeled, {report.relabeled} relabeled, "
        f"{report.unchanged} already in the ledger, {report.skipped} without a label"
    )
    return 0


def _client(args: argparse.Namespace, project: Project) -> LabelStudioClient:
    """Label Studio at --label-studio, else where the project was pushed; the token from
    --token or LABEL_STUDIO_API_KEY."""
    known = project.label_studio_link()
    url = args.label_studio or (known.url if known is not None else None)
    if url is None:
        raise ProjectError("--label-studio URL is required: this project was never pushed to Label Studio.")
    return LabelStudioClient(url, args.token or os.environ.get("LABEL_STUDIO_API_KEY", ""))


def _push(args: argparse.Namespace) -> int:
    with Project(args.dir) as project:
        report = push(
            project,
            _client(args, project),
            round_number=args.round,
            items=args.items,
            document_root=args.local_files_root,
            image_url=args.image_url,
            ml_backend=args.ml_backend,
            service_token=args.service_token or os.environ.get("ACTIVECV_SERVICE_TOKEN"),
            title=args.title,
        )
    link = report.link
    print(f"Label Studio project {link.url}/projects/{link.project}")
    print(f"{report.added} tasks added, {report.present} already there")
    for change in report.changed:
        print(f"set: {change}")
    if link.document_root is not None:
        print(
            "Label Studio must run with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and "
            f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={link.document_root}"
        )
    return 0


def _pull(args: argparse.Namespace) -> int:
    with Project(args.dir) as project:
        report = pull(project, _client(args, project))
    print(
        f"pulled: {report.added} newly labeled, {report.relabeled} relabeled, "
        f"{report.unchanged} already in the ledger, {report.skipped} without a label"
    )
    return 0


def _history(args: argparse.Namespace) -> int:
    item: int | str = int(args.item) if args.item.isdigit() else args.item
    with Project(args.dir) as project:
        entries = project.history(item)
    if args.json:
        print(json.dumps([e.as_dict() for e in entries], indent=2))
        return 0
    for entry in entries:
        labels = ", ".join(
            label.class_name + (f" [{', '.join(f'{v:g}' for v in label.box)}]" if label.box else "")
            for label in entry.labels
        )
        print(f"{entry.created_at}  {entry.annotator} ({entry.source}): {labels or '(no label)'}")
    if not entries:
        print(f"{args.item}: no labels yet")
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
        signal = project.stopping()
    if args.json:
        print(json.dumps({**status.as_dict(), "stopping": signal.as_dict()}, indent=2))
        return 0
    print(f"project {status.project_id} ({status.task}): {status.items} images")
    print(f"labeled {status.labeled}, unlabeled {status.unlabeled}")
    for entry in status.rounds:
        print(f"round {entry.round} ({entry.strategy}): {entry.selected} selected, {entry.labeled} labeled")
    balance = ", ".join(f"{name} {count}" for name, count in status.class_balance.items())
    print(f"class balance ({'boxes' if status.task == 'detection' else 'images'}): {balance}")
    leases = ", ".join(f"{who} {count}" for who, count in status.leases.items()) or "none"
    print(f"pending leases: {leases}")
    _print_stopping(signal)
    return 0


def _print_stopping(signal: Any) -> None:
    """Stabilising predictions: each round's kappa with the last, and whether to stop."""
    if not signal.rounds:
        return
    print(
        f"stopping (kappa of successive rounds on {signal.stop_set} items, "
        f">= {signal.threshold:g} over {signal.window} rounds):"
    )
    for entry in signal.rounds:
        if entry.status != "ok":
            print(f"  round {entry.round}: {entry.status}: {entry.predictions} (left out)")
        else:
            print(
                f"  round {entry.round}: " + ("first" if entry.kappa is None else f"kappa {entry.kappa:.4f}")
            )
    if signal.stable_since is not None:
        print(f"  predictions stable since round {signal.stable_since}: consider stopping annotation")
    else:
        print("  not stable yet: keep annotating")


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
    add_budget_arguments(rnd, "images")
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
    reg.add_argument(
        "--per-click", action="store_true", help="rank regions by score per click (with --cost classes)"
    )
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

    sus = sub.add_parser(
        "suspects",
        help="record a review-labels CSV as the project's suspect labels (export --items suspect)",
        description="Replaces the project's review list with FILE (activecv review-labels --out; ids "
        "are the images' registered paths or ledger ids).",
    )
    sus.add_argument("dir", type=Path)
    sus.add_argument("file", type=Path)
    sus.set_defaults(run=_suspects)

    imp = sub.add_parser("import", help="import labels from an annotation tool's export")
    imp.add_argument("dir", type=Path)
    imp.add_argument("file", type=Path)
    imp.add_argument("--format", choices=IMPORT_FORMATS, required=True)
    imp.add_argument("--annotator", help="who labeled (for formats that do not say)")
    imp.set_defaults(run=_import)

    out = sub.add_parser("push", help="send a round to Label Studio: project, storage, tasks, ML backend")
    out.add_argument("dir", type=Path)
    _label_studio_arguments(out)
    out.add_argument("--round", type=int, help="round number (default: the latest)")
    out.add_argument("--items", choices=["selection", "queue"], default="selection")
    out.add_argument(
        "--local-files-root",
        type=Path,
        help="Label Studio's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (default: the images root's parent)",
    )
    out.add_argument("--image-url", help="serve images from this URL prefix + path instead of local files")
    out.add_argument("--ml-backend", metavar="SERVICE_URL", help="connect `activecv serve` as ML backend")
    out.add_argument("--service-token", help="the service's token (default: ACTIVECV_SERVICE_TOKEN)")
    out.add_argument("--title", help="title of a new Label Studio project")
    out.set_defaults(run=_push)

    inn = sub.add_parser("pull", help="import the annotations of the Label Studio project pushed to")
    inn.add_argument("dir", type=Path)
    _label_studio_arguments(inn)
    inn.set_defaults(run=_pull)

    history = sub.add_parser("history", help="an image's labels over time: who, when, from where")
    history.add_argument("dir", type=Path)
    history.add_argument("item", help="item id or registered path")
    history.add_argument("--json", action="store_true")
    history.set_defaults(run=_history)

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


def _label_studio_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--label-studio", metavar="URL", help="default: where the project was pushed")
    parser.add_argument("--token", help="Label Studio API token (default: LABEL_STUDIO_API_KEY)")

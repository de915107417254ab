"""The review page's HTML, rendered on the server: every value from the ledger or a file goes
through ``html.escape``; no script, no external resource (the page works offline)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from activecv.project import ProjectStatus, RoundRecord, SelectedItem
from activecv.service._thumbnails import PALETTE, mask_overlay, regions_overlay

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#24323f;color:#fff;padding:.6em 1.2em}header a{color:#cde;margin-right:1.2em}
header h1{font-size:1.2em;margin:.3em 0 0}main{padding:1em 1.2em}
table{border-collapse:collapse;margin:.5em 0 1.2em;background:#fff}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#eef}
td.text,th.text{text-align:left}
ol.queue{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:12px}
li.item{background:#fff;border:1px solid #ccc;border-radius:4px;padding:6px;width:220px}
svg.thumb{width:220px;height:auto;display:block;background:#ddd;image-rendering:pixelated}
svg.thumb rect{fill:none;stroke-width:2px;vector-effect:non-scaling-stroke}
svg.thumb text{font-family:sans-serif;paint-order:stroke;stroke:#fff;stroke-width:2px;
vector-effect:non-scaling-stroke}
div.missing{width:220px;height:120px;background:#eee;display:flex;align-items:center;justify-content:center}
.meta{font-size:12px;word-break:break-all}.rank{font-weight:bold}
nav.pages a{margin-right:1em}img.plot{max-width:100%;background:#fff;border:1px solid #ccc}
pre{background:#fff;border:1px solid #ccc;padding:.6em;overflow:auto}
"""


def page(title: str, body: str, links: Sequence[tuple[str, str]]) -> str:
    """A whole HTML document: the navigation (``links``: href, text), a title and ``body``."""
    nav = "".join(f'<a href="{escape(href)}">{escape(text)}</a>' for href, text in links)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} · activecv</title><style>{CSS}</style></head>"
        f"<body><header><nav>{nav}</nav><h1>{escape(title)}</h1></header><main>{body}</main></body></html>"
    )


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], text_columns: int = 1, cls: str = "") -> str:
    """A table; the first ``text_columns`` columns are left-aligned text, cells are escaped
    unless given as ``Markup``."""
    head = "".join(
        f'<th class="{"text" if k < text_columns else ""}">{escape(h)}</th>' for k, h in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"text" if k < text_columns else ""}">{cell_html(c)}</td>' for k, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f'<table class="{escape(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


class Markup(str):
    """HTML already escaped (built by this module)."""


def cell_html(value: Any) -> str:
    if isinstance(value, Markup):
        return str(value)
    if isinstance(value, float):
        return escape(f"{value:.4g}")
    return escape("" if value is None else str(value))


def link(href: str, text: str) -> Markup:
    return Markup(f'<a href="{escape(href)}">{escape(text)}</a>')


def overview(
    status: ProjectStatus,
    records: Sequence[RoundRecord],
    annotators: Mapping[str, tuple[int, int]],
    directory: str,
) -> str:
    """The project: counts, rounds history, class balance, labels per annotator."""
    progress = {p.round: p for p in status.rounds}
    rounds = [
        (
            link(f"/rounds/{r.number}", f"round {r.number}"),
            r.strategy,
            r.model_version or "",
            r.budget,
            r.n_candidates,
            progress[r.number].selected if r.number in progress else 0,
            progress[r.number].labeled if r.number in progress else 0,
            r.created_at,
            link(f"/rounds/{r.number}/balance", "class balance"),
        )
        for r in reversed(records)
    ]
    header = ["round", "strategy", "model version", "budget", "candidates", "selected", "labeled", "made"]
    parts = [
        f"<p>{escape(directory)}: {escape(status.task)}, {status.items} images, {status.labeled} labeled, "
        f"{status.unlabeled} unlabeled.</p>",
        "<h2>Rounds</h2>",
        table([*header, "balance"], rounds, 3, "rounds") if rounds else "<p>No round yet.</p>",
        "<h2>Labeled per class</h2>",
        table(["class", "labels"], status.class_balance.items(), cls="balance"),
        "<h2>Labels per annotator</h2>",
        table(
            ["annotator", "annotations", "images"],
            [(who, *counts) for who, counts in annotators.items()],
            cls="annotators",
        )
        if annotators
        else "<p>No label yet.</p>",
    ]
    if status.leases:
        parts += ["<h2>Open leases</h2>", table(["annotator", "images"], status.leases.items())]
    return "".join(parts)


def round_header(record: RoundRecord) -> str:
    params = json.dumps(record.params, sort_keys=True)
    return (
        f"<p>strategy <b>{escape(record.strategy)}</b>, parameters {escape(params)}, seed {record.seed}, "
        f"model version {escape(record.model_version or 'none')}, budget {record.budget}, "
        f"{record.n_candidates} candidates, predictions {escape(record.predictions)}; made "
        f"{escape(record.created_at)}. {link(f'/rounds/{record.number}/balance', 'Class balance')}</p>"
    )


def _boxes_svg(boxes: Sequence[Mapping[str, Any]], classes: Sequence[str], height: int) -> str:
    """The model's boxes in image pixels (the SVG's viewBox is the image), labelled with their
    class and score."""
    font = max(height / 14, 1.0)
    parts = []
    for box in boxes:
        x0, y0, x1, y1 = (float(v) for v in box["box"])
        name = str(box.get("class"))
        score = box.get("score")
        shown = name if score is None else f"{name} {float(score):.2f}"
        colour = PALETTE[classes.index(name) % len(PALETTE) if name in classes else 0]
        parts.append(
            f'<g class="box" data-class="{escape(name)}" data-score="{escape(str(score))}">'
            f'<rect x="{x0!r}" y="{y0!r}" width="{x1 - x0!r}" height="{y1 - y0!r}" '
            f'stroke="rgb({colour[0]},{colour[1]},{colour[2]})"><title>{escape(shown)}</title></rect>'
            f'<text x="{x0!r}" y="{max(y0 - font / 4, font)!r}" font-size="{font!r}">'
            f"{escape(shown)}</text></g>"
        )
    return "".join(parts)


def _picture(item: SelectedItem, classes: Sequence[str]) -> str:
    """The thumbnail with what the round saw drawn over it, in the image's own pixels."""
    if item.width is None or item.height is None or "://" in item.path:
        return '<div class="missing">no preview</div>'
    w, h = item.width, item.height
    layers = [
        f'<image class="thumbnail" href="/items/{item.id}/thumbnail.png" x="0" y="0" '
        f'width="{w}" height="{h}" preserveAspectRatio="none"/>'
    ]
    prediction = item.prediction or {}
    overlay = None
    if "region_map_png" in prediction:
        overlay = regions_overlay(prediction["region_map_png"], prediction["regions"], classes)
    elif "mask_png" in prediction:
        overlay = mask_overlay(prediction["mask_png"])
    if overlay is not None:
        layers.append(f'<image class="overlay" href="{overlay}" x="0" y="0" width="{w}" height="{h}"/>')
    layers.append(_boxes_svg(prediction.get("boxes", []), classes, h))
    return (
        f'<svg class="thumb" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        f'aria-label="{escape(item.path)}" xmlns="http://www.w3.org/2000/svg">{"".join(layers)}</svg>'
    )


def _what(item: SelectedItem) -> str:
    prediction = item.prediction or {}
    if "class" in prediction:
        return f"predicted {escape(str(prediction['class']))} ({float(prediction['score']):.2f})"
    if "boxes" in prediction:
        return f"{len(prediction['boxes'])} predicted boxes"
    if "regions" in prediction:
        clicks = sum(float(r.get("cost", 1)) for r in prediction["regions"])
        return f"{len(prediction['regions'])} regions to label ({clicks:g} clicks)"
    return ""


def queue(
    record: RoundRecord,
    items: Sequence[SelectedItem],
    classes: Sequence[str],
    tasks: Mapping[int, str],
    after: int,
    limit: int,
) -> str:
    """One page of a round's ranked queue, and the links to the first and the next page."""
    cards = []
    for item in items:
        task = tasks.get(item.id)
        task_link = f'<br><a class="task" href="{escape(task)}">Label Studio task</a>' if task else ""
        cards.append(
            f'<li class="item" data-rank="{item.rank}" data-item-id="{item.id}" data-score="{item.score!r}">'
            f'{_picture(item, classes)}<div class="meta"><span class="rank">#{item.rank}</span> '
            f"score {item.score:.4g} · {escape(record.strategy)}<br>{escape(item.path)}<br>{_what(item)}"
            f"{task_link}</div></li>"
        )
    base = f"/rounds/{record.number}"
    pages = [link(f"{base}?{urlencode({'limit': limit})}", "first page")]
    if len(items) == limit:
        pages.append(link(f"{base}?{urlencode({'after': items[-1].rank, 'limit': limit})}", "next page"))
    jump = (
        f'<form method="get" action="{base}">after rank <input name="after" type="number" min="0" '
        f'value="{after}"><input type="hidden" name="limit" value="{limit}"><button>go</button></form>'
    )
    shown = f"ranks {items[0].rank} to {items[-1].rank}" if items else "no item after this rank"
    navigation = f'<nav class="pages">{"".join(pages)} {escape(shown)}</nav>{jump}'
    return (
        round_header(record)
        + navigation
        + f'<ol class="queue" start="{after + 1}">{"".join(cards)}</ol>'
        + navigation
    )


def balance(record: RoundRecord, counts: Mapping[str, tuple[int, int]], task: str) -> str:
    units = {"classification": ("images", "images"), "detection": ("boxes", "boxes")}
    chosen, labeled = units.get(task, ("regions" if record.strategy == "regions" else "images", "pixels"))
    return round_header(record) + table(
        ["class", f"selected ({chosen}, by prediction)", f"labeled ({labeled})"],
        [(name, *pair) for name, pair in counts.items()],
        cls="balance",
    )


def simulation(pictures: Sequence[str], curves: Sequence[Sequence[Any]], report: str | None) -> str:
    """A simulation directory: its plots, the mean curve per strategy, its report."""
    parts = [
        f'<img class="plot" src="/simulation/files/{quote(name)}" alt="{escape(name)}">' for name in pictures
    ]
    parts.append("<h2>Learning curves (mean over seeds)</h2>")
    parts.append(
        table(["strategy", "round", "labeled", "metric mean", "metric std", "seeds"], curves, cls="curves")
        if curves
        else "<p>No results.csv yet.</p>"
    )
    if report is not None:
        parts += ["<h2>report.md</h2>", f"<pre>{escape(report)}</pre>"]
    return "".join(parts)


SUSPECT_TEXT = {
    "AUM": "Labels whose area under the margin (AUM) is low: the model keeps disagreeing with them.",
    "self-confidence": "Labels confident learning flags: out-of-sample probabilities put the item in "
    "another class; lowest self-confidence first.",
}


def suspects(rows: Sequence[Sequence[Any]], limit: int, more: bool, score: str = "AUM") -> str:
    """One page of ``review-labels``' suspect list (rank, id, label, score, picture)."""
    pages = [link(f"/suspects?{urlencode({'limit': limit})}", "first page")]
    if more and rows:
        pages.append(link(f"/suspects?{urlencode({'after': rows[-1][0], 'limit': limit})}", "next page"))
    return (
        f"<p>{SUSPECT_TEXT.get(score, '')}</p>"
        + table(["rank", "id", "label", score, "image"], rows, 0, "suspects")
        + f'<nav class="pages">{"".join(pages)}</nav>'
    )


def thumbnail_cell(item_id: int | None) -> Markup:
    if item_id is None:
        return Markup("")
    return Markup(f'<img class="thumbnail" src="/items/{item_id}/thumbnail.png" width="64" alt="">')

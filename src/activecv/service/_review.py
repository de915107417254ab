"""The review page (``activecv project ui``): what a round chose and why, read from the ledger
by keyed pages, with the learning curves of a simulation and the suspect labels of
``review-labels``. Token as in the service; a browser logs in once with ``/?token=...``."""

from __future__ import annotations

import csv
import hashlib
import hmac
import math
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from activecv._errors import InputError
from activecv.project import Project, ProjectError
from activecv.service import _review_pages as pages
from activecv.service._auth import token_matches
from activecv.service._thumbnails import thumbnail

COOKIE = "activecv_review"
PAGE = 100  # items per page unless asked
MAX_PAGE = 1000
NAVIGATION = (("/", "Rounds"), ("/simulation", "Simulation"), ("/suspects", "Suspect labels"))
LOGIN = (
    "a valid token is required: open /?token=<token> once in the browser (it sets a cookie), "
    "or send Authorization: Bearer <token>."
)


def task_links(project: Any, item_ids: Iterable[int]) -> dict[int, str]:
    """The Label Studio task page of each item pushed there, by item id; empty for a project
    that cannot tell (never pushed, or an activecv without ``label_studio_tasks``)."""
    tasks = getattr(project, "label_studio_tasks", None)
    if tasks is None:
        return {}
    return {int(item): str(url) for item, url in tasks(list(item_ids)).items()}


def session_value(token: str) -> str:
    """The cookie a logged-in browser carries: derived from the token, not the token itself."""
    return hmac.new(token.encode(), b"activecv review session", hashlib.sha256).hexdigest()


class ReviewGate:
    """401 for a request that has neither the token (Authorization header) nor the session
    cookie; ``?token=`` on any page sets the cookie (HttpOnly, SameSite=Strict) and redirects
    to the same page without the token in its address."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.token is None:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = query.pop("token", [None])[-1]
        response: Response | None = None
        if given is not None and hmac.compare_digest(given.encode(), self.token.encode()):
            rest = urlencode(query, doseq=True)
            response = RedirectResponse(scope["path"] + (f"?{rest}" if rest else ""), status_code=303)
            response.set_cookie(COOKIE, session_value(self.token), httponly=True, samesite="strict", path="/")
        elif not _allowed(headers, self.token):
            response = HTMLResponse(
                f"<!doctype html><title>401</title><p>{LOGIN}</p>",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        if response is not None:
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _allowed(headers: dict[bytes, bytes], token: str) -> bool:
    """Whether a request carries the token (Authorization header) or the session cookie."""
    if token_matches(headers.get(b"authorization", b"").decode("latin-1"), token):
        return True
    expected = f"{COOKIE}={session_value(token)}".encode()
    cookies = [c.strip() for c in headers.get(b"cookie", b"").split(b";")]
    return any(hmac.compare_digest(c, expected) for c in cookies)


@dataclass(frozen=True)
class ReviewConfig:
    """What the review page shows: a project, optionally a simulation directory (``activecv
    simulate --out``) and a ``review-labels`` CSV; ``token`` None only with ``allow_anonymous``."""

    project: Path
    token: str | None = None
    allow_anonymous: bool = False
    simulation: Path | None = None
    suspects: Path | None = None

    def __post_init__(self) -> None:
        if self.token is None and not self.allow_anonymous:
            raise InputError(
                "the review page needs a token (ACTIVECV_SERVICE_TOKEN or --token); "
                "anonymous only on request (--allow-anonymous)."
            )
        if self.token is not None and len(self.token) < 16:
            raise InputError(f"token must have at least 16 characters; got {len(self.token)}.")
        if self.simulation is not None and not (self.simulation / "results.csv").is_file():
            raise InputError(
                f"simulation directory {str(self.simulation)!r} has no results.csv; "
                "pass the --out directory of: activecv simulate ... --out DIR"
            )
        if self.suspects is not None and not self.suspects.is_file():
            raise InputError(
                f"suspects file {str(self.suspects)!r} does not exist; write it with: "
                "activecv review-labels ... --out review.csv"
            )


def create_review_app(config: ReviewConfig) -> FastAPI:
    """The review page's app over ``config.project`` (kept open for the app's life)."""
    project = Project(config.project)
    score_name, suspects = read_suspects(config.suspects) if config.suspects is not None else ("", None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        project.close()

    app = FastAPI(title="activecv review", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    html = HTMLResponse

    @app.get("/", response_class=html)
    def overview() -> str:
        body = pages.overview(
            project.status(), project.rounds(), project.labels_by_annotator(), str(project.directory)
        )
        return pages.page(f"Project {project.directory.name}", body, NAVIGATION)

    @app.get("/rounds/{number}", response_class=html)
    def queue(
        number: int,
        after: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE,
    ) -> str:
        record = _record(project, number)
        items = project.selection_page(number, after, limit)
        tasks = task_links(project, [item.id for item in items])
        body = pages.queue(record, items, project.classes, tasks, after, limit)
        return pages.page(f"Round {number}: the ranked queue", body, NAVIGATION)

    @app.get("/rounds/{number}/balance", response_class=html)
    def balance(number: int) -> str:
        record = _record(project, number)
        body = pages.balance(record, project.round_balance(number), project.task)
        return pages.page(f"Round {number}: class balance", body, NAVIGATION)

    @app.get("/items/{item_id}/thumbnail.png")
    def item_thumbnail(item_id: int) -> FileResponse:
        try:
            item = project.item(item_id)
            source = project.local_path(item.path)
        except ProjectError as exc:
            raise HTTPException(404, str(exc)) from None
        if item.sha256 is None or not source.is_file():
            raise HTTPException(404, f"item {item_id} has no local image file.")
        path = thumbnail(project.directory / "thumbnails", item.sha256, source)
        cache = {"Cache-Control": "private, max-age=86400", "ETag": f'"{item.sha256}"'}
        return FileResponse(path, media_type="image/png", headers=cache)

    @app.get("/simulation", response_class=html)
    def simulation() -> str:
        if config.simulation is None:
            body = (
                "<p>No simulation directory: start with --simulation DIR (activecv simulate --out DIR).</p>"
            )
        else:
            folder = config.simulation
            pictures = sorted(p.name for p in folder.glob("*.png"))
            report = folder / "report.md"
            text = report.read_text(encoding="utf-8") if report.is_file() else None
            body = pages.simulation(pictures, learning_curves(folder / "results.csv"), text)
        return pages.page("Simulation: learning curves", body, NAVIGATION)

    @app.get("/simulation/files/{name}")
    def simulation_file(name: str) -> FileResponse:
        folder = config.simulation
        if folder is None or name not in {p.name for p in folder.glob("*.png")}:
            raise HTTPException(404, f"no plot {name!r} in the simulation directory.")
        return FileResponse(folder / name, media_type="image/png")

    @app.get("/suspects", response_class=html)
    def suspect_labels(
        after: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE,
    ) -> str:
        if suspects is None:
            body = "<p>No suspect list: start with --suspects review.csv (activecv review-labels --out).</p>"
        else:
            chosen = suspects[after : after + limit]  # ranks are 1..n, in order
            rows = [(*row, pages.thumbnail_cell(_item_id(project, row[1]))) for row in chosen]
            body = pages.suspects(rows, limit, after + limit < len(suspects), score_name)
        return pages.page("Suspect labels (review-labels)", body, NAVIGATION)

    app.add_middleware(ReviewGate, token=config.token)
    return app


def _record(project: Project, number: int) -> Any:
    records = project.rounds()
    if not 1 <= number <= len(records):
        raise HTTPException(404, f"round must be a round of this project (1..{len(records)}); got {number}.")
    return records[number - 1]


def _item_id(project: Project, key: str) -> int | None:
    """The project's item named by a suspect list's id (an item id or a registered path)."""
    try:
        return project.item(int(key) if key.isdigit() else key).id
    except ProjectError:
        return None


SUSPECT_SCORES = {"aum": "AUM", "self_confidence": "self-confidence"}  # review-labels' methods


def read_suspects(path: Path) -> tuple[str, list[tuple[int, str, str, float]]]:
    """``review-labels``' CSV, AUM (``rank,id,label,aum``) or confident learning
    (``rank,id,label,suggested,self_confidence,...``): the score's name and the rows
    (rank, id, label, score) in rank order."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        score = next((c for c in SUSPECT_SCORES if c in columns), None)
        if columns[:3] != ["rank", "id", "label"] or score is None:
            raise InputError(
                f"suspects file {str(path)!r} must have the columns rank,id,label and aum or "
                f"self_confidence (activecv review-labels --out); got {columns}."
            )
        rows = [(int(r["rank"]), r["id"], r["label"], float(r[score])) for r in reader]
    return SUSPECT_SCORES[score], sorted(rows)


def learning_curves(path: Path) -> list[tuple[str, int, float, float, float, int]]:
    """Mean and standard deviation of the metric per strategy and round over seeds, from a
    simulation's ``results.csv``: strategy, round, labeled (mean), mean, std, seeds."""
    runs: dict[tuple[str, int], list[tuple[float, float]]] = defaultdict(list)
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            runs[row["strategy"], int(row["round"])].append((float(row["n_labeled"]), float(row["metric"])))
    out = []
    for (strategy, number), values in sorted(runs.items()):
        labeled = sum(v[0] for v in values) / len(values)
        mean = sum(v[1] for v in values) / len(values)
        std = math.sqrt(sum((v[1] - mean) ** 2 for v in values) / len(values))
        out.append((strategy, number, labeled, mean, std, len(values)))
    return out

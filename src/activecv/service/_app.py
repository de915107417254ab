"""The HTTP app: predictions with active-learning measures and an "annotate" decision, the
annotation queue, Prometheus metrics, and the Label Studio ML-backend protocol."""

from __future__ import annotations

import asyncio
import base64
import hmac
import importlib
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, File, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from activecv._errors import ActiveCVError, InputError
from activecv.io import AnnotationFile
from activecv.io._labelstudio import annotation_of, model_results
from activecv.project import Project
from activecv.project._pool import describe
from activecv.service._backend import LOCAL_FILES, TaskImageError, interface, task_image
from activecv.service._images import DecodedImage, ImageRejected, decode_image
from activecv.service._measures import (
    AnnotatePolicy,
    classification_measures,
    detection_measures,
    label_studio_score,
)
from activecv.service._model import Predictor

ANNOTATION_EVENTS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")


@dataclass
class ServiceConfig:
    """How the service runs. ``token`` protects every endpoint but ``/health``, ``/metrics``
    and the docs (None only with ``allow_anonymous``). Flagged images go to the ``project``
    ledger when one is given; ``images_root`` (default: the project's) is the only place
    task images are read from. ``plain`` serves predictions without the active-learning
    part (no measures, policy or queue): the baseline of the load benchmark."""

    policy: AnnotatePolicy
    token: str | None = None
    allow_anonymous: bool = False
    project: Path | None = None
    images_root: Path | None = None
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
                "the service needs a token (--token or ACTIVECV_SERVICE_TOKEN); anonymous only on request."
            )
        if self.token is not None and len(self.token) < 16:
            raise InputError(f"token must have at least 16 characters; got {len(self.token)}.")
        for name in ("max_upload_bytes", "max_pixels", "max_images", "concurrency", "max_waiting"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1; got {getattr(self, name)}.")


class LabelStudioRequest(BaseModel):
    """A request from Label Studio; its fields vary across versions, so any are accepted."""

    model_config = ConfigDict(extra="allow")


class BackendPredictRequest(LabelStudioRequest):
    """Label Studio's prediction request: its tasks and the project's labeling config."""

    tasks: list[dict[str, Any]]
    label_config: str | None = None


class WebhookEvent(LabelStudioRequest):
    """A Label Studio webhook event (ANNOTATION_CREATED, ANNOTATION_UPDATED, START_TRAINING, ...)."""

    action: str
    task: dict[str, Any] | None = None
    annotation: dict[str, Any] | None = None


@dataclass
class Training:
    """The retrain hook's last run, as ``GET /v1/training`` reports it."""

    state: str = "idle"  # idle | running | succeeded | failed
    runs: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def report(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("state", "runs", "started_at", "finished_at", "error")}


class BodyLimit:
    """Refuses a request body over ``limit`` bytes with 413. A declared Content-Length is
    checked up front (the server holds the client to it); a body without one is read up to
    the limit first, then handed on."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.limit:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.limit:
                await self._refuse(send)
                return
            if not message.get("more_body"):
                break
        replay = [{"type": "http.request", "body": bytes(body), "more_body": False}]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, replayed, send)

    async def _refuse(self, send: Send) -> None:
        response = JSONResponse({"detail": f"the request body exceeds {self.limit} bytes."}, status_code=413)
        await response({"type": "http"}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def create_app(config: ServiceConfig, predictor: Predictor) -> FastAPI:
    """The FastAPI app serving ``predictor`` under ``config``."""
    spec = predictor.spec
    config.policy.check_metric(spec.task)
    root = config.images_root
    if root is None and config.project is not None:
        with Project(config.project) as project:
            root = project.root
    root = root.resolve() if root is not None else None
    registry = CollectorRegistry()
    requests = Counter("activecv_requests", "HTTP requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("activecv_request_seconds", "request latency", ["endpoint"], registry=registry)
    model_seconds = Histogram("activecv_model_seconds", "model inference per batch", registry=registry)
    annotated = Counter(
        "activecv_images", "images predicted, by the annotate decision", ["annotate"], registry=registry
    )
    gate = asyncio.Semaphore(config.concurrency)
    waiting = 0
    training = Training()

    app = FastAPI(
        title="activecv prediction service",
        version=predictor.version,
        description="Predictions with active-learning measures and an annotate decision; "
        "a Label Studio ML backend.",
    )

    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Any:
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        endpoint = getattr(route, "path", "unmatched")
        requests.labels(endpoint, str(response.status_code)).inc()
        latency.labels(endpoint).observe(time.perf_counter() - start)
        return response

    @app.exception_handler(ActiveCVError)
    async def bad_input(request: Request, exc: ActiveCVError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    def authorized(request: Request) -> None:
        if config.token is None:
            return
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        given = credentials.strip()
        if scheme.lower() == "basic":  # Label Studio's ML-backend basic auth: the token is the password
            try:
                given = base64.b64decode(given, validate=True).decode().partition(":")[2]
            except (ValueError, UnicodeDecodeError):
                given = ""
        elif scheme.lower() not in ("bearer", "token"):
            given = ""
        if not hmac.compare_digest(given.encode(), config.token.encode()):
            raise HTTPException(
                401,
                "a valid token is required: Authorization: Bearer <token>.",
                {"WWW-Authenticate": "Bearer"},
            )

    async def predict_batch(batch: np.ndarray) -> Any:
        nonlocal waiting
        if waiting >= config.max_waiting:
            raise HTTPException(503, "the service is at capacity; retry shortly.", {"Retry-After": "1"})
        waiting += 1
        try:
            async with gate:
                start = time.perf_counter()
                out = await run_in_threadpool(predictor.predict, batch)
                model_seconds.observe(time.perf_counter() - start)
                return out
        finally:
            waiting -= 1

    def assess(output: Any, image: DecodedImage) -> dict[str, Any]:
        """Prediction, measures and the annotate decision of one image."""
        if spec.task == "classification":
            prediction, measures = classification_measures(output, spec.classes)
        else:
            prediction, measures = detection_measures(output, spec.classes)
        value = measures[config.policy.metric]
        return {
            "prediction": prediction,
            "measures": measures,
            "annotate": config.policy.decide(value),
            "label_studio_score": label_studio_score(config.policy.metric, value, len(spec.classes)),
        }

    def open_project() -> Project:
        if config.project is None:
            raise HTTPException(409, "this service has no project (start it with --project DIR).")
        return Project(config.project)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness, the model version and the task (also Label Studio's health check)."""
        return {
            "status": "UP",
            "model_version": predictor.version,
            "task": spec.task,
            "classes": list(spec.classes),
            "model_class": "activecv",
        }

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        """Prometheus text format."""
        return PlainTextResponse(generate_latest(registry).decode(), media_type="text/plain; version=0.0.4")

    @app.post("/v1/predict", dependencies=[Depends(authorized)])
    async def predict(
        images: Annotated[list[UploadFile], File(description="one or several images")],
    ) -> JSONResponse:
        """Predict each uploaded image: the model's output, every active-learning measure that
        applies, and ``annotate``; images flagged are stored once in the project's queue."""
        if len(images) > config.max_images:
            raise HTTPException(413, f"at most {config.max_images} images per request; got {len(images)}.")
        decoded, raw = [], []
        for upload in images:
            data = await upload.read()
            try:
                decoded.append(
                    await run_in_threadpool(decode_image, data, upload.content_type, spec, config.max_pixels)
                )
            except ImageRejected as exc:
                raise HTTPException(exc.status, f"{upload.filename or 'upload'}: {exc}") from None
            raw.append(data)
        outputs = await predict_batch(np.stack([d.pixels for d in decoded]))
        results = []
        for upload, image, data, output in zip(images, decoded, raw, outputs, strict=True):
            result = {"filename": upload.filename, "width": image.width, "height": image.height}
            if config.plain:
                results.append({**result, "prediction": np.asarray(output).tolist()})
                continue
            result.update(assess(output, image))
            annotated.labels("true" if result["annotate"] else "false").inc()
            if result["annotate"] and config.project is not None:
                result["queued_item"] = await run_in_threadpool(enqueue, data, image, result)
            results.append(result)
        # json.dumps takes a quarter of the time of FastAPI's generic encoder on this response
        return JSONResponse({"model_version": predictor.version, "results": results})

    def enqueue(data: bytes, image: DecodedImage, result: dict[str, Any]) -> int:
        metric = config.policy.metric
        with open_project() as project:
            return project.enqueue(
                data,
                image.suffix,
                (image.width, image.height),
                metric,
                result["measures"][metric],
                predictor.version,
            )

    @app.get("/v1/queue", dependencies=[Depends(authorized)])
    async def queue(limit: int = 100, offset: int = 0) -> dict[str, Any]:
        """Images flagged for annotation and not labeled yet, oldest first."""
        if not 1 <= limit <= 10_000 or offset < 0:
            raise HTTPException(422, f"limit must be in [1, 10000] and offset >= 0; got {limit}, {offset}.")

        def read() -> list[dict[str, Any]]:
            with open_project() as project:
                return project.queue(limit, offset)

        return {"items": await run_in_threadpool(read)}

    # ---- Label Studio ML backend -------------------------------------------------------------

    @app.post("/setup", dependencies=[Depends(authorized)])
    async def setup(request: LabelStudioRequest) -> dict[str, Any]:
        """Label Studio connects: answers the model version."""
        return {"model_version": predictor.version}

    @app.post("/predict", dependencies=[Depends(authorized)])
    async def backend_predict(request: BackendPredictRequest) -> dict[str, Any]:
        """Label Studio asks for predictions of its tasks; ``score`` follows its convention
        (lower = label first)."""
        tasks = request.tasks
        if not tasks:
            raise HTTPException(422, "'tasks' must be a non-empty list of Label Studio tasks.")
        if len(tasks) > config.max_images:
            raise HTTPException(413, f"at most {config.max_images} tasks per request; got {len(tasks)}.")
        face = interface(request.label_config)
        decoded = []
        for n, task in enumerate(tasks):
            try:
                file = task_image((task.get("data") or {}).get(face.image_key), root)
                data = await run_in_threadpool(file.read_bytes)
                decoded.append(await run_in_threadpool(decode_image, data, None, spec, config.max_pixels))
            except (TaskImageError, ImageRejected) as exc:
                raise HTTPException(422, f"task {task.get('id', n)}: {exc}") from None
        outputs = await predict_batch(np.stack([d.pixels for d in decoded]))
        results = []
        for image, output in zip(decoded, outputs, strict=True):
            item = assess(output, image)
            result = model_results(
                spec.task, item["prediction"], image.width, image.height, face.from_name, face.to_name
            )
            results.append(
                {"result": result, "score": item["label_studio_score"], "model_version": predictor.version}
            )
        return {"results": results}

    @app.post("/webhook", dependencies=[Depends(authorized)])
    async def webhook(event: WebhookEvent) -> dict[str, Any]:
        """Label Studio events: a created or updated annotation goes to the project ledger;
        START_TRAINING runs the retrain hook."""
        action = event.action
        if action in ANNOTATION_EVENTS:
            return await run_in_threadpool(store_annotation, event)
        if action == "START_TRAINING":
            return start_training()
        return {"status": "ignored", "action": action}

    @app.post("/train", dependencies=[Depends(authorized)])
    async def train(request: LabelStudioRequest) -> dict[str, Any]:
        """Label Studio's older training call: runs the retrain hook."""
        return start_training()

    @app.get("/v1/training", dependencies=[Depends(authorized)])
    async def training_status() -> dict[str, Any]:
        """The retrain hook's last run."""
        return training.report()

    def store_annotation(event: WebhookEvent) -> dict[str, Any]:
        task, annotation = event.task, event.annotation
        if task is None or annotation is None or not isinstance(task.get("data"), dict):
            raise HTTPException(
                422, "an annotation event needs 'task' (with 'data') and 'annotation' objects."
            )
        with open_project() as project:
            item = task["data"].get("activecv_item")
            if item is None or task["data"].get("activecv_project") not in (None, project.id):
                item = task_item(project, _image_reference(task["data"]))
            converted = annotation_of(item, annotation, f"task {task.get('id')}")
            if converted is None:
                return {"status": "skipped"}
            report = project.import_annotations(AnnotationFile("labelstudio", [converted], None))
        return {"status": "stored", "item": item, "added": report.added, "relabeled": report.relabeled}

    def task_item(project: Project, reference: Any) -> int:
        """The item of a task's image, registered on first sight (it lies under the root)."""
        try:
            file = task_image(reference, project.root)
        except TaskImageError as exc:
            raise HTTPException(422, str(exc)) from None
        path = file.relative_to(project.root).as_posix()
        try:
            return project.item_ids([path])[0]
        except InputError:
            project.register(describe(project.root, [path]))
            return project.item_ids([path])[0]

    def start_training() -> dict[str, Any]:
        if config.retrain is None:
            raise HTTPException(
                409, "no retrain hook is configured (start the service with --retrain module:callable)."
            )
        with training.lock:
            if training.state == "running":
                return {"status": "running", **training.report()}
            training.state, training.runs = "running", training.runs + 1
            training.started_at, training.finished_at, training.error = _now(), None, None
        threading.Thread(target=run_training, daemon=True).start()
        return {"status": "started", **training.report()}

    def run_training() -> None:
        assert config.retrain is not None
        module, _, name = config.retrain.partition(":")
        try:
            getattr(importlib.import_module(module), name)(config.project)
            state, error = "succeeded", None
        except Exception as exc:  # the hook is user code: report whatever it raised
            state, error = "failed", f"{type(exc).__name__}: {exc}"
        with training.lock:
            training.state, training.error, training.finished_at = state, error, _now()

    app.add_middleware(BodyLimit, limit=config.max_upload_bytes)
    return app


def _image_reference(data: dict[str, Any]) -> Any:
    """A task's image: its ``image`` field, else the first local-files URL among its fields."""
    if "image" in data:
        return data["image"]
    return next((v for v in data.values() if isinstance(v, str) and v.startswith(LOCAL_FILES)), None)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")

"""The HTTP app, wired: the routers, the open project, the middlewares in the order a request
meets them (metrics, token, body limit), and one error shape for every failure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from activecv._errors import ActiveCVError
from activecv.project import Project
from activecv.service import _labelstudio_routes, _predict_routes
from activecv.service._auth import TokenGate
from activecv.service._config import ServiceConfig
from activecv.service._limits import BodyLimit, ModelGate
from activecv.service._metrics import Metrics
from activecv.service._model import Predictor
from activecv.service._state import ServiceState
from activecv.service._training import Training


def create_app(config: ServiceConfig, predictor: Predictor) -> FastAPI:
    """The FastAPI app serving ``predictor`` under ``config``."""
    config.policy.check_metric(predictor.spec.task)
    project = Project(config.project) if config.project is not None else None
    root = config.images_root or (project.root if project is not None else None)
    metrics = Metrics()
    state = ServiceState(
        config=config,
        predictor=predictor,
        project=project,
        root=root.resolve() if root is not None else None,
        metrics=metrics,
        gate=ModelGate(config.concurrency, config.max_waiting, metrics.model_seconds.observe),
        training=Training(config.retrain, config.project),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if project is not None:
            project.close()

    app = FastAPI(
        title="activecv prediction service",
        version=predictor.version,
        description="Predictions with active-learning measures and an annotate decision; "
        "a Label Studio ML backend.",
        lifespan=lifespan,
    )
    app.state.service = state
    app.include_router(_predict_routes.public)
    app.include_router(_predict_routes.protected)
    app.include_router(_labelstudio_routes.router)
    app.add_exception_handler(ActiveCVError, _unprocessable)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    # Added innermost first: a request meets the metrics, then the token, then the body limit.
    app.add_middleware(BodyLimit, limit=config.max_upload_bytes)
    app.add_middleware(TokenGate, token=config.token)
    app.middleware("http")(metrics.count)
    return app


async def _unprocessable(request: Request, exc: ActiveCVError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=422)


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A malformed request in the error shape of every other failure: one readable sentence."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ())) or "body"
        if error.get("type") == "json_invalid":
            problems.append("the body is not valid JSON")
        else:
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return JSONResponse({"detail": f"malformed request: {'; '.join(problems)}."}, status_code=422)

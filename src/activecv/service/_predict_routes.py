"""The prediction API: health, metrics, predictions with their measures, the queue."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, File, HTTPException, Query, Security, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from activecv.service._auth import basic, bearer
from activecv.service._images import CONTENT_TYPES, ImageRejected, decode_image
from activecv.service._schemas import errors
from activecv.service._state import State

public = APIRouter()
protected = APIRouter(dependencies=[Security(bearer), Security(basic)], responses=errors(401))


@public.get("/health")
async def health(state: State) -> dict[str, Any]:
    """Liveness, the model version, the task and the class order of ``probabilities``
    (also Label Studio's health check)."""
    spec = state.predictor.spec
    return {
        "status": "UP",
        "model_version": state.predictor.version,
        "task": spec.task,
        "classes": list(spec.classes),
        "model_class": "activecv",
    }


@public.get("/metrics", response_class=PlainTextResponse)
async def metrics(state: State) -> PlainTextResponse:
    """Prometheus text format."""
    return PlainTextResponse(state.metrics.text(), media_type="text/plain; version=0.0.4")


# Each part declares the image types the service reads, so schema-driven clients send images.
IMAGE_PARTS = {"multipart/form-data": {"encoding": {"images": {"contentType": ", ".join(CONTENT_TYPES)}}}}


@protected.post(
    "/v1/predict",
    responses=errors(400, 413, 415, 422, 503),
    openapi_extra={"requestBody": {"content": IMAGE_PARTS}},
)
async def predict(
    state: State,
    images: Annotated[list[UploadFile], File(description="one or several images", min_length=1)],
) -> JSONResponse:
    """Predict each uploaded image: the model's output, every active-learning measure that
    applies, and ``annotate``; images flagged are stored once in the project's queue."""
    config = state.config
    if len(images) > config.max_images:
        raise HTTPException(413, f"at most {config.max_images} images per request; got {len(images)}.")
    decoded, raw = [], []
    for upload in images:
        data = await upload.read()
        try:
            decoded.append(
                await run_in_threadpool(
                    decode_image, data, upload.content_type, state.predictor.spec, config.max_pixels
                )
            )
        except ImageRejected as exc:
            raise HTTPException(exc.status, f"{upload.filename or 'upload'}: {exc}") from None
        raw.append(data)
    outputs = await state.predict(np.stack([d.pixels for d in decoded]))
    results = []
    for upload, image, data, output in zip(images, decoded, raw, outputs, strict=True):
        result: dict[str, Any] = {"filename": upload.filename, "width": image.width, "height": image.height}
        if config.plain:
            results.append({**result, "prediction": np.asarray(output).tolist()})
            continue
        result.update(state.assess(output, image))
        state.metrics.images.labels("true" if result["annotate"] else "false").inc()
        if result["annotate"] and state.project is not None:
            result["queued_item"] = await run_in_threadpool(state.enqueue, data, image, result)
        results.append(result)
    # json.dumps takes a quarter of the time of FastAPI's generic encoder on this response
    return JSONResponse({"model_version": state.predictor.version, "results": results})


@protected.get("/v1/queue", responses=errors(409, 422))
async def queue(
    state: State,
    limit: Annotated[int, Query(ge=1, le=10_000, description="items per page")] = 100,
    after: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="the `next` of the previous page")
    ] = None,
) -> dict[str, Any]:
    """Images flagged for annotation and not labeled yet, oldest first, a page at a time:
    ``next`` is the ``after`` of the following page (null on the last one)."""
    project = state.require_project()
    rows = await run_in_threadpool(project.queue, limit, after)
    return {"items": [row.as_dict() for row in rows], "next": rows[-1].id if len(rows) == limit else None}


@protected.get("/v1/training")
async def training_status(state: State) -> dict[str, Any]:
    """The retrain hook's last run."""
    return state.training.report()

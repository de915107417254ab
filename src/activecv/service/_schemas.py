"""Request bodies and error responses as the OpenAPI schema declares them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer: what was wrong, in one sentence."""

    detail: str


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route: each status with the error body and its meaning."""
    meaning = {
        400: "the body cannot be parsed, or the upload is not a decodable image",
        401: "the token is missing or wrong",
        409: "the service was started without what this needs (a project, a retrain hook)",
        413: "the request is too large (body, images per request, pixels)",
        415: "the upload is not an image type",
        422: "the request is malformed, or names what cannot be used",
        503: "the service is at capacity; retry after Retry-After seconds",
    }
    return {status: {"model": ErrorBody, "description": meaning[status]} for status in statuses}


class LabelStudioRequest(BaseModel):
    """A request from Label Studio; its fields vary across versions, so any are accepted."""

    model_config = ConfigDict(extra="allow")


class BackendPredictRequest(LabelStudioRequest):
    """Label Studio's prediction request: its tasks and the project's labeling config."""

    tasks: list[dict[str, Any]] = Field(min_length=1)
    label_config: str | None = None


class WebhookEvent(LabelStudioRequest):
    """A Label Studio webhook event (ANNOTATION_CREATED, ANNOTATION_UPDATED, START_TRAINING, ...)."""

    action: str
    task: dict[str, Any] | None = None
    annotation: dict[str, Any] | None = None

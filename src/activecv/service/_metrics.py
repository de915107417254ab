"""Prometheus metrics of one app: requests, latency, model time, annotate decisions."""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "activecv_requests", "HTTP requests", ["endpoint", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "activecv_request_seconds", "request latency", ["endpoint"], registry=self.registry
        )
        self.model_seconds = Histogram(
            "activecv_model_seconds", "model inference per batch", registry=self.registry
        )
        self.images = Counter(
            "activecv_images",
            "images predicted, by the annotate decision",
            ["annotate"],
            registry=self.registry,
        )

    async def count(self, request: Request, call_next: Any) -> Any:
        """HTTP middleware: every response by endpoint and status, with its latency."""
        start = time.perf_counter()
        response = await call_next(request)
        endpoint = getattr(request.scope.get("route"), "path", "unmatched")
        self.requests.labels(endpoint, str(response.status_code)).inc()
        self.latency.labels(endpoint).observe(time.perf_counter() - start)
        return response

    def text(self) -> str:
        return generate_latest(self.registry).decode()

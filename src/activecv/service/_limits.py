"""Bounds on what one request may cost: its body, and how many model calls run or wait."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send


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
                await self._refuse(scope, send)
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
                await self._refuse(scope, send)
                return
            if not message.get("more_body"):
                break
        replay = [{"type": "http.request", "body": bytes(body), "more_body": False}]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, replayed, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        response = JSONResponse({"detail": f"the request body exceeds {self.limit} bytes."}, status_code=413)
        await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


class ModelGate:
    """At most ``concurrency`` model calls at once, each in the thread pool (off the event
    loop); past ``max_waiting`` callers waiting, 503 with Retry-After."""

    def __init__(self, concurrency: int, max_waiting: int, observe: Callable[[float], None]) -> None:
        self._gate = asyncio.Semaphore(concurrency)
        self._max_waiting = max_waiting
        self._waiting = 0
        self._observe = observe

    async def run(self, call: Callable[..., Any], *args: Any) -> Any:
        if self._waiting >= self._max_waiting:
            raise HTTPException(503, "the service is at capacity; retry shortly.", {"Retry-After": "1"})
        self._waiting += 1
        try:
            async with self._gate:
                start = time.perf_counter()
                out = await run_in_threadpool(call, *args)
                self._observe(time.perf_counter() - start)
                return out
        finally:
            self._waiting -= 1

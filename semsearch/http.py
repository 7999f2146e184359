"""HTTP pieces both APIs share: readable validation errors, body limits, /metrics."""

from __future__ import annotations

import os
import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.telemetry import TelemetryConfig
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
"""FastAPI's built-in OpenTelemetry is off: it looks up the global providers on every request
(measurable at 1,000+ requests/s), and these services publish Prometheus metrics instead."""

REQUESTS = Counter("semsearch_http_requests_total", "HTTP requests", ["route", "status"])
LATENCY = Histogram(
    "semsearch_http_request_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def _describe(error: dict[str, object]) -> str:
    if error.get("type") == "json_invalid":
        return f"the request body is not valid JSON (error near character {error['loc'][-1]})"  # type: ignore[index]
    parts = list(error.get("loc", ()))  # type: ignore[call-overload]
    if parts and parts[0] in ("body", "path", "query", "header"):
        parts = parts[1:]
    return f"{'.'.join(str(p) for p in parts) or 'body'}: {error.get('msg')}"


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
        for e in exc.errors()
    ]
    message = "; ".join(_describe(e) for e in exc.errors())
    return JSONResponse(status_code=422, content={"detail": message, "errors": errors})


class LimitsAndMetrics:
    """Pure ASGI middleware: a request size limit, and a count and latency per route and status.

    (Starlette's ``BaseHTTPMiddleware`` costs a task and a stream per request; this costs a
    wrapper around ``send``.)
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_body_bytes:
            response = JSONResponse(status_code=413, content={
                "detail": f"request body is {int(length)} bytes; the limit is {self.max_body_bytes}"})
            await response(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            name = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(name, str(status)).inc()
            LATENCY.labels(name).observe(time.perf_counter() - started)


def metrics_registry() -> CollectorRegistry:
    """This process's metrics; with ``PROMETHEUS_MULTIPROC_DIR`` set (an API served by several
    worker processes), every worker's, whichever of them answers the scrape."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def install(app: FastAPI, max_body_bytes: int) -> None:
    """Validation messages a person can act on, a request size limit, and /metrics."""
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_middleware(LimitsAndMetrics, max_body_bytes=max_body_bytes)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(metrics_registry()), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

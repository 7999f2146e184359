"""HTTP pieces both APIs share: readable validation errors, body limits, /metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

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


def install(app: FastAPI, max_body_bytes: int) -> None:
    """Validation messages a person can act on, a request size limit, and /metrics."""
    app.add_exception_handler(RequestValidationError, validation_error)

    @app.middleware("http")
    async def limits_and_metrics(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_body_bytes:
            return JSONResponse(
                status_code=413,
                content={"detail": f"request body is {length} bytes; the limit is {max_body_bytes}"},
            )
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        REQUESTS.labels(name, str(response.status_code)).inc()
        LATENCY.labels(name).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

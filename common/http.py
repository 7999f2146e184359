"""HTTP pieces both APIs share: problem details, body limits, strict JSON bodies, /metrics."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
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
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common import auth, logs, problems, ratelimit
from common.auth import AuthError, AuthSettings
from common.problems import problem
from common.ratelimit import RateLimited

log = logging.getLogger("semsearch.http")

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


class BodyTooLarge(StarletteHTTPException):
    """The body passed the limit while it was being read (chunked, or longer than its
    Content-Length said). Raised from ``receive``: FastAPI lets an HTTPException through its
    body parsing, and the app's handler answers it with a 413 problem."""

    def __init__(self, received: int, limit: int) -> None:
        super().__init__(413, f"request body is at least {received} bytes; the limit is {limit}")


class LimitsAndMetrics:
    """Pure ASGI middleware: a request size limit, the request id (X-Request-ID, taken or made,
    returned, and set for the logs), and a count and latency per route and status.

    The limit holds whatever the transfer encoding: a Content-Length over it is answered before
    the app runs; otherwise ``receive`` counts the body bytes it hands out and raises
    :class:`BodyTooLarge` on the message that passes the limit, reading nothing after it.
    (Starlette's ``BaseHTTPMiddleware`` costs a task and a stream per request; this costs a
    wrapper around ``send`` and one around ``receive``.)
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        limit = self.max_body_bytes
        headers = dict(scope["headers"])
        rid = logs.request_id(headers.get(b"x-request-id", b"").decode("latin-1"))
        scope.setdefault("state", {})["request_id"] = rid
        token = logs.REQUEST_ID.set(rid)

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", rid.encode())]
            await send(message)

        try:
            length = headers.get(b"content-length", b"")
            if length.isdigit() and int(length) > limit:
                response = problem(413, f"request body is {int(length)} bytes; the limit is {limit}")
                await response(scope, receive, send_noting_status)
            else:
                await self.app(scope, _counted(receive, limit), send_noting_status)
        finally:
            logs.REQUEST_ID.reset(token)
            name = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(name, str(status)).inc()
            LATENCY.labels(name).observe(time.perf_counter() - started)


class DuplicateKey(StarletteHTTPException):
    """A JSON body with one key twice in an object (Python's json would keep the last silently,
    a second ``id`` too). An HTTPException, so that FastAPI's body parsing lets it through."""

    def __init__(self, loc: list[str | int], key: str) -> None:
        message = f"the key {key!r} appears more than once in this object; send it once"
        super().__init__(422, message)
        self.error = {"loc": loc, "msg": message, "type": "json_duplicate_key"}


class _Repeated(Exception):
    pass


class _Members(list[tuple[str, Any]]):
    """An object's members in order (finding where a key repeats needs all of them)."""


def _unique(members: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(members)
    if len(found) < len(members):
        raise _Repeated
    return found


def _first_repeat(value: Any, loc: list[str | int]) -> tuple[list[str | int], str] | None:
    children: list[tuple[str | int, Any]]
    if isinstance(value, _Members):
        seen: set[str] = set()
        for key, _ in value:
            if key in seen:
                return [*loc, key], key
            seen.add(key)
        children = list(value)
    elif isinstance(value, list):
        children = list(enumerate(value))
    else:
        return None
    for name, item in children:
        if found := _first_repeat(item, [*loc, name]):
            return found
    return None


_DECODER = json.JSONDecoder(object_pairs_hook=_unique)
"""Made once: ``json.loads(body, object_pairs_hook=...)`` makes a decoder per call (~1 µs)."""


def load_json_body(body: bytes) -> Any:
    """``json.loads``, refusing a key repeated in any object with :class:`DuplicateKey`, which
    names it and where it is (``body.documents.3.title``). Only a refused body is parsed twice."""
    try:  # (the text as json.loads makes it of bytes)
        return _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except _Repeated:
        found = _first_repeat(json.loads(body, object_pairs_hook=_Members), ["body"])
        assert found is not None
        raise DuplicateKey(*found) from None


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = load_json_body(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    """A route whose JSON body is read by :func:`load_json_body`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict


async def duplicate_key(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DuplicateKey)
    return await problems.validation_error(request, RequestValidationError([exc.error]))


def _counted(receive: Receive, limit: int) -> Receive:
    """``receive``, raising :class:`BodyTooLarge` on the body message that passes ``limit`` and
    on every call after it (which reads nothing more)."""
    received = 0

    async def receive_counted() -> Message:
        nonlocal received
        if received > limit:
            raise BodyTooLarge(received, limit)
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(received, limit)
        return message

    return receive_counted


def metrics_registry() -> CollectorRegistry:
    """This process's metrics; with ``PROMETHEUS_MULTIPROC_DIR`` set (an API served by several
    worker processes), every worker's, whichever of them answers the scrape."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


async def refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthError | RateLimited)
    return problem(exc.status_code, str(exc), headers=exc.headers)


async def server_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return problem(500, "the server failed to answer this request; it has been logged")


def install(app: FastAPI, max_body_bytes: int) -> None:
    """Problem details for every refusal (validation messages a person can act on), a request
    size limit, JSON bodies that repeat no key (for the routes registered after this), and
    /metrics."""
    app.router.route_class = StrictJsonRoute
    app.add_exception_handler(RequestValidationError, problems.validation_error)
    app.add_exception_handler(DuplicateKey, duplicate_key)
    app.add_exception_handler(StarletteHTTPException, problems.http_error)
    app.add_exception_handler(AuthError, refused)
    app.add_exception_handler(RateLimited, refused)
    app.add_exception_handler(Exception, server_error)
    problems.publish(app)
    app.add_middleware(LimitsAndMetrics, max_body_bytes=max_body_bytes)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(metrics_registry()), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}


def guard(settings: AuthSettings, scope: auth.Scope) -> tuple[dict[str, Any], tuple[int, ...]]:
    """A guarded route's extra arguments (the scope it needs, as the OpenAPI extension
    ``x-scope``, which :func:`enforce` reads; and, when auth is on, its security), and the
    statuses the guard adds."""
    extra: dict[str, Any] = {"x-scope": scope}
    if settings.auth == "off":
        return {"openapi_extra": extra}, (429,)
    return {"openapi_extra": {**extra, "security": auth.SECURITY}}, (401, 403, 429)


def enforce(app: FastAPI) -> None:
    """Put the guard in front of every route registered with :func:`guard`'s arguments: the
    key's scope (when auth is on), then the rate limit. Called once the routes are registered.

    The guard wraps the route's own ASGI app rather than being a FastAPI dependency: a
    dependency cost a trivial route ~20 µs of CPU per request (FastAPI's dependency solving; a
    cached search costs the query API ~350 µs), the wrapper costs what the check itself does.
    It runs after routing (a wrong method is still 405, a malformed id 404) and before the body
    is read; what it raises is answered by the app's exception handlers (problem details, and
    the command API's audit of refusals)."""
    for route in app.routes:
        needed = (getattr(route, "openapi_extra", None) or {}).get("x-scope")
        if isinstance(route, APIRoute) and needed:
            route.app = _guarded(route.app, needed)


def _guarded(app: ASGIApp, needed: auth.Scope) -> ASGIApp:
    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        caller = auth.principal(scope, needed)
        limiter: ratelimit.Limiter | None = getattr(scope["app"].state, "limiter", None)
        if limiter is not None:
            key = limiter.spend(caller, needed)
            if key is not None:
                await limiter.lease(key, caller, needed, 1)
        await app(scope, receive, send)

    return guarded

"""One error body for both APIs: RFC 9457 problem details (``application/problem+json``).

Every refusal, whatever raised it (validation, a command or query error, a missing route, the
body limit, the auth and rate-limit guards), is answered as ``Problem``: ``type`` (a URI naming
the kind of problem; ``about:blank`` when the status says it all), ``title`` (the status's
reason phrase exactly as the status line says it: uvicorn takes it from Python's ``http`` module
too, so the two agree on every Python version), ``status``, ``detail`` (what went wrong and what
to do, for a person), and, for a 422, ``errors`` (one entry per field). A problem may add
members of its own (the query API's 409 names the store and the documents behind). Routes list
each status they can answer with ``documented(...)``, and ``publish`` puts the problem media type
into the OpenAPI document.
"""

from __future__ import annotations

import http
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from common.auth import SECURITY_SCHEMES

MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="where: body, query, header or path, then the field")
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = Field(default=None, description="422: each field refused")


class BehindItem(BaseModel):
    id: str
    wanted: int
    held: int


class ReadModelBehindProblem(Problem):
    store: str
    behind: list[BehindItem]


def problem(status: int, detail: str, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    title = http.HTTPStatus(status).phrase
    body = {"type": "about:blank", "title": title, "status": status,
            "detail": detail, **extra}
    return JSONResponse(status_code=status, content=body, headers=headers, media_type=MEDIA_TYPE)


RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again",
                               "schema": {"type": "string"}}}
WWW_AUTHENTICATE = {"WWW-Authenticate": {"description": "the scheme and realm to authenticate with",
                                         "schema": {"type": "string"}}}
RATE_LIMIT = {**RETRY_AFTER, **{name: {"description": description, "schema": {"type": "string"}}
                                for name, description in (
    ("RateLimit-Limit", "requests (documents, for a bulk import) allowed per window"),
    ("RateLimit-Remaining", "left in this window"),
    ("RateLimit-Reset", "seconds until the window resets"))}}

WHY = {
    400: ("the body could not be read (not UTF-8)", None),
    401: ("no key, or a key that is not known", WWW_AUTHENTICATE),
    403: ("the key lacks the scope this route needs", WWW_AUTHENTICATE),
    404: ("no such document (or not a document id)", None),
    409: ("conflicts with the current state", None),
    412: ("If-Match names another version than the current one", None),
    413: ("the request body is over the limit", None),
    422: ("the request is not valid: each field refused is named", None),
    429: ("the key (or, without auth, the client address) is over its rate limit", RATE_LIMIT),
    503: ("a database or store this needs is unavailable, or the service is at capacity; retry "
          "after Retry-After", RETRY_AFTER),
}


def documented(*codes: int, **models: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each code with the problem body (or ``models["s409"]``)."""
    found: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        description, headers = WHY[code]
        found[code] = {"model": models.get(f"s{code}", Problem), "description": description}
        if headers:
            found[code]["headers"] = headers
    return found


def _field_path(error: dict[str, Any]) -> str:
    parts = list(error.get("loc", ()))
    if parts and parts[0] in ("body", "path", "query", "header"):
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or "body"


def _describe(error: dict[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        return f"the request body is not valid JSON (error near character {error['loc'][-1]})"
    return f"{_field_path(error)}: {error.get('msg')}"


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
              for e in exc.errors()]
    return problem(422, "; ".join(_describe(e) for e in exc.errors()), errors=errors)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:  # Starlette names the first route's methods only
        headers["Allow"] = ", ".join(sorted({
            method for route in request.app.router.routes if isinstance(route, Route)
            and route.matches(request.scope)[0] != Match.NONE for method in route.methods or ()}))
    return problem(exc.status_code, str(exc.detail), headers=headers or None)


def publish(app: FastAPI) -> None:
    """Serve the OpenAPI document with every problem response as ``application/problem+json``
    (FastAPI files a route's extra responses under its own media type, application/json), and
    optional parameters without null."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                                 description=app.description)
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    for parameter in operation.get("parameters", []):
                        _not_null(parameter)
                    for response in operation.get("responses", {}).values():
                        body = response.get("content", {}).get("application/json", {})
                        if body.get("schema", {}).get("$ref", "").endswith("Problem"):
                            response["content"] = {MEDIA_TYPE: body}
            if any("security" in op for path in schema.get("paths", {}).values()
                   for op in path.values()):
                schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _not_null(parameter: dict[str, Any]) -> None:
    """An optional header or query parameter is left out, never sent as null: FastAPI's schema
    ``anyOf: [T, null]`` would have clients send the text ``null``."""
    schema = parameter.get("schema", {})
    kinds = schema.get("anyOf")
    if kinds and {"type": "null"} in kinds:
        rest = [k for k in kinds if k != {"type": "null"}]
        del schema["anyOf"]
        schema.update(rest[0] if len(rest) == 1 else {"anyOf": rest})

"""Running a command: one transaction with its audit row, replays of an Idempotency-Key,
the ADR-020 count and time, the log line; and the audit row of a refused request."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from command_side import audit
from command_side.exceptions import CommandError
from command_side.idempotency import MAX_KEY_LENGTH, recall, remember
from command_side.metrics import COMMAND_SECONDS, COMMANDS, command_name
from command_side.settings import CommandSettings
from common.failpoints import crash_if

log = logging.getLogger("semsearch.command_api")


def respond(status: int, body: dict[str, Any]) -> JSONResponse:
    headers = {"ETag": f'"{body["version"]}"'} if "version" in body else None
    return JSONResponse(status_code=status, content=body, headers=headers)


@dataclass(frozen=True)
class Command:
    """What a command route needs beyond its body: the engine, settings, Idempotency-Key and
    the audit entry of this request."""

    engine: Engine
    settings: CommandSettings
    key: str | None
    entry: audit.Entry


def audit_entry(request: Request, key: str | None = None) -> audit.Entry:
    principal = getattr(request.state, "principal", None)
    route = request.scope.get("route")
    return audit.Entry(
        key_name=principal.name if principal else "-",
        client=request.client.host if request.client else "-", method=request.method,
        route=getattr(route, "path_format", request.url.path), idempotency_key=key,
        request_id=getattr(request.state, "request_id", None))


def execute(ctx: Command, fingerprint: str, status: int,
            run: Callable[[Connection], dict[str, Any]]) -> JSONResponse:
    """``_execute``, counted and timed (ADR-020); refusals are counted where they are audited."""
    name, started = command_name(ctx.entry.method, ctx.entry.route), time.perf_counter()
    try:
        response, outcome = _execute(ctx, fingerprint, status, run)
    except CommandError:
        raise
    except Exception:
        COMMANDS.labels(name, "error").inc()
        raise
    finally:
        COMMAND_SECONDS.labels(name).observe(time.perf_counter() - started)
    COMMANDS.labels(name, outcome).inc()
    return response


def _execute(ctx: Command, fingerprint: str, status: int,
             run: Callable[[Connection], dict[str, Any]]) -> tuple[JSONResponse, str]:
    """Run one command and its audit row in one transaction; with an Idempotency-Key, replay
    the first answer on retries (and audit the replay)."""
    key, engine = ctx.key, ctx.engine
    if key is not None:
        with engine.connect() as conn:
            stored = recall(conn, key, fingerprint)
        if stored is not None:
            return _replayed(engine, ctx.entry, *stored), "replayed"
    try:
        with engine.begin() as conn:
            body = run(conn)
            if key is not None:
                remember(conn, key, fingerprint, status, body)
            audit.record(conn, ctx.entry.written(status, body))
        crash_if("command-after-commit", ctx.settings.failpoints)
        _log(ctx.entry.written(status, body))
    except IntegrityError:
        if key is None:
            raise
        with engine.connect() as conn:  # a concurrent request with the same key won the race
            stored = recall(conn, key, fingerprint)
        if stored is None:
            raise
        return _replayed(engine, ctx.entry, *stored), "replayed"
    return respond(status, body), "written"


def _replayed(engine: Engine, entry: audit.Entry, status: int, body: dict[str, Any]) -> JSONResponse:
    with engine.begin() as conn:
        audit.record(conn, replayed := entry.written(status, body, outcome="replayed"))
    _log(replayed)
    return respond(status, body)


def _log(entry: audit.Entry) -> None:
    log.info("%s %s %d %s", entry.method, entry.route, entry.status, entry.outcome, extra={
        "fields": {"key": entry.key_name, "documents": [str(d) for d in entry.doc_ids[:20]],
                   "versions": entry.versions[:20], "count": len(entry.doc_ids)}})


async def audit_refusal(request: Request, status: int, reason: str) -> None:
    """A refused request's audit row, in a transaction of its own (the command's, if any, was
    rolled back); without the database the refusal is still answered, and logged."""
    key = request.headers.get("idempotency-key")
    doc_id = request.path_params.get("doc_id")
    entry = audit_entry(request, key[:MAX_KEY_LENGTH] if key else None).refused(
        status, reason, doc_id if isinstance(doc_id, uuid.UUID) else None)
    COMMANDS.labels(command_name(entry.method, entry.route), "refused").inc()
    try:
        await run_in_threadpool(_record, request.app.state.engine, entry)
    except DBAPIError as exc:
        log.warning("could not audit a refused %s %s: %s", request.method, request.url.path, exc)


def _record(engine: Engine, entry: audit.Entry) -> None:
    with engine.begin() as conn:
        audit.record(conn, entry)

"""The command API: admins write canonical documents here."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from command_side import handlers
from command_side.commands import (
    CreateDocument,
    DeleteDocument,
    DocumentChanged,
    DocumentFields,
    ImportDocuments,
    PatchDocument,
    ReplaceDocument,
)
from command_side.exceptions import BadBatch, CommandError
from command_side.execution import Command, audit_entry, audit_refusal, execute
from command_side.idempotency import MAX_KEY_LENGTH, request_hash
from command_side.models import (
    BulkImport,
    BulkWritten,
    DocumentCreate,
    DocumentPatch,
    DocumentReplace,
    DocumentWritten,
    Readiness,
)
from command_side.settings import CommandSettings
from common import auth, consistency, http, ratelimit
from common.auth import AuthError
from common.problems import documented, problem
from common.ratelimit import Limiter, RateLimited

MAX_REQUEST_BYTES = 64 * 1024 * 1024
RETRY_AFTER_SECONDS = "5"


# Dependencies are coroutines: FastAPI runs a plain ``def`` dependency on its thread pool, one
# thread hop per dependency per request.
async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


IF_MATCH = r'^(\*|(W/)?"?[0-9]{1,9}"?)$'


async def if_match(if_match: Annotated[str | None, Header(
        pattern=IF_MATCH, description='the version the change expects, as its ETag: "3" '
        '(W/"3" and 3 too); * for any')] = None) -> int | None:
    if if_match is None or if_match == "*":
        return None
    return int(if_match.removeprefix("W/").strip('"'))


async def idempotency_key(
    idempotency_key: Annotated[str | None, Header(
        min_length=1, max_length=MAX_KEY_LENGTH,
        description="a retry with the same key and request gets the first answer again")] = None,
) -> str | None:
    return idempotency_key


EngineDep = Annotated[Engine, Depends(get_engine)]
IfMatch = Annotated[int | None, Depends(if_match)]
IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]


def written(change: DocumentChanged) -> dict[str, Any]:
    token = consistency.encode([(change.id, change.version)])
    return {"id": str(change.id), "version": change.version, "token": token}


async def command(request: Request, key: IdempotencyKey) -> Command:
    return Command(request.app.state.engine, request.app.state.settings, key,
                   audit_entry(request, key))


CommandDep = Annotated[Command, Depends(command)]


def fields_of(doc: DocumentReplace) -> DocumentFields:
    return DocumentFields(
        title=doc.title,
        body=doc.body,
        category=doc.category,
        tags=tuple(dict.fromkeys(doc.tags)),
        attributes=dict(doc.attributes),
        published_at=doc.published_at,
    )



def register_routes(app: FastAPI, settings: CommandSettings) -> None:
    guard, refusals = http.guard(settings, "admin")
    # what every write can answer besides success (409: the Idempotency-Key names another
    # request; on a create, also: the document exists)
    WRITE = documented(400, 409, 413, 422, 503, *refusals)  # noqa: N806

    @app.post("/v1/documents", status_code=201, **guard,
              responses={201: {"model": DocumentWritten}, **WRITE})
    def create(doc: DocumentCreate, ctx: CommandDep) -> JSONResponse:
        cmd = CreateDocument(doc.id or uuid.uuid4(), fields_of(doc))
        fingerprint = request_hash("POST", "/v1/documents", doc.model_dump(mode="json")) \
            if ctx.key else ""
        return execute(ctx, fingerprint, 201, lambda conn: written(
            handlers.create_document(cmd, conn, ctx.settings.sync_stores,
                                   ctx.entry.request_id)))

    @app.put("/v1/documents/{doc_id:uuid}", **guard,
             responses={200: {"model": DocumentWritten}, **documented(404, 412), **WRITE})
    def replace(doc_id: uuid.UUID, doc: DocumentReplace, expected: IfMatch,
                ctx: CommandDep) -> JSONResponse:
        cmd = ReplaceDocument(doc_id, fields_of(doc), expected)
        fingerprint = request_hash(
            "PUT", str(doc_id), [doc.model_dump(mode="json"), expected]) if ctx.key else ""
        return execute(ctx, fingerprint, 200, lambda conn: written(
            handlers.replace_document(cmd, conn, ctx.settings.sync_stores,
                                   ctx.entry.request_id)))

    @app.patch("/v1/documents/{doc_id:uuid}", **guard,
               responses={200: {"model": DocumentWritten}, **documented(404, 412), **WRITE})
    def patch(doc_id: uuid.UUID, doc: DocumentPatch, expected: IfMatch,
              ctx: CommandDep) -> JSONResponse:
        changes = doc.model_dump(include=doc.model_fields_set)
        if "tags" in changes:
            changes["tags"] = list(dict.fromkeys(changes["tags"]))
        cmd = PatchDocument(doc_id, changes, expected)
        fingerprint = request_hash(
            "PATCH", str(doc_id), [doc.model_dump(mode="json"), expected]) if ctx.key else ""
        return execute(ctx, fingerprint, 200, lambda conn: written(
            handlers.patch_document(cmd, conn, ctx.settings.sync_stores,
                                   ctx.entry.request_id)))

    @app.delete("/v1/documents/{doc_id:uuid}", **guard,
                responses={200: {"model": DocumentWritten}, **documented(404, 412), **WRITE})
    def delete(doc_id: uuid.UUID, expected: IfMatch, ctx: CommandDep) -> JSONResponse:
        cmd = DeleteDocument(doc_id, expected)
        fingerprint = request_hash("DELETE", str(doc_id), expected) if ctx.key else ""
        return execute(ctx, fingerprint, 200, lambda conn: written(
            handlers.delete_document(cmd, conn, ctx.settings.sync_stores,
                                   ctx.entry.request_id)))

    @app.post("/v1/documents/bulk", status_code=200, **guard,
              responses={200: {"model": BulkWritten}, **WRITE})
    async def bulk(batch: BulkImport, ctx: CommandDep, request: Request) -> JSONResponse:
        await ratelimit.check(request, "admin", len(batch.documents) - 1)  # one per document
        return await run_in_threadpool(import_batch, batch, ctx)


def import_batch(batch: BulkImport, ctx: Command) -> JSONResponse:
    settings = ctx.settings
    if len(batch.documents) > settings.bulk_max_documents:
        raise BadBatch(f"a bulk import takes at most {settings.bulk_max_documents} "
                       f"documents; this one has {len(batch.documents)}: split it")
    docs = [(doc.id or uuid.uuid4(), fields_of(doc)) for doc in batch.documents]
    if len({doc_id for doc_id, _ in docs}) != len(docs):
        raise BadBatch("a bulk import names the same id twice: send each id once")
    cmd = ImportDocuments(tuple(docs))
    fingerprint = request_hash("POST", "bulk", batch.model_dump(mode="json")) if ctx.key else ""

    def run(conn: Connection) -> dict[str, Any]:
        changes = handlers.import_documents(cmd, conn, settings.sync_stores, ctx.entry.request_id)
        token = consistency.encode([(c.id, c.version) for c in changes])
        items = [{"id": str(c.id), "version": c.version} for c in changes]
        return {"items": items, "token": token}

    return execute(ctx, fingerprint, 200, run)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: CommandSettings = app.state.settings
    app.state.engine = sa.create_engine(
        settings.database_url, pool_size=16, max_overflow=8, pool_pre_ping=True,
        connect_args={"connect_timeout": 5},
    )
    app.state.limiter = Limiter.from_settings(settings)
    yield
    await app.state.limiter.close()
    app.state.engine.dispose()


def create_app(settings: CommandSettings | None = None) -> FastAPI:
    app = FastAPI(title="semsearch command API", version="1", lifespan=lifespan, telemetry=http.TELEMETRY,
                  redirect_slashes=False)
    app.state.settings = settings or CommandSettings()
    http.install(app, MAX_REQUEST_BYTES)
    app.state.keys = auth.Keys(app.state.settings)
    register_routes(app, app.state.settings)
    http.enforce(app)

    @app.exception_handler(CommandError)
    async def command_error(request: Request, exc: CommandError) -> JSONResponse:
        await audit_refusal(request, exc.status_code, str(exc))
        return problem(exc.status_code, str(exc))

    @app.exception_handler(AuthError)
    @app.exception_handler(RateLimited)
    async def refused(request: Request, exc: AuthError | RateLimited) -> JSONResponse:
        await audit_refusal(request, exc.status_code, str(exc))
        return problem(exc.status_code, str(exc), headers=exc.headers)

    @app.exception_handler(OperationalError)
    async def database_down(request: Request, exc: OperationalError) -> JSONResponse:
        return problem(503, "the write database is unavailable; retry later",
                       headers={"Retry-After": RETRY_AFTER_SECONDS})

    @app.get("/readyz", responses={200: {"model": Readiness}, 503: {"model": Readiness}})
    def readyz(engine: EngineDep) -> JSONResponse:
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except DBAPIError as exc:
            return JSONResponse(status_code=503, content={"status": "unavailable",
                                                          "database": str(exc.orig)[:200]})
        return JSONResponse({"status": "ready"})

    return app

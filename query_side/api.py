"""The query API: search backends read the read model here, never the write model."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import numpy as np
from fastapi import Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError

from common import auth, consistency, http
from common.problems import ReadModelBehindProblem, documented, problem
from common.ratelimit import Limiter
from common.text import WHITESPACE
from embeddings import load_encoder
from query_side import answers, generations, readmodel
from query_side.admission import RETRY_AFTER_S, Admission, Overloaded, door_first
from query_side.db import make_read_engine
from query_side.encoding import QueryEncoder
from query_side.exceptions import (
    DocumentNotIndexed,
    QueryError,
    ReadModelBehind,
    TooManyWaits,
)
from query_side.metrics import measured
from query_side.models import (
    DocumentView,
    Readiness,
    SearchRequest,
    SearchResponse,
)
from query_side.results import ChangeListener, ChangeSignal, Page, ResultCache
from query_side.router import SERVED, StoreRouter
from query_side.serving import Serving
from query_side.settings import QuerySettings
from query_side.stores.base import Filters, SearchHit, StoreUnavailable
from query_side.stores.factory import open_store
from query_side.waits import Waits, candidates_now, token_store

MAX_REQUEST_BYTES = 1024 * 1024

# Dependencies are coroutines: FastAPI runs a plain ``def`` dependency on its thread pool, one
# thread hop per dependency per request (four per search: a fifth of the event loop's time under
# distinct-query load, in a py-spy profile).
async def get_router(request: Request) -> StoreRouter:
    return request.app.state.router


async def get_serving(request: Request) -> Serving:
    return request.app.state.serving


async def get_results(request: Request) -> ResultCache:
    return request.app.state.results


async def get_admission(request: Request) -> Admission:
    return request.app.state.admission


RouterDep = Annotated[StoreRouter, Depends(get_router)]
ServingDep = Annotated[Serving, Depends(get_serving)]
ResultsDep = Annotated[ResultCache, Depends(get_results)]
AdmissionDep = Annotated[Admission, Depends(get_admission)]


def search_with_fallback(router: StoreRouter, name: str, vector: np.ndarray | None,
                         body: SearchRequest, text: str, generation: int | None = None,
                         ) -> tuple[str, list[SearchHit]]:
    """Search ``name``; if it fails between health checks, the next usable store answers
    (not for a token: only a store known to have reached the write may answer that)."""
    def run(store: str) -> list[SearchHit]:
        return router.stores[store].search(vector, body.filters, body.limit, body.offset,
                                           body.min_score, body.mode, text or None, body.alpha)
    try:
        return name, router.call(name, lambda: run(name))  # bounded: STORE_TIMEOUT_SECONDS
    except StoreUnavailable:
        router.forget(name)
        others = [n for n in router.candidates(generation) if n != name]
        if body.token is not None or not others:
            raise
        return others[0], run(others[0])  # (on this thread: calls stuck on the first may fill
        #                                     the bounded calls' pool)


def searched(router: StoreRouter, name: str, vector: np.ndarray | None, body: SearchRequest,
             text: str, generation: int) -> tuple[str, Page, dict[str, float | int] | None]:
    """The page that answers, with its hits' state (and, after a token wait, the store's lag
    looked at again: ``query_side.answers``), in one thread hop."""
    name, hits = search_with_fallback(router, name, vector, body, text, generation)
    states, lag = answers.look(router, name, hits, relook=body.token is not None)
    return name, answers.page(hits, states), lag


TokenQuery = Annotated[str | None, Query(
    max_length=consistency.MAX_LENGTH, pattern=consistency.PATTERN,
    description="consistency token from a command response: answered by a store that has "
    f"reached it (naming at most {consistency.MAX_WRITES} documents)")]
WaitQuery = Annotated[int | None, Query(
    ge=0, le=60_000, description="longest wait for the token (default: the server's "
    "CONSISTENCY_WAIT_SECONDS; at most its MAX_WAIT_SECONDS)")]


def register_routes(app: FastAPI, settings: QuerySettings) -> None:
    guard, refusals = http.guard(settings, "read")

    @app.post("/v1/search", response_model=SearchResponse, **guard, responses=documented(
        400, 409, 413, 422, 503, *refusals, s409=ReadModelBehindProblem))
    async def search(body: SearchRequest, request: Request, router: RouterDep, serving: ServingDep,
                     results: ResultsDep, admission: AdmissionDep) -> Response:
        # this search's index generation, encoder and stores, from start to end
        with measured("search") as noted, serving.taken() as taken:
            started = time.perf_counter()
            gen, encoder, model_id = taken.number, taken.encoder, taken.model_id
            text = (body.query or "").strip(WHITESPACE)
            key = None
            if body.token is None:  # eventually consistent: the best store now, maybe from the cache
                name = (await candidates_now(router, gen))[0]
                key = body.model_dump_json(exclude={"token", "wait_ms"})
                cached = results.get(name, key)
                if cached is not None:
                    noted["store"] = name
                    return answers.respond(cached, started, router.status(name), True, gen, model_id)
            else:
                name = await token_store(request, router, body.token, body.wait_ms, gen)
            asked, generation = name, results.generation(name)
            async with admission.slot():  # a bounded line in front of the encoder and the store
                vector = await encoder.aencode(text) if text and body.mode != "keyword" else None
                name, shown, lag = await run_in_threadpool(searched, router, name, vector, body,
                                                           text, gen)
            if key is not None and name == asked:  # (a fallback's answer is not kept)
                results.put(name, key, shown, generation)
            SERVED.labels(name).inc()
            noted["store"] = name
            status = router.relooked(name, lag) if lag is not None else router.status(name)
            return answers.respond(shown, started, status, False, gen, model_id)

    @app.get("/v1/documents/{doc_id:uuid}", **guard, responses=documented(
        404, 409, 422, 503, *refusals, s409=ReadModelBehindProblem))
    async def document(doc_id: uuid.UUID, request: Request, router: RouterDep,
                       token: TokenQuery = None, wait_ms: WaitQuery = None) -> DocumentView:
        with measured("document") as noted:
            if token is None:
                name = (await candidates_now(router))[0]
            else:  # answered by the store that reached the token
                name = await token_store(request, router, token, wait_ms)
            noted["store"] = name
            return await run_in_threadpool(answers.document_view, router, name, doc_id)

    @app.get("/v1/documents/{doc_id:uuid}/similar", **guard,
             responses=documented(404, 422, 503, *refusals))
    def similar(doc_id: uuid.UUID, router: RouterDep, serving: ServingDep,
                limit: Annotated[int, Query(ge=1, le=100)] = 10) -> SearchResponse:
        started = time.perf_counter()
        with measured("similar") as noted, serving.taken() as taken:
            gen, model_id = taken.number, taken.model_id
            noted["store"] = name = router.candidates(gen)[0]
            found = router.stores[name].get(doc_id)
            if found is None:
                raise DocumentNotIndexed(f"document {doc_id} is not in the read model ({name})")
            # the document's vector is the mean of its passages'; every passage of the others
            # counts (none while a crash left it without passages)
            vector = found[1]
            hits = router.stores[name].search(vector, Filters(), limit + 1) if np.any(vector) else []
            hits = [h for h in hits if h.id != doc_id][:limit]
        states, _ = answers.look(router, name, hits, relook=False)
        return SearchResponse(
            hits=[answers.to_hit(h, states.get(h.id)) for h in hits],
            took_ms=round((time.perf_counter() - started) * 1e3, 2), store=name,
            generation=gen, model_id=model_id,
            freshness=answers.freshness(router.status(name), *answers.pending(hits, states)))

    @app.get("/readyz", responses={200: {"model": Readiness}, 503: {"model": Readiness}})
    def readyz(router: RouterDep) -> JSONResponse:
        stores = {name: router.status(name, fresh=True) for name in router.stores}
        serving = router.candidates()[0]
        body = {
            "status": "ready" if stores[serving].healthy else "unavailable",
            "serving": serving,
            "stores": {n: {"healthy": s.healthy, "behind": s.behind, "lag_s": round(s.lag_s, 3),
                           "stuck": s.stuck} for n, s in stores.items()},
        }
        return JSONResponse(status_code=200 if stores[serving].healthy else 503, content=body)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: QuerySettings = app.state.settings
    read_engine = make_read_engine(settings.read_database_url, pool_size=16, autocommit=True,
                                   pre_ping=False)
    names = ["pgvector"] + (["weaviate"] if settings.weaviate_url else [])
    stores = {name: open_store(name, settings, read_engine) for name in names}
    readmodel.ensure_store(read_engine, stores["pgvector"])
    encoder = getattr(app.state, "encoder_override", None) or load_encoder(
        settings.encoder, threads=settings.encoder_threads, device=settings.device,
        half=settings.encoder_fp16)
    app.state.router = router = StoreRouter(stores, settings, read_engine)
    generations.ensure_registered(read_engine, settings)
    # ENCODER's own is loaded when used: only if a live generation uses it (else released)
    app.state.serving = serving = Serving(settings, read_engine, router,
                                          QueryEncoder(encoder, settings.query_cache_size))
    serving.start()  # (the pointer, and every live generation's stores and encoder, loaded)
    app.state.results = ResultCache(settings.result_cache_size)
    app.state.changes = ChangeSignal()
    app.state.waits = Waits(app.state.changes, settings.token_waits,
                            settings.token_waits_per_caller, settings.token_recheck_seconds)
    listener = ChangeListener(settings.read_database_url, app.state.results, app.state.changes)
    router.start()
    listener.start()
    app.state.limiter = Limiter.from_settings(settings)
    yield
    await app.state.limiter.close()
    serving.stop()
    router.stop()
    listener.stop()
    for store in router.stores.values():
        store.close()
    read_engine.dispose()


def create_app(settings: QuerySettings | None = None) -> FastAPI:
    app = FastAPI(title="semsearch query API", version="1", lifespan=lifespan, telemetry=http.TELEMETRY,
                  redirect_slashes=False)
    app.state.settings = settings = settings or QuerySettings()
    app.state.admission = Admission(settings.search_in_flight, settings.search_queue,
                                    settings.search_queue_seconds,
                                    settings.search_queue_give_up_seconds)
    http.install(app, MAX_REQUEST_BYTES)
    door_first(app, app.state.admission, ("/v1/search",))  # (outside every middleware)
    app.state.keys = auth.Keys(settings)
    register_routes(app, settings)
    http.enforce(app)

    @app.exception_handler(QueryError)
    async def query_error(request: Request, exc: QueryError) -> JSONResponse:
        if isinstance(exc, ReadModelBehind):
            return problem(409, str(exc), headers={"Retry-After": "1"}, store=exc.store, behind=[
                {"id": str(i), "wanted": w, "held": h} for i, w, h in exc.missing[:20]])
        if isinstance(exc, TooManyWaits):
            return problem(exc.status_code, str(exc), headers={
                "Retry-After": str(exc.retry_after_s)}, limit=exc.limit)
        return problem(exc.status_code, str(exc))

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        return problem(503, str(exc), headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(OperationalError)
    async def read_database_down(request: Request, exc: OperationalError) -> JSONResponse:
        return problem(503, "the read database is unavailable; retry later",
                       headers={"Retry-After": "2"})

    @app.exception_handler(StoreUnavailable)
    async def unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        return problem(503, f"search store unavailable: {exc}", headers={"Retry-After": "2"})

    return app

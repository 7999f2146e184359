"""Consistency-token waits on the real query API (issue 25, points 6 and 7): waiting holds
nothing serving needs, every wait is answered by its cap, tokens larger than any the command
API mints are refused, and a document read with a token is answered by a store that reached it."""

from __future__ import annotations

import socket
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from rq import Queue, SimpleWorker

from common import consistency
from query_side.api import create_app
from sync_worker import runtime
from tests.integration.test_result_cache import wait_listening
from tests.pipeline import Pipeline, pipeline
from tests.services import Services

WAIT_MS = 4000
MARGIN_S = 1.5


@contextmanager
def served(pipe: Pipeline, **options: Any) -> Iterator[tuple[str, Any]]:
    """A second query API on the pipeline's read model, served by uvicorn in a thread."""
    settings = pipe.query.app.state.settings.model_copy(update=options)  # type: ignore[attr-defined]
    app = create_app(settings)
    app.state.encoder_override = pipe.query.app.state.encoder_override  # type: ignore[attr-defined]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not (server.started and app.state.changes.live):
        assert time.monotonic() < deadline and thread.is_alive(), "the query API never started"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def p99(seconds: list[float]) -> float:
    return statistics.quantiles(seconds, n=100)[98]


def plain_searches(client: httpx.Client, label: str) -> list[float]:
    took = []
    for n in range(50):  # distinct queries: each is embedded and searched (no cache hit)
        started = time.perf_counter()
        reply = client.post("/v1/search", json={"query": f"tides of the {label} sea {n}"})
        took.append(time.perf_counter() - started)
        assert reply.status_code == 200, reply.text
    return took


def test_waiting_tokens_do_not_slow_plain_searches_and_all_end_by_their_cap(pipe: Pipeline) -> None:
    pipe.create(title="Tides", body="The Moon's pull raises the tides of the sea.")
    pipe.sync()
    never = consistency.encode([(uuid.uuid4(), 1)])  # a document never written
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    with served(pipe, token_waits=80, token_waits_per_caller=1000) as (url, _), \
            httpx.Client(base_url=url, limits=limits, timeout=30) as client:
        plain_searches(client, "warm")
        idle = p99(plain_searches(client, "idle"))

        def wait() -> tuple[httpx.Response, float]:
            started = time.monotonic()
            reply = client.post("/v1/search", json={"query": "tides", "token": never,
                                                    "wait_ms": WAIT_MS})
            return reply, time.monotonic() - started

        with ThreadPoolExecutor(100) as pool:
            waits = [pool.submit(wait) for _ in range(100)]
            time.sleep(0.5)  # every wait has arrived
            loaded = plain_searches(client, "busy")
            still_waiting = sum(not w.done() for w in waits)
            answers = [w.result(timeout=WAIT_MS / 1e3 + 30) for w in waits]
    print(f"plain search p99: {idle * 1e3:.1f} ms idle, {p99(loaded) * 1e3:.1f} ms with "
          f"{still_waiting} waits (slowest: {sorted(loaded)[-5:]})")
    assert p99(loaded) <= 2 * idle, f"p99 {p99(loaded):.3f}s against {idle:.3f}s idle"
    assert still_waiting >= 50, "the plain searches were not measured while the waits ran"
    for reply, took in answers:
        assert reply.status_code in (409, 503), reply.text
        assert reply.headers["Retry-After"] and took <= WAIT_MS / 1e3 + MARGIN_S, took
        if reply.status_code == 503:
            assert reply.json()["limit"] == "TOKEN_WAITS" and took < 0.5
    assert sum(r.status_code == 503 for r, _ in answers) == 20  # TOKEN_WAITS: 80 waited


def test_a_caller_over_its_waits_is_refused_at_once_with_429(pipe: Pipeline) -> None:
    never = consistency.encode([(uuid.uuid4(), 1)])
    with served(pipe, token_waits_per_caller=2) as (url, _), \
            httpx.Client(base_url=url, timeout=30) as client, ThreadPoolExecutor(2) as pool:
        held = [pool.submit(client.post, "/v1/search", json={
            "query": "tides", "token": never, "wait_ms": 2000}) for _ in range(2)]
        time.sleep(0.5)
        started = time.monotonic()
        refused = client.get(f"/v1/documents/{uuid.uuid4()}", params={"token": never})
        assert time.monotonic() - started < 0.5
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "1", refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["limit"] == "TOKEN_WAITS_PER_CALLER"
        assert [h.result().status_code for h in held] == [409, 409]


def test_a_token_naming_more_documents_than_a_bulk_import_writes_is_refused(pipe: Pipeline) -> None:
    over = consistency.encode([(uuid.uuid4(), 1) for _ in range(1001)])  # bulk imports: 1000
    assert len(over) <= 43_002  # refused for its count, not its length
    started = time.monotonic()
    for reply in (pipe.query.post("/v1/search", json={"query": "x", "token": over}),
                  pipe.query.get(f"/v1/documents/{uuid.uuid4()}", params={"token": over})):
        assert reply.status_code == 422, reply.text
        assert "token" in reply.json()["detail"] and "at most 1000" in reply.json()["detail"]
    assert time.monotonic() - started < 2  # refused, not waited for
    too_long = over + ".0123456789abcdef0123456789abcdef-1" * 300
    reply = pipe.query.post("/v1/search", json={"query": "x", "token": too_long})
    assert reply.status_code == 422 and "token" in reply.text
    schema = pipe.query.get("/openapi.json").json()
    token = schema["components"]["schemas"]["SearchRequest"]["properties"]["token"]
    assert token["anyOf"][0]["maxLength"] == 43_002  # 1000 documents at 9-digit versions


@pytest.fixture
def both(services: Services, weaviate, real_encoder) -> Iterator[Pipeline]:  # type: ignore[no-untyped-def]
    with pipeline(services, real_encoder, stores=["pgvector", "weaviate"], query_store="auto") as p:
        wait_listening(p)
        yield p


def work_only(pipe: Pipeline, store: str) -> None:
    """Apply what the relay sent to ``store`` alone (the other store's jobs stay queued)."""
    pipe.relay()
    runtime.install(pipe.runtime)
    try:
        queue = Queue(f"{pipe.worker_settings.queue_name}-{store}", connection=pipe.redis)
        SimpleWorker([queue], connection=pipe.redis).work(burst=True, logging_level="WARNING")
    finally:
        runtime.install(None)
    pipe.settle()


def test_a_document_read_with_a_token_waits_and_answers_from_the_store_that_reached_it(
        both: Pipeline) -> None:
    doc = both.create(title="Tides", body="The Moon raises the tides.")
    both.sync()
    patched = both.command.patch(f"/v1/documents/{doc['id']}", json={"title": "Tides, twice"})
    assert patched.status_code == 200, patched.text
    token = patched.json()["token"]
    work_only(both, "pgvector")  # Weaviate (served first) still holds version 1
    plain = both.query.get(f"/v1/documents/{doc['id']}").json()
    assert (plain["store"], plain["version"]) == ("weaviate", 1)
    read = both.query.get(f"/v1/documents/{doc['id']}", params={"token": token, "wait_ms": 0})
    assert read.status_code == 200, read.text
    assert (read.json()["store"], read.json()["version"]) == ("pgvector", 2)

    third = both.command.patch(f"/v1/documents/{doc['id']}", json={"title": "Tides, thrice"})
    started = time.monotonic()
    with ThreadPoolExecutor(1) as pool:  # the read waits; the worker applies the write meanwhile
        waiting = pool.submit(both.query.get, f"/v1/documents/{doc['id']}",
                              params={"token": third.json()["token"], "wait_ms": 10_000})
        time.sleep(0.5)
        assert not waiting.done(), waiting.result().text
        work_only(both, "pgvector")
        read = waiting.result(timeout=10)
    assert read.status_code == 200, read.text
    assert (read.json()["store"], read.json()["version"], read.json()["title"]) == (
        "pgvector", 3, "Tides, thrice")
    assert time.monotonic() - started < 5

"""Admission control: a bounded number in flight, a bounded line, a bounded wait, 503 beyond."""

from __future__ import annotations

import argparse
import asyncio
import time

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from common import http
from query_side.admission import REFUSED, Admission, AdmissionDoor, Overloaded, door_first
from query_side.api import create_app
from query_side.settings import QuerySettings
from semsearch import cli


def test_slots_then_a_line_in_order_then_refusal_when_the_line_is_full() -> None:
    async def scenario() -> None:
        admission = Admission(limit=2, queue=2, max_wait_s=5)
        await admission.acquire()
        await admission.acquire()
        assert admission.in_flight == 2
        order: list[int] = []

        async def wait(n: int) -> None:
            await admission.acquire()
            order.append(n)

        first, second = asyncio.create_task(wait(1)), asyncio.create_task(wait(2))
        await asyncio.sleep(0)
        assert admission.waiting == 2
        started = time.perf_counter()
        with pytest.raises(Overloaded) as refused:
            await admission.acquire()
        assert refused.value.reason == "full" and time.perf_counter() - started < 0.01
        admission.release()  # the slot goes to the first in line, not back to the pool
        await first
        assert order == [1] and admission.in_flight == 2 and admission.waiting == 1
        admission.release()
        await second
        assert order == [1, 2]
        for _ in range(2):
            admission.release()
        assert admission.in_flight == 0 and admission.waiting == 0

    asyncio.run(scenario())


def test_a_request_that_waited_too_long_is_refused_and_leaves_the_line() -> None:
    async def scenario() -> None:
        admission = Admission(limit=1, queue=4, max_wait_s=0.05)
        await admission.acquire()
        started = time.perf_counter()
        with pytest.raises(Overloaded) as refused:
            await admission.acquire()
        assert refused.value.reason == "waited"
        assert 0.04 < time.perf_counter() - started < 0.5
        assert admission.waiting == 0
        admission.release()
        assert admission.in_flight == 0

    asyncio.run(scenario())


def test_who_joined_the_line_is_served_past_the_wait_it_was_sized_for_until_giving_up() -> None:
    async def scenario() -> None:
        admission = Admission(limit=1, queue=4, max_wait_s=0.01, give_up_s=0.2)
        await admission.acquire()
        waiter = asyncio.create_task(admission.acquire())
        await asyncio.sleep(0.05)  # five times the wait the line is sized for
        assert not waiter.done() and admission.waiting == 1  # still in line, not refused
        admission.release()
        await waiter  # served
        admission.interval_s = 0.0  # (the pace it took would refuse the next at once)
        started = time.perf_counter()
        with pytest.raises(Overloaded) as refused:
            await admission.acquire()
        assert refused.value.reason == "waited" and time.perf_counter() - started >= 0.2
        assert admission.waiting == 0 and admission.in_flight == 1
        admission.release()

    asyncio.run(scenario())


def test_a_cancelled_waiter_gives_back_nothing_it_did_not_hold() -> None:
    async def scenario() -> None:
        admission = Admission(limit=1, queue=4, max_wait_s=5)
        await admission.acquire()
        waiter = asyncio.create_task(admission.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert admission.waiting == 0 and admission.in_flight == 1
        # handed a slot in the same turn as it was cancelled: the slot comes back
        waiter = asyncio.create_task(admission.acquire())
        await asyncio.sleep(0)
        admission.release()
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert admission.in_flight == 0 and admission.waiting == 0

    asyncio.run(scenario())


def refused(reason: str) -> float:
    return REFUSED.labels(reason)._value.get()  # type: ignore[attr-defined,no-any-return]


def test_a_slot_is_held_for_its_block_and_refusals_are_counted_by_reason() -> None:
    async def scenario() -> None:
        admission = Admission(limit=1, queue=0, max_wait_s=1)
        full = refused("full")
        async with admission.slot():
            assert admission.in_flight == 1
            with pytest.raises(Overloaded):
                async with admission.slot():
                    raise AssertionError("admitted beyond the limit")
        assert admission.in_flight == 0 and refused("full") == full + 1
        with pytest.raises(RuntimeError):
            async with admission.slot():
                raise RuntimeError("the search failed")
        assert admission.in_flight == 0  # given back whatever happened in the block

    asyncio.run(scenario())


def http_count(route: str, status: str) -> float:
    return http.REQUESTS.labels(route, status)._value.get()  # type: ignore[attr-defined,no-any-return]


def test_while_the_line_is_full_the_door_refuses_searches_before_anything_else_runs() -> None:
    app = FastAPI()
    admission = Admission(limit=1, queue=0, max_wait_s=1)
    passed: list[str] = []  # the requests that got past the door into the middlewares

    class Spy:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                passed.append(scope["path"])
            await self.app(scope, receive, send)

    http.install(app, 1024)
    app.add_middleware(Spy)
    door_first(app, admission, ("/v1/search",))
    bodies: list[bytes] = []

    @app.post("/v1/search")
    async def search(request: Request) -> dict[str, str]:
        bodies.append(await request.body())
        return {"ok": "yes"}

    with TestClient(app) as client:
        assert client.post("/v1/search", content=b"first").json() == {"ok": "yes"}
        admission.in_flight = 1  # as if one search were being served
        before, counted = refused("full"), http_count("/v1/search", "503")
        reply = client.post("/v1/search", content=b"second", headers={"X-Request-ID": "trace-7"})
        assert reply.status_code == 503 and reply.headers["Retry-After"] == "1"
        assert reply.headers["content-type"] == "application/problem+json"
        assert reply.headers["X-Request-ID"] == "trace-7"  # echoed, as every answer does
        assert reply.json() == {"type": "about:blank", "title": "Service Unavailable",
                                "status": 503, "detail": "the query API is at capacity (1 "
                                "searches in flight and its line full); retry after 1s"}
        assert "x-request-id" not in client.post("/v1/search", content=b"third").headers
        assert bodies == [b"first"] and passed == ["/v1/search"]  # neither read nor let in
        assert refused("full") == before + 2 and http_count("/v1/search", "503") == counted + 2
        assert client.get("/healthz").status_code == 200  # only searches wait in line
        admission.in_flight = 0
        assert client.post("/v1/search", content=b"fourth").status_code == 200
        assert passed == ["/v1/search", "/healthz", "/v1/search"]


def test_the_query_api_refuses_at_the_door_outside_all_of_its_middlewares() -> None:
    app = create_app(QuerySettings(auth="off", search_in_flight=1, search_queue=0))
    door = app.build_middleware_stack()
    assert isinstance(door, AdmissionDoor) and isinstance(door.app, ServerErrorMiddleware)
    app.state.admission.in_flight = 1  # (no lifespan: nothing behind the door is ready)
    reply = TestClient(app).post("/v1/search", json={"query": "refused"})
    assert reply.status_code == 503 and reply.headers["Retry-After"] == "1"
    assert reply.headers["content-type"] == "application/problem+json"


def test_the_line_is_as_long_as_what_the_measured_pace_serves_within_the_bound() -> None:
    async def scenario() -> None:
        admission = Admission(limit=1, queue=100, max_wait_s=0.5)
        await admission.acquire()
        assert not admission.full  # no pace measured yet: the count alone bounds the line
        await asyncio.sleep(0.05)
        admission.release()  # busy for 0.05 s: the first step of the pace
        assert 0.04 < admission.interval_s < 0.2
        admission.interval_s = 0.2  # as if one search finished every 0.2 s
        await admission.acquire()
        waiters = [asyncio.create_task(admission.acquire()) for _ in range(2)]
        await asyncio.sleep(0)
        assert admission.waiting == 2 and admission.full  # a third would wait 0.6 s > 0.5 s
        with pytest.raises(Overloaded) as refused:
            await admission.acquire()
        assert refused.value.reason == "full"
        admission.interval_s = 0.1
        assert not admission.full
        for waiter in waiters:
            admission.release()
            await waiter
        admission.release()
        assert admission.in_flight == 0

    asyncio.run(scenario())


def test_the_query_api_listens_with_its_backlog_and_keep_alive(
        monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[dict[str, object]] = []
    monkeypatch.setattr(cli, "serve", lambda *args, **kwargs: served.append(kwargs) or 0)
    monkeypatch.setenv("QUERY_API_BACKLOG", "3000")
    monkeypatch.setenv("QUERY_API_KEEP_ALIVE_SECONDS", "7")
    for name in ("ENCODER_THREADS", "PROMETHEUS_MULTIPROC_DIR"):  # set by several workers:
        monkeypatch.setenv(name, "1")  # put back as they were after the test
    for workers in (1, 2):
        assert cli.cmd_query_api(argparse.Namespace(workers=workers, port=1, host="127.0.0.1")) == 0
    assert [(s["backlog"], s["timeout_keep_alive"]) for s in served] == [(3000, 7), (3000, 7)]

"""Admission control: how many searches one query API process works on at a time, and what it
refuses at once.

At most ``limit`` searches embed their query and search a store at a time; up to ``queue`` more
wait for a slot, first come first served, and no more join the line than finish within
``max_wait_s`` at the pace measured while the slots are all taken. A search is admitted or
refused when it arrives: one that finds the line full is answered 503 at once (problem details,
``Retry-After``); one that joined the line is served, even if the pace slowed meanwhile, unless
it is still waiting after ``give_up_s`` (a safety net, refused then). A search that waited and
was refused anyway would be the worst answer: late *and* refused (at 0.2 s of waiting, that made
refusals' p99 206-427 ms where issue 16 asks for 100 ms). So under overload the process keeps
serving its best rate and refuses the rest at once, where without a bound every search queued in
the event loop and the thread pool and all came back late (issue 16: a fifth of the peak at 30x
the best concurrency, tens of seconds per search). What costs neither encoder nor store (a
result-cache hit, health, readiness, metrics) never waits in line; but while the line is full,
every search is refused at the door (``AdmissionDoor``), cache hits included, before any
middleware runs or its body is read: refusing must cost far less than serving.

``semsearch_query_refused_total{reason}`` counts the refusals: ``full`` (the line was full) or
``waited`` (no slot came within ``give_up_s``).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI
from prometheus_client import Counter
from starlette.types import ASGIApp, Receive, Scope, Send

from common import http, logs
from common.problems import problem

REFUSED = Counter("semsearch_query_refused_total",
                  "Requests refused by admission control (503), by reason", ["reason"])
RETRY_AFTER_S = 1


class Overloaded(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass
class Admission:
    limit: int
    queue: int
    max_wait_s: float
    """The line is as long as the searches the measured pace serves within this."""
    give_up_s: float = 0.0
    """A search still waiting for a slot after this (never less than ``max_wait_s``) is
    refused after all."""
    in_flight: int = 0
    interval_s: float = 0.0
    """Between two searches finishing while every slot is taken (a moving average): how fast
    the line moves, measured; 0 until measured."""
    _waiting: deque[asyncio.Future[None]] = field(default_factory=deque)
    _finished: float = 0.0

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def full(self) -> bool:
        """Every slot taken and the line as long as ``queue``, or as long as the searches that
        finish within ``max_wait_s`` at the pace measured (on a slowed machine the line is
        shorter, so that who joins it is served in time, and the rest refused at once)."""
        if self.in_flight < self.limit:
            return False
        waiting = len(self._waiting)
        return waiting >= self.queue or (waiting + 1) * self.interval_s > self.max_wait_s

    def at_capacity(self) -> str:
        return (f"the query API is at capacity ({self.limit} searches in flight, "
                f"{len(self._waiting)} waiting); retry after {RETRY_AFTER_S}s")

    async def acquire(self) -> None:
        """Take a slot, waiting in line for one if need be; raise Overloaded if none comes."""
        if self.in_flight < self.limit and not self._waiting:
            self.in_flight += 1
            if self.in_flight == self.limit:  # busy from now: the next finish is a step of pace
                self._finished = time.monotonic()
            return
        if self.full:
            raise Overloaded("full", self.at_capacity())
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        timer = asyncio.get_running_loop().call_later(
            max(self.give_up_s, self.max_wait_s), self._expire, future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                self.release()  # handed a slot just as the request was cancelled
            elif future in self._waiting:
                self._waiting.remove(future)
            raise
        finally:
            timer.cancel()

    def _expire(self, future: asyncio.Future[None]) -> None:
        if not future.done():
            self._waiting.remove(future)
            future.set_exception(Overloaded("waited", (
                f"no capacity came free within {max(self.give_up_s, self.max_wait_s):g}s (the "
                f"query API is overloaded); "
                f"retry after {RETRY_AFTER_S}s")))

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a slot for the body of the ``async with``; Overloaded (counted) if none comes."""
        try:
            await self.acquire()
        except Overloaded as exc:
            REFUSED.labels(exc.reason).inc()
            raise
        try:
            yield
        finally:
            self.release()

    def release(self) -> None:
        """Hand the slot to the first request still waiting, or give it back."""
        now = time.monotonic()
        if self.in_flight >= self.limit:  # the pace is the line's only while it is busy
            gap = now - self._finished
            self.interval_s = gap if not self.interval_s else 0.9 * self.interval_s + 0.1 * gap
        self._finished = now
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_result(None)
                return
        self.in_flight -= 1


class AdmissionDoor:
    """Pure ASGI app around the whole middleware stack (see :func:`door_first`): while the line
    is full, a search is refused before anything else runs (the error and body-limit
    middlewares, the request id, the HTTP metrics, routing, the guard, the body), with a response
    rendered once, so a refusal costs as little as it can of what the process serves.

    A refusal is still counted: ``semsearch_query_refused_total{reason="full"}``, and the HTTP
    request count and latency of its route with status 503; the client's X-Request-ID, if sane,
    is echoed (none is made up for a refusal)."""

    def __init__(self, app: ASGIApp, admission: Admission, paths: tuple[str, ...]) -> None:
        self.app, self.admission, self.paths = app, admission, frozenset(paths)
        self.refused = REFUSED.labels("full")
        self.counted = {path: (http.REQUESTS.labels(path, "503"), http.LATENCY.labels(path))
                        for path in paths}
        refusal = problem(503, f"the query API is at capacity ({admission.limit} searches in "
                               f"flight and its line full); retry after {RETRY_AFTER_S}s",
                          headers={"Retry-After": str(RETRY_AFTER_S)})
        self.headers, self.body = refusal.raw_headers, bytes(refusal.body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.admission.full or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = self.headers
        for name, value in scope["headers"]:
            if name == b"x-request-id" and logs.VALID_ID.fullmatch(value.decode("latin-1")):
                headers = [*headers, (name, value)]
        self.refused.inc()  # (counted even if the client is gone before the answer is sent)
        count, latency = self.counted[scope["path"]]
        count.inc()
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})
        latency.observe(time.perf_counter() - started)


def door_first(app: FastAPI, admission: Admission, paths: tuple[str, ...]) -> None:
    """Put the door outside every middleware of ``app``, FastAPI's and Starlette's own included
    (``add_middleware`` would put it inside those)."""
    build = app.build_middleware_stack

    def with_door() -> ASGIApp:
        return AdmissionDoor(build(), admission, paths)

    app.build_middleware_stack = with_door  # type: ignore[method-assign]

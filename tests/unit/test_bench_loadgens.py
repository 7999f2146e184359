"""Both builds of the load generator (Go, the default, and Python) against small local servers,
through the same path the benchmarks take (:func:`benchmarks.throughput.load.run_load`: a process of its own,
a spec in, an output out): each must count, wait, resend and time out alike, or the figures of
one would not mean what the other's do."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from benchmarks.throughput import goload, load
from benchmarks.throughput.loadgen import RESPONSE_TIMEOUT
from tests.services import weaviate_required

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(params=load.GENERATORS)
def generator(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "go" and goload.ensure_binary() is None:
        if weaviate_required():  # CI: Go is there (Weaviate is built with it); no silent skip
            pytest.fail("Go is not installed: the Go load generator cannot be built")
        pytest.skip("Go is not installed")
    load.use(request.param)
    yield request.param
    load.use("go")


@contextmanager
def serving(handler: Handler) -> Iterator[str]:
    """``handler`` on a loopback port, in an event loop of its own thread; the base URL."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port: list[int] = []

    async def start() -> asyncio.Server:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()
        return server

    server = loop.run_until_complete(start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        ready.wait(5)
        yield f"http://127.0.0.1:{port[0]}"
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return head, await reader.readexactly(length)


def answering(response: bytes, seen: list[tuple[float, bytes, bytes]], close: bool = False) -> Handler:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head, body = await read_request(reader)
                seen.append((time.perf_counter(), head, body))
                writer.write(response)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    return answer


REFUSED = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\nbusy"
CREATED = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
SEARCH = [("POST", "/v1/search", "{}")]


def run(url: str, duration: float, **how: Any) -> load.LoadResult:
    return load.run_load("test", url, SEARCH, duration, timeout=5, **how)


def test_closed_loop_clients_wait_out_retry_after_when_told_to(generator: str) -> None:
    seen: list[Any] = []
    with serving(answering(REFUSED, seen)) as url:
        polite = run(url, 1.5, concurrency=3, honor_retry_after=True)
        eager = run(url, 0.3, concurrency=3)
    assert 3 <= len(polite.status) <= 6 and set(polite.status) == {503}  # now, then a second later
    assert len(eager.status) > 30 and set(eager.status) == {503}


def test_a_burst_sends_one_request_on_each_of_its_connections(generator: str) -> None:
    seen: list[Any] = []
    with serving(answering(REFUSED, seen)) as url:
        result = load.run_load("burst", url, SEARCH, 0.0, burst=True, concurrency=50, timeout=5)
    assert list(result.status) == [503] * 50 and len(seen) == 50


def test_open_loop_sends_at_its_rate_and_times_from_the_schedule(generator: str) -> None:
    seen: list[Any] = []
    with serving(answering(CREATED, seen)) as url:
        result = run(url, 1.0, rate=200.0, warmup=0.25, max_connections=8)
    assert len(seen) == 250  # warm-up included in what is sent, left out of what is counted
    assert 195 <= len(result.status) <= 205 and set(result.status) == {201}
    assert np.all(np.diff(np.sort(result.started)) >= 0) and result.started.min() >= 0
    assert result.started.max() < 1.0 and result.latency.min() > 0


def test_the_template_makes_every_body_distinct_and_headers_go_with_each_request(
        generator: str) -> None:
    seen: list[tuple[float, bytes, bytes]] = []
    with serving(answering(CREATED, seen)) as url:
        load.run_load("t", url, [("POST", "/v1/documents/%SEQ%", '{"n": %SEQ%, "id": "%UUID%"}')],
                      0.3, concurrency=2, template=True, headers={"X-API-Key": "k1"}, timeout=5)
    bodies = [body for _, _, body in seen]
    assert len(set(bodies)) == len(bodies) > 10 and b"%" not in b"".join(bodies)
    assert all(b"X-API-Key: k1\r\n" in head for _, head, _ in seen)
    paths = {head.split(b" ")[1] for _, head, _ in seen}
    assert len(paths) == len(seen) and all(p.startswith(b"/v1/documents/") for p in paths)


def test_a_chunked_response_is_read_whole_and_the_connection_reused(generator: str) -> None:
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n")
    connections: list[int] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await answering(chunked, [])(reader, writer)

    with serving(answer) as url:
        result = run(url, 0.3, concurrency=1)
    assert len(result.status) > 10 and set(result.status) == {200} and len(connections) == 1


def test_what_an_idle_closed_connection_never_read_is_resent_and_counted(generator: str) -> None:
    """A server that closes each connection right after answering (as uvicorn closes idle
    keep-alive connections): the next request on it is sent again on a new one, and counted.
    A server that drops a request it has read is an error (status 0), never a resend."""
    seen: list[Any] = []
    with serving(answering(CREATED, seen, close=True)) as url:
        result = run(url, 0.3, concurrency=1)
    assert len(result.status) > 5 and set(result.status) == {201}
    assert result.reconnects == len(seen) - 1 == len(result.status) - 1

    async def read_then_drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()

    with serving(read_then_drop) as url:
        dropped = run(url, 0.2, concurrency=1)
    assert len(dropped.status) > 2 and set(dropped.status) == {0} and dropped.reconnects == 0


def test_no_answer_within_the_timeout_is_a_response_timeout(generator: str) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()  # until the client gives up and closes
        writer.close()

    with serving(silent) as url:
        result = load.run_load("t", url, SEARCH, 0.2, concurrency=2, timeout=0.5)
    assert list(result.status) == [RESPONSE_TIMEOUT] * 2
    assert np.all((result.latency >= 0.5) & (result.latency < 2.0))


def test_the_report_names_the_load_generator_that_ran(generator: str) -> None:
    assert ("Go" if generator == "go" else "Python") in load.describe()

"""The overload phase's pieces: the summary of an overloaded run, its checks, and the load
generator's Retry-After and burst modes against a server that refuses everything."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from benchmarks import overload
from benchmarks.load import LoadResult
from benchmarks.loadgen import CONNECT_TIMEOUT, RESPONSE_TIMEOUT, Load
from benchmarks.results import _check


def test_an_overloaded_run_counts_served_refused_and_failures_apart() -> None:
    status = np.array([200, 200, 503, 503, 503, 0, CONNECT_TIMEOUT, RESPONSE_TIMEOUT, 500])
    latency = np.array([0.1, 0.3, 0.001, 0.002, 0.003, 1.0, 60.0, 60.0, 0.5])
    result = LoadResult("x", np.zeros(len(status)), latency, status, wall_s=2.0, cpu_s=0.5)
    s = result.overload_summary()
    assert (s["served"], s["refused"], s["served_per_s"], s["refused_per_s"]) == (2, 3, 1.0, 1.5)
    assert (s["connection_errors"], s["connect_timeouts"], s["response_timeouts"]) == (1, 1, 1)
    assert s["other_5xx"] == 1 and s["other_statuses"] == [500]
    assert s["refused_p50_ms"] == 2.0 and s["served_p50_ms"] == 200.0


def row(multiple: int, served: float, p99: float, refused_p99: float | None) -> dict[str, Any]:
    return {"multiple": multiple, "served_per_s": served, "served_p99_ms": p99,
            "refused_p99_ms": refused_p99}


def test_checks_hold_the_peak_at_10x_and_30x_and_the_burst_to_no_failure() -> None:
    burst = {"connections": 2000, "served": 100, "refused": 1900, "connect_timeouts": 0,
             "response_timeouts": 0, "connection_errors": 0, "other_5xx": 0}
    o = {"peak_per_s": 100.0, "burst": burst,
         "closed": [row(1, 100, 200, None), row(10, 95, 900, 5), row(30, 80, 1200, 150)],
         "open": [row(3, 99, 300, 4)]}
    found = {c["what"]: c["pass"] for c in overload.checks("s", o, _check)}
    assert found["s: overload closed 10x: served/s / peak (95 / 100.0)"] is True
    assert found["s: overload closed 30x: served/s / peak (80 / 100.0)"] is False
    assert found["s: overload closed 10x: p99 of served (ms)"] is True
    assert found["s: overload closed 30x: p99 of served (ms)"] is False
    assert found["s: overload closed 30x: p99 of refusals (ms)"] is False
    assert not any("closed 1x" in what for what in found)  # the 1x level is the reference
    burst_check = [v for k, v in found.items() if "burst of 2000" in k]
    assert burst_check == [True]
    burst["connect_timeouts"] = 1
    assert [c["pass"] for c in overload.checks("s", o, _check) if "burst" in c["what"]] == [False]


def refusing_server(seen: list[float]) -> Any:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                seen.append(time.perf_counter())
                writer.write(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                             b"Content-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return answer


def run_against_refusals(mode: str, concurrency: int, honor: bool, duration: float) -> tuple[
        list[float], list[int]]:
    seen: list[float] = []

    async def scenario() -> list[int]:
        server = await asyncio.start_server(refusing_server(seen), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        load = Load({"url": f"http://127.0.0.1:{port}", "requests": [["POST", "/v1/search", "{}"]],
                     "duration": duration, "honor_retry_after": honor, "timeout": 5})
        load.t0 = time.perf_counter()
        await (load.closed(concurrency) if mode == "closed" else load.burst(concurrency))
        server.close()
        return [status for _, _, status in load.rows]

    return seen, asyncio.run(scenario())


def test_closed_loop_clients_wait_out_retry_after_when_told_to() -> None:
    _, polite = run_against_refusals("closed", 3, honor=True, duration=1.5)
    assert 3 <= len(polite) <= 6 and set(polite) == {503}  # one at once, one a second later
    _, eager = run_against_refusals("closed", 3, honor=False, duration=0.3)
    assert len(eager) > 30


def test_a_burst_sends_one_request_on_each_of_its_connections() -> None:
    seen, statuses = run_against_refusals("burst", 50, honor=False, duration=0)
    assert statuses == [503] * 50 and len(seen) == 50

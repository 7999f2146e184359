"""HTTP load in its own process: closed-loop (N clients back to back) or open-loop (a fixed rate).

The client is a minimal HTTP/1.1 keep-alive client on asyncio streams: it costs a fraction of
httpx's CPU per request, which matters on a 2-core machine where the load generator shares the
CPU with the system under test. Its own CPU time is measured and reported next to the figures.

Open-loop latency is measured from each request's *scheduled* start, so a stalled server is not
hidden by requests that were never sent (coordinated omission). Bodies may hold ``%SEQ%`` (the
request's sequence number) and ``%UUID%`` (a fresh UUID), replaced per request.

A third mode, *burst*, opens ``concurrency`` connections at once and sends one request on each
(a traffic spike). Status 0 is a connection error, ``CONNECT_TIMEOUT`` a connection not
accepted within ``connect_timeout`` seconds, ``RESPONSE_TIMEOUT`` no response within
``timeout``. Closed-loop clients given ``honor_retry_after`` wait out a 503's Retry-After before
their next request, as well-behaved clients do.

Run as ``python -m benchmarks.throughput.loadgen SPEC.json OUT.json``. Its Go build
(``benchmarks/throughput/goload/``, the default) reads the same spec and writes the same output;
:func:`benchmarks.throughput.load.run_load` runs either.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

CONNECT_TIMEOUT = -1
RESPONSE_TIMEOUT = -2


class ConnectTimeout(Exception):
    pass


class HttpConnection:
    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None,
                 connect_timeout: float | None = None) -> None:
        self.host, self.port = host, port
        self.connect_timeout = connect_timeout
        self.retry_after = 0.0
        """The last response's Retry-After (seconds), 0 without one."""
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.reconnects = 0
        """Requests sent again after the server had closed the idle connection they met."""

    async def request(self, method: str, path: str, body: bytes) -> int:
        reused = self.writer is not None and not self.writer.is_closing()
        try:
            raw = await self._send(method, path, body)
        except (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError) as exc:
            if not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                raise
            # The server closed this keep-alive connection while it sat idle (uvicorn does after
            # 5 s), so it never read the request: send it once more on a new connection, as
            # HTTP clients do. Counted, and reported.
            self.close()
            self.writer = None
            self.reconnects += 1
            raw = await self._send(method, path, body)
        assert self.reader is not None and self.writer is not None
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
        after = headers.get("retry-after", "")
        self.retry_after = float(after) if after.isdigit() else 0.0
        if headers.get("transfer-encoding", "").lower() == "chunked":
            await self._skip_chunks()
        else:
            await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.writer.close()
        return status

    async def _send(self, method: str, path: str, body: bytes) -> bytes:
        """Write the request (connecting first if need be); the response's head."""
        if self.writer is None or self.writer.is_closing():
            try:
                self.reader, self.writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), self.connect_timeout)
            except TimeoutError as exc:
                raise ConnectTimeout from exc
        assert self.reader is not None and self.writer is not None
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json"
                f"\r\n{self.extra}Content-Length: {len(body)}\r\n\r\n")
        self.writer.write(head.encode() + body)
        return await self.reader.readuntil(b"\r\n\r\n")

    async def _skip_chunks(self) -> None:
        assert self.reader is not None
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await self.reader.readexactly(size + 2)
            if size == 0:
                return

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Load:
    """One run: the requests to cycle through and what came back."""

    def __init__(self, spec: dict[str, Any]) -> None:
        url = urlparse(spec["url"])
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.requests = [(m, p, b.encode()) for m, p, b in spec["requests"]]
        self.template = bool(spec.get("template"))
        self.headers: dict[str, str] = dict(spec.get("headers") or {})
        self.duration = float(spec["duration"])
        self.warmup = float(spec.get("warmup", 0.0))
        self.seq = itertools.count()
        self.rows: list[tuple[float, float, int]] = []
        self.t0 = 0.0
        self.connections: list[HttpConnection] = []
        self.timeout: float | None = spec.get("timeout")
        self.connect_timeout: float | None = spec.get("connect_timeout")
        self.honor_retry_after = bool(spec.get("honor_retry_after"))

    def connect(self) -> HttpConnection:
        self.connections.append(HttpConnection(self.host, self.port, self.headers,
                                               self.connect_timeout))
        return self.connections[-1]

    def next_request(self) -> tuple[str, str, bytes]:
        n = next(self.seq)
        method, path, body = self.requests[n % len(self.requests)]
        if self.template:
            body = body.replace(b"%SEQ%", str(n).encode()).replace(b"%UUID%", str(uuid.uuid4()).encode())
            path = path.replace("%SEQ%", str(n))
        return method, path, body

    async def one(self, conn: HttpConnection, scheduled: float) -> None:
        method, path, body = self.next_request()
        try:
            status = await asyncio.wait_for(conn.request(method, path, body), self.timeout)
        except (OSError, asyncio.IncompleteReadError, ValueError, ConnectTimeout,
                TimeoutError) as exc:
            conn.close()
            conn.writer = None
            status = {ConnectTimeout: CONNECT_TIMEOUT, TimeoutError: RESPONSE_TIMEOUT}.get(
                type(exc), 0)
        done = time.perf_counter()
        if scheduled - self.t0 >= self.warmup:
            self.rows.append((scheduled - self.t0 - self.warmup, done - scheduled, status))

    async def closed(self, concurrency: int) -> None:
        end = self.t0 + self.warmup + self.duration

        async def client() -> None:
            conn = self.connect()
            while (now := time.perf_counter()) < end:
                await self.one(conn, now)
                if self.honor_retry_after and conn.retry_after:
                    await asyncio.sleep(min(conn.retry_after, max(0.0, end - time.perf_counter())))
                    conn.retry_after = 0.0
            conn.close()

        await asyncio.gather(*(client() for _ in range(concurrency)))

    async def open_loop(self, rate: float, max_connections: int) -> None:
        idle: list[HttpConnection] = []
        gate = asyncio.Semaphore(max_connections)
        tasks = set()

        async def fire(scheduled: float) -> None:
            async with gate:
                conn = idle.pop() if idle else self.connect()
                await self.one(conn, scheduled)
                idle.append(conn)

        total = int(rate * (self.warmup + self.duration))
        for i in range(total):
            scheduled = self.t0 + i / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            task = asyncio.create_task(fire(scheduled))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        for conn in idle:
            conn.close()


    async def burst(self, connections: int) -> None:
        """``connections`` clients at once, one request each, then every connection closed."""
        async def client() -> None:
            conn = self.connect()
            await self.one(conn, self.t0)
            conn.close()

        await asyncio.gather(*(client() for _ in range(connections)))


async def _main(spec: dict[str, Any]) -> dict[str, Any]:
    load = Load(spec)
    cpu0 = time.process_time()
    load.t0 = time.perf_counter()
    if spec["mode"] == "closed":
        await load.closed(int(spec["concurrency"]))
    elif spec["mode"] == "burst":
        await load.burst(int(spec["concurrency"]))
    else:
        await load.open_loop(float(spec["rate"]), int(spec.get("max_connections", 256)))
    wall = time.perf_counter() - load.t0 - load.warmup
    return {"started": [r[0] for r in load.rows], "latency": [r[1] for r in load.rows],
            "status": [r[2] for r in load.rows], "wall_s": wall,
            "cpu_s": time.process_time() - cpu0,
            "reconnects": sum(conn.reconnects for conn in load.connections)}


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    result = asyncio.run(_main(spec))
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

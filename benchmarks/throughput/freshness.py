"""``freshness``: commit-to-searchable latency under a steady write rate (half the capacity).

One writer creates documents through the command API at a fixed rate (open loop: a slow answer
does not slow the schedule). A document is *committed* when its 201 arrives and *searchable*
when the serving store's projection state holds its version, which is exactly when a search with
its consistency token succeeds. With the stack's read database at hand, one poller asks about
every pending document each ``POLL_S`` (cheap, 10 ms resolution); against an external stack each
write waits with its token on the query API instead. The worker's own commit-to-searchable
histogram (Prometheus) is read before and after, as a cross-check.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import sqlalchemy as sa
from tqdm import tqdm

from benchmarks.harness import metrics
from benchmarks.harness.stack import Target
from benchmarks.throughput import ingest

POLL_S = 0.01
SETTLE_S = 60.0
"""Longest wait for the last writes to become searchable after the schedule ends."""

HELD = sa.text("SELECT doc_id FROM projection_state WHERE store = :store AND doc_id = ANY(:ids) "
               "AND version >= 1")


class Clock:
    """Commit and searchable times of each document, shared by the writer and the poller."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.committed: dict[uuid.UUID, float] = {}
        self.searchable: dict[uuid.UUID, float] = {}
        self.done_writing = threading.Event()
        self.error: BaseException | None = None

    def pending(self) -> list[uuid.UUID]:
        with self.lock:
            return [i for i in self.committed if i not in self.searchable]

    def seen(self, ids: list[uuid.UUID], at: float) -> None:
        with self.lock:
            for doc_id in ids:
                self.searchable.setdefault(doc_id, at)


def _poll_database(target: Target, clock: Clock) -> None:
    assert target.read_database_url is not None
    engine = sa.create_engine(target.read_database_url, pool_size=1)
    deadline = float("inf")
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            if clock.done_writing.is_set() and deadline == float("inf"):
                deadline = time.monotonic() + SETTLE_S
            pending = clock.pending()
            if pending:
                found = [row[0] for row in conn.execute(HELD, {"store": target.store, "ids": pending})]
                conn.rollback()
                clock.seen(found, time.monotonic())
            elif clock.done_writing.is_set():
                break
            time.sleep(POLL_S)
    engine.dispose()


def _wait_with_token(target: Target, clock: Clock, doc_id: uuid.UUID, token: str) -> None:
    with httpx.Client(base_url=target.query_url, timeout=120) as client:
        ingest.wait_token(client, token, timeout=SETTLE_S)
    clock.seen([doc_id], time.monotonic())


def _write(target: Target, docs: list[dict[str, Any]], rate: float, clock: Clock) -> None:
    try:
        _schedule(target, docs, rate, clock)
    except BaseException as exc:  # reported by run(); the poller must stop either way
        clock.error = exc
    finally:
        clock.done_writing.set()


def _schedule(target: Target, docs: list[dict[str, Any]], rate: float, clock: Clock) -> None:
    waiters = ThreadPoolExecutor(64) if target.read_database_url is None else None
    with httpx.Client(base_url=target.command_url, timeout=30) as client:
        started = time.monotonic()
        for n, doc in enumerate(tqdm(docs, desc="freshness: writes", unit="doc")):
            time.sleep(max(0.0, started + n / rate - time.monotonic()))
            reply = client.post("/v1/documents", json=doc)
            reply.raise_for_status()
            doc_id = uuid.UUID(reply.json()["id"])
            with clock.lock:
                clock.committed[doc_id] = time.monotonic()
            if waiters is not None:
                waiters.submit(_wait_with_token, target, clock, doc_id, reply.json()["token"])
    if waiters is not None:
        waiters.shutdown(wait=True)


def run(target: Target, docs: list[dict[str, Any]], rate: float, capacity: dict[str, Any]) -> dict[str, Any]:
    """Write ``docs`` at ``rate``/s; the latency of each from commit to searchable."""
    clock = Clock()
    before = metrics.scrape(target.worker_metrics_url)
    writer = threading.Thread(target=_write, args=(target, docs, rate, clock), daemon=True)
    writer.start()
    if target.read_database_url is not None:
        _poll_database(target, clock)
    writer.join()
    if clock.error is not None:
        raise RuntimeError("the steady writes failed") from clock.error
    after = metrics.scrape(target.worker_metrics_url)
    latencies = np.array([clock.searchable[i] - t for i, t in clock.committed.items()
                          if i in clock.searchable])
    pct = {f"p{q}_ms": round(float(np.percentile(latencies, q)) * 1e3, 1) if len(latencies) else None
           for q in (50, 95, 99)}
    return {
        "rate_per_s": round(rate, 2), "capacity": capacity, "documents": len(docs),
        "searchable": int(len(latencies)), "lost": len(clock.committed) - int(len(latencies)),
        "method": "poll read model (10 ms)" if target.read_database_url else "token wait per write",
        **pct, "max_ms": round(float(latencies.max()) * 1e3, 1) if len(latencies) else None,
        "worker_histogram": metrics.histogram_quantiles(before, after, target.store),
        "latencies_ms": [round(x * 1e3, 1) for x in latencies.tolist()],
    }

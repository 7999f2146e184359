"""``commands``: command API throughput and latency for creates and updates.

Measured twice on the same stack: with the whole pipeline running (relay and worker embedding
every change the load makes) and with the worker paused (SIGSTOP; the relay still enqueues), side
by side. Then the naive baseline (:mod:`benchmarks.throughput.naive`: embed inside the request) takes the
same create load, to show what moving the model out of the request buys.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from typing import Any

import httpx

from benchmarks.harness import texts
from benchmarks.harness.stack import BenchStack, Target
from benchmarks.throughput import ingest
from benchmarks.throughput.load import LoadResult, Request, run_load
from operations.stack.local import answers
from operations.stack.process import free_port, wait_until

UPDATE_TARGETS = 500
"""Existing documents the update load cycles through (created and indexed before it starts)."""
TEMPLATES = 200
SETUP_OFFSET = 110_000
"""Where in the corpus sequence the command load takes its texts: past ingest's at 100k."""

Collect = Callable[[str, LoadResult], None]


def create_requests(count: int = TEMPLATES) -> list[Request]:
    """Creates with a fresh id and a text of their own each (``%UUID%``, ``%SEQ%``)."""
    docs = texts.build(count, offset=SETUP_OFFSET).documents
    return [("POST", "/v1/documents",
             json.dumps({**doc, "id": "%UUID%", "title": f"{doc['title']} #%SEQ%"})) for doc in docs]


def update_requests(ids: list[str], docs: list[dict[str, Any]]) -> list[Request]:
    """Replaces (PUT) of existing documents, each with a changed title, so each re-embeds."""
    return [("PUT", f"/v1/documents/{doc_id}",
             json.dumps({k: v for k, v in {**doc, "title": f"{doc['title']} (rev %SEQ%)"}.items()
                         if k != "id"})) for doc_id, doc in zip(ids, docs, strict=True)]


def setup_updates(target: Target) -> list[Request]:
    docs = texts.build(UPDATE_TARGETS, offset=SETUP_OFFSET + TEMPLATES).documents
    with httpx.Client(base_url=target.command_url, timeout=120) as commands, \
            httpx.Client(base_url=target.query_url, timeout=120) as queries:
        reply = commands.post("/v1/documents/bulk", json={"documents": docs})
        reply.raise_for_status()
        ingest.wait_token(queries, reply.json()["token"])  # the worker starts the load idle
    return update_requests([d["id"] for d in docs], docs)


def _levels(label: str, url: str, requests: list[Request], levels: list[int], duration: float,
            warmup: float, collect: Collect) -> list[dict[str, Any]]:
    rows = []
    for level in levels:
        name = f"{label} c={level}"
        result = run_load(name, url, requests, duration, concurrency=level, warmup=warmup,
                          template=True)
        collect(name, result)
        rows.append({"concurrency": level, **result.summary(), "per_second": result.per_second()})
    return rows


def naive_baseline(target: Target, encoder: str, levels: list[int], duration: float,
                   warmup: float, collect: Collect, log: Any) -> list[dict[str, Any]]:
    """The naive app on the stack's read database, same create load, shorter runs."""
    assert target.read_database_url is not None
    port = free_port()
    child = subprocess.Popen([sys.executable, "-m", "benchmarks.throughput.naive", "--port", str(port),
                              "--database-url", target.read_database_url, "--encoder", encoder],
                             stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(partial(answers, f"{url}/readyz"), 300, "naive baseline", None,
                   lambda: child.poll() is None)
        return _levels(f"{target.store} naive create", url, create_requests(), levels, duration,
                       warmup, collect)
    finally:
        child.terminate()
        child.wait(30)


def run(target: Target, stack: BenchStack | None, encoder: str, levels: list[int], duration: float,
        warmup: float, collect: Collect, naive: bool = True) -> dict[str, Any]:
    updates = setup_updates(target)
    out: dict[str, Any] = {"levels": levels, "update_targets": UPDATE_TARGETS}
    for state in ("running", "paused") if stack is not None else ("running",):
        if state == "paused":
            assert stack is not None
            stack.pause_worker()
        label = f"{target.store} worker {state}"
        out[state] = {
            "create": _levels(f"{label} create", target.command_url, create_requests(), levels,
                              duration, warmup, collect),
            "update": _levels(f"{label} update", target.command_url, updates, levels, duration,
                              warmup, collect),
        }
    if naive and stack is not None:
        with open(stack.log("naive"), "ab") as log:
            out["naive"] = {"create": naive_baseline(target, encoder, levels, duration, warmup,
                                                     collect, log)}
    if stack is not None:
        stack.resume_worker()
    return out

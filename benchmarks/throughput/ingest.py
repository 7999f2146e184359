"""``ingest``: documents/s through the command API until searchable, end to end.

A writer thread bulk-imports the corpus through the command API; the main thread waits, batch by
batch, with each batch's consistency token on the query API (read-your-writes, the way a client
would), so the clock stops when the last document can be found. The ratio is taken to the raw
encoder's documents/s on the same texts, measured in the same run.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import httpx
from tqdm import tqdm

from benchmarks.harness.stack import Target

BULK_BATCH = 500
"""Documents per bulk request (the command API takes up to 1,000)."""

NO_MATCH = {"category": ["benchmark: no such category"]}
"""A filter-only search: asks the read model about the token without calling the encoder."""


def wait_token(client: httpx.Client, token: str, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = client.post("/v1/search", json={"filters": NO_MATCH, "limit": 1, "token": token,
                                                "wait_ms": 30_000})
        if reply.status_code != 409:
            reply.raise_for_status()
            return
    raise TimeoutError(f"a write was not searchable within {timeout:.0f}s")


def _write(target: Target, docs: list[dict[str, Any]], tokens: queue.Queue[Any],
           bar: tqdm, batch: int) -> None:
    try:
        with httpx.Client(base_url=target.command_url, timeout=120) as client:
            for start in range(0, len(docs), batch):
                chunk = docs[start:start + batch]
                reply = client.post("/v1/documents/bulk", json={"documents": chunk})
                reply.raise_for_status()
                tokens.put((len(chunk), reply.json()["token"], time.monotonic()))
                bar.update(len(chunk))
    except BaseException as exc:
        tokens.put(exc)
        raise
    tokens.put(None)


def run(target: Target, docs: list[dict[str, Any]], encoder_docs_per_s: float | None,
        batch: int = BULK_BATCH) -> dict[str, Any]:
    """Import ``docs``, wait until every one is searchable; throughput and the curve over time."""
    tokens: queue.Queue[Any] = queue.Queue()
    curve: list[tuple[float, int]] = [(0.0, 0)]
    written_at = 0.0
    with tqdm(total=len(docs), desc="ingest: written   ", unit="doc") as written, \
            tqdm(total=len(docs), desc="ingest: searchable", unit="doc") as searchable, \
            httpx.Client(base_url=target.query_url, timeout=120) as client:
        started = time.monotonic()
        writer = threading.Thread(target=_write, args=(target, docs, tokens, written, batch),
                                  daemon=True)
        writer.start()
        while (item := tokens.get()) is not None:
            if isinstance(item, BaseException):
                raise RuntimeError("the bulk import failed") from item
            count, token, at = item
            written_at = at - started
            wait_token(client, token)
            searchable.update(count)
            curve.append((round(time.monotonic() - started, 2), curve[-1][1] + count))
        elapsed = time.monotonic() - started
        writer.join()
    rate = len(docs) / elapsed
    return {
        "documents": len(docs), "seconds": round(elapsed, 2), "documents_per_s": round(rate, 2),
        "write_seconds": round(written_at, 2),
        "write_documents_per_s": round(len(docs) / written_at, 1) if written_at else None,
        "encoder_documents_per_s": encoder_docs_per_s,
        "ratio_to_encoder": round(rate / encoder_docs_per_s, 3) if encoder_docs_per_s else None,
        "curve": curve,
    }

"""``endurance``: a long run of steady writes and searches, to show that memory stays flat.

Two load generators run side by side for ``minutes``: creates through the command API at a fixed
rate (open loop, each document new, so each is embedded and indexed), and distinct semantic
searches from a few clients (closed loop, cycling through more texts than the query cache
holds). The stack's RSS is sampled throughout (``benchmarks.harness.memory``); the report gives each
process's growth over the run's second half, against the documents ingested and queries served.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from benchmarks.harness import texts
from benchmarks.harness.stack import Target
from benchmarks.throughput.load import LoadResult, Request, run_load
from benchmarks.throughput.query import LIMIT, QueryPool

QUERY_TEXTS = 20_000
"""Distinct search texts cycled through: twice the query API's default embedding cache."""
BODIES = 2_000
"""Real paragraphs the created documents take their bodies from (titles are numbered)."""


def _creates(offset: int) -> list[Request]:
    corpus = texts.build(BODIES, offset=offset)
    fields = ({k: v for k, v in d.items() if k != "id"} for d in corpus.documents)  # new ids
    return [("POST", "/v1/documents", json.dumps({**f, "title": f"Endurance %SEQ% {f['title']}"}))
            for f in fields]


def run(target: Target, minutes: float, write_rate: float, clients: int, offset: int,
        collect: Callable[[str, LoadResult], None]) -> dict[str, Any]:
    """Writes at ``write_rate``/s and searches from ``clients`` clients for ``minutes``."""
    seconds = minutes * 60
    searches = [("POST", "/v1/search", json.dumps({"query": q, "limit": LIMIT}))
                for q in QueryPool(QUERY_TEXTS, seed=11).take(QUERY_TEXTS)]
    found: dict[str, LoadResult] = {}
    errors: list[BaseException] = []

    def writes() -> None:
        try:
            found["writes"] = run_load(f"{target.store} endurance writes", target.command_url,
                                       _creates(offset), seconds, rate=write_rate, template=True)
        except BaseException as exc:  # reported below, after the searches end too
            errors.append(exc)

    writer = threading.Thread(target=writes, daemon=True)
    writer.start()
    found["searches"] = run_load(f"{target.store} endurance searches", target.query_url, searches,
                                 seconds, concurrency=clients)
    writer.join()
    if errors:
        raise RuntimeError("the endurance writes failed") from errors[0]
    out: dict[str, Any] = {"minutes": minutes, "write_rate_per_s": round(write_rate, 2),
                           "search_clients": clients}
    for name, result in found.items():
        collect(f"{target.store} endurance {name}", result)
        out[name] = result.summary() | {"per_second": result.per_second()}
    out["documents_written"] = out["writes"]["ok"]
    out["searches_served"] = out["searches"]["ok"]
    return out

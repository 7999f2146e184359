"""The query API's ADR-020 series (next to ``semsearch_searches_total`` and the HTTP ones).

``cqrs_query_total{query, store, outcome}``: search, document, similar; the store that answered
(``-`` when none did); ok, refused (404, 409 behind, 422 token) or error (503, …).
``cqrs_query_duration_seconds{query, store}``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram

from query_side.exceptions import QueryError

QUERIES = Counter("cqrs_query_total", "Queries by name, store and outcome (ADR-020)",
                  ["query", "store", "outcome"])
QUERY_SECONDS = Histogram(
    "cqrs_query_duration_seconds", "Query latency (ADR-020)", ["query", "store"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))


@contextmanager
def measured(query: str) -> Iterator[dict[str, str]]:
    """Time a query; the body sets ``["store"]`` once it knows which store answered."""
    started, noted = time.perf_counter(), {"store": "-"}
    outcome = "error"
    try:
        yield noted
        outcome = "ok"
    except QueryError:
        outcome = "refused"
        raise
    finally:
        QUERIES.labels(query, noted["store"], outcome).inc()
        QUERY_SECONDS.labels(query, noted["store"]).observe(time.perf_counter() - started)

"""Graceful degradation and the metrics that show lag."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from command_side.relay import observe_backlog
from tests.pipeline import Pipeline, pipeline
from tests.services import Services


@pytest.fixture
def both(services: Services, weaviate, real_encoder) -> Iterator[Pipeline]:  # type: ignore[no-untyped-def]
    with pipeline(services, real_encoder, stores=["pgvector", "weaviate"], query_store="auto",
                  health_cache_seconds=0) as p:
        yield p


def test_postgres_down_commands_get_503_and_queries_keep_serving(both: Pipeline,
                                                                 services: Services) -> None:
    doc = both.create(title="Harbour", body="Ships unload their cargo in the harbour.")
    both.sync()
    services.postgres.stop()
    try:
        reply = both.command.post("/v1/documents", json={"title": "t", "body": "b"})
        assert reply.status_code == 503
        assert reply.headers["Retry-After"] and "unavailable" in reply.json()["detail"]
        assert both.command.get("/readyz").status_code == 503
        answer = both.search("cargo ships")
        assert answer["store"] == "weaviate" and answer["hits"][0]["id"] == doc["id"]
        assert both.query.get("/readyz").json()["stores"]["pgvector"]["healthy"] is False
        # a token needs the read model's bookkeeping: an outage, said so (it was a 500)
        reply = both.query.get(f"/v1/documents/{doc['id']}", params={"token": doc["token"]})
        assert reply.status_code == 503 and reply.headers["Retry-After"], reply.text
    finally:
        services.postgres.start()
    assert both.command.post("/v1/documents", json={"title": "t", "body": "b"}).status_code == 201


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_metrics_show_backlog_freshness_and_lag(both: Pipeline) -> None:
    before = sample("semsearch_commit_to_searchable_seconds_count", {"store": "weaviate"})
    both.create(title="Metric", body="Counting what the pipeline does")
    assert observe_backlog(both.write_engine)["pending"] == 1
    assert sample("semsearch_outbox_pending") == 1
    both.sync()
    assert observe_backlog(both.write_engine)["pending"] == 0
    assert sample("semsearch_commit_to_searchable_seconds_count", {"store": "weaviate"}) == before + 1
    both.search("counting")
    text = both.query.get("/metrics").text
    assert 'semsearch_store_lag_seconds{store="pgvector"}' in text
    assert 'semsearch_searches_total{store="weaviate"}' in text
    assert "semsearch_http_request_seconds_bucket" in both.command.get("/metrics").text


def test_status_reports_every_store(both: Pipeline) -> None:
    from operations.status import collect

    both.create(title="Status", body="Is everything in its place?")
    report = collect(both.worker_settings)
    assert report["outbox"]["pending"] == 1  # type: ignore[index]
    both.sync()
    report = collect(both.worker_settings)
    stores = report["stores"]
    assert set(stores) == {"pgvector", "weaviate"}  # type: ignore[arg-type]
    for name in ("pgvector", "weaviate"):
        s = stores[name]  # type: ignore[index]
        assert (s["healthy"], s["documents"], s["passages"], s["pending"], s["behind"],
                s["dead_letters"]) == (True, 1, 1, 0, 0, 0)

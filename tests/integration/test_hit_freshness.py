"""Freshness that is true, per answer and per hit (issue 31, point 3): a token search's freshness
never counts the writes it waited for; every hit says when it was indexed and which newer
version is on its way; the result cache never serves a stale pending version."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from query_side import readmodel
from tests.integration.test_result_cache import wait_listening
from tests.pipeline import Pipeline, pipeline
from tests.services import Services

MOON = "The Moon is Earth's only natural satellite, orbiting at about 384,000 km."
LUNAR = "The Moon circles the Earth once a month, always showing the same face."
STORE = "pgvector"


@pytest.fixture
def pipe(services: Services, real_encoder: Any) -> Iterator[Pipeline]:
    # the router's status cache on, as in production, but long: what it last looked at stays
    with pipeline(services, real_encoder, health_cache_seconds=60) as p:
        yield p


def seen_by_worker(pipe: Pipeline, doc_id: str, version: int) -> None:
    """The worker's first step for a job (sync_worker.projection.project): the newest committed
    version is noted before the store is written. Done alone here, the store not written."""
    with pipe.runtime.read_engine.begin() as conn:
        readmodel.note_targets(conn, STORE, [(uuid.UUID(doc_id), version, datetime.now(UTC))])


def router_looks(pipe: Pipeline) -> None:
    """The router's periodic check of the store's lag (its background thread, every
    HEALTH_CACHE_SECONDS/2), made now."""
    pipe.query.app.state.router.status(STORE, fresh=True)  # type: ignore[attr-defined]


def test_a_token_search_does_not_count_the_write_it_waited_for(pipe: Pipeline) -> None:
    doc = pipe.create(title="Moon", body=MOON)
    pipe.relay()
    seen_by_worker(pipe, doc["id"], 1)
    router_looks(pipe)  # the router now holds "behind: 1" in its status cache
    pipe.work()
    reply = pipe.search("natural satellite", token=doc["token"])
    assert [h["id"] for h in reply["hits"]] == [doc["id"]]
    assert reply["freshness"]["behind"] == 0 and reply["freshness"]["lag_s"] == 0
    hit = reply["hits"][0]
    assert hit["indexed_at"] is not None and hit["pending_version"] is None
    assert datetime.fromisoformat(hit["indexed_at"]) <= datetime.now(UTC)
    # and the router holds what the answer found, so the next search says the same
    assert pipe.search("natural satellite")["freshness"]["behind"] == 0


def test_a_committed_newer_version_shows_as_pending_until_applied(pipe: Pipeline) -> None:
    doc = pipe.create(title="Moon", body=MOON)
    pipe.sync()
    first = pipe.search("natural satellite")["hits"][0]
    assert first["version"] == 1 and first["pending_version"] is None and first["indexed_at"]

    assert pipe.command.put(f"/v1/documents/{doc['id']}",
                            json={"title": "Moon", "body": LUNAR}).status_code == 200
    pipe.relay()
    seen_by_worker(pipe, doc["id"], 2)  # committed and seen, not applied
    pipe.settle()
    reply = pipe.search("natural satellite")
    hit = reply["hits"][0]
    assert hit["version"] == 1 and hit["pending_version"] == 2
    assert hit["indexed_at"] == first["indexed_at"]
    # the answer agrees with its hits, though the router looked before the edit was seen
    assert reply["freshness"]["behind"] >= 1
    view = pipe.query.get(f"/v1/documents/{doc['id']}").json()
    assert view["version"] == 1 and view["pending_version"] == 2
    assert view["indexed_at"] == first["indexed_at"]

    pipe.work()
    after = pipe.search("natural satellite")["hits"][0]
    assert after["version"] == 2 and after["pending_version"] is None
    assert after["indexed_at"] > first["indexed_at"]
    view = pipe.query.get(f"/v1/documents/{doc['id']}").json()
    assert view["version"] == 2 and view["pending_version"] is None


def test_the_result_cache_never_serves_a_stale_pending_version(pipe: Pipeline) -> None:
    wait_listening(pipe)
    doc = pipe.create(title="Moon", body=MOON)
    pipe.sync()
    assert pipe.search("natural satellite")["hits"][0]["pending_version"] is None
    cached = pipe.search("natural satellite")
    assert cached["cached"] and cached["hits"][0]["pending_version"] is None

    pipe.command.put(f"/v1/documents/{doc['id']}", json={"title": "Moon", "body": LUNAR})
    pipe.relay()
    seen_by_worker(pipe, doc["id"], 2)
    pipe.settle()  # every change announced so far has been heard
    reply = pipe.search("natural satellite")
    assert reply["hits"][0]["pending_version"] == 2, reply
    assert pipe.search("natural satellite")["hits"][0]["pending_version"] == 2


def test_similar_hits_carry_their_state(pipe: Pipeline) -> None:
    a = pipe.create(title="Moon", body=MOON)
    b = pipe.create(title="Lunar orbit", body=LUNAR)
    pipe.sync()
    pipe.command.put(f"/v1/documents/{b['id']}", json={"title": "Lunar orbit", "body": MOON})
    pipe.relay()
    seen_by_worker(pipe, b["id"], 2)
    hits = pipe.query.get(f"/v1/documents/{a['id']}/similar").json()["hits"]
    assert [(h["id"], h["version"], h["pending_version"]) for h in hits] == [(b["id"], 1, 2)]
    assert hits[0]["indexed_at"] is not None

"""Accepted means projectable (ARCHITECTURE invariant 9), at the value edges.

What the command API accepts every store holds and compares the same way; what a store could not
hold is refused at the door with a 422 naming the field, and nothing is written. A document a
store still cannot apply (here: written by an older release, before the rules) is stuck for the
operator, and serving stays on the primary for every other document.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.test_bad_input import VALID, counts
from tests.pipeline import Pipeline, pipeline
from tests.services import Services

REFUSED: list[tuple[str, dict[str, Any] | bytes, str]] = [
    ("year 1 at +14:00", {**VALID, "published_at": "0001-01-01T00:00:00+14:00"},
     "published_at: the year must be from 1678 to 2261"),
    ("year 9999 at -14:00", {**VALID, "published_at": "9999-12-31T23:59:59-14:00"},
     "published_at: the year must be from 1678 to 2261"),
    ("year 1677", {**VALID, "published_at": "1677-12-31T23:59:59Z"}, "published_at: the year"),
    ("year 2262", {**VALID, "published_at": "2262-01-01T00:00:00Z"}, "published_at: the year"),
    ("10**400", b'{"title": "t", "body": "b", "attributes": {"n": 1' + b"0" * 400 + b"}}",
     "attributes.n: must be a boolean, a number of at most 2**53 - 1"),
    ("2**70", {**VALID, "attributes": {"n": 2**70}}, "attributes.n: must be a boolean, a number"),
    ("2**53", {**VALID, "attributes": {"n": 2**53}}, "attributes.n: must be a boolean, a number"),
    ("1e300", b'{"title": "t", "body": "b", "attributes": {"n": 1e300}}', "attributes.n: must be"),
    ("1e400", b'{"title": "t", "body": "b", "attributes": {"n": 1e400}}', "attributes.n: must be"),
    ("Infinity", b'{"title": "t", "body": "b", "attributes": {"n": -Infinity}}', "attributes.n"),
    ("Unix time as text", {**VALID, "published_at": "1700000000"}, "published_at: must be an RFC 3339"),
    ("zero-width title", {**VALID, "title": "\u200b\u200b"}, "title: must hold a visible character"),
    ("BOM category", {**VALID, "category": "\ufeff "}, "category: must hold a visible character"),
]


@pytest.mark.parametrize(("case", "body", "message"), REFUSED, ids=[c[0] for c in REFUSED])
def test_a_value_some_store_cannot_hold_is_refused_on_every_write_route(
        pipe: Pipeline, case: str, body: dict[str, Any] | bytes, message: str) -> None:
    doc = pipe.create(**VALID)
    before = counts(pipe)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    replies = [
        pipe.command.post("/v1/documents", content=raw, headers={**headers, "Idempotency-Key": case}),
        pipe.command.put(f"/v1/documents/{doc['id']}", content=raw, headers=headers),
        pipe.command.patch(f"/v1/documents/{doc['id']}", content=raw, headers=headers),
        pipe.command.post("/v1/documents/bulk", content=b'{"documents": [' + json.dumps(
            VALID).encode() + b", " + raw + b"]}", headers=headers),
    ]
    for reply in replies:
        assert reply.status_code == 422, reply.text
    assert message in replies[0].json()["detail"], replies[0].text
    assert f"documents.1.{message}" in replies[3].json()["detail"], replies[3].text
    assert counts(pipe) == before


ACCEPTED_EDGES: dict[str, Any] = {
    "published_at": "1678-01-01T00:00:00+14:00",
    "attributes": {"big": 2**53 - 1, "small": -(2**53 - 1), "tiny": 5e-324, "neg0": -0.0,
                   "frac": 0.1, "pad": "  padded-X  "},
}


@pytest.fixture
def both(services: Services, weaviate, real_encoder) -> Iterator[Pipeline]:  # type: ignore[no-untyped-def]
    with pipeline(services, real_encoder, stores=["pgvector", "weaviate"], query_store="auto",
                  health_cache_seconds=0, max_lag_seconds=1, max_stuck_documents=1) as p:
        yield p


def _search(pipe: Pipeline, store: str, filters: dict[str, Any]) -> list[str]:
    pipe.query.app.state.settings.store = store  # type: ignore[attr-defined]
    try:
        return sorted(pipe.ids(None, filters=filters, limit=100))
    finally:
        pipe.query.app.state.settings.store = "auto"  # type: ignore[attr-defined]


def test_what_is_accepted_every_store_holds_and_filters_alike(both: Pipeline) -> None:
    """The domains' edges reach both stores, and a filter finds the same documents on each:
    category and tag values stripped as stored, date bounds outside the domain clamped."""
    edge = both.create(title="Edge", body="At the edges", category="padded-X", tags=["tag"],
                       **ACCEPTED_EDGES)
    late = both.create(title="Late", body="Late", published_at="2261-12-31T23:59:59-14:00",
                       attributes={"big": 1})
    both.sync()
    filters: list[dict[str, Any]] = [
        {"category": ["  padded-X  "]}, {"tags_any": [" tag "]}, {"tags_all": ["\u3000tag"]},
        {"published_after": "0001-01-01T00:00:00+14:00"},
        {"published_before": "9999-12-31T23:59:59-14:00"},
        {"published_after": "2261-12-31T00:00:00Z"}, {"published_before": "1678-01-01T00:00:00Z"},
        {"attributes": {"big": 2**53 - 1}}, {"attributes": {"big": {"gte": 2**53 - 1}}},
        {"attributes": {"big": {"lt": 2}}}, {"attributes": {"small": {"lte": -(2**53 - 1)}}},
        {"attributes": {"tiny": 5e-324}}, {"attributes": {"tiny": {"gt": 0}}},
        {"attributes": {"neg0": 0}}, {"attributes": {"frac": 0.1}}, {"attributes": {"frac": {"gt": 0.1}}},
        {"attributes": {"pad": "  padded-X  "}}, {"attributes": {"pad": "padded-X"}},
    ]
    for wanted in filters:
        answers = {store: _search(both, store, wanted) for store in ("pgvector", "weaviate")}
        assert answers["pgvector"] == answers["weaviate"], (wanted, answers)
    assert _search(both, "weaviate", {"category": ["  padded-X  "]}) == [edge["id"]]
    assert _search(both, "weaviate", {"published_after": "0001-01-01T00:00:00+14:00"}) == sorted(
        [edge["id"], late["id"]])
    assert _search(both, "weaviate", {"published_after": "2261-12-31T00:00:00Z"}) == [late["id"]]
    assert _search(both, "weaviate", {"attributes": {"pad": "padded-X"}}) == []


FILTER_REFUSED: list[tuple[str, bytes, str]] = [
    ("gt NaN", b'{"filters": {"attributes": {"k": {"gt": NaN}}}}', "filters.attributes.k"),
    ("eq Infinity", b'{"filters": {"attributes": {"k": Infinity}}}', "filters.attributes.k"),
    ("eq 1e309", b'{"filters": {"attributes": {"k": 1e309}}}', "filters.attributes.k"),
    ("eq 2**70", b'{"filters": {"attributes": {"k": 1180591620717411303424}}}', "filters.attributes.k"),
    ("tag with a tab", b'{"filters": {"tags_any": [" tag\\t"]}}', "filters.tags_any.0"),
    ("blank category", b'{"filters": {"category": ["  "]}}', "filters.category.0"),
    ("key no document has", b'{"filters": {"attributes": {" k": 1}}}', "filters.attributes. k"),
    ("limit as text", b'{"query": "q", "limit": "10"}', "limit: must be an integer"),
    ("min_score NaN", b'{"query": "q", "min_score": NaN}', "min_score: Input should be a finite"),
]


@pytest.mark.parametrize(("case", "body", "message"), FILTER_REFUSED,
                         ids=[c[0] for c in FILTER_REFUSED])
def test_a_search_outside_the_domains_is_refused_naming_the_field(
        pipe: Pipeline, case: str, body: bytes, message: str) -> None:
    """Non-finite numbers, numbers past 2**53 and values no document can hold are refused (they
    were a 500 on pgvector, matched everything on Weaviate, or confused the result cache)."""
    for _ in range(2):  # (the second from the result cache, were it answered)
        reply = pipe.query.post("/v1/search", content=body,
                                headers={"content-type": "application/json"})
        assert reply.status_code == 422, reply.text
        assert message in reply.json()["detail"], reply.text


def _poison(pipe: Pipeline, title: str) -> str:
    """A document as an older release could have written it: an integer no double holds."""
    doc = pipe.create(title=title, body=f"{title} poison")
    with pipe.write_engine.begin() as conn:
        conn.execute(sa.text("UPDATE documents SET attributes = CAST(:a AS jsonb) WHERE id = :id"),
                     {"a": '{"n": 1' + "0" * 400 + "}", "id": doc["id"]})
    return str(doc["id"])


def _readiness(pipe: Pipeline) -> dict[str, Any]:
    return pipe.query.get("/readyz").json()  # type: ignore[no-any-return]


def test_one_poison_document_leaves_serving_on_the_primary(both: Pipeline) -> None:
    """The worker cannot apply the poison document to Weaviate: it is stuck there (and then
    dead-lettered), not "behind", so Weaviate keeps serving every other document past
    MAX_LAG_SECONDS; more than MAX_STUCK_DOCUMENTS stuck (a store refusing writes) moves serving."""
    good = both.create(title="Lighthouse", body="A lighthouse guides ships at night.")
    first = _poison(both, "First")
    both.sync()
    time.sleep(1.5)  # past MAX_LAG_SECONDS
    ready = _readiness(both)
    assert ready["serving"] == "weaviate", ready
    assert ready["stores"]["weaviate"]["stuck"] == 1 and ready["stores"]["weaviate"]["behind"] == 0
    assert ready["stores"]["pgvector"]["stuck"] == 0
    answer = both.search("lighthouse ships")
    assert answer["store"] == "weaviate" and answer["hits"][0]["id"] == good["id"]
    assert 'semsearch_store_stuck_documents{store="weaviate"} 1.0' in both.query.get("/metrics").text
    held = {name: both.runtime.store(name).get(uuid.UUID(first)) for name in ("pgvector", "weaviate")}
    assert held["pgvector"] is not None and held["weaviate"] is None
    _poison(both, "Second")
    both.sync()
    ready = _readiness(both)
    assert ready["serving"] == "pgvector" and ready["stores"]["weaviate"]["stuck"] == 2, ready


def test_a_failure_counts_as_stuck_only_for_the_version_that_failed(both: Pipeline) -> None:
    """A newer committed version than the one that failed is behind again; a store reset (its
    documents to be written again) forgets the failures, so they count as behind, not stuck."""
    from query_side import readmodel

    doc = both.create(title="Stuck", body="stuck")
    both.sync()
    engine, doc_id = both.runtime.read_engine, uuid.UUID(doc["id"])
    with engine.begin() as conn:
        readmodel.note_targets(conn, "weaviate", [(doc_id, 2, datetime.now(UTC))])
        readmodel.mark_failed(conn, "weaviate", doc_id, 2)
        assert readmodel.lag(conn, "weaviate")["stuck"] == 1
        readmodel.note_targets(conn, "weaviate", [(doc_id, 3, datetime.now(UTC))])
        assert (readmodel.lag(conn, "weaviate")["stuck"], readmodel.lag(conn, "weaviate")["behind"]) == (0, 1)
        readmodel.mark_failed(conn, "weaviate", doc_id, 3)
        readmodel.mark_failed(conn, "weaviate", doc_id, 2)  # an older failure reported late
        assert readmodel.lag(conn, "weaviate")["stuck"] == 1
        readmodel.forget_applied(conn, "weaviate", [doc_id])
        assert (readmodel.lag(conn, "weaviate")["stuck"], readmodel.lag(conn, "weaviate")["behind"]) == (0, 1)

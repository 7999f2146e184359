"""Bad input gets a 4xx with a message a person can act on, and writes nothing."""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus
from typing import Any

import pytest
import sqlalchemy as sa

from tests.pipeline import Pipeline

VALID = {"title": "A title", "body": "A body"}


def counts(pipe: Pipeline) -> tuple[int, int, int]:
    with pipe.write_engine.connect() as conn:
        return tuple(conn.execute(sa.text(  # type: ignore[return-value]
            "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM outbox), "
            "(SELECT count(*) FROM idempotency_keys)")).one())


CREATE_CASES: list[tuple[str, Any, str]] = [
    ("missing title", {"body": "b"}, "title: Field required"),
    ("missing body", {"title": "t"}, "body: Field required"),
    ("empty title", {"title": "  ", "body": "b"}, "title: must hold a visible character"),
    ("title too long", {"title": "x" * 501, "body": "b"}, "at most 500 characters"),
    ("body too long", {"title": "t", "body": "x" * 100_001}, "at most 100000 characters"),
    ("title wrong type", {"title": 5, "body": "b"}, "title: Input should be a valid string"),
    ("tags wrong type", {**VALID, "tags": "a,b"}, "tags: Input should be a valid list"),
    ("too many tags", {**VALID, "tags": [f"t{n}" for n in range(33)]}, "at most 32 items"),
    ("tag too long", {**VALID, "tags": ["x" * 65]}, "at most 64 characters"),
    ("bad attribute key", {**VALID, "attributes": {"bad key": 1}}, "should match pattern"),
    ("nested attribute", {**VALID, "attributes": {"k": {"a": 1}}}, "attributes.k"),
    ("attribute list", {**VALID, "attributes": {"k": [1]}}, "attributes.k"),
    ("bad id", {**VALID, "id": "not-a-uuid"}, "id: Input should be a valid UUID"),
    ("naive date", {**VALID, "published_at": "2020-01-01T00:00:00"}, "timezone"),
    ("unknown field", {**VALID, "colour": "red"}, "colour: Extra inputs are not permitted"),
    ("NaN attribute", b'{"title": "t", "body": "b", "attributes": {"x": NaN}}',
     "attributes.x: must be a boolean, a number of at most 2**53 - 1"),
]

NUL = "must not contain NUL (\\u0000)"
NUL_CASES: list[tuple[str, Any, str]] = [
    ("title", {**VALID, "title": "a\u0000b"}, f"title: {NUL}"),
    ("body", {**VALID, "body": "a\u0000b"}, f"body: {NUL}"),
    ("category", {**VALID, "category": "a\u0000"}, f"category: {NUL}"),
    ("tag", {**VALID, "tags": ["ok", "a\u0000"]}, "tags.1: must not contain control characters"),
    ("attribute", {**VALID, "attributes": {"k": "v\u0000"}}, "attributes.k: must be a boolean"),
]


@pytest.mark.parametrize(("field", "body", "message"), NUL_CASES, ids=[c[0] for c in NUL_CASES])
def test_nul_in_any_text_field_is_refused_naming_it(pipe: Pipeline, field: str, body: Any,
                                                   message: str) -> None:
    """PostgreSQL's text and jsonb cannot hold NUL: each text field refuses it with a 422 on every
    write route (it was a 500 before), and nothing is written."""
    doc = pipe.create(**VALID)
    before = counts(pipe)
    patch = {field if field != "tag" else "tags": body[field if field != "tag" else "tags"]} \
        if field != "attribute" else {"attributes": body["attributes"]}
    replies = [
        pipe.command.post("/v1/documents", json=body, headers={"Idempotency-Key": f"nul-{field}"}),
        pipe.command.put(f"/v1/documents/{doc['id']}", json=body),
        pipe.command.patch(f"/v1/documents/{doc['id']}", json=patch),
        pipe.command.post("/v1/documents/bulk", json={"documents": [VALID, body]}),
    ]
    for reply in replies:
        assert reply.status_code == 422, reply.text
        assert message.split(": ", 1)[1] in reply.json()["detail"], reply.text
    assert message in replies[0].json()["detail"]
    assert f"documents.1.{message}" in replies[3].json()["detail"]
    assert counts(pipe) == before


@pytest.mark.parametrize(("case", "body", "message"), CREATE_CASES, ids=[c[0] for c in CREATE_CASES])
def test_bad_create_is_refused_and_writes_nothing(pipe: Pipeline, case: str, body: Any,
                                                  message: str) -> None:
    before = counts(pipe)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    reply = pipe.command.post("/v1/documents", content=raw, headers={
        "Idempotency-Key": case, "content-type": "application/json"})
    assert reply.status_code == 422, reply.text
    assert message in reply.json()["detail"]
    assert counts(pipe) == before


def test_malformed_json_is_refused(pipe: Pipeline) -> None:
    before = counts(pipe)
    reply = pipe.command.post("/v1/documents", content=b'{"title": "t", "body":',
                              headers={"content-type": "application/json"})
    assert reply.status_code == 422
    assert "not valid JSON" in reply.json()["detail"]
    assert counts(pipe) == before


def test_bad_path_id_and_if_match(pipe: Pipeline) -> None:
    reply = pipe.command.put("/v1/documents/nope", json=VALID)  # not a document's address
    assert reply.status_code == 404 and reply.headers["content-type"] == "application/problem+json"
    reply = pipe.command.put("/v1/documents/bulk", json=VALID)
    assert reply.status_code == 405 and reply.headers["Allow"] == "POST"
    reply = pipe.command.options(f"/v1/documents/{uuid.uuid4()}")
    assert reply.status_code == 405 and reply.headers["Allow"] == "DELETE, PATCH, PUT"
    doc = pipe.create(**VALID)
    before = counts(pipe)
    reply = pipe.command.put(f"/v1/documents/{doc['id']}", json=VALID, headers={"If-Match": "abc"})
    assert reply.status_code == 422 and "if-match: String should match pattern" in reply.json()["detail"]
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["status"] == 422 and reply.json()["title"] == HTTPStatus(422).phrase
    reply = pipe.command.put(f"/v1/documents/{doc['id']}", json=VALID, headers={"If-Match": '"7"'})
    assert reply.status_code == 412 and "is at version 1, not 7" in reply.json()["detail"]
    assert pipe.command.put(f"/v1/documents/{uuid.uuid4()}", json=VALID).status_code == 404
    assert pipe.command.delete(f"/v1/documents/{uuid.uuid4()}").status_code == 404
    assert pipe.command.post("/v1/documents", json={**VALID, "id": doc["id"]}).status_code == 409
    reply = pipe.command.patch(f"/v1/documents/{doc['id']}", json={})
    assert reply.status_code == 422 and "at least one field" in reply.json()["detail"]
    reply = pipe.command.patch(f"/v1/documents/{doc['id']}", json={"title": None})
    assert reply.status_code == 422 and "title cannot be null" in reply.json()["detail"]
    assert counts(pipe) == before


def test_if_match_allows_the_current_version(pipe: Pipeline) -> None:
    doc = pipe.create(**VALID)
    reply = pipe.command.patch(f"/v1/documents/{doc['id']}", json={"title": "New"},
                               headers={"If-Match": '"1"'})
    assert reply.status_code == 200 and reply.json()["version"] == 2
    assert reply.headers["ETag"] == '"2"'


def test_idempotency_key_replays_first_answer_and_refuses_other_body(pipe: Pipeline) -> None:
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = pipe.command.post("/v1/documents", json=VALID, headers=key)
    again = pipe.command.post("/v1/documents", json=VALID, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.json()["token"].startswith("c2.")
    assert again.headers["ETag"] == '"1"'
    batch = {"documents": [VALID, VALID]}
    bulk_key = {"Idempotency-Key": f"b-{uuid.uuid4()}"}
    first_bulk = pipe.command.post("/v1/documents/bulk", json=batch, headers=bulk_key)
    again_bulk = pipe.command.post("/v1/documents/bulk", json=batch, headers=bulk_key)
    assert first_bulk.status_code == again_bulk.status_code == 200
    assert first_bulk.json() == again_bulk.json() and "token" in again_bulk.json()
    before = counts(pipe)
    other = pipe.command.post("/v1/documents", json={**VALID, "title": "Other"}, headers=key)
    assert other.status_code == 409 and "already used for a different request" in other.json()["detail"]
    assert counts(pipe) == before
    assert len(pipe.outbox(first.json()["id"])) == 1


def test_bulk_limits(pipe: Pipeline) -> None:
    before = counts(pipe)
    doc_id = str(uuid.uuid4())
    twice = {"documents": [{**VALID, "id": doc_id}, {**VALID, "id": doc_id}]}
    reply = pipe.command.post("/v1/documents/bulk", json=twice)
    assert reply.status_code == 422 and "same id twice" in reply.json()["detail"]
    too_many = {"documents": [VALID] * 1001}
    reply = pipe.command.post("/v1/documents/bulk", json=too_many)
    assert reply.status_code == 422 and "at most 1000" in reply.json()["detail"]
    one_bad = {"documents": [VALID, {"title": "t"}]}
    reply = pipe.command.post("/v1/documents/bulk", json=one_bad)
    assert reply.status_code == 422 and "documents.1.body: Field required" in reply.json()["detail"]
    assert pipe.command.post("/v1/documents/bulk", json={"documents": []}).status_code == 422
    assert counts(pipe) == before


SEARCH_CASES: list[tuple[str, Any, str]] = [
    ("unknown filter", {"query": "x", "filters": {"colour": ["red"]}}, "filters.colour"),
    ("limit too big", {"query": "x", "limit": 1000}, "limit: Input should be less than or equal"),
    ("limit zero", {"query": "x", "limit": 0}, "limit: Input should be greater than or equal"),
    ("negative offset", {"query": "x", "offset": -1}, "offset"),
    ("bad mode", {"query": "x", "mode": "fuzzy"}, "mode: Input should be"),
    ("keyword without text", {"mode": "keyword"}, "needs a non-empty query"),
    ("nothing to search", {"query": ""}, "give a query, filters, or both"),
    ("bad min_score", {"query": "x", "min_score": 2}, "min_score"),
    ("bad date", {"query": "x", "filters": {"published_after": "yesterday"}}, "published_after"),
    ("bad range op", {"query": "x", "filters": {"attributes": {"n": {"about": 3}}}}, "about"),
    ("bad token", {"query": "x", "token": "abc"}, "token: String should match pattern"),
    ("damaged token", {"query": "x", "token": "c2.00-1"}, "token: String should match pattern"),
    ("NUL in query", {"query": "a\u0000b", "mode": "keyword"}, f"query: {NUL}"),
    ("NUL in category", {"query": "x", "filters": {"category": ["a\u0000"]}}, f"category.0: {NUL}"),
    ("NUL in tags_any", {"query": "x", "filters": {"tags_any": ["a\u0000"]}},
     "tags_any.0: must not contain control characters"),
    ("NUL in tags_all", {"query": "x", "filters": {"tags_all": ["a\u0000"]}},
     "tags_all.0: must not contain control characters"),
    ("NUL in attribute key", {"query": "x", "filters": {"attributes": {"k\u0000": 1}}},
     "attributes.k\x00.[key]: String should match pattern"),
    ("NUL in attribute value", {"query": "x", "filters": {"attributes": {"k": "v\u0000"}}},
     "attributes.k.value: must be a boolean, a number"),
]


@pytest.mark.parametrize(("case", "body", "message"), SEARCH_CASES, ids=[c[0] for c in SEARCH_CASES])
def test_bad_search_gets_a_clear_4xx(pipe: Pipeline, case: str, body: Any, message: str) -> None:
    reply = pipe.query.post("/v1/search", json=body)
    assert reply.status_code == 422, reply.text
    assert message in reply.json()["detail"]


def test_bad_document_id_on_query_side(pipe: Pipeline) -> None:
    assert pipe.query.get("/v1/documents/xyz").status_code == 404
    assert pipe.query.get(f"/v1/documents/{uuid.uuid4()}").status_code == 404
    assert pipe.query.get(f"/v1/documents/{uuid.uuid4()}/similar",
                          params={"limit": 500}).status_code == 422

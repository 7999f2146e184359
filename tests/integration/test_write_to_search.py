"""A write becomes searchable, an update changes what matches, a delete removes it."""

from __future__ import annotations

import threading
import time

from tests.pipeline import Pipeline

MOON = "The Moon is Earth's only natural satellite, orbiting at about 384,000 km."
CHEESE = "Cheese is a dairy product made by coagulating milk proteins."


def test_create_update_delete_flow_through_every_part(pipe: Pipeline) -> None:
    doc = pipe.create(title="Moon", body=MOON, category="space", tags=["astro"])
    assert pipe.ids("natural satellite of the earth") == []  # not yet synced: eventual

    pipe.sync()
    hits = pipe.search("natural satellite of the earth")["hits"]
    assert [h["id"] for h in hits] == [doc["id"]]
    assert hits[0]["version"] == 1 and hits[0]["category"] == "space"

    reply = pipe.command.put(f"/v1/documents/{doc['id']}", json={"title": "Cheese", "body": CHEESE})
    assert reply.status_code == 200 and reply.json()["version"] == 2
    pipe.sync()
    assert pipe.ids("dairy made from milk", min_score=0.4) == [doc["id"]]
    assert pipe.ids("natural satellite of the earth", min_score=0.4) == []
    assert pipe.search("dairy made from milk")["hits"][0]["version"] == 2

    assert pipe.command.delete(f"/v1/documents/{doc['id']}").status_code == 200
    pipe.sync()
    assert pipe.ids("dairy made from milk") == []
    assert pipe.query.get(f"/v1/documents/{doc['id']}").status_code == 404


def test_document_view_and_similar(pipe: Pipeline) -> None:
    a = pipe.create(title="Moon", body=MOON)
    b = pipe.create(title="Lunar orbit", body="The Moon circles the Earth once a month.")
    c = pipe.create(title="Cheese", body=CHEESE)
    pipe.sync()
    view = pipe.query.get(f"/v1/documents/{a['id']}").json()
    assert view["version"] == 1 and view["indexed_at"] and view["store"] == "pgvector"
    similar = pipe.query.get(f"/v1/documents/{a['id']}/similar", params={"limit": 2}).json()
    assert [h["id"] for h in similar["hits"]] == [b["id"], c["id"]]


def test_filters_narrow_semantic_results(pipe: Pipeline) -> None:
    space = pipe.create(title="Moon", body=MOON, category="space", tags=["astro", "rock"],
                        attributes={"year": 1969, "crewed": True},
                        published_at="2020-01-01T00:00:00Z")
    other = pipe.create(title="Moon landing", body="Apollo 11 landed on the Moon in 1969.",
                        category="history", tags=["astro"], attributes={"year": 1969},
                        published_at="2021-06-01T00:00:00Z")
    pipe.sync()
    query = "the moon"
    assert set(pipe.ids(query)) == {space["id"], other["id"]}
    assert pipe.ids(query, filters={"category": ["space"]}) == [space["id"]]
    assert pipe.ids(query, filters={"tags_all": ["astro", "rock"]}) == [space["id"]]
    assert set(pipe.ids(query, filters={"tags_any": ["rock", "astro"]})) == {space["id"], other["id"]}
    assert pipe.ids(query, filters={"published_after": "2021-01-01T00:00:00Z"}) == [other["id"]]
    assert pipe.ids(query, filters={"published_before": "2021-01-01T00:00:00Z"}) == [space["id"]]
    assert pipe.ids(query, filters={"attributes": {"crewed": True}}) == [space["id"]]
    assert set(pipe.ids(query, filters={"attributes": {"year": {"gte": 1969, "lt": 1970}}})) == {
        space["id"], other["id"]}
    assert pipe.ids(query, filters={"attributes": {"year": {"gt": 1969}}}) == []


def test_search_with_token_waits_for_its_write(pipe: Pipeline) -> None:
    doc = pipe.create(title="Moon", body=MOON)
    answer: dict[str, object] = {}

    def reader() -> None:
        answer["body"] = pipe.search("natural satellite", token=doc["token"], wait_ms=30_000)
        answer["at"] = time.monotonic()

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.5)
    synced_at = time.monotonic()
    pipe.sync()  # the worker runs in the main thread (RQ installs signal handlers)
    thread.join(30)
    assert [h["id"] for h in answer["body"]["hits"]] == [doc["id"]]  # type: ignore[index]
    assert answer["at"] >= synced_at  # type: ignore[operator]  # it waited for the worker


def test_search_with_unreachable_token_gets_documented_error(pipe: Pipeline) -> None:
    doc = pipe.create(title="Moon", body=MOON)
    reply = pipe.query.post("/v1/search", json={"query": "moon", "token": doc["token"],
                                                 "wait_ms": 300})
    assert reply.status_code == 409
    body = reply.json()
    assert "has not reached your write" in body["detail"]
    assert body["behind"] == [{"id": doc["id"], "wanted": 1, "held": 0}]
    assert reply.headers["Retry-After"]


def test_bulk_import_is_one_transaction_with_one_token(pipe: Pipeline) -> None:
    docs = [{"title": f"Doc {n}", "body": f"Paragraph number {n} about rivers."} for n in range(50)]
    reply = pipe.command.post("/v1/documents/bulk", json={"documents": docs})
    assert reply.status_code == 200, reply.text
    items = reply.json()["items"]
    assert len(items) == 50 and {i["version"] for i in items} == {1}
    pipe.sync()
    result = pipe.search("rivers", token=reply.json()["token"], limit=100)
    assert {h["id"] for h in result["hits"]} == {i["id"] for i in items}

"""Token-less repeated searches come from memory, and never outlive a change to their store."""

from __future__ import annotations

import time

from tests.pipeline import Pipeline

MOON = "The Moon is Earth's only natural satellite, orbiting at about 384,000 km."
CHEESE = "Cheese is a dairy product made by coagulating milk proteins."


def wait_listening(pipe: Pipeline) -> None:
    deadline = time.monotonic() + 5
    while not pipe.query.app.state.results.live:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the result cache never started listening"
        time.sleep(0.01)


def test_repeats_are_cached_until_the_store_changes(pipe: Pipeline) -> None:
    wait_listening(pipe)
    doc = pipe.create(title="Moon", body=MOON)
    pipe.sync()
    first, again = pipe.search("natural satellite"), pipe.search("natural satellite")
    assert not first["cached"] and again["cached"]
    assert again["hits"] == first["hits"] and [h["id"] for h in first["hits"]] == [doc["id"]]
    assert pipe.search("natural  satellite", limit=5)["cached"] is False  # another search

    pipe.command.put(f"/v1/documents/{doc['id']}", json={"title": "Cheese", "body": CHEESE})
    pipe.relay()
    pipe.work(settle=False)  # the store has the change; the query API hears of it just after
    deadline = time.monotonic() + 2
    while (reply := pipe.search("natural satellite"))["hits"][0]["version"] == 1:
        assert reply["cached"], "an uncached search saw the old version after the store changed"
        assert time.monotonic() < deadline, "the cache kept serving a changed document"
        time.sleep(0.005)
    assert reply["cached"] is False and reply["hits"][0]["title"] == "Cheese"
    assert pipe.search("natural satellite")["cached"]


def test_searches_with_a_token_never_use_the_cache(pipe: Pipeline) -> None:
    wait_listening(pipe)
    token = pipe.create(title="Moon", body=MOON)["token"]
    pipe.sync()
    for _ in range(2):
        reply = pipe.search("natural satellite", token=token)
        assert reply["cached"] is False and len(reply["hits"]) == 1

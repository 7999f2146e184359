"""Whole documents are searchable: text past the model's window is found, on every store.

The example of issue 13: a 6.6 KB document whose last sentence says that octopuses have three
hearts, and a second one without that sentence. Before passages the encoder saw only the first
256 tokens and the pgvector keyword search needed every query term: neither found it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from operations import corpus
from sync_worker.reconcile import compare
from tests.pipeline import Pipeline, pipeline
from tests.services import Services

QUESTION = "how many hearts does an octopus have"
HEARTS = "Octopuses have three hearts and blue blood, and they can taste with their arms."


def filler(chars: int = 6500) -> str:
    """Real prose about something else (the first articles of the demo corpus)."""
    out: list[str] = []
    for paragraph in corpus.paragraphs(200):
        if "heart" in paragraph.text.lower() or "octopus" in paragraph.text.lower():
            continue
        out.append(paragraph.text)
        if sum(len(p) + 2 for p in out) >= chars:
            return "\n\n".join(out)
    raise AssertionError("the corpus is too small")


@pytest.fixture(params=["pgvector", "weaviate"])
def pipe(request: pytest.FixtureRequest, services: Services, real_encoder) -> Iterator[Pipeline]:  # type: ignore[no-untyped-def]
    if request.param == "weaviate":
        request.getfixturevalue("weaviate")
    with pipeline(services, real_encoder, stores=[request.param],
                  query_store=request.param) as p:
        yield p


def test_text_past_the_window_is_found_by_meaning_and_by_words(pipe: Pipeline) -> None:
    body = filler()
    long = pipe.create(title="Notes", body=body + "\n\n" + HEARTS)
    other = pipe.create(title="Notes", body=body)
    pipe.sync()
    assert len(long["id"]) and len(body) > 6000

    semantic = pipe.search(QUESTION, limit=2)["hits"]
    assert [h["id"] for h in semantic] == [long["id"], other["id"]]
    best = semantic[0]["passages"][0]
    assert "three hearts" in best["text"] and "three hearts" in semantic[0]["snippet"]
    view = pipe.query.get(f"/v1/documents/{long['id']}").json()
    assert view["body"][best["start"]:best["end"]] == best["text"]
    assert semantic[0]["score"] > semantic[1]["score"] + 0.1

    keyword = pipe.search(QUESTION, mode="keyword")["hits"]
    assert keyword[0]["id"] == long["id"]
    assert "three hearts" in keyword[0]["passages"][0]["text"]
    hybrid = pipe.search(QUESTION, mode="hybrid")["hits"]
    assert hybrid[0]["id"] == long["id"] and 0 <= hybrid[-1]["score"] <= hybrid[0]["score"] <= 1


def test_an_edit_re_embeds_only_the_passages_it_touched(pipe: Pipeline) -> None:
    body = filler()
    doc = pipe.create(title="Notes", body=body)
    pipe.sync()
    store = pipe.runtime.store(pipe.worker_settings.sync_stores[0])
    passages = store.passage_count()
    assert passages >= 6
    first = len(pipe.encoder.texts)
    assert first == passages  # one text per passage, nothing twice

    edited = body.replace(". ", ". Octopuses have three hearts. ", 1)  # inside the first paragraph
    reply = pipe.command.put(f"/v1/documents/{doc['id']}", json={"title": "Notes", "body": edited})
    assert reply.status_code == 200
    pipe.sync()
    again = pipe.encoder.texts[first:]
    assert 1 <= len(again) <= 2 and all("three hearts" in t for t in again)
    assert compare(pipe.write_engine, store, pipe.encoder.model_id).total == 0


def test_a_shorter_replace_and_a_delete_leave_no_passages(pipe: Pipeline) -> None:
    doc = pipe.create(title="Notes", body=filler())
    keep = pipe.create(title="Short", body="A short note.")
    pipe.sync()
    store = pipe.runtime.store(pipe.worker_settings.sync_stores[0])
    assert store.passage_count() > 2
    pipe.command.put(f"/v1/documents/{doc['id']}", json={"title": "Notes", "body": HEARTS})
    pipe.sync()
    assert store.passage_count() == 2
    assert compare(pipe.write_engine, store, pipe.encoder.model_id).total == 0
    assert pipe.command.delete(f"/v1/documents/{doc['id']}").status_code == 200
    pipe.sync()
    assert store.passage_count() == 1 and [h["id"] for h in pipe.search("note")["hits"]] == [
        keep["id"]]


def test_reconcile_finds_and_removes_stray_passages(pipe: Pipeline) -> None:
    """Passages whose document object is gone (Weaviate: a crash between its two deletes) are
    strays: reconcile lists them and ``--apply`` removes them, the document written again."""
    from sync_worker.maintenance import reconcile

    doc = pipe.create(title="Notes", body=filler())
    pipe.sync()
    store = pipe.runtime.store(pipe.worker_settings.sync_stores[0])
    if store.name == "weaviate":
        store._docs.data.delete_by_id(doc["id"])  # type: ignore[attr-defined]
        found, left = reconcile(pipe.runtime, store.name, apply=True, progress=False)
        assert [str(i) for i in found.strays] == [doc["id"]] and found.missing
    else:  # pgvector: the foreign key takes a document's passages with it
        with pipe.runtime.read_engine.begin() as conn:
            conn.execute(sa.text(f"DELETE FROM {store._table} WHERE id = :id"),  # type: ignore[attr-defined]
                         {"id": doc["id"]})
        assert store.passage_count() == 0
        found, left = reconcile(pipe.runtime, store.name, apply=True, progress=False)
        assert found.strays == [] and found.missing
    assert left is not None and left.total == 0
    assert store.passage_count() > 2 and store.strays() == []

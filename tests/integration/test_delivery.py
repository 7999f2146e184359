"""Nothing lost, nothing stale: rollbacks, Redis outages, replays, reordering, no re-embedding."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from rq import Queue

from command_side.commands import CreateDocument, DocumentFields
from command_side.handlers import create_document
from command_side.jobs import PROJECT_CHANGES, Change, ProjectChanges, queue_name
from query_side import readmodel
from sync_worker.projection import project
from tests.pipeline import Pipeline
from tests.services import Services


def queued_jobs(pipe: Pipeline) -> int:
    return Queue(queue_name(pipe.command_settings, "pgvector"), connection=pipe.redis).count


def enqueue(queue: Queue, change: Change) -> None:
    """A job of one change, as the relay builds it (a duplicate, a replay or out of order)."""
    queue.enqueue(PROJECT_CHANGES, *ProjectChanges("pgvector", (change,)).to_payload())


def test_rolled_back_command_leaves_no_outbox_row_and_no_job(pipe: Pipeline) -> None:
    doc_id = uuid.uuid4()
    with pytest.raises(RuntimeError), pipe.write_engine.begin() as conn:
        create_document(CreateDocument(doc_id, DocumentFields("t", "b")), conn, ["pgvector"])
        assert conn.execute(sa.text("SELECT count(*) FROM outbox WHERE doc_id = :id"),
                            {"id": doc_id}).scalar() == 1  # written inside the transaction
        raise RuntimeError("the request failed after the write")
    assert pipe.outbox(str(doc_id)) == []
    assert pipe.relay() == 0 and queued_jobs(pipe) == 0
    with pipe.write_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM documents WHERE id = :id"),
                            {"id": doc_id}).scalar() == 0


def test_commit_writes_document_and_outbox_row_together(pipe: Pipeline) -> None:
    doc = pipe.create(title="t", body="b")
    rows = pipe.outbox(doc["id"])
    assert [(r.version, r.pending_stores) for r in rows] == [(1, ["pgvector"])]
    assert pipe.relay() == 1 and queued_jobs(pipe) == 1
    pipe.work()
    assert [r.pending_stores for r in pipe.outbox(doc["id"])] == [[]]  # acknowledged


def test_writes_while_redis_is_down_arrive_after_it_returns(pipe: Pipeline,
                                                            services: Services) -> None:
    services.redis.stop()
    try:
        written = [pipe.create(title=f"Outage {n}", body=f"Written while Redis was down {n}")
                   for n in range(5)]  # commands still succeed: the outbox holds them
        with pytest.raises(Exception):  # noqa: B017 - any connection error
            pipe.relay()
    finally:
        services.redis.start()
    pipe.redis.connection_pool.reset()
    assert pipe.relay() == 5
    pipe.work()
    found = pipe.ids("written while Redis was down", limit=10)
    assert set(found) == {w["id"] for w in written}


def test_redis_losing_every_job_is_repaired_by_the_resend(pipe: Pipeline) -> None:
    pipe.command_settings.resend_after_seconds = 0.2
    doc = pipe.create(title="Lost job", body="Redis forgot this job entirely")
    assert pipe.relay() == 1
    pipe.redis.flushall()  # Redis loses everything it held
    assert pipe.relay() == 0  # not yet due again
    import time

    time.sleep(0.3)
    assert pipe.relay() == 1  # unconfirmed, so sent again
    pipe.work()
    assert pipe.ids("Redis forgot this job") == [doc["id"]]


def test_older_version_redelivered_after_newer_never_restores_old_content(pipe: Pipeline) -> None:
    doc = pipe.create(title="Colour", body="The sky is blue on a clear day.")
    old_seq = pipe.outbox(doc["id"])[0].seq
    pipe.command.put(f"/v1/documents/{doc['id']}",
                     json={"title": "Colour", "body": "Grass is green in spring."})
    pipe.sync()
    queue = Queue(queue_name(pipe.command_settings, "pgvector"), connection=pipe.redis)
    for _ in range(3):  # duplicates and a replay of version 1
        enqueue(queue, Change(uuid.UUID(doc["id"]), 1, old_seq))
    pipe.work()
    hit = pipe.search("green grass")["hits"][0]
    assert hit["id"] == doc["id"] and hit["version"] == 2 and "Grass" in hit["snippet"]


def test_newer_job_first_then_older_job_keeps_newer(pipe: Pipeline) -> None:
    doc = pipe.create(title="Order", body="first text about apples")
    pipe.command.patch(f"/v1/documents/{doc['id']}", json={"body": "second text about pears"})
    rows = pipe.outbox(doc["id"])
    queue = Queue(queue_name(pipe.command_settings, "pgvector"), connection=pipe.redis)
    enqueue(queue, Change(uuid.UUID(doc["id"]), 2, rows[1].seq))
    enqueue(queue, Change(uuid.UUID(doc["id"]), 1, rows[0].seq))
    pipe.work()
    hit = pipe.search("pears")["hits"][0]
    assert hit["version"] == 2 and "pears" in hit["snippet"]
    assert all(r.pending_stores == [] for r in pipe.outbox(doc["id"]))


def test_delete_then_stale_create_job_stays_deleted(pipe: Pipeline) -> None:
    doc = pipe.create(title="Gone", body="this will be deleted soon")
    first_seq = pipe.outbox(doc["id"])[0].seq
    pipe.command.delete(f"/v1/documents/{doc['id']}")
    pipe.sync()
    queue = Queue(queue_name(pipe.command_settings, "pgvector"), connection=pipe.redis)
    enqueue(queue, Change(uuid.UUID(doc["id"]), 1, first_seq))
    pipe.work()
    assert pipe.ids("deleted soon") == []


def test_unchanged_text_is_never_embedded_twice(pipe: Pipeline) -> None:
    doc = pipe.create(title="Rivers", body="The Nile is the longest river in Africa.",
                      tags=["a"])
    pipe.sync()
    assert len(pipe.encoder.texts) == 1
    pipe.command.patch(f"/v1/documents/{doc['id']}", json={"tags": ["b"], "category": "geo"})
    pipe.sync()
    assert len(pipe.encoder.texts) == 1  # metadata change: no model call
    hit = pipe.search("longest river")["hits"][0]
    assert hit["tags"] == ["b"] and hit["category"] == "geo" and hit["version"] == 2
    twin = pipe.create(title="Rivers", body="The Nile is the longest river in Africa.")
    pipe.sync()
    assert len(pipe.encoder.texts) == 1  # same text in another document: cached
    queue = Queue(queue_name(pipe.command_settings, "pgvector"), connection=pipe.redis)
    queue.enqueue(PROJECT_CHANGES, "pgvector", [[twin["id"], 1, 0]])  # an older relay's replay
    pipe.work()
    assert len(pipe.encoder.texts) == 1
    pipe.command.patch(f"/v1/documents/{doc['id']}", json={"body": "The Amazon carries most water."})
    pipe.sync()
    assert len(pipe.encoder.texts) == 2  # changed text: embedded once more


def test_a_batch_is_written_group_by_group_and_a_failed_group_is_finished_by_the_retry(
        pipe: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = [pipe.create(title=f"Group {n}", body=f"Grouped write number {n}") for n in range(7)]
    changes = [(uuid.UUID(d["id"]), 1, pipe.outbox(d["id"])[0].seq) for d in docs]
    ids = sorted(doc_id for doc_id, _, _ in changes)
    store = pipe.runtime.store("pgvector")
    upsert, calls = store.upsert, []

    def third_write_fails(records: list[Any]) -> None:
        calls.append([r.id for r in records])
        if len(calls) == 3:
            raise RuntimeError("the store refused this write")
        upsert(records)

    monkeypatch.setattr(store, "upsert", third_write_fails)
    with pytest.raises(RuntimeError, match="refused"):
        project(store, changes, pipe.write_engine, pipe.runtime.read_engine, pipe.encoder, group=3)
    assert calls == [ids[0:3], ids[3:6], ids[6:7]]  # in id order, one transaction per group
    with pipe.runtime.read_engine.connect() as conn:
        held = readmodel.projected(conn, "pgvector", ids)
    assert [doc_id for doc_id in ids if doc_id in held and held[doc_id].version >= 1] == ids[:6]
    assert all(pipe.outbox(d["id"])[0].pending_stores == ["pgvector"] for d in docs)  # not acked

    monkeypatch.setattr(store, "upsert", upsert)
    embedded_before = len(pipe.encoder.texts)
    outcome = project(store, changes, pipe.write_engine, pipe.runtime.read_engine, pipe.encoder,
                      group=3)
    assert (outcome.upserted, outcome.skipped) == (1, 6)  # the written groups are not redone
    assert len(pipe.encoder.texts) == embedded_before  # and nothing is embedded again
    assert all(pipe.outbox(d["id"])[0].pending_stores == [] for d in docs)
    pipe.settle()
    assert set(pipe.ids("Grouped write number", limit=10)) == {d["id"] for d in docs}

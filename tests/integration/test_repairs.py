"""Operator repairs: dead letters, reconcile and reindex, on the real pipeline."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from command_side import deadletters
from sync_worker import maintenance
from sync_worker.reconcile import compare
from tests.pipeline import Pipeline, pipeline
from tests.services import Services


@pytest.fixture
def pipe2(services: Services, weaviate, real_encoder) -> Iterator[Pipeline]:  # type: ignore[no-untyped-def]
    with pipeline(services, real_encoder, stores=["pgvector", "weaviate"]) as p:
        p.command_settings.resend_after_seconds = 0.01
        p.command_settings.job_retries = 0
        p.worker_settings.dead_letter_after = 2
        yield p


def test_a_document_that_keeps_failing_is_dead_lettered_then_replayed(
        pipe2: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from query_side.stores.weaviate import objects as weaviate_module

    bad = uuid.uuid4()
    original = weaviate_module.document_properties

    def poisoned(record):  # type: ignore[no-untyped-def]
        props = original(record)
        if record.id == bad:
            props["version"] = "not a number"
        return props

    monkeypatch.setattr(weaviate_module, "document_properties", poisoned)
    good = [pipe2.create(title=f"Good {n}", body=f"An ordinary paragraph {n}") for n in range(3)]
    pipe2.create(id=str(bad), title="Bad", body="Refused by Weaviate every time")
    for _ in range(3):  # each round: resend, fail once more
        pipe2.sync()
        time.sleep(0.05)
    with pipe2.write_engine.connect() as conn:
        letters = deadletters.list_dead(conn)
    # dead after DEAD_LETTER_AFTER (2) attempts; on a slow machine RQ's own retry of the failed
    # job may come due within the same burst and count one more
    assert [(d.store, d.doc_id) for d in letters] == [("weaviate", bad)]
    assert letters[0].attempts >= pipe2.worker_settings.dead_letter_after == 2
    assert "not a number" in letters[0].error or "version" in letters[0].error
    assert pipe2.outbox(str(bad))[-1].pending_stores == []  # no longer retried
    weaviate_store = pipe2.runtime.store("weaviate")
    assert all(weaviate_store.get(uuid.UUID(g["id"])) is not None for g in good)  # not held up
    assert pipe2.runtime.store("pgvector").get(bad) is not None

    monkeypatch.setattr(weaviate_module, "document_properties", original)  # the cause is fixed
    with pipe2.write_engine.begin() as conn:
        assert deadletters.replay(conn, [bad]) == 1
    pipe2.sync()
    assert weaviate_store.get(bad) is not None
    with pipe2.write_engine.connect() as conn:
        assert deadletters.list_dead(conn) == []


def test_reconcile_finds_and_repairs_missing_stale_and_orphaned(pipe2: Pipeline) -> None:
    docs = [pipe2.create(title=f"Doc {n}", body=f"Body number {n}") for n in range(6)]
    pipe2.sync()
    pg = pipe2.runtime.store("pgvector")
    table = pipe2.worker_settings.pgvector_table
    lost, stale = uuid.UUID(docs[0]["id"]), uuid.UUID(docs[1]["id"])
    with pipe2.runtime.read_engine.begin() as conn:  # damage the read model behind the worker
        conn.execute(sa.text(f"DELETE FROM {table} WHERE id = :id"), {"id": lost})
        conn.execute(sa.text(f"UPDATE {table} SET content_hash = 'x' WHERE id = :id"), {"id": stale})
        conn.execute(sa.text(f"INSERT INTO {table} SELECT :new, version, title, body, category, "
                             f"tags, attributes, published_at, content_hash, passage_count FROM "
                             f"{table} WHERE id = :id"), {"new": uuid.uuid4(), "id": docs[2]["id"]})
    found, left = maintenance.reconcile(pipe2.runtime, "pgvector", apply=True, progress=False)
    assert (found.missing, found.stale, len(found.orphaned)) == ([lost], [stale], 1)
    assert left is not None and left.total == 0
    assert compare(pipe2.write_engine, pg, pipe2.encoder.model_id).total == 0
    assert len(pipe2.encoder.texts) == 6  # repairs reused cached embeddings


def test_reindex_rebuilds_an_empty_store_without_embedding_again(pipe2: Pipeline,
                                                                 services: Services) -> None:
    docs = [pipe2.create(title=f"Doc {n}", body=f"Reindex me {n}") for n in range(8)]
    pipe2.command.delete(f"/v1/documents/{docs[0]['id']}")
    pipe2.sync()
    weaviate_store = pipe2.runtime.store("weaviate")
    weaviate_store.delete([(uuid.UUID(d["id"]), 10**6) for d in docs])  # the store is wiped
    assert weaviate_store.count() == 0
    embedded = len(pipe2.encoder.texts)
    assert embedded == 7  # the document deleted before its first sync was never embedded
    left = maintenance.reindex(pipe2.runtime, "weaviate", progress=False)
    assert left.total == 0 and weaviate_store.count() == 7
    assert len(pipe2.encoder.texts) == embedded  # rebuilt from the embedding cache

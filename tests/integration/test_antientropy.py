"""The periodic comparison (sync_worker/antientropy.py) on the real pipeline and both stores:
it repairs what a store lost or brought back after the worker had confirmed it, and leaves a
document still in flight to the outbox and a dead letter to the operator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from rq import Queue

from command_side import deadletters
from command_side.jobs import RECONCILE_STORE, queue_name
from command_side.relay import schedule_reconcile
from query_side.stores.base import VectorStore
from sync_worker.antientropy import reconcile_family
from sync_worker.projection import GONE, build_records
from sync_worker.reconcile import compare
from tests.pipeline import Pipeline, pipeline
from tests.services import Services


@pytest.fixture
def both(services: Services, weaviate, real_encoder) -> Iterator[Pipeline]:  # type: ignore[no-untyped-def]
    with pipeline(services, real_encoder, stores=["pgvector", "weaviate"]) as p:
        yield p


def _put_back(pipe: Pipeline, store: VectorStore, doc_id: uuid.UUID, n: int, version: int) -> None:
    """Write document ``n`` into ``store`` as created, at ``version``, behind the worker's back
    (what a write that lands late, or a replica handing back its old copy, leaves)."""
    encoder, passages = pipe.runtime.built_with()
    row = SimpleNamespace(id=doc_id, version=version, **_fields(n), category=None, tags=[],
                          attributes={}, published_at=None)
    store.delete([(row.id, GONE)])
    store.upsert(build_records([row], encoder, passages))


def _differences(pipe: Pipeline, store: VectorStore) -> dict[str, list[uuid.UUID]]:
    encoder, passages = pipe.runtime.built_with()
    found = compare(pipe.write_engine, store, encoder.model_id, passages)
    return {"missing": found.missing, "stale": found.stale,
            "orphaned": [doc_id for doc_id, _ in found.orphaned], "strays": found.strays}


def _fields(n: int) -> dict[str, str]:
    return {"title": f"Doc {n}", "body": f"The body of document number {n}."}


@pytest.mark.parametrize("family", ["pgvector", "weaviate"])
def test_what_a_store_lost_or_brought_back_after_confirming_it_is_repaired(
        both: Pipeline, family: str) -> None:
    docs = [both.create(**_fields(n)) for n in range(5)]
    late, lost, back, moving, dead = (uuid.UUID(d["id"]) for d in docs)
    assert both.command.patch(f"/v1/documents/{late}",
                              json={"body": "A newer body the store confirmed."}).status_code == 200
    assert both.command.delete(f"/v1/documents/{back}").status_code == 200
    both.sync()
    store = both.runtime.store(family)
    _put_back(both, store, late, 0, 1)  # an older write committed after the newer one
    store.delete([(lost, GONE)])  # a confirmed write lost
    _put_back(both, store, back, 2, 1)  # a deleted document brought back
    assert both.command.patch(f"/v1/documents/{moving}",
                              json={"body": "Not sent yet."}).status_code == 200  # in flight
    store.delete([(dead, GONE)])
    with both.write_engine.begin() as conn:  # given up on: the operator's, through `dlq`
        assert deadletters.record_failure(conn, family, dead, 1, "refused", max_attempts=1)
    assert _differences(both, store) == {"missing": sorted([lost, dead]),
                                         "stale": sorted([late, moving]),
                                         "orphaned": [back], "strays": []}

    repaired = reconcile_family(both.runtime, family)

    assert sorted((r.doc_id, r.kind, r.held, r.wanted) for r in repaired) == sorted([
        (late, "stale", 1, 2), (lost, "missing", None, 1), (back, "orphaned", 1, None)])
    assert _differences(both, store) == {"missing": [dead], "stale": [moving], "orphaned": [],
                                         "strays": []}
    hit = store.get(late)
    assert hit is not None and hit[0].body == "A newer body the store confirmed."
    assert store.get(back) is None
    both.sync()  # the outbox still delivers the change in flight
    assert _differences(both, store)["stale"] == []


def test_the_relay_enqueues_one_comparison_per_store_and_interval_and_the_worker_repairs(
        both: Pipeline) -> None:
    settings = both.command_settings
    doc = both.create(title="Kept", body="A document the store loses after confirming it.")
    both.sync()
    store = both.runtime.store("weaviate")
    store.delete([(uuid.UUID(doc["id"]), GONE)])
    queues = {name: Queue(queue_name(settings, name), connection=both.redis)
              for name in settings.sync_stores}

    settings.reconcile_every_seconds = 0
    assert schedule_reconcile(both.redis, settings) == []
    settings.reconcile_every_seconds = 3600
    both.create(title="Queued", body="A change no worker has taken yet.")
    both.relay()
    assert schedule_reconcile(both.redis, settings) == []  # not while a store's queue is busy
    both.work()
    assert schedule_reconcile(both.redis, settings) == ["pgvector", "weaviate"]
    assert [[job.func_name for job in q.jobs] for q in queues.values()] == [[RECONCILE_STORE]] * 2

    both.work()
    assert _differences(both, store)["missing"] == []
    assert store.get(uuid.UUID(doc["id"])) is not None
    assert schedule_reconcile(both.redis, settings) == []  # any relay, within the interval
    for name in settings.sync_stores:  # the interval over: due again
        both.redis.delete(f"{queue_name(settings, name)}:reconcile-enqueued")
    assert schedule_reconcile(both.redis, settings) == ["pgvector", "weaviate"]

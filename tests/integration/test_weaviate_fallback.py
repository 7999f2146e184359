"""Weaviate primary, pgvector fallback: both complete, queries move between them.

Runs on the real weaviate-server the test session started (never skipped under CI=true).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from rq import Queue
from rq.registry import FailedJobRegistry

from sync_worker.reconcile import compare
from tests.pipeline import Pipeline, pipeline
from tests.services import Services


@pytest.fixture
def both(services: Services, weaviate, real_encoder) -> Iterator[Pipeline]:  # type: ignore[no-untyped-def]
    with pipeline(services, real_encoder, stores=["pgvector", "weaviate"], query_store="auto",
                  health_cache_seconds=0) as p:
        p.command_settings.resend_after_seconds = 0.2
        p.command_settings.job_retries = 1
        yield p


def converged(pipe: Pipeline) -> dict[str, int]:
    """Differences between PostgreSQL and each store (0 everywhere when converged)."""
    return {name: compare(pipe.write_engine, pipe.runtime.store(name), pipe.encoder.model_id).total
            for name in ("pgvector", "weaviate")}


def test_weaviate_serves_when_healthy_and_both_stores_are_complete(both: Pipeline) -> None:
    docs = [both.create(title=f"Glacier {n}", body=f"Ice sheets and glaciers, note {n}.")
            for n in range(10)]
    both.sync()
    answer = both.search("glaciers and ice", limit=10)
    assert answer["store"] == "weaviate"
    assert {h["id"] for h in answer["hits"]} == {d["id"] for d in docs}
    assert converged(both) == {"pgvector": 0, "weaviate": 0}
    assert len(both.encoder.texts) == 10  # the second store reused the first one's vectors


def test_weaviate_outage_falls_back_to_pgvector_and_catches_up(both: Pipeline,
                                                               services: Services) -> None:
    before = [both.create(title=f"Desert {n}", body=f"Sand dunes in the desert {n}")
              for n in range(5)]
    both.sync()
    services.weaviate.stop()  # type: ignore[attr-defined]
    try:
        during = [both.create(title=f"Forest {n}", body=f"Tall trees in a rain forest {n}")
                  for n in range(5)]
        both.command.put(f"/v1/documents/{before[0]['id']}",
                         json={"title": "Desert 0", "body": "Cacti store water in the desert"})
        both.command.delete(f"/v1/documents/{before[1]['id']}")
        both.sync()  # pgvector jobs succeed; Weaviate jobs fail and stay pending
        answer = both.search("rain forest trees", limit=10)
        assert answer["store"] == "pgvector"
        assert {h["id"] for h in answer["hits"]} >= {d["id"] for d in during}
        assert compare(both.write_engine, both.runtime.store("pgvector"),
                       both.encoder.model_id).total == 0
        assert FailedJobRegistry(f"{both.command_settings.queue_name}-weaviate",
                                 connection=both.redis).count >= 1
    finally:
        services.weaviate.start()  # type: ignore[attr-defined]
    time.sleep(0.3)  # past the resend back-off
    both.sync()
    assert converged(both) == {"pgvector": 0, "weaviate": 0}
    answer = both.search("rain forest trees", limit=10)
    assert answer["store"] == "weaviate"
    assert {h["id"] for h in answer["hits"]} >= {d["id"] for d in during}
    assert before[1]["id"] not in {h["id"] for h in both.search("desert", limit=10)["hits"]}


def test_per_object_failure_is_reported_and_never_acknowledged(
        both: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Weaviate batch that fails for one object: the job fails visibly, the change stays
    pending for Weaviate, and pgvector is not held back."""
    from query_side.stores.weaviate import objects as weaviate_module

    bad_id = uuid.uuid4()
    original = weaviate_module.document_properties

    def poisoned(record):  # type: ignore[no-untyped-def]
        props = original(record)
        if record.id == bad_id:
            props["version"] = "not a number"  # Weaviate refuses this one object
        return props

    monkeypatch.setattr(weaviate_module, "document_properties", poisoned)
    good = both.create(title="Fine", body="A perfectly ordinary paragraph about bread.")
    both.create(id=str(bad_id), title="Broken", body="This one will be refused by Weaviate.")
    both.sync()
    failed = FailedJobRegistry(f"{both.command_settings.queue_name}-weaviate",
                               connection=both.redis)
    assert failed.count == 1
    job = Queue(f"{both.command_settings.queue_name}-weaviate",
                connection=both.redis).fetch_job(failed.get_job_ids()[0])
    assert job is not None and str(bad_id) in (job.latest_result().exc_string or "")
    rows = both.outbox(str(bad_id))
    assert rows[-1].pending_stores == ["weaviate"]  # pgvector applied it; Weaviate still owes it
    assert both.query.get(f"/v1/documents/{good['id']}").status_code == 200


def test_a_store_whose_jobs_have_not_run_yet_shows_as_behind(services: Services, weaviate,  # type: ignore[no-untyped-def]
                                                              real_encoder) -> None:
    with pipeline(services, real_encoder, stores=["pgvector", "weaviate"], query_store="auto",
                  health_cache_seconds=0, max_lag_seconds=0.3) as pipe:
        docs = [pipe.create(title=f"Comet {n}", body=f"A comet's tail points away {n}")
                for n in range(3)]
        pipe.relay()
        from rq import SimpleWorker

        from sync_worker import runtime

        runtime.install(pipe.runtime)  # work only the pgvector queue: Weaviate's jobs wait
        SimpleWorker([Queue(f"{pipe.command_settings.queue_name}-pgvector",
                            connection=pipe.redis)], connection=pipe.redis).work(burst=True)
        runtime.install(None)
        time.sleep(0.4)
        answer = pipe.search("comet tail", limit=5)
        assert answer["store"] == "pgvector" and len(answer["hits"]) == 3
        assert pipe.query.get("/readyz").json()["stores"]["weaviate"]["behind"] == 3
        pipe.work()
        answer = pipe.search("comet tail", limit=5)
        assert answer["store"] == "weaviate"
        assert {h["id"] for h in answer["hits"]} == {d["id"] for d in docs}

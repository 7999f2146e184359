"""The relay→worker contract, written once: the pipeline settings every process shares, and the
job message the relay builds and the worker parses (command_side/jobs.py)."""

from __future__ import annotations

import json
import uuid

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from command_side.jobs import (
    PROJECT_CHANGES,
    RECONCILE_STORE,
    BadJobPayload,
    Change,
    ProjectChanges,
    queue_name,
)
from command_side.settings import CommandSettings
from common.config import DEFAULT_DATABASE_URL, PipelineSettings
from sync_worker.settings import WorkerSettings

PIPELINE_PROCESSES: list[type[BaseSettings]] = [CommandSettings, WorkerSettings]


@pytest.mark.parametrize("settings_class", PIPELINE_PROCESSES)
def test_an_unknown_store_is_refused_by_every_pipeline_process(
        settings_class: type[BaseSettings], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_STORES", "pgvector,foo")
    with pytest.raises(ValidationError, match="SYNC_STORES must name pgvector and/or weaviate.*"
                                              "unknown: foo"):
        settings_class()


@pytest.mark.parametrize("settings_class", PIPELINE_PROCESSES)
def test_no_store_at_all_is_refused(settings_class: type[BaseSettings],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_STORES", " , ")
    with pytest.raises(ValidationError, match="SYNC_STORES .* it is empty"):
        settings_class()


@pytest.mark.parametrize("settings_class", PIPELINE_PROCESSES)
def test_every_pipeline_process_reads_the_shared_fields_alike(
        settings_class: type[BaseSettings], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "QUEUE_NAME", "METRICS_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SYNC_STORES", "weaviate, pgvector")
    settings = settings_class()
    assert isinstance(settings, PipelineSettings)
    assert settings.sync_stores == ["weaviate", "pgvector"]
    assert (settings.database_url, settings.queue_name, settings.metrics_port) == (
        DEFAULT_DATABASE_URL, "semsearch-sync", None)


DOC = uuid.UUID("6f1c3f52-5a0b-4a53-9a43-0d1f6c1f2b7e")


def test_a_job_round_trips_through_plain_json() -> None:
    job = ProjectChanges("weaviate", (Change(DOC, 3, 41, "req-b"), Change(DOC, 4, 42),
                                      Change(uuid.uuid4(), 1, 43, "req-a")))
    store, changes = json.loads(json.dumps(job.to_payload()))
    assert ProjectChanges.from_payload(store, changes) == job
    assert changes[1] == {"doc_id": str(DOC), "version": 4, "seq": 42, "request_id": None}
    assert job.request_ids == ["req-a", "req-b"]


def test_an_older_relays_list_payload_still_parses() -> None:
    job = ProjectChanges.from_payload("pgvector", [[str(DOC), 2, 7], [str(DOC), 3, "8", "req"],
                                                   (DOC, 4, 9, None), [str(DOC), 5, 10, ""]])
    assert job.changes == (Change(DOC, 2, 7), Change(DOC, 3, 8, "req"), Change(DOC, 4, 9),
                           Change(DOC, 5, 10))
    assert job.request_ids == ["req"]


@pytest.mark.parametrize(("store", "changes", "message"), [
    ("pgvector", [[str(DOC), 1]], "older relay's list of 3 or 4"),
    ("pgvector", [{"doc_id": str(DOC), "version": 1}], "needs doc_id, version and seq"),
    ("pgvector", [{"doc_id": str(DOC), "version": 1, "seq": 1, "colour": "red"}],
     "needs doc_id, version and seq"),
    ("pgvector", [["not-a-uuid", 1, 1]], "doc_id is a UUID, got 'not-a-uuid'"),
    ("pgvector", [[str(DOC), "one", 1]], "version is a whole number, got 'one'"),
    ("pgvector", [[str(DOC), True, 1]], "version is a whole number, got True"),
    ("pgvector", [[str(DOC), 0, 1]], "version is at least 1, got 0"),
    ("pgvector", [[str(DOC), 1, -1]], "seq is at least 0, got -1"),
    ("pgvector", "[[1, 2, 3]]", "changes are a list"),
    ("", [], "a job names its store"),
])
def test_a_bad_payload_fails_clearly(store: object, changes: object, message: str) -> None:
    with pytest.raises(BadJobPayload, match=message):
        ProjectChanges.from_payload(store, changes)


def test_the_dotted_paths_name_the_worker_jobs() -> None:
    from sync_worker import jobs

    for path, function in ((PROJECT_CHANGES, jobs.project_changes),
                           (RECONCILE_STORE, jobs.reconcile_store)):
        module, name = path.rsplit(".", 1)
        assert (module, name) == (function.__module__, function.__name__)


def test_the_worker_works_the_queues_the_relay_fills() -> None:
    from redis import Redis

    from sync_worker.worker import queues

    relay = CommandSettings(queue_name="q", sync_stores="pgvector,weaviate", auth="off")
    worker = WorkerSettings(queue_name="q", sync_stores="pgvector,weaviate")
    redis = Redis()  # (never connects: a queue's name needs no server)
    assert [q.name for q in queues(worker, redis)] == [
        queue_name(relay, store) for store in relay.sync_stores] == ["q-pgvector", "q-weaviate"]

"""The relay→worker contract, written once: the pipeline settings every process shares, and the
job message the relay builds and the worker parses (command_side/jobs.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from command_side.settings import CommandSettings
from semsearch.config import DEFAULT_DATABASE_URL, PipelineSettings
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

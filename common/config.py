"""Setting types every process shares, and the settings every pipeline process shares."""

from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_commas(value: object) -> object:
    if isinstance(value, str) and not value.startswith("["):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split_commas)]
"""A list setting written ``a,b`` in the environment (JSON ``["a", "b"]`` works too)."""


DEFAULT_DATABASE_URL = "postgresql+psycopg://semsearch@127.0.0.1:5432/semsearch"
"""The write model (documents, outbox) on the embedded default's PostgreSQL server."""
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_QUEUE_NAME = "semsearch-sync"
"""Each store gets its own RQ queue, named ``<QUEUE_NAME>-<store>``."""
SYNC_STORE_NAMES = ("pgvector", "weaviate")
"""The stores the pipeline can project changes into."""


class PipelineSettings(BaseSettings):
    """What every pipeline process (command API, relay, worker) reads the same way.

    CommandSettings and WorkerSettings inherit these, so a value one process refuses every
    process refuses, with the same message."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = DEFAULT_REDIS_URL
    queue_name: str = DEFAULT_QUEUE_NAME
    sync_stores: CommaList = Field(default_factory=lambda: ["pgvector"])
    """Stores the worker must project every change into; each gets its own RQ job."""
    metrics_port: int | None = None
    """The relay or the worker serves Prometheus metrics here, on 127.0.0.1 (no HTTP API of
    its own); unset: none."""

    @field_validator("sync_stores")
    @classmethod
    def _known_stores(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in SYNC_STORE_NAMES]
        if unknown or not value:
            raise ValueError("SYNC_STORES must name pgvector and/or weaviate, comma-separated; "
                             + (f"unknown: {', '.join(unknown)}" if unknown else "it is empty"))
        return value

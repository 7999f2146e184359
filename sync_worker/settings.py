"""Settings of the sync worker."""

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from query_side.settings import StoreSettings


class WorkerSettings(StoreSettings):
    database_url: str = "postgresql+psycopg://semsearch@127.0.0.1:5432/semsearch"
    redis_url: str = "redis://127.0.0.1:6379/0"
    queue_name: str = "semsearch-sync"
    sync_stores: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["pgvector"])
    embed_batch_size: int = Field(default=32, ge=1, le=1024)
    dead_letter_after: int = Field(default=5, ge=1)
    """Failures of one document for one store before it is dead-lettered (``semsearch dlq``)."""
    metrics_port: int | None = None
    failpoints: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Test-only crash points (semsearch.failpoints); empty in production."""

    @field_validator("sync_stores", "failpoints", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str) and not value.startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

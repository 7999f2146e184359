"""Settings of the sync worker."""

from pydantic import Field

from query_side.settings import StoreSettings
from semsearch.config import CommaList


class WorkerSettings(StoreSettings):
    database_url: str = "postgresql+psycopg://semsearch@127.0.0.1:5432/semsearch"
    redis_url: str = "redis://127.0.0.1:6379/0"
    queue_name: str = "semsearch-sync"
    sync_stores: CommaList = Field(default_factory=lambda: ["pgvector"])
    embed_batch_size: int = Field(default=32, ge=1, le=1024)
    dead_letter_after: int = Field(default=5, ge=1)
    """Failures of one document for one store before it is dead-lettered (``semsearch dlq``)."""
    metrics_port: int | None = None
    failpoints: CommaList = Field(default_factory=list)
    """Test-only crash points (semsearch.failpoints); empty in production."""

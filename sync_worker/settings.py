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
    worker_nice: int = Field(default=10, ge=0, le=19)
    """CPU priority of a ``semsearch worker`` process (Unix nice): embedding is background work,
    so the APIs and the stores get the cores first when both want them; 0: same as everything."""
    metrics_port: int | None = None

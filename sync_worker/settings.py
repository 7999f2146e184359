"""Settings of the sync worker."""

from pydantic import Field

from common.config import PipelineSettings
from query_side.settings import StoreSettings


class WorkerSettings(PipelineSettings, StoreSettings):
    """The stores (``StoreSettings``, shared with the query API) and the pipeline settings
    (``PipelineSettings``, shared with the command API and the relay), and the worker's own."""

    embed_batch_size: int = Field(default=32, ge=1, le=1024)
    dead_letter_after: int = Field(default=5, ge=1)
    """Failures of one document for one store before it is dead-lettered (``semsearch dlq``)."""
    worker_nice: int = Field(default=10, ge=0, le=19)
    """CPU priority of a ``semsearch worker`` process (Unix nice): embedding is background work,
    so the APIs and the stores get the cores first when both want them; 0: same as everything."""

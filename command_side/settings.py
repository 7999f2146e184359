"""Settings of the command API and the relay, read once from the environment."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from common import consistency
from common.auth import AuthSettings
from common.config import CommaList, PipelineSettings
from common.ratelimit import RateLimitSettings


class CommandSettings(PipelineSettings, AuthSettings, RateLimitSettings):
    """(The auth settings are the command API's: ``common.auth``; the database, Redis, queue,
    store and metrics settings every pipeline process shares: ``common.config``.)"""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    relay_batch_size: int = Field(default=256, ge=1, le=10_000)
    relay_idle_seconds: float = Field(default=0.05, gt=0)
    resend_after_seconds: float = Field(default=30.0, gt=0)
    """A change sent but not confirmed by a store within this time is sent again (doubling)."""
    outbox_retention_seconds: float = Field(default=3600.0, ge=0)
    job_retries: int = Field(default=2, ge=0, le=10)
    """Immediate RQ retries of a failed sync job; after the last the job is kept in RQ's
    failed-job registry, and the outbox resend (with back-off) sends the change again."""
    max_queued_jobs: int = Field(default=1, ge=0)
    """The relay sends to a store's queue only while it holds fewer untaken jobs than this:
    while the worker is busy, changes gather in the outbox and go as one larger job (dynamic
    batching) instead of queueing as many one-document jobs. 0 turns this off."""
    reconcile_every_seconds: float = Field(default=300.0, ge=0)
    """Every this often (among all relays) each store is compared with PostgreSQL and what it
    holds wrongly although confirmed is repaired (sync_worker/antientropy.py); 0: never."""
    bulk_max_documents: int = Field(default=1000, ge=1, le=consistency.MAX_WRITES)
    """(At most what one consistency token may name: the query API refuses longer ones.)"""
    audit_retention_days: float = Field(default=90.0, gt=0)
    """Audit rows older than this are purged (by the relay, once a minute)."""
    failpoints: CommaList = Field(default_factory=list)
    """Test-only crash points (common.failpoints); empty in production."""

"""RQ jobs, enqueued by the relay by dotted path (``sync_worker.jobs.project_changes``)."""

from __future__ import annotations

import logging
import uuid

from query_side.stores.base import StoreUnavailable
from sync_worker.projection import project
from sync_worker.runtime import APPLIED, EMBEDDED, FRESHNESS, current

log = logging.getLogger("semsearch.worker")


def project_changes(store_name: str, changes: list[list[object]]) -> dict[str, int]:
    """Apply a batch of (id, version, outbox seq) to one store. Raises to let RQ retry."""
    runtime = current()
    store = runtime.store(store_name)
    if not store.health():
        raise StoreUnavailable(f"{store_name} is not answering; the change stays pending")
    parsed = [(uuid.UUID(str(c[0])), int(str(c[1])), int(str(c[2]))) for c in changes]
    outcome = project(store, parsed, runtime.write_engine, runtime.read_engine, runtime.encoder)
    APPLIED.labels(store_name, "upserted").inc(outcome.upserted)
    APPLIED.labels(store_name, "deleted").inc(outcome.deleted)
    APPLIED.labels(store_name, "skipped").inc(outcome.skipped)
    EMBEDDED.inc(outcome.embedded)
    for seconds in outcome.latencies:
        FRESHNESS.labels(store_name).observe(seconds)
    log.info("%s: %d upserted, %d deleted, %d skipped, %d embedded", store_name,
             outcome.upserted, outcome.deleted, outcome.skipped, outcome.embedded)
    return {"upserted": outcome.upserted, "deleted": outcome.deleted,
            "skipped": outcome.skipped, "embedded": outcome.embedded}

"""RQ jobs, enqueued by the relay by dotted path; their messages: command_side/jobs.py.

A store that is away fails the whole job (RQ retries it; the outbox resends it later). A batch
that fails for another reason is retried one document at a time, so one bad document never
holds up the others; a document that keeps failing is dead-lettered with its cause.
"""

from __future__ import annotations

import logging
import uuid

from command_side import deadletters
from command_side.jobs import ProjectChanges
from command_side.outbox import acknowledge
from query_side import readmodel
from query_side.generations import Generation
from query_side.stores.base import StoreUnavailable, VectorStore
from sync_worker.antientropy import reconcile_family
from sync_worker.projection import Outcome, project
from sync_worker.runtime import (
    APPLIED,
    DEAD_LETTERED,
    EMBEDDED,
    FRESHNESS,
    JOB_FAILURES,
    Runtime,
    current,
)

log = logging.getLogger("semsearch.worker")

Change = tuple[uuid.UUID, int, int]
"""A change as ``sync_worker.projection.project`` takes it: (document id, version, outbox seq)."""


class DocumentsFailed(Exception):
    """Some documents of a batch failed for a store; the rest were applied."""


def _store_away(exc: Exception) -> bool:
    return isinstance(exc, StoreUnavailable) and not getattr(exc, "failed", None)


def _one_by_one(rt: Runtime, store: VectorStore, changes: list[Change], generation: Generation,
                ) -> Outcome:
    total, errors = Outcome(), []
    for doc_id in sorted({c[0] for c in changes}):
        mine = [c for c in changes if c[0] == doc_id]
        try:
            outcome = project(store, mine, rt.write_engine, rt.read_engine,
                              rt.encoder_for(generation.encoder), passages=generation.passages,
                              ack=False)
        except Exception as exc:
            if _store_away(exc):
                raise
            version = max(c[1] for c in mine)
            with rt.write_engine.begin() as conn:
                dead = deadletters.record_failure(conn, store.name, doc_id, version, repr(exc),
                                                  rt.settings.dead_letter_after)
            with rt.read_engine.begin() as conn:
                readmodel.mark_failed(conn, store.name, doc_id, version)
            if dead:
                DEAD_LETTERED.labels(store.name).inc()
                log.error("%s: document %s dead-lettered: %r", store.name, doc_id, exc)
            else:
                errors.append(f"{doc_id}: {exc!r}")
            continue
        total.add(outcome)
    if errors:
        raise DocumentsFailed(f"{store.name}: {len(errors)} document(s) failed: " + "; ".join(errors))
    return total


def project_changes(store_name: str, changes: list[object]) -> dict[str, int]:
    """Apply a batch of changes (``command_side.jobs.ProjectChanges``, as its payload) to one
    store. Raises to let RQ retry (a payload that is not a job's: ``BadJobPayload``)."""
    try:
        return _project_changes(current(), ProjectChanges.from_payload(store_name, changes))
    except Exception:
        JOB_FAILURES.labels(store_name).inc()
        raise


def _project_changes(rt: Runtime, job: ProjectChanges) -> dict[str, int]:
    """Apply the batch to its store of every live index generation, each with its own encoder
    and passage settings; the outbox rows are acknowledged once all hold them."""
    store_name = job.store
    parsed = [(c.doc_id, c.version, c.seq) for c in job.changes]
    log.info("%s: applying %d change(s)", store_name, len(parsed),
             extra={"fields": {"store": store_name, "request_ids": job.request_ids}})
    outcome = Outcome()
    for generation in rt.live_generations():
        outcome.add(_project_generation(rt, store_name, generation, parsed))
    with rt.write_engine.begin() as conn:
        acknowledge(conn, store_name, [c[2] for c in parsed])
    EMBEDDED.inc(outcome.embedded)
    log.info("%s: %d upserted, %d deleted, %d skipped, %d embedded", store_name,
             outcome.upserted, outcome.deleted, outcome.skipped, outcome.embedded,
             extra={"fields": {"store": store_name, "request_ids": job.request_ids}})
    return {"upserted": outcome.upserted, "deleted": outcome.deleted,
            "skipped": outcome.skipped, "embedded": outcome.embedded}


def _project_generation(rt: Runtime, family: str, generation: Generation,
                        parsed: list[Change]) -> Outcome:
    store = rt.generation_store(family, generation)
    if not store.health():
        raise StoreUnavailable(f"{store.name} is not answering; the change stays pending")
    peers = [generation.store(name) for name in rt.settings.sync_stores]
    try:
        outcome = project(store, parsed, rt.write_engine, rt.read_engine,
                          rt.encoder_for(generation.encoder), rt.settings.failpoints, peers,
                          passages=generation.passages, ack=False)
    except Exception as exc:
        if _store_away(exc):
            raise
        log.warning("%s: batch of %d failed (%r); retrying one by one", store.name, len(parsed),
                    exc)
        outcome = _one_by_one(rt, store, parsed, generation)
    with rt.write_engine.begin() as conn:
        deadletters.forget_failures(conn, store.name, [c[0] for c in parsed])
    APPLIED.labels(store.name, "upserted").inc(outcome.upserted)
    APPLIED.labels(store.name, "deleted").inc(outcome.deleted)
    APPLIED.labels(store.name, "skipped").inc(outcome.skipped)
    for seconds in outcome.latencies:
        FRESHNESS.labels(store.name).observe(seconds)
    return outcome


def reconcile_store(store_name: str) -> dict[str, int]:
    """Compare store ``store_name`` (every live generation of it) with PostgreSQL and repair
    what the pipeline had confirmed but the store holds wrongly (sync_worker/antientropy.py);
    enqueued by the relay every ``RECONCILE_EVERY_SECONDS``."""
    repaired = reconcile_family(current(), store_name)
    kinds = [r.kind for r in repaired]
    return {kind: kinds.count(kind) for kind in ("missing", "stale", "orphaned")}

"""The relay: claims committed outbox rows and enqueues one RQ job per batch and store.

Any number of relays may run: rows are claimed with ``FOR UPDATE SKIP LOCKED`` and marked sent
in the same transaction as the claim. A relay killed between claim and enqueue rolls back, so
the rows are claimed again; one killed after enqueue but before commit sends them twice, which
the worker's version guard makes harmless. Rows still pending for a store are sent again after
``resend_after_seconds``, doubling per attempt: Redis may lose every job and nothing is lost.
A relay that starts sends every unconfirmed row again at once, without waiting for its back-off:
after a crash of the stack, jobs that a killed Redis or a killed worker lost would otherwise wait
up to ``MAX_BACKOFF_SECONDS`` (a job that did survive is then applied twice, harmlessly).
Each change in a job carries the request id of the command that made it (the job message and
its payload: command_side/jobs.py). Every
``reconcile_every_seconds`` (among all relays) the relay also enqueues a comparison of each store
with PostgreSQL, which repairs what a store lost or brought back after confirming it
(sync_worker/antientropy.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict

import sqlalchemy as sa
from prometheus_client import Counter, Gauge
from redis import Redis
from rq import Queue, Retry
from sqlalchemy.engine import Engine

from command_side import audit
from command_side.jobs import PROJECT_CHANGES, RECONCILE_STORE, Change, ProjectChanges, queue_name
from command_side.outbox import backlog
from command_side.settings import CommandSettings
from common.failpoints import crash_if

log = logging.getLogger("semsearch.relay")

SENT = Counter("semsearch_relay_sent_total", "Outbox rows sent to the worker queues")
PENDING = Gauge("semsearch_outbox_pending", "Changes not yet confirmed by every store")
OLDEST = Gauge("semsearch_outbox_oldest_age_seconds", "Age of the oldest unconfirmed change")

RECONCILE_TIMEOUT_SECONDS = 3600
"""A comparison walks the whole store: far longer than a batch of changes may take."""

MAX_BACKOFF_SECONDS = 600

CLAIM = sa.text(
    """
    SELECT seq, doc_id, version, pending_stores, request_id FROM outbox
    WHERE cardinality(pending_stores) > 0
      AND (sent_at IS NULL OR sent_at < now() - make_interval(
             secs => least(:resend * power(2, least(attempts - 1, 10)), :max_backoff)))
    ORDER BY seq
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
    """
)
MARK_SENT = sa.text(
    "UPDATE outbox SET sent_at = now(), attempts = attempts + 1 WHERE seq = ANY(:seqs)"
)
RESUME = sa.text(
    "UPDATE outbox SET sent_at = NULL WHERE cardinality(pending_stores) > 0 AND sent_at IS NOT NULL"
)
PURGE = sa.text(
    "DELETE FROM outbox WHERE cardinality(pending_stores) = 0 "
    "AND created_at < now() - make_interval(secs => :retention)"
)


def backed_up(redis: Redis, settings: CommandSettings) -> bool:
    """Every store's queue holds ``max_queued_jobs`` jobs that no worker has taken yet.

    Only when all are busy does the relay hold back, so a store whose own worker is stuck never
    holds the others up."""
    return all(Queue(queue_name(settings, store), connection=redis).count >= settings.max_queued_jobs
               for store in settings.sync_stores)


def relay_once(engine: Engine, redis: Redis, settings: CommandSettings) -> int:
    """Claim one batch, enqueue it, mark it sent. Returns how many outbox rows were sent."""
    with engine.begin() as conn:
        rows = conn.execute(
            CLAIM,
            {
                "resend": settings.resend_after_seconds,
                "max_backoff": MAX_BACKOFF_SECONDS,
                "limit": settings.relay_batch_size,
            },
        ).all()
        if not rows:
            return 0
        crash_if("relay-after-claim", settings.failpoints)
        per_store: dict[str, list[Change]] = defaultdict(list)
        for seq, doc_id, version, stores, request_id in rows:
            for store in stores:
                per_store[store].append(Change(doc_id, version, seq, request_id))
        for store, changes in per_store.items():
            message = ProjectChanges(store, tuple(changes))
            job = Queue(queue_name(settings, store), connection=redis).enqueue(
                PROJECT_CHANGES, *message.to_payload(), failure_ttl=7 * 24 * 3600, result_ttl=60,
                retry=Retry(max=settings.job_retries) if settings.job_retries else None,
            )
            log.info("sent %d change(s) to %s", len(changes), store, extra={"fields": {
                "job": job.id, "store": store, "request_ids": message.request_ids}})
        conn.execute(MARK_SENT, {"seqs": [row.seq for row in rows]})
    SENT.inc(len(rows))
    return len(rows)


def schedule_reconcile(redis: Redis, settings: CommandSettings) -> list[str]:
    """Enqueue a comparison of each store whose last one, by any relay, was enqueued at least
    ``reconcile_every_seconds`` ago (a Redis key that expires then); the stores enqueued now.
    Only into an empty queue: the worker that takes a comparison applies no changes meanwhile, so
    it waits for a moment the worker has caught up. Redis losing the key only brings the next
    comparison forward."""
    if not settings.reconcile_every_seconds:
        return []
    every_ms = max(1, int(settings.reconcile_every_seconds * 1000))
    enqueued = []
    for store in settings.sync_stores:
        name = queue_name(settings, store)
        if Queue(name, connection=redis).count:
            continue
        if redis.set(f"{name}:reconcile-enqueued", "1", nx=True, px=every_ms):
            Queue(name, connection=redis).enqueue(
                RECONCILE_STORE, store, job_timeout=RECONCILE_TIMEOUT_SECONDS, result_ttl=3600,
                failure_ttl=7 * 24 * 3600)
            log.info("comparison of %s with PostgreSQL enqueued", store,
                     extra={"fields": {"store": store}})
            enqueued.append(store)
    return enqueued


def resume(engine: Engine) -> int:
    """Make every row sent but not confirmed by all its stores due now; returns how many."""
    with engine.begin() as conn:
        due = conn.execute(RESUME).rowcount
    if due:
        log.info("resuming: %d change(s) sent before but never confirmed are sent again", due)
    return due


def observe_backlog(engine: Engine) -> dict[str, object]:
    with engine.connect() as conn:
        found = backlog(conn)
    PENDING.set(float(found["pending"]))  # type: ignore[arg-type]
    OLDEST.set(float(found["oldest_age_s"]))  # type: ignore[arg-type]
    return found


def purge_done(engine: Engine, settings: CommandSettings) -> int:
    with engine.begin() as conn:
        return conn.execute(PURGE, {"retention": settings.outbox_retention_seconds}).rowcount


def run(
    engine: Engine,
    redis: Redis,
    settings: CommandSettings,
    stop: threading.Event,
    burst: bool = False,
) -> None:
    """Relay until ``stop`` is set (or, with ``burst``, until nothing is left to send)."""
    last_purge = last_observed = last_reconcile = 0.0
    resumed = False
    while not stop.is_set():
        try:
            if not resumed:
                resume(engine)
                resumed = True
            if settings.max_queued_jobs and not burst and backed_up(redis, settings):
                # the worker is busy: changes gather in the outbox and go as one larger job
                stop.wait(settings.relay_idle_seconds)
                continue
            sent = relay_once(engine, redis, settings)
            if time.monotonic() - last_observed > 1:
                observe_backlog(engine)
                last_observed = time.monotonic()
            if not burst and time.monotonic() - last_reconcile > 1:
                schedule_reconcile(redis, settings)
                last_reconcile = time.monotonic()
            if time.monotonic() - last_purge > 60:
                purge_done(engine, settings)
                audit.purge(engine, settings.audit_retention_days)
                last_purge = time.monotonic()
        except Exception as exc:  # Redis or PostgreSQL away: the outbox keeps everything
            log.warning("relay could not send, will retry: %s", exc)
            stop.wait(1.0)
            continue
        if sent == 0:
            if burst:
                return
            stop.wait(settings.relay_idle_seconds)

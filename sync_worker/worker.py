"""The worker process: load the model once, then work the store queues with RQ."""

from __future__ import annotations

import logging

from prometheus_client import start_http_server
from redis import Redis
from rq import Queue, SimpleWorker
from rq.worker import DequeueStrategy

from command_side.jobs import queue_name
from sync_worker import runtime
from sync_worker.rebuild import rebuild_if_empty
from sync_worker.settings import WorkerSettings

log = logging.getLogger("semsearch.worker")


def queues(settings: WorkerSettings, redis: Redis) -> list[Queue]:
    return [Queue(queue_name(settings, store), connection=redis) for store in settings.sync_stores]


def run(settings: WorkerSettings, burst: bool = False, name: str | None = None) -> None:
    """Work until stopped (SIGTERM finishes the current job first), or drain with ``burst``."""
    rt = runtime.build(settings)
    live = rt.live_generations()
    for kind in sorted({g.encoder for g in live}):  # each model in use, loaded before any job
        rt.encoder_for(kind).encode(["warm up"])  # (ENCODER's own only if a generation uses it)
    first_live = any(g.number == 1 for g in live)
    for store in settings.sync_stores if first_live else []:  # (a dropped generation 1 stays so)
        try:
            rebuild_if_empty(rt.write_engine, rt.store(store))
        except Exception as exc:  # a store down at start: its jobs retry until it is back
            log.warning("store %s not ready at start: %s", store, exc)
    runtime.install(rt)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr="127.0.0.1")
    redis = Redis.from_url(settings.redis_url)
    worker = SimpleWorker(queues(settings, redis), connection=redis, name=name)
    log.info("worker %s ready on %s", worker.name, [q.name for q in worker.queues])
    try:
        # No forked RQ scheduler: a forked child would inherit this process's database sockets
        # (and the advisory locks held on them) and outlive a crash. Retries are immediate; the
        # outbox resend provides the back-off for anything longer.
        # Round robin over the store queues: a long import never starves one store.
        worker.work(burst=burst, with_scheduler=False, logging_level="WARNING",
                    dequeue_strategy=DequeueStrategy.ROUND_ROBIN)
    finally:
        runtime.install(None)
        rt.close()

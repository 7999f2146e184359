"""Several relays at once over one outbox, under a burst of writes: every row is delivered,
none is lost, and (resends being off here) none is claimed by two relays (FOR UPDATE SKIP LOCKED
skips a row another relay holds and, once that one commits, sees it sent)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import sqlalchemy as sa
from redis import Redis
from rq import Queue

from command_side.commands import CreateDocument, DocumentFields, ReplaceDocument
from command_side.handlers import create_document, replace_document
from command_side.jobs import ProjectChanges, queue_name
from command_side.relay import relay_once
from command_side.settings import CommandSettings
from tests.services import Services

RELAYS = 3
WRITERS = 4
WRITES_EACH = 150
STORES = ["pgvector", "weaviate"]  # only queued here: no worker runs, no store is written


def write_burst(engine: sa.Engine, ids: list[uuid.UUID], writes: int) -> None:
    """Creates, then replaces over and over: many versions of each id."""
    for n in range(writes):
        doc_id = ids[n % len(ids)]
        fields = DocumentFields(f"burst {n}", f"body {n} of {doc_id}")
        with engine.begin() as conn:
            if n < len(ids):
                create_document(CreateDocument(doc_id, fields), conn, STORES)
            else:
                replace_document(ReplaceDocument(doc_id, fields), conn, STORES)


def relay_until(engine: sa.Engine, redis: Redis, settings: CommandSettings,
                writing: threading.Event, sent: list[int], failures: list[BaseException]) -> None:
    try:
        while True:
            still_writing = writing.is_set()  # read before the claim: no row can slip past
            count = relay_once(engine, redis, settings)
            sent.append(count)
            if count == 0 and not still_writing:
                return
            if count == 0:
                time.sleep(0.01)
    except BaseException as exc:
        failures.append(exc)


def test_several_relays_deliver_every_outbox_row_once_under_a_burst(services: Services) -> None:
    write_url, _ = services.fresh_databases()
    settings = CommandSettings(database_url=write_url, redis_url=services.redis.url,
                               sync_stores=STORES, queue_name=f"r{uuid.uuid4().hex[:10]}",
                               relay_batch_size=7, resend_after_seconds=3600, auth="off")
    engines = [sa.create_engine(write_url, pool_size=2) for _ in range(RELAYS + WRITERS)]
    redis = Redis.from_url(services.redis.url)
    writing = threading.Event()
    writing.set()
    sent: list[list[int]] = [[] for _ in range(RELAYS)]
    failures: list[BaseException] = []
    try:
        writers = [threading.Thread(target=write_burst, args=(
            engines[RELAYS + w], [uuid.uuid4() for _ in range(10)], WRITES_EACH))
            for w in range(WRITERS)]
        relays = [threading.Thread(target=relay_until, args=(
            engines[r], Redis.from_url(services.redis.url), settings, writing, sent[r], failures))
            for r in range(RELAYS)]
        for thread in relays + writers:
            thread.start()
        for thread in writers:
            thread.join(600)
        writing.clear()
        for thread in relays:
            thread.join(600)
        assert failures == [] and not any(t.is_alive() for t in relays + writers)

        with engines[0].connect() as conn:
            outbox = {seq: (str(doc_id), version) for seq, doc_id, version in conn.execute(
                sa.text("SELECT seq, doc_id, version FROM outbox")).all()}
        assert len(outbox) == WRITERS * WRITES_EACH
        for store in STORES:
            delivered: Counter[int] = Counter()
            for job in Queue(queue_name(settings, store), connection=redis).get_jobs():
                message = ProjectChanges.from_payload(*job.args)
                assert message.store == store
                for change in message.changes:
                    assert outbox[change.seq] == (str(change.doc_id), change.version)
                    delivered[change.seq] += 1
            assert set(delivered) == set(outbox), f"{store}: {len(set(outbox) - set(delivered))} lost"
            assert max(delivered.values()) == 1, f"{store}: a row was claimed twice"
        assert sum(map(sum, sent)) == len(outbox)
        assert sum(1 for mine in sent if sum(mine) > 0) >= 2, [sum(m) for m in sent]
    finally:
        for engine in engines:
            engine.dispose()
        redis.close()

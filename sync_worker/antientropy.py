"""Anti-entropy: repair what a store holds wrongly although the pipeline had confirmed it.

The outbox sees that every change reaches every store, and the version guard that none goes
backwards; neither sees a store lose a write, or bring one back, after it confirmed it. A
replicated Weaviate can: a write whose client gave up (a worker killed mid-call) is still
committed by the server, possibly after a newer one, and replicas reconcile among themselves by
timestamps the worker does not control. The soak on a three-node cluster ended, now and then,
with a document older on every node than the version the worker had confirmed.

So each store is compared with PostgreSQL every ``RECONCILE_EVERY_SECONDS`` (the relay enqueues
the job, :func:`command_side.relay.schedule_reconcile`), every live index generation of it. A
document found different is looked at again under the worker's per-document lock, and repaired
there (its copy deleted, then projected afresh from PostgreSQL) only when its change is no longer
pending in the outbox and not dead-lettered: a document still in flight is the outbox's to
deliver, and a dead letter is the operator's (``semsearch dlq``). Each repair is logged with what
the store held and what PostgreSQL has, and counted in ``semsearch_reconcile_repaired_total``.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from prometheus_client import Counter
from sqlalchemy.engine import Engine

from command_side.deadletters import sync_failures
from command_side.schema import documents, outbox
from embeddings import Encoder
from embeddings.passages import PassageSettings
from query_side import readmodel
from query_side.stores.base import StoredVersion, VectorStore
from sync_worker.maintenance import delete_strays
from sync_worker.projection import GONE, project
from sync_worker.reconcile import compare, differs, expected
from sync_worker.runtime import Runtime

log = logging.getLogger("semsearch.worker")

RUNS = Counter("semsearch_reconcile_runs_total", "Periodic comparisons of a store with PostgreSQL",
               ["store"])
REPAIRED = Counter("semsearch_reconcile_repaired_total",
                   "Documents a periodic comparison found wrong in a store and repaired",
                   ["store", "kind"])


COMPARED = "compared with PostgreSQL:"
"""In the log line of every comparison of a store (the soak counts them)."""
REPAIRED_MARK = "although its change had been applied"
"""In the log line of every repair (the soak lists them)."""


@dataclass(frozen=True)
class Repaired:
    store: str
    doc_id: uuid.UUID
    kind: str
    """missing, stale or orphaned (the store holds a document PostgreSQL deleted)."""
    held: int | None
    """The version the store held (None: none)."""
    wanted: int | None
    """PostgreSQL's version (None: deleted or never there)."""


def reconcile_family(rt: Runtime, family: str) -> list[Repaired]:
    """Compare store ``family`` of every live generation with PostgreSQL and repair it (not
    of one still being built: its backfill is filling it)."""
    repaired: list[Repaired] = []
    for generation in rt.live_generations():
        if generation.state == "building":
            continue
        store = rt.generation_store(family, generation)
        encoder = rt.encoder_for(generation.encoder)
        started = time.monotonic()
        found = compare(rt.write_engine, store, encoder.model_id, generation.passages)
        RUNS.labels(store.name).inc()
        delete_strays(rt, store, found.strays)
        kinds = {doc_id: "missing" for doc_id in found.missing} | {
            doc_id: "stale" for doc_id in found.stale} | {
            doc_id: "orphaned" for doc_id, _ in found.orphaned}
        fixed = [r for doc_id in sorted(kinds)
                 if (r := repair_one(rt, family, store, doc_id, kinds[doc_id], encoder,
                                     generation.passages)) is not None]
        log.info("%s: %s %d documents, %d different, %d repaired (the others still in flight), "
                 "%d with stray passages, in %.1f s", store.name, COMPARED, found.checked,
                 len(kinds), len(fixed), len(found.strays), time.monotonic() - started,
                 extra={"fields": {"store": store.name}})
        repaired += fixed
    return repaired


def repair_one(rt: Runtime, family: str, store: VectorStore, doc_id: uuid.UUID, kind: str,
               encoder: Encoder, passages: PassageSettings) -> Repaired | None:
    """Repair ``doc_id`` in ``store`` if, looked at again under its lock, it still differs from
    PostgreSQL and the pipeline has nothing left to do for it; the repair, or None."""
    with rt.read_engine.begin() as conn:
        readmodel.lock_documents(conn, store.name, [doc_id])
        # PostgreSQL first: a change committed after this read is pending when looked for next
        wanted = truth(rt.write_engine, doc_id, encoder.model_id, passages)
        if in_flight(rt.write_engine, family, store.name, doc_id):
            return None
        held = stored_version(store, doc_id)  # no worker writes it to this store meanwhile
        if agree(wanted, held):
            return None
        store.delete([(doc_id, GONE)])
        readmodel.forget_applied(conn, store.name, [doc_id])
    project(store, [(doc_id, 0, 0)], rt.write_engine, rt.read_engine, encoder, passages=passages,
            ack=False)
    fixed = Repaired(store.name, doc_id, kind, held.version if held else None,
                     wanted.version if wanted else None)
    REPAIRED.labels(store.name, kind).inc()
    log.warning("%s: document %s was %s %s (the store held version %s, PostgreSQL has %s); "
                "repaired", store.name, doc_id, kind, REPAIRED_MARK, fixed.held,
                fixed.wanted if fixed.wanted is not None else "none")
    return fixed


def in_flight(write_engine: Engine, family: str, store_name: str, doc_id: uuid.UUID) -> bool:
    """Whether the outbox still owes ``family`` a change of ``doc_id``, or the document is
    dead-lettered for the store."""
    with write_engine.connect() as conn:
        pending = conn.execute(sa.select(sa.literal(1)).where(
            outbox.c.doc_id == doc_id, sa.literal(family) == sa.any_(outbox.c.pending_stores)
        ).limit(1)).first()
        dead = conn.execute(sa.select(sa.literal(1)).where(
            sync_failures.c.store == store_name, sync_failures.c.doc_id == doc_id,
            sync_failures.c.dead).limit(1)).first()
    return pending is not None or dead is not None


def truth(write_engine: Engine, doc_id: uuid.UUID, model_id: str,
          passages: PassageSettings) -> StoredVersion | None:
    """What the store should hold of ``doc_id`` (None: nothing)."""
    with write_engine.connect() as conn:
        row = conn.execute(sa.select(documents.c.id, documents.c.version, documents.c.title,
                                     documents.c.body)
                           .where(documents.c.id == doc_id, documents.c.deleted_at.is_(None))
                           ).first()
    return None if row is None else expected(row, model_id, passages)


def stored_version(store: VectorStore, doc_id: uuid.UUID) -> StoredVersion | None:
    """What ``store`` holds of ``doc_id``, through the listing reconcile walks."""
    before = uuid.UUID(int=doc_id.int - 1) if doc_id.int else None
    page = store.versions(before, 1)
    return page[0] if page and page[0].id == doc_id else None


def agree(wanted: StoredVersion | None, held: StoredVersion | None) -> bool:
    if wanted is None or held is None:
        return wanted is None and held is None
    return not differs(wanted, held)

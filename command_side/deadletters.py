"""Dead letters: a document that keeps failing for a store stops being retried, with its cause.

The worker records each failure of a (store, document); after ``max_attempts`` the entry is
dead: the store is taken off that document's pending outbox rows, so it no longer holds up
retries, and an operator sees it in ``semsearch dlq list``. ``replay`` writes a fresh outbox row
for the document's current version and forgets the failure.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from command_side.outbox import record_change
from command_side.schema import documents, metadata, outbox

DEFAULT_MAX_ATTEMPTS = 5

sync_failures = sa.Table(
    "sync_failures", metadata,
    sa.Column("store", sa.Text, primary_key=True),
    sa.Column("doc_id", sa.Uuid, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("dead", sa.Boolean, nullable=False),
    sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class DeadLetter:
    store: str
    doc_id: uuid.UUID
    version: int
    attempts: int
    error: str
    last_failed_at: datetime


def record_failure(conn: Connection, store: str, doc_id: uuid.UUID, version: int, error: str,
                   max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> bool:
    """Count one more failure; True when the document is now dead-lettered for ``store``."""
    attempts = conn.execute(sa.text(
        """
        INSERT INTO sync_failures AS f (store, doc_id, version, attempts, error, dead,
                                        first_failed_at, last_failed_at)
        VALUES (:store, :doc, :version, 1, :error, false, now(), now())
        ON CONFLICT (store, doc_id) DO UPDATE SET attempts = f.attempts + 1, error = :error,
            version = greatest(f.version, :version), last_failed_at = now()
        RETURNING attempts
        """), {"store": store, "doc": doc_id, "version": version, "error": error[:2000]}).scalar()
    if attempts is None or attempts < max_attempts:
        return False
    conn.execute(sync_failures.update().where(
        sync_failures.c.store == store, sync_failures.c.doc_id == doc_id).values(dead=True))
    conn.execute(outbox.update().where(outbox.c.doc_id == doc_id).values(
        pending_stores=sa.func.array_remove(outbox.c.pending_stores, store)))
    return True


def forget_failures(conn: Connection, store: str, ids: list[uuid.UUID]) -> None:
    """A document applied at last: its earlier (not dead) failures no longer count."""
    if ids:
        conn.execute(sync_failures.delete().where(
            sync_failures.c.store == store, sync_failures.c.doc_id.in_(ids),
            sync_failures.c.dead.is_(False)))


def list_dead(conn: Connection, store: str | None = None) -> list[DeadLetter]:
    query = sa.select(sync_failures).where(sync_failures.c.dead)
    if store:
        query = query.where(sync_failures.c.store == store)
    return [DeadLetter(r.store, r.doc_id, r.version, r.attempts, r.error, r.last_failed_at)
            for r in conn.execute(query.order_by(sync_failures.c.last_failed_at))]


def replay(conn: Connection, ids: list[uuid.UUID] | None = None, store: str | None = None) -> int:
    """Send dead-lettered documents again (all, or these ids); returns how many."""
    replayed = 0
    for letter in list_dead(conn, store):
        if ids is not None and letter.doc_id not in ids:
            continue
        version = conn.execute(sa.select(documents.c.version).where(
            documents.c.id == letter.doc_id)).scalar()
        if version is not None:  # to the store's queue: ``weaviate@g2`` is ``weaviate``'s
            record_change(conn, letter.doc_id, version, [letter.store.partition("@")[0]])
        conn.execute(sync_failures.delete().where(sync_failures.c.store == letter.store,
                                                  sync_failures.c.doc_id == letter.doc_id))
        replayed += 1
    return replayed

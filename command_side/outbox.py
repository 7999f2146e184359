"""The outbox: one row per committed change, written in the document's own transaction.

Each row carries the request id of the command that made it (X-Request-ID), which the relay
puts into the worker's job, so that one write can be followed through every process's logs.

``pending_stores`` lists the stores that have not yet confirmed applying the change; the worker
removes its store once the change (or a later version) is in it. A row with stores still pending
is sent again after a back-off, so Redis may lose everything without losing a change.
"""

import uuid

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from command_side.commands import DocumentChanged
from command_side.schema import outbox


def record_changes(conn: Connection, changes: list[DocumentChanged], stores: list[str],
                   request_id: str | None = None) -> None:
    if changes:
        conn.execute(
            sa.insert(outbox).values(created_at=sa.func.now()),
            [{"doc_id": c.id, "version": c.version, "pending_stores": stores,
              "request_id": request_id} for c in changes],
        )


def with_change(dml: sa.Insert | sa.Update, stores: list[str],
                request_id: str | None = None) -> sa.Insert:
    """``dml`` (returning the document's id and new version) and its outbox row as ONE statement:
    the document and its change are written together or not at all, in one round trip. The
    statement returns the new version, or nothing when ``dml`` changed no row."""
    changed = dml.cte("changed")
    return sa.insert(outbox).from_select(
        ["doc_id", "version", "pending_stores", "created_at", "request_id"],
        sa.select(changed.c.id, changed.c.version, sa.literal(stores, ARRAY(sa.Text)), sa.func.now(),
                  sa.literal(request_id, sa.Text)),
    ).returning(outbox.c.version)


def record_change(
    conn: Connection, doc_id: uuid.UUID, version: int, stores: list[str]
) -> DocumentChanged:
    change = DocumentChanged(doc_id, version)
    record_changes(conn, [change], stores)
    return change


def acknowledge(conn: Connection, store: str, seqs: list[int]) -> None:
    """Called by the worker once ``store`` holds these changes (or later versions)."""
    conn.execute(
        sa.update(outbox)
        .where(outbox.c.seq.in_(seqs))
        .values(pending_stores=sa.func.array_remove(outbox.c.pending_stores, store))
    )


def backlog(conn: Connection) -> dict[str, object]:
    """Changes not yet confirmed by every store, and the age of the oldest, in seconds."""
    row = conn.execute(
        sa.text(
            "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "
            "FROM outbox WHERE cardinality(pending_stores) > 0"
        )
    ).one()
    return {"pending": int(row[0]), "oldest_age_s": float(row[1])}


REQUEUE_LIVE = sa.text(
    """
    INSERT INTO outbox (doc_id, version, pending_stores, created_at)
    SELECT d.id, d.version, ARRAY[CAST(:store AS text)], now() FROM documents d
    WHERE d.deleted_at IS NULL AND NOT EXISTS (
        SELECT 1 FROM outbox o
        WHERE o.doc_id = d.id AND o.version = d.version AND :store = ANY(o.pending_stores))
    """
)


def requeue_live(conn: Connection, store: str) -> int:
    """A change for ``store`` of every live document not already pending there: how a read model
    that lost everything (restored, upgraded, new) is rebuilt by the ordinary pipeline, in the
    background, durably (a crash half-way resumes where it was). Returns how many."""
    return int(conn.execute(REQUEUE_LIVE, {"store": store}).rowcount)

"""Read-model bookkeeping in the read database, shared by the worker and the query side.

``projection_state`` records, per store and document, the version the store holds (``version``)
and the newest version the worker has seen committed (``target_version``), so lag and
read-your-writes are answered from the read database alone. ``embedding_cache`` keys vectors by
(model, content hash): a reindex, a second store or a replayed job never pays for the model twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from query_side.stores.base import VectorStore

log = logging.getLogger("semsearch.readmodel")

DDL = [
    "CREATE EXTENSION IF NOT EXISTS vector",
    """
    CREATE TABLE IF NOT EXISTS projection_state (
        store text NOT NULL,
        doc_id uuid NOT NULL,
        version integer NOT NULL DEFAULT 0,
        content_hash text,
        deleted boolean NOT NULL DEFAULT false,
        target_version integer NOT NULL,
        target_committed_at timestamptz NOT NULL,
        applied_at timestamptz,
        PRIMARY KEY (store, doc_id)
    )
    """,
    # the newest version the worker failed to apply to the store (a failure it recorded; a dead
    # letter after DEAD_LETTER_AFTER of them): while it is the target, the document is "stuck".
    # Added only where missing: ALTER TABLE takes its exclusive lock before it looks, and would
    # queue every search behind a worker's batch at each process start.
    """
    DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                       AND table_name = 'projection_state' AND column_name = 'failed_version') THEN
            ALTER TABLE projection_state ADD COLUMN failed_version integer;
        END IF;
    END $$
    """,
    """
    CREATE INDEX IF NOT EXISTS projection_state_behind ON projection_state (store, target_committed_at)
    WHERE version < target_version
    """,
    """
    CREATE TABLE IF NOT EXISTS embedding_cache (
        model_id text NOT NULL,
        content_hash text NOT NULL,
        embedding vector NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (model_id, content_hash)
    )
    """,
]


def ensure_schema(conn: Connection) -> None:
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(8675309)"))  # concurrent first starts
    for statement in DDL:
        conn.execute(sa.text(statement))


def reset_store(conn: Connection, store: str) -> None:
    """``store`` was replaced by an empty read model of a newer shape: it holds nothing now, so
    every live document shows as behind (the router serves from another store while it can) until
    the worker's rebuild (``sync_worker.rebuild``, at its start) or ``semsearch reindex`` fills it."""
    conn.execute(sa.text("DELETE FROM projection_state WHERE store = :s AND deleted"), {"s": store})
    forget_applied(conn, store)  # (announced there)


def forget_applied(conn: Connection, store: str, ids: list[uuid.UUID] | None = None) -> None:
    """``store`` holds none of these documents (every one: None) as far as its projection state
    says: they show as behind, and the worker writes them again, until it has (announced: a
    cached hit's ``indexed_at`` and ``pending_version`` changed)."""
    conn.execute(sa.text("UPDATE projection_state SET version = 0, content_hash = NULL, "
                         "deleted = false, applied_at = NULL, failed_version = NULL WHERE store = :s "
                         "AND (CAST(:ids AS uuid[]) IS NULL OR doc_id = ANY(:ids))"),
                 {"s": store, "ids": ids})
    announce(conn, store)


def ensure_store(engine: Engine, store: VectorStore) -> None:
    """The store's schema; a read model of an older shape it replaced is reset and logged."""
    if store.ensure_schema():
        log.warning("%s: its read model was made by a release before passages and has been "
                    "replaced by an empty one; the worker rebuilds it from PostgreSQL in the "
                    "background (or now: `semsearch reindex --store %s`)", store.name, store.name)
        with engine.begin() as conn:
            reset_store(conn, store.name)


@dataclass(frozen=True)
class Projected:
    version: int
    content_hash: str | None
    deleted: bool


def lock_documents(conn: Connection, store: str, ids: Iterable[uuid.UUID]) -> None:
    """Serialize writers per (store, document) until the transaction ends; sorted: no deadlock."""
    keys = sorted({f"{store}:{doc_id}" for doc_id in ids})
    conn.execute(
        sa.text("SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) "
                "FROM unnest(CAST(:keys AS text[])) AS k"),
        {"keys": keys},
    )


def note_targets(conn: Connection, store: str, targets: list[tuple[uuid.UUID, int, datetime]]) -> None:
    """Record the newest committed version seen per document, before the store is written;
    announced when one is newer (a hit's ``pending_version`` changed: cached results go)."""
    if not targets:
        return
    noted = conn.execute(
        sa.text(
            """
            INSERT INTO projection_state (store, doc_id, target_version, target_committed_at)
            SELECT :store, t.id, t.v, t.at
            FROM unnest(CAST(:ids AS uuid[]), CAST(:versions AS int[]),
                        CAST(:ats AS timestamptz[])) AS t(id, v, at)
            ON CONFLICT (store, doc_id) DO UPDATE
            SET target_version = excluded.target_version,
                target_committed_at = excluded.target_committed_at
            WHERE projection_state.target_version < excluded.target_version
            """
        ),
        {
            "store": store,
            "ids": [t[0] for t in targets],
            "versions": [t[1] for t in targets],
            "ats": [t[2] for t in targets],
        },
    )
    if noted.rowcount:
        announce(conn, store)


def projected(conn: Connection, store: str, ids: list[uuid.UUID]) -> dict[uuid.UUID, Projected]:
    rows = conn.execute(
        sa.text(
            "SELECT doc_id, version, content_hash, deleted FROM projection_state "
            "WHERE store = :store AND doc_id = ANY(:ids)"
        ),
        {"store": store, "ids": ids},
    )
    return {row.doc_id: Projected(row.version, row.content_hash, row.deleted) for row in rows}


CHANNEL = "semsearch_store_changed"
"""PostgreSQL NOTIFY channel; the payload is the store's name (see ``query_side.results``)."""


def announce(conn: Connection, store: str) -> None:
    """Tell listening query APIs that ``store`` changed, when ``conn``'s transaction commits."""
    conn.execute(sa.text("SELECT pg_notify(:channel, :store)"), {"channel": CHANNEL, "store": store})


def mark_applied(
    conn: Connection, store: str, applied: list[tuple[uuid.UUID, int, str | None, bool]]
) -> None:
    """(id, version, content hash, deleted) now held by ``store``."""
    if not applied:
        return
    conn.execute(
        sa.text(
            """
            INSERT INTO projection_state AS p (store, doc_id, version, content_hash, deleted,
                                               target_version, target_committed_at, applied_at)
            SELECT :store, t.id, t.v, t.h, t.d, t.v, now(), now()
            FROM unnest(CAST(:ids AS uuid[]), CAST(:versions AS int[]), CAST(:hashes AS text[]),
                        CAST(:deleted AS boolean[])) AS t(id, v, h, d)
            ON CONFLICT (store, doc_id) DO UPDATE
            SET version = excluded.version, content_hash = excluded.content_hash,
                deleted = excluded.deleted, applied_at = now(),
                target_version = greatest(p.target_version, excluded.version)
            WHERE p.version < excluded.version
            """
        ),
        {
            "store": store,
            "ids": [a[0] for a in applied],
            "versions": [a[1] for a in applied],
            "hashes": [a[2] for a in applied],
            "deleted": [a[3] for a in applied],
        },
    )
    announce(conn, store)


def cached_embeddings(conn: Connection, model_id: str, hashes: list[str]) -> dict[str, np.ndarray]:
    rows = conn.execute(
        sa.text(
            "SELECT content_hash, embedding FROM embedding_cache "
            "WHERE model_id = :model AND content_hash = ANY(:hashes)"
        ),
        {"model": model_id, "hashes": hashes},
    )
    return {row[0]: as_array(row[1]) for row in rows}


def cache_embeddings(conn: Connection, model_id: str, vectors: dict[str, np.ndarray]) -> None:
    if not vectors:
        return
    conn.execute(
        sa.text(
            "INSERT INTO embedding_cache (model_id, content_hash, embedding) "
            "VALUES (:model, :hash, :embedding) ON CONFLICT DO NOTHING"
        ),
        [{"model": model_id, "hash": h, "embedding": v} for h, v in vectors.items()],
    )


def reached(conn: Connection, store: str, written: list[tuple[uuid.UUID, int]]) -> list[
    tuple[uuid.UUID, int, int]
]:
    """The writes of a consistency token ``store`` has not reached: (id, wanted, held)."""
    rows = conn.execute(
        sa.text(
            """
            SELECT t.id, t.v, coalesce(p.version, 0) AS held
            FROM unnest(CAST(:ids AS uuid[]), CAST(:versions AS int[])) AS t(id, v)
            LEFT JOIN projection_state p ON p.store = :store AND p.doc_id = t.id
            WHERE coalesce(p.version, 0) < t.v
            """
        ),
        {"store": store, "ids": [w[0] for w in written], "versions": [w[1] for w in written]},
    )
    return [(row[0], row[1], row[2]) for row in rows]


@dataclass(frozen=True)
class HitState:
    """One document's projection state in one store, as a search hit shows it."""

    version: int
    """The version the store is recorded to hold."""
    applied_at: datetime | None
    target_version: int
    """The newest committed version the worker has seen."""
    target_committed_at: datetime
    stuck: bool
    """The worker failed to apply ``target_version`` (counted apart from behind, as in ``lag``)."""


def hit_states(conn: Connection, store: str, ids: list[uuid.UUID]) -> dict[uuid.UUID, HitState]:
    """The projection state of a page's hits in ``store``: one primary-key lookup per id."""
    if not ids:
        return {}
    rows = conn.execute(sa.text(
        "SELECT doc_id, version, applied_at, target_version, target_committed_at, "
        "coalesce(failed_version >= target_version, false) FROM projection_state "
        "WHERE store = :store AND doc_id = ANY(:ids)"), {"store": store, "ids": ids})
    return {row[0]: HitState(row[1], row[2], row[3], row[4], row[5]) for row in rows}


def lag(conn: Connection, store: str) -> dict[str, float | int]:
    """Changes the worker has seen but ``store`` does not hold yet, and the oldest one's age;
    apart from them, ``stuck``: documents whose newest version the store failed to apply (a
    poison document is the operator's, ``semsearch dlq``, not a store that is behind)."""
    row = conn.execute(
        sa.text(
            "SELECT count(*) FILTER (WHERE NOT stuck), coalesce(extract(epoch FROM now() - "
            "min(target_committed_at) FILTER (WHERE NOT stuck)), 0), count(*) FILTER (WHERE stuck) "
            "FROM (SELECT target_committed_at, coalesce(failed_version >= target_version, false) "
            "AS stuck FROM projection_state WHERE store = :store AND version < target_version) AS b"
        ),
        {"store": store},
    ).one()
    return {"behind": int(row[0]), "lag_s": float(row[1]), "stuck": int(row[2])}


def mark_failed(conn: Connection, store: str, doc_id: uuid.UUID, version: int) -> None:
    """The worker failed to apply ``version`` of the document to ``store`` (it will retry, then
    dead-letter it): while that is the newest committed version, the document no longer counts as
    the store being behind, but as stuck (a newer version, once committed, is behind again)."""
    conn.execute(sa.text(
        "UPDATE projection_state SET failed_version = greatest(coalesce(failed_version, 0), :v) "
        "WHERE store = :s AND doc_id = :d"), {"s": store, "d": doc_id, "v": version})


def as_array(value: object) -> np.ndarray:
    """A pgvector value (numpy array or ``pgvector.Vector``) as float32 numpy."""
    if hasattr(value, "to_numpy"):
        value = value.to_numpy()
    return np.asarray(value, dtype=np.float32)

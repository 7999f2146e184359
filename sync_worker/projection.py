"""Project changes into one store: read current rows → embed what changed → guarded write.

Changes carry only (id, version, outbox seq); the current row decides what the store gets, so
replays, duplicates and reordering are harmless. Writers to one (store, document) are serialized
by an advisory lock in the read database and never replace a newer projected version.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from command_side.outbox import acknowledge
from command_side.schema import documents
from embeddings import Encoder, content_hash, embedded_text
from query_side import readmodel
from query_side.stores.base import ReadDocument, VectorStore

log = logging.getLogger("semsearch.worker")

GONE = 2**31 - 1
"""Version used to delete a document whose row no longer exists at all."""


@dataclass
class Outcome:
    upserted: int = 0
    deleted: int = 0
    skipped: int = 0
    embedded: int = 0
    latencies: list[float] = field(default_factory=list)
    """Commit-to-applied seconds of each change this call put into the store."""


def read_rows(write_engine: Engine, ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    with write_engine.connect() as conn:
        rows = conn.execute(sa.select(documents).where(documents.c.id.in_(ids))).all()
    return {row.id: row for row in rows}


def vectors_for(read_engine: Engine, encoder: Encoder, texts: dict[str, str]) -> tuple[
    dict[str, np.ndarray], int
]:
    """Vectors by content hash: from the cache, embedding (and caching) only the misses."""
    with read_engine.connect() as conn:
        found = readmodel.cached_embeddings(conn, encoder.model_id, list(texts))
    missing = [h for h in texts if h not in found]
    if missing:
        fresh = encoder.encode([texts[h] for h in missing])
        new = dict(zip(missing, fresh, strict=True))
        with read_engine.begin() as conn:
            readmodel.cache_embeddings(conn, encoder.model_id, new)
        found |= new
    return found, len(missing)


def _record(row: Any, digest: str, vector: np.ndarray) -> ReadDocument:
    return ReadDocument(
        id=row.id, version=row.version, title=row.title, body=row.body, category=row.category,
        tags=tuple(row.tags or ()), attributes=dict(row.attributes or {}),
        published_at=row.published_at, content_hash=digest, vector=vector,
    )


def project(
    store: VectorStore,
    changes: list[tuple[uuid.UUID, int, int]],
    write_engine: Engine,
    read_engine: Engine,
    encoder: Encoder,
) -> Outcome:
    """Bring ``store`` up to the current rows of the changed documents, then ack the outbox."""
    ids = sorted({doc_id for doc_id, _, _ in changes})
    rows = read_rows(write_engine, ids)
    with read_engine.begin() as conn:
        readmodel.note_targets(conn, store.name, [
            (row.id, row.version, row.updated_at) for row in rows.values()])
    outcome = Outcome()
    with read_engine.begin() as conn:
        readmodel.lock_documents(conn, store.name, ids)
        held = readmodel.projected(conn, store.name, ids)
        live, dead = [], []
        for doc_id in ids:
            row = rows.get(doc_id)
            version = GONE if row is None else row.version
            if doc_id in held and held[doc_id].version >= version:
                outcome.skipped += 1
            elif row is None or row.deleted_at is not None:
                dead.append((doc_id, version))
            else:
                live.append(row)
        texts = {content_hash(embedded_text(r.title, r.body), encoder.model_id):
                 embedded_text(r.title, r.body) for r in live}
        vectors, outcome.embedded = vectors_for(read_engine, encoder, texts)
        records = []
        for row in live:
            digest = content_hash(embedded_text(row.title, row.body), encoder.model_id)
            records.append(_record(row, digest, vectors[digest]))
        store.upsert(records)
        store.delete(dead)
        readmodel.mark_applied(conn, store.name, [
            (r.id, r.version, r.content_hash, False) for r in records
        ] + [(doc_id, version, None, True) for doc_id, version in dead])
        outcome.upserted, outcome.deleted = len(records), len(dead)
    now = datetime.now(UTC)
    outcome.latencies = [(now - rows[r.id].updated_at).total_seconds() for r in records] + [
        (now - rows[d].updated_at).total_seconds() for d, _ in dead if d in rows]
    with write_engine.begin() as conn:
        acknowledge(conn, store.name, [seq for _, _, seq in changes])
    return outcome

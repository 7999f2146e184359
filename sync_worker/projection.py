"""Project changes into one store: read current rows → embed what changed → guarded write.

Changes carry only (id, version, outbox seq); the current row decides what the store gets, so
replays, duplicates and reordering are harmless. Writers to one (store, document) are serialized
by an advisory lock in the read database and never replace a newer projected version.
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from command_side.outbox import acknowledge
from command_side.schema import documents
from common.failpoints import crash_if
from embeddings import Encoder, content_hash
from embeddings.passages import PassageSettings, Span, document_hash, passage_text
from embeddings.passages import passages as split_passages
from query_side import readmodel
from query_side.stores.base import Passage, ReadDocument, VectorStore

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

    def add(self, other: Outcome) -> None:
        self.upserted += other.upserted
        self.deleted += other.deleted
        self.skipped += other.skipped
        self.embedded += other.embedded
        self.latencies += other.latencies


def read_rows(write_engine: Engine, ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    with write_engine.connect() as conn:
        rows = conn.execute(sa.select(documents).where(documents.c.id.in_(ids))).all()
    return {row.id: row for row in rows}


def vectors_for(read_engine: Engine, encoder: Encoder, texts: dict[str, str]) -> tuple[
    dict[str, np.ndarray], int
]:
    """Vectors by content hash: from the cache, embedding (and caching) only the misses."""
    if not texts:
        return {}, 0
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


@dataclass(frozen=True)
class Prepared:
    """A row cut into passages: each passage's span, embedded text and cache key."""

    spans: list[Span]
    texts: list[str]
    hashes: list[str]


def prepare(row: Any, model_id: str, settings: PassageSettings) -> Prepared:
    spans = split_passages(row.title, row.body, settings)
    texts = [passage_text(row.title, row.body[s.start:s.end], settings) for s in spans]
    return Prepared(spans, texts, [content_hash(t, model_id) for t in texts])


def _record(row: Any, prepared: Prepared, vectors: dict[str, np.ndarray], model_id: str,
            settings: PassageSettings) -> ReadDocument:
    return ReadDocument(
        id=row.id, version=row.version, title=row.title, body=row.body, category=row.category,
        tags=tuple(row.tags or ()), attributes=dict(row.attributes or {}),
        published_at=row.published_at,
        content_hash=document_hash(row.title, row.body, model_id, settings),
        passages=tuple(Passage(s.start, s.end, vectors[h])
                       for s, h in zip(prepared.spans, prepared.hashes, strict=True)),
    )


def build_records(rows: list[Any], encoder: Encoder,
                  settings: PassageSettings | None = None) -> list[ReadDocument]:
    """The worker's records for ``rows`` (anything with the document columns as attributes),
    every passage embedded in one call, no cache: for benchmarks."""
    settings = settings or PassageSettings()
    prepared = [prepare(row, encoder.model_id, settings) for row in rows]
    texts = {h: t for p in prepared for h, t in zip(p.hashes, p.texts, strict=True)}
    vectors = dict(zip(texts, encoder.encode(list(texts.values())), strict=True))
    return [_record(row, p, vectors, encoder.model_id, settings)
            for row, p in zip(rows, prepared, strict=True)]


def _plan(ids: list[uuid.UUID], rows: dict[uuid.UUID, Any],
          held: dict[uuid.UUID, readmodel.Projected]) -> tuple[list[Any], list[tuple[uuid.UUID, int]], int]:
    """(rows to upsert, (id, version) to delete, how many are already applied)."""
    live, dead, skipped = [], [], 0
    for doc_id in ids:
        row = rows.get(doc_id)
        version = GONE if row is None else row.version
        if doc_id in held and held[doc_id].version >= version:
            skipped += 1
        elif row is None or row.deleted_at is not None:
            dead.append((doc_id, version))
        else:
            live.append(row)
    return live, dead, skipped


def _texts(prepared: list[Prepared]) -> dict[str, str]:
    return {h: t for p in prepared for h, t in zip(p.hashes, p.texts, strict=True)}


WRITE_GROUP = 64
"""Documents per store write inside one job. A job's documents are embedded a group at a time,
and each group is written (its own transaction and per-document locks) while the next one is
embedded, so the cores the store write leaves idle go to the encoder."""


def project(
    store: VectorStore,
    changes: list[tuple[uuid.UUID, int, int]],
    write_engine: Engine,
    read_engine: Engine,
    encoder: Encoder,
    failpoints: list[str] | None = None,
    peers: list[str] | None = None,
    group: int = WRITE_GROUP,
    passages: PassageSettings | None = None,
    ack: bool = True,
) -> Outcome:
    """Bring ``store`` up to the current rows of the changed documents, then ack the outbox.

    Embedding happens before the per-document locks are taken, so a lock is held only for the
    store write and the bookkeeping, never for model time. ``peers`` are the other configured
    stores: the newest versions are noted for them too, so a store whose jobs have not run yet
    already shows as behind to the query router. The outbox rows are acknowledged once every
    group is written: a worker that dies half way leaves them to be resent, and the groups it
    wrote are skipped then (their versions are held). Each body is cut into passages
    (``passages`` settings); the embedding cache works per passage, so an edit re-embeds only
    the passages whose text changed. ``ack=False`` leaves the outbox to the caller (an index
    generation's store, or a backfill).
    """
    settings = passages or PassageSettings()
    ids = sorted({doc_id for doc_id, _, _ in changes})
    rows = read_rows(write_engine, ids)
    targets = [(row.id, row.version, row.updated_at) for row in rows.values()]
    with read_engine.begin() as conn:
        for name in {store.name, *(peers or [])}:  # every store's lag shows, even one not yet run
            readmodel.note_targets(conn, name, targets)
        todo, _, _ = _plan(ids, rows, readmodel.projected(conn, store.name, ids))
    todo_ids = {row.id for row in todo}
    prepared = {row.id: prepare(row, encoder.model_id, settings) for row in todo}
    groups = [ids[start:start + group] for start in range(0, len(ids), group)]
    outcome = Outcome()

    def embed(part: list[uuid.UUID]) -> dict[str, np.ndarray]:
        members = set(part) & todo_ids
        wanted = [row for row in todo if row.id in members]
        vectors, embedded = vectors_for(read_engine, encoder,
                                        _texts([prepared[row.id] for row in wanted]))
        outcome.embedded += embedded
        return vectors

    def write(part: list[uuid.UUID], vectors: dict[str, np.ndarray]) -> Outcome:
        return _write_group(store, part, rows, vectors, read_engine, encoder, failpoints or [],
                            settings, prepared)

    if len(groups) == 1:
        outcome.add(write(groups[0], embed(groups[0])))
    else:
        with ThreadPoolExecutor(1, thread_name_prefix="store-write") as writer:
            written: Future[Outcome] | None = None
            for part in groups:
                vectors = embed(part)
                if written is not None:
                    outcome.add(written.result())  # a failed write stops the job here
                written = writer.submit(write, part, vectors)
            assert written is not None
            outcome.add(written.result())
    if ack:
        with write_engine.begin() as conn:
            acknowledge(conn, store.name, [seq for _, _, seq in changes])
    return outcome


def _write_group(store: VectorStore, ids: list[uuid.UUID], rows: dict[uuid.UUID, Any],
                 vectors: dict[str, np.ndarray], read_engine: Engine, encoder: Encoder,
                 failpoints: list[str], settings: PassageSettings,
                 prepared: dict[uuid.UUID, Prepared]) -> Outcome:
    """Lock ``ids``, plan again (another writer may have got there first), write, record."""
    with read_engine.begin() as conn:
        readmodel.lock_documents(conn, store.name, ids)
        live, dead, skipped = _plan(ids, rows, readmodel.projected(conn, store.name, ids))
        for row in live:
            if row.id not in prepared:  # planned away before the lock, live again now
                prepared[row.id] = prepare(row, encoder.model_id, settings)
        late, embedded = vectors_for(read_engine, encoder, {
            h: t for h, t in _texts([prepared[r.id] for r in live]).items() if h not in vectors})
        vectors = vectors | late
        records = [_record(row, prepared[row.id], vectors, encoder.model_id, settings)
                   for row in live]
        store.upsert(records)
        store.delete(dead)
        crash_if("worker-mid-batch", failpoints)
        readmodel.mark_applied(conn, store.name, [
            (r.id, r.version, r.content_hash, False) for r in records
        ] + [(doc_id, version, None, True) for doc_id, version in dead])
    now = datetime.now(UTC)
    return Outcome(upserted=len(records), deleted=len(dead), skipped=skipped, embedded=embedded,
                   latencies=[(now - rows[r.id].updated_at).total_seconds() for r in records] + [
                       (now - rows[d].updated_at).total_seconds() for d, _ in dead if d in rows])

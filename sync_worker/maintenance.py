"""Operator repairs: reconcile a store with PostgreSQL, and reindex a store from it.

Both go through the worker's own projection, so they take the same per-document locks, keep the
version guard, and reuse cached embeddings: a reindex never pays for the model twice. A store is
named as the read-model bookkeeping names it (``pgvector``, ``weaviate@g2``: see
:func:`query_side.generations.store_name`), and is compared and rebuilt with the encoder and
passage settings its own index generation records.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import sqlalchemy as sa
from tqdm import tqdm

from command_side.schema import documents
from embeddings import Encoder
from embeddings.passages import PassageSettings
from query_side import generations, readmodel
from query_side.stores.base import VectorStore
from sync_worker.projection import GONE, project
from sync_worker.reconcile import Differences, compare
from sync_worker.runtime import Runtime

PAGE = 256


class NotLive(Exception):
    """A store named for repair whose index generation is not live (the CLI prints it)."""


def target(rt: Runtime, store_name: str) -> tuple[VectorStore, Encoder, PassageSettings]:
    """Store ``store_name`` (``weaviate@g2``: generation 2's), with the encoder and passage
    settings its generation records (generation 1's whatever ENCODER says today)."""
    family, number = generations.split_store_name(store_name)
    found = next((g for g in rt.live_generations() if g.number == number), None)
    if found is None:
        raise NotLive(f"{store_name}: index generation {number} is not live")
    return rt.generation_store(family, found), rt.encoder_for(found.encoder), found.passages


def _forget_projection(rt: Runtime, store: str, ids: list[uuid.UUID] | None) -> None:
    with rt.read_engine.begin() as conn:
        if ids is None:
            conn.execute(sa.text("DELETE FROM projection_state WHERE store = :s"), {"s": store})
        elif ids:
            conn.execute(sa.text("DELETE FROM projection_state WHERE store = :s AND "
                                 "doc_id = ANY(:ids)"), {"s": store, "ids": ids})
        readmodel.announce(conn, store)  # the store's copies were deleted before this


def _reproject(rt: Runtime, store_name: str, ids: list[uuid.UUID], bar: tqdm | None) -> None:
    store, encoder, passages = target(rt, store_name)
    for start in range(0, len(ids), PAGE):
        page = ids[start:start + PAGE]
        project(store, [(doc_id, 0, 0) for doc_id in page], rt.write_engine, rt.read_engine,
                encoder, passages=passages)
        if bar is not None:
            bar.update(len(page))


def delete_strays(rt: Runtime, store: VectorStore, ids: list[uuid.UUID]) -> None:
    """Passages of documents the store does not hold; under the worker's per-document lock, so
    a document whose passages are being written right now (before its own object) is left be."""
    for doc_id in ids:
        with rt.read_engine.begin() as conn:
            readmodel.lock_documents(conn, store.name, [doc_id])
            if store.get(doc_id) is None:
                store.delete([(doc_id, GONE)])


def repair(rt: Runtime, diff: Differences, progress: bool = True) -> None:
    """Delete orphans, stray passages and stale copies, then project the missing and stale
    documents again."""
    store, _, _ = target(rt, diff.store)
    delete_strays(rt, store, diff.strays)
    store.delete([(doc_id, GONE) for doc_id, _ in diff.orphaned])
    store.delete([(doc_id, GONE) for doc_id in diff.stale])
    _forget_projection(rt, diff.store, [d for d, _ in diff.orphaned] + diff.stale + diff.missing)
    todo = sorted(diff.missing + diff.stale)
    with tqdm(total=len(todo), desc=f"repairing {diff.store}", unit="doc",
              disable=not progress) as bar:
        _reproject(rt, diff.store, todo, bar)


def reconcile(rt: Runtime, store_name: str, apply: bool, progress: bool = True) -> tuple[
    Differences, Differences | None
]:
    """(differences found, differences left after repairing) — the second only with ``apply``."""
    found = differences(rt, store_name)
    if not apply or found.total == 0:
        return found, None
    repair(rt, found, progress)
    return found, differences(rt, store_name)


def differences(rt: Runtime, store_name: str) -> Differences:
    """Store ``store_name`` against PostgreSQL, by its generation's encoder and passage
    settings."""
    store, encoder, passages = target(rt, store_name)
    return compare(rt.write_engine, store, encoder.model_id, passages)


def _live_ids(rt: Runtime) -> Iterator[list[uuid.UUID]]:
    after = None
    while True:
        query = sa.select(documents.c.id).where(documents.c.deleted_at.is_(None))
        if after is not None:
            query = query.where(documents.c.id > after)
        with rt.write_engine.connect() as conn:
            ids = list(conn.execute(query.order_by(documents.c.id).limit(PAGE)).scalars())
        if not ids:
            return
        yield ids
        after = ids[-1]


def reindex(rt: Runtime, store_name: str, progress: bool = True) -> Differences:
    """Rebuild ``store_name`` from PostgreSQL; returns what still differs afterwards (nothing)."""
    target(rt, store_name)[0].ensure_schema()
    _forget_projection(rt, store_name, None)
    with rt.write_engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(documents).where(
            documents.c.deleted_at.is_(None))).scalar()
    with tqdm(total=total, desc=f"reindexing {store_name}", unit="doc",
              disable=not progress) as bar:
        for ids in _live_ids(rt):
            _reproject(rt, store_name, ids, bar)
    left, _ = reconcile(rt, store_name, apply=True, progress=progress)
    if not left.total:
        return left
    return differences(rt, store_name)

"""Rebuild an empty read model from PostgreSQL in the background, through the outbox.

A store that holds no document while PostgreSQL holds some (a data folder restored from a
backup, a read model replaced by a newer shape at an upgrade, a store newly configured) gets one
outbox change per live document, sent by the relay and projected by the workers like any write,
while the stack serves. Embeddings already cached in the read database are not computed again.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from command_side.outbox import requeue_live
from command_side.schema import documents
from query_side.stores.base import VectorStore

log = logging.getLogger("semsearch.rebuild")


def rebuild_if_empty(write_engine: Engine, store: VectorStore) -> int:
    """Queue every live document for ``store`` if it holds none; returns how many were queued."""
    if store.count() > 0:
        return 0
    with write_engine.begin() as conn:
        live = conn.execute(sa.select(sa.func.count()).select_from(documents).where(
            documents.c.deleted_at.is_(None))).scalar_one()
        if not live:
            return 0
        queued = requeue_live(conn, store.name)
    log.warning("%s holds no document while PostgreSQL holds %d: rebuilding it in the "
                "background (%d change(s) queued; `semsearch status` shows the backlog)",
                store.name, live, queued)
    return queued

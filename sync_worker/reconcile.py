"""Compare a store with PostgreSQL: what is missing, stale or orphaned, and (optionally) repair.

Walks the live documents and the store's (id, version, content hash) listing side by side, in id
order, a page at a time, so memory stays flat however many documents there are. Passages are
checked too: a document whose passages are not exactly its own, at its version, is stale, and
passages the store holds of documents it does not hold are strays (``delete`` removes them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from command_side.schema import documents
from embeddings.passages import PassageSettings, document_hash
from query_side.stores.base import StoredVersion, VectorStore

PAGE = 1000


@dataclass
class Differences:
    store: str
    checked: int = 0
    missing: list[uuid.UUID] = field(default_factory=list)
    stale: list[uuid.UUID] = field(default_factory=list)
    orphaned: list[tuple[uuid.UUID, int]] = field(default_factory=list)
    strays: list[uuid.UUID] = field(default_factory=list)
    """Documents the store does not hold but holds passages of."""

    @property
    def total(self) -> int:
        return len(self.missing) + len(self.stale) + len(self.orphaned) + len(self.strays)


def live_documents(engine: Engine, model_id: str,
                   settings: PassageSettings | None = None) -> Iterator[StoredVersion]:
    settings = settings or PassageSettings()
    after = None
    while True:
        query = sa.select(documents.c.id, documents.c.version, documents.c.title,
                          documents.c.body).where(documents.c.deleted_at.is_(None))
        if after is not None:
            query = query.where(documents.c.id > after)
        with engine.connect() as conn:
            rows = conn.execute(query.order_by(documents.c.id).limit(PAGE)).all()
        if not rows:
            return
        for row in rows:
            yield expected(row, model_id, settings)
        after = rows[-1].id


def expected(row: Any, model_id: str, settings: PassageSettings) -> StoredVersion:
    """What a store should hold of a live document ``row`` (id, version, title, body)."""
    return StoredVersion(row.id, row.version, document_hash(row.title, row.body, model_id, settings))


def differs(want: StoredVersion, have: StoredVersion) -> bool:
    """The store's copy of a document is not exactly PostgreSQL's (its passages included)."""
    return (want.version, want.content_hash) != (have.version, have.content_hash) \
        or not have.complete


def stored(store: VectorStore) -> Iterator[StoredVersion]:
    after = None
    while page := store.versions(after, PAGE):
        yield from page
        after = page[-1].id


def compare(engine: Engine, store: VectorStore, model_id: str,
            settings: PassageSettings | None = None) -> Differences:
    found = Differences(store.name)
    passages_before = store.passage_count()
    truth, held = live_documents(engine, model_id, settings), stored(store)
    listed = 0
    want, have = next(truth, None), next(held, None)
    while want is not None or have is not None:
        if have is None or (want is not None and want.id < have.id):
            found.missing.append(want.id)  # type: ignore[union-attr]
            want = next(truth, None)
        elif want is None or have.id < want.id:
            found.orphaned.append((have.id, have.version))
            listed += have.passages
            have = next(held, None)
        else:
            found.checked += 1
            listed += have.passages
            if differs(want, have):
                found.stale.append(want.id)
            want, have = next(truth, None), next(held, None)
    if min(passages_before, store.passage_count()) > listed:  # before and after the walk
        found.strays = store.strays()
    return found

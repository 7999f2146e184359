"""An in-memory store behind the same interface: for unit tests and the contract suite."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace

import numpy as np

from query_side.stores.base import (
    Filters,
    Mode,
    Range,
    ReadDocument,
    SearchHit,
    StoredVersion,
    StoreUnavailable,
)


def matches(record: ReadDocument, filters: Filters) -> bool:
    if filters.category and record.category not in filters.category:
        return False
    if filters.tags_any and not set(filters.tags_any) & set(record.tags):
        return False
    if filters.tags_all and not set(filters.tags_all) <= set(record.tags):
        return False
    if filters.published_after and (
        record.published_at is None or record.published_at < filters.published_after
    ):
        return False
    if filters.published_before and (
        record.published_at is None or record.published_at >= filters.published_before
    ):
        return False
    return all(_attribute_matches(record, key, wanted)
               for key, wanted in (filters.attributes or {}).items())


def _attribute_matches(record: ReadDocument, key: str, wanted: object) -> bool:
    value = record.attributes.get(key)
    if isinstance(wanted, Range):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        bounds = wanted.model_dump(exclude_none=True)
        checks = {"gt": value > bounds.get("gt", -np.inf), "gte": value >= bounds.get("gte", -np.inf),
                  "lt": value < bounds.get("lt", np.inf), "lte": value <= bounds.get("lte", np.inf)}
        return all(checks.values())
    if isinstance(wanted, bool) or isinstance(value, bool):
        return value is wanted
    return key in record.attributes and value == wanted


class MemoryStore:
    name = "memory"

    def __init__(self) -> None:
        self._records: dict[uuid.UUID, ReadDocument] = {}
        self._lock = threading.Lock()
        self.up = True

    def _check(self) -> None:
        if not self.up:
            raise StoreUnavailable("memory store is switched off")

    def ensure_schema(self) -> None:
        self._check()

    def upsert(self, records: list[ReadDocument]) -> None:
        self._check()
        with self._lock:
            for record in records:
                held = self._records.get(record.id)
                if held is None or held.version < record.version:
                    self._records[record.id] = replace(record, vector=np.asarray(record.vector))

    def delete(self, ids: list[tuple[uuid.UUID, int]]) -> None:
        self._check()
        with self._lock:
            for doc_id, version in ids:
                held = self._records.get(doc_id)
                if held is not None and held.version <= version:
                    del self._records[doc_id]

    def search(self, vector: np.ndarray | None, filters: Filters, limit: int, offset: int = 0,
               min_score: float | None = None, mode: Mode = "semantic",
               text: str | None = None) -> list[SearchHit]:
        self._check()
        candidates = [r for r in self._records.values() if matches(r, filters)]
        if mode == "keyword" or vector is None:
            words = set((text or "").lower().split())
            scored = [(len(words & set(f"{r.title} {r.body}".lower().split())) / (len(words) or 1),
                       r) for r in candidates]
            if mode == "keyword":
                scored = [(s, r) for s, r in scored if s > 0]
        else:
            scored = [(float(np.dot(r.vector, vector)), r) for r in candidates]
        if min_score is not None and mode == "semantic":
            scored = [(s, r) for s, r in scored if s >= min_score]
        scored.sort(key=lambda pair: (-pair[0], str(pair[1].id)))
        return [_hit(r, s) for s, r in scored[offset: offset + limit]]

    def get(self, doc_id: uuid.UUID) -> tuple[SearchHit, np.ndarray] | None:
        self._check()
        record = self._records.get(doc_id)
        return None if record is None else (_hit(record, 1.0), record.vector)

    def versions(self, after: uuid.UUID | None, limit: int) -> list[StoredVersion]:
        self._check()
        ids = sorted(i for i in self._records if after is None or i > after)[:limit]
        return [StoredVersion(i, self._records[i].version, self._records[i].content_hash)
                for i in ids]

    def count(self) -> int:
        self._check()
        return len(self._records)

    def health(self) -> bool:
        return self.up

    def close(self) -> None:
        pass


def _hit(record: ReadDocument, score: float) -> SearchHit:
    return SearchHit(id=record.id, score=score, version=record.version, title=record.title,
                     body=record.body, category=record.category, tags=record.tags,
                     attributes=record.attributes, published_at=record.published_at)

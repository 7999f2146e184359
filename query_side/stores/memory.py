"""An in-memory store behind the same interface: for unit tests and the contract suite."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from dataclasses import replace

import numpy as np

from query_side.stores import ranking, terms
from query_side.stores.base import (
    LEAD_CHARS,
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
        self._terms: dict[uuid.UUID, list[Counter[str]]] = {}
        self._lock = threading.Lock()
        self.up = True

    def _check(self) -> None:
        if not self.up:
            raise StoreUnavailable("memory store is switched off")

    def ensure_schema(self) -> bool:
        self._check()
        return False

    def upsert(self, records: list[ReadDocument]) -> None:
        self._check()
        with self._lock:
            for record in records:
                held = self._records.get(record.id)
                if held is None or held.version < record.version:
                    self._records[record.id] = record
                    self._terms[record.id] = [
                        Counter(terms.indexed_terms(record.title, text).split())
                        for text in record.passage_texts()]

    def delete(self, ids: list[tuple[uuid.UUID, int]]) -> None:
        self._check()
        with self._lock:
            for doc_id, version in ids:
                held = self._records.get(doc_id)
                if held is not None and held.version <= version:
                    del self._records[doc_id]
                    del self._terms[doc_id]

    def search(self, vector: np.ndarray | None, filters: Filters, limit: int, offset: int = 0,
               min_score: float | None = None, mode: Mode = "semantic",
               text: str | None = None, alpha: float = ranking.HYBRID_ALPHA) -> list[SearchHit]:
        self._check()
        return ranking.search(self, vector, filters, limit, offset, min_score, mode, text, alpha)

    def passages(self, kind: ranking.Kind, vector: np.ndarray | None, query: list[str],
                 filters: Filters, k: int) -> list[ranking.PassageMatch]:
        with self._lock:
            records = list(self._records.values())
            counted = dict(self._terms)
        found: list[ranking.PassageMatch] = []
        if kind == "semantic":
            assert vector is not None
            for r in records:
                if matches(r, filters):
                    found += [ranking.PassageMatch(r.id, p.start, p.end, float(np.dot(p.vector, vector)))
                              for p in r.passages]
        else:
            every = [c for r in records for c in counted[r.id]]
            lengths = [sum(c.values()) for c in every]
            average = sum(lengths) / (len(lengths) or 1)
            frequencies = {t: sum(1 for c in every if c.get(t)) for t in query}
            for r in records:
                if not matches(r, filters):
                    continue
                for p, c in zip(r.passages, counted[r.id], strict=True):
                    if any(c.get(t) for t in query):
                        score = terms.bm25(query, c, sum(c.values()), len(every), average,
                                           frequencies)
                        found.append(ranking.PassageMatch(r.id, p.start, p.end, score))
        found.sort(key=lambda m: (-m.score, m.doc_id, m.start))
        return found[:k]

    def hits(self, docs: list[ranking.DocMatch]) -> list[SearchHit]:
        out = []
        for doc in docs:
            record = self._records.get(doc.doc_id)
            if record is not None:
                out.append(ranking.with_passages(_hit(record, doc.score), doc, [
                    record.body[p.start:p.end] for p in doc.passages]))
        return out

    def browse(self, filters: Filters, limit: int, offset: int) -> list[SearchHit]:
        listed = sorted((r for r in self._records.values() if matches(r, filters)),
                        key=lambda r: (r.published_at is None,
                                       -(r.published_at.timestamp() if r.published_at else 0),
                                       r.id))
        return [_hit(r, 0.0) for r in listed[offset:offset + limit]]

    def get(self, doc_id: uuid.UUID) -> tuple[SearchHit, np.ndarray] | None:
        self._check()
        record = self._records.get(doc_id)
        if record is None:
            return None
        vectors = np.stack([p.vector for p in record.passages])
        return replace(_hit(record, 1.0), body=record.body), ranking.centroid(vectors)

    def versions(self, after: uuid.UUID | None, limit: int) -> list[StoredVersion]:
        self._check()
        ids = sorted(i for i in self._records if after is None or i > after)[:limit]
        return [StoredVersion(i, self._records[i].version, self._records[i].content_hash,
                              len(self._records[i].passages)) for i in ids]

    def count(self) -> int:
        self._check()
        return len(self._records)

    def passage_count(self) -> int:
        self._check()
        return sum(len(r.passages) for r in self._records.values())

    def strays(self) -> list[uuid.UUID]:
        self._check()
        return []  # passages live inside their document here: none can stray

    def health(self) -> bool:
        return self.up

    def close(self) -> None:
        pass


def _hit(record: ReadDocument, score: float) -> SearchHit:
    return SearchHit(id=record.id, score=score, version=record.version, title=record.title,
                     category=record.category, tags=record.tags, attributes=record.attributes,
                     published_at=record.published_at, lead=record.body[:LEAD_CHARS])

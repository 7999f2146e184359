"""One search, every store: passages → documents → a page, and the hybrid fusion.

A store answers two questions (its best passages for a vector or for keyword terms, and the
documents behind a list of ids); everything else is here, so every store ranks the same way:

- A document's score is its best passage's (``max``; ``aggregate`` leaves room for another rule).
  Passages come back best first, so the documents in order of their first passage are the
  documents ranked by best passage; the pool grows until it holds ``offset + limit`` documents or
  the store has no more, so a page never repeats or skips a document.
- Keyword scores are BM25 over the query's distinct terms, squashed to [0, 1).
- Hybrid fuses the two rankings with relative scores: each side's top ``HYBRID_WINDOW`` documents,
  scores min-max scaled over that window (the best is 1, the window's last 0), then
  ``alpha * semantic + (1 - alpha) * keyword``. The window is fixed, so the fused score of a
  document does not depend on the page asked for (pages past the window's documents are empty).
  When one side has no hits the other's own scores stand alone (cosine clipped at 0, or BM25).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

import numpy as np

from query_side.stores import terms as analysis
from query_side.stores.base import Filters, Mode, PassageHit, SearchHit

HYBRID_ALPHA = 0.5
"""Weight of the semantic side in hybrid search (0: keyword only, 1: semantic only)."""
HYBRID_WINDOW = 100
"""Documents taken from each side for hybrid fusion..."""
HYBRID_POOL = 1024
"""... found among each side's best passages, at most this many (long documents hold dozens of
passages each: without a bound, a filter matching fewer than 100 of them made each side read
every passage the filter matches, over a second on Weaviate)."""
PASSAGES_PER_HIT = 3
FIRST_POOL = 32
MAX_POOL = 10_000
"""The most passages one search asks a store for (Weaviate returns at most 10,000)."""


@dataclass(frozen=True)
class PassageMatch:
    doc_id: uuid.UUID
    start: int
    end: int
    score: float
    ordinal: int = -1
    """The passage's position in its document, for stores that look passages up by it."""


@dataclass
class DocMatch:
    doc_id: uuid.UUID
    score: float
    passages: list[PassageMatch] = field(default_factory=list)


Kind = Literal["semantic", "keyword"]


class Retrieval(Protocol):
    def passages(self, kind: Kind, vector: np.ndarray | None, terms: list[str], filters: Filters,
                 k: int) -> list[PassageMatch]:
        """The ``k`` best passages matching ``filters``, best first: by cosine similarity to
        ``vector``, or by BM25 over ``terms`` (only passages with at least one term)."""
        ...

    def hits(self, docs: list[DocMatch]) -> list[SearchHit]:
        """The documents behind ``docs``, in that order, each with its passages' text; a
        document the store no longer holds is left out."""
        ...

    def browse(self, filters: Filters, limit: int, offset: int) -> list[SearchHit]:
        """Filters only: newest first, undated last, then by id."""
        ...


def aggregate(passages: Sequence[PassageMatch]) -> float:
    """A document's score from its matching passages (best first): the best one."""
    return passages[0].score


def top_documents(fetch: Callable[[int], list[PassageMatch]], wanted: int,
                  floor: float | None = None, pool: int = MAX_POOL) -> list[DocMatch]:
    """The ``wanted`` best documents by their passages, best first, ties by id. ``floor``: stop
    once passages score below it (``min_score``).

    A store returns its ``k`` best passages, ties in its own order, so a document whose best
    passage scores exactly the pool's lowest score may tie with one outside the pool that comes
    first by id: only documents scoring above it are sure of their place, and the pool grows
    until ``wanted`` are (or the store has no more). So a page never depends on how a store
    breaks ties (Weaviate's order among equal scores is its own)."""
    k = min(pool, max(FIRST_POOL, 3 * wanted))
    while True:
        matches = fetch(k)
        docs: dict[uuid.UUID, list[PassageMatch]] = {}
        for match in matches:
            if floor is not None and match.score < floor:
                break
            docs.setdefault(match.doc_id, []).append(match)
        exhausted = len(matches) < k or k >= pool or (
            floor is not None and bool(matches) and matches[-1].score < floor)
        cut = matches[-1].score if matches else 0.0
        sure = sum(1 for found in docs.values() if aggregate(found) > cut)
        if exhausted or sure >= wanted:
            break
        k = min(pool, k * 4)
    ranked = [DocMatch(doc_id, aggregate(found), found[:PASSAGES_PER_HIT])
              for doc_id, found in docs.items()]
    ranked.sort(key=lambda d: (-d.score, d.doc_id))
    return ranked if exhausted else [d for d in ranked if d.score > cut]


def _scaled(docs: list[DocMatch]) -> dict[uuid.UUID, float]:
    if not docs:
        return {}
    top, bottom = docs[0].score, docs[-1].score
    spread = top - bottom
    return {d.doc_id: 1.0 if spread <= 0 else (d.score - bottom) / spread for d in docs}


def fuse(semantic: list[DocMatch], keyword: list[DocMatch],
         alpha: float = HYBRID_ALPHA) -> list[DocMatch]:
    """Relative-score fusion of two rankings (see the module docstring)."""
    if not keyword:
        return [replace(d, score=max(0.0, d.score)) for d in semantic]
    if not semantic:
        return list(keyword)
    sem, key = _scaled(semantic), _scaled(keyword)
    passages: dict[uuid.UUID, list[PassageMatch]] = {}
    for doc in semantic + keyword:
        held = passages.setdefault(doc.doc_id, [])
        seen = {(p.start, p.end) for p in held}
        held += [p for p in doc.passages if (p.start, p.end) not in seen]
    fused = [DocMatch(doc_id, alpha * sem.get(doc_id, 0.0) + (1 - alpha) * key.get(doc_id, 0.0),
                      found[:PASSAGES_PER_HIT]) for doc_id, found in passages.items()]
    fused.sort(key=lambda d: (-d.score, d.doc_id))
    return fused


def search(store: Retrieval, vector: np.ndarray | None, filters: Filters, limit: int,
           offset: int = 0, min_score: float | None = None, mode: Mode = "semantic",
           text: str | None = None, alpha: float = HYBRID_ALPHA) -> list[SearchHit]:
    if limit <= 0:
        return []
    wanted = offset + limit
    query_terms = analysis.query_terms(text or "")

    def semantic(k: int) -> list[PassageMatch]:
        return store.passages("semantic", vector, [], filters, k)

    def keyword(k: int) -> list[PassageMatch]:
        found = store.passages("keyword", None, query_terms, filters, k)
        return [replace(m, score=analysis.squash(m.score)) for m in found]

    match mode:
        case "semantic" if vector is not None:
            docs = top_documents(semantic, wanted, min_score)
        case "keyword":
            docs = top_documents(keyword, wanted, min_score) if query_terms else []
        case "hybrid" if vector is not None:
            docs = fuse(top_documents(semantic, HYBRID_WINDOW, pool=HYBRID_POOL),
                        top_documents(keyword, HYBRID_WINDOW, pool=HYBRID_POOL)
                        if query_terms else [], alpha)
            docs = [d for d in docs if min_score is None or d.score >= min_score]
        case _:
            return store.browse(filters, limit, offset)
    return store.hits(docs[offset:wanted])


def with_passages(hit: SearchHit, doc: DocMatch, texts: Sequence[str]) -> SearchHit:
    """``hit`` carrying ``doc``'s score and passages, their text given in order."""
    return replace(hit, score=doc.score, passages=tuple(
        PassageHit(text=text, start=p.start, end=p.end, score=p.score)
        for p, text in zip(doc.passages, texts, strict=True)))


def centroid(vectors: np.ndarray) -> np.ndarray:
    """A document's vector: the normalized mean of its passages' vectors."""
    mean = np.asarray(vectors, dtype=np.float32).reshape(-1, vectors.shape[-1]).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm else mean

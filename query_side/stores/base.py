"""The store boundary: records in, hits out.

A store holds the read model of each live document at one version and never lets an older
version replace a newer one (``upsert`` and ``delete`` are version-guarded). A document is held
as its passages (embedding/passages.py), each with its own vector and keyword terms; a search
scores a document by its best passage and returns each document once, with its best passages.
Scores mean the same on every store: semantic is cosine similarity in [-1, 1], keyword is BM25
squashed to [0, 1), hybrid is one fusion of the two in [0, 1] (query_side/stores/ranking.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Discriminator, Field
from pydantic import Tag as Branch

from common.values import (
    ATTRIBUTE_KEYS,
    AttributeKey,
    AttributeValue,
    Category,
    FilterDate,
    Integer,
    Number,
    OneOf,
    Tag,
)


class StoreUnavailable(Exception):
    """The store cannot be reached or refused the operation; the caller may retry."""


@dataclass(frozen=True)
class Passage:
    """A span of the body, ``body[start:end]``, and the vector of what was embedded for it."""

    start: int
    end: int
    vector: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True)
class ReadDocument:
    id: uuid.UUID
    version: int
    title: str
    body: str
    category: str | None
    tags: tuple[str, ...]
    attributes: dict[str, Any]
    published_at: datetime | None
    content_hash: str
    passages: tuple[Passage, ...] = field(repr=False, compare=False)

    def passage_texts(self) -> list[str]:
        return [self.body[p.start:p.end] for p in self.passages]


@dataclass(frozen=True)
class PassageHit:
    text: str
    start: int
    end: int
    score: float


LEAD_CHARS = 480
"""The start of the body a hit carries (the snippet of a filters-only listing)."""


@dataclass(frozen=True)
class SearchHit:
    id: uuid.UUID
    score: float
    version: int
    title: str
    category: str | None
    tags: tuple[str, ...]
    attributes: dict[str, Any]
    published_at: datetime | None
    lead: str = ""
    """``body[:LEAD_CHARS]``."""
    passages: tuple[PassageHit, ...] = ()
    """The document's best passages for this search, best first (none for a listing)."""
    body: str | None = None
    """The whole body: only from ``get``."""


@dataclass(frozen=True)
class StoredVersion:
    id: uuid.UUID
    version: int
    content_hash: str
    passages: int = 1
    """How many passages the document has."""
    complete: bool = True
    """The store holds exactly those passages, at the document's version (reconcile)."""


Bound = Annotated[int | float, OneOf(Integer, Number, message="must be a number of at most 2**53 - 1 "
                                                             "in magnitude (9007199254740991)")]


class Range(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gt: Bound | None = None
    gte: Bound | None = None
    lt: Bound | None = None
    lte: Bound | None = None


Condition = Annotated[Annotated[Range, Branch("range")] | Annotated[AttributeValue, Branch("value")],
                      Discriminator(lambda v: "range" if isinstance(v, dict | Range) else "value")]
"""An attribute's filter: equal to a value of the domains documents hold, or (an object) in a
range; each refused with its own message."""


class Filters(BaseModel):
    """Filters every store supports, on the value domains documents hold: category and tag
    values are stripped as the stored ones were, date bounds are clamped to the date domain, and
    numbers are finite (common/values.py). An unknown field is refused."""

    model_config = ConfigDict(extra="forbid")
    category: list[Category] | None = Field(default=None, max_length=100,
                                            description="category is one of these")
    tags_any: list[Tag] | None = Field(default=None, max_length=100)
    tags_all: list[Tag] | None = Field(default=None, max_length=100)
    published_after: FilterDate | None = Field(default=None, description="inclusive")
    published_before: FilterDate | None = Field(default=None, description="exclusive")
    attributes: dict[AttributeKey, Condition] | None = Field(
        default=None, max_length=32, json_schema_extra={"propertyNames": ATTRIBUTE_KEYS})

    def is_empty(self) -> bool:
        return not any(getattr(self, name) for name in type(self).model_fields)


Mode = Literal["semantic", "keyword", "hybrid"]


class VectorStore(Protocol):
    name: str

    def ensure_schema(self) -> bool:
        """Create what the store needs if missing. True when it found a read model of an older
        shape and replaced it with an empty one (the caller marks the store behind; a reindex
        rebuilds it)."""
        ...

    def upsert(self, records: list[ReadDocument]) -> None:
        """Write each record unless the store already holds that id at a newer version."""
        ...

    def delete(self, ids: list[tuple[uuid.UUID, int]]) -> None:
        """Remove each (id, version) unless the store holds that id at a newer version."""
        ...

    def search(
        self,
        vector: np.ndarray | None,
        filters: Filters,
        limit: int,
        offset: int = 0,
        min_score: float | None = None,
        mode: Mode = "semantic",
        text: str | None = None,
        alpha: float = 0.5,
    ) -> list[SearchHit]:
        """One hit per document, best first, each with its best passages: scored by cosine
        similarity (``semantic``), BM25 over the query's terms squashed to [0, 1) (``keyword``)
        or their fusion weighted by ``alpha`` (``hybrid``); no vector and no text: a listing
        by ``filters``, newest first. ``min_score`` drops hits scoring below it."""
        ...

    def get(self, doc_id: uuid.UUID) -> tuple[SearchHit, np.ndarray] | None:
        """The document (``body`` included) and its vector: the normalized mean of its
        passages' vectors (all zeros, or empty, while it has none: a crash mid-write)."""
        ...

    def versions(self, after: uuid.UUID | None, limit: int) -> list[StoredVersion]:
        """Every (id, version, content hash, passages) in id order, a page at a time."""
        ...

    def count(self) -> int: ...

    def passage_count(self) -> int:
        """Every passage held, whether or not its document is (reconcile: strays)."""
        ...

    def strays(self) -> list[uuid.UUID]:
        """Ids of documents the store does not hold but still holds passages of (a crash
        between the two deletes of a store without transactions); ``delete`` removes them."""
        ...

    def health(self) -> bool: ...

    def close(self) -> None: ...

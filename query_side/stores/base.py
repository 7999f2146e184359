"""The store boundary: records in, hits out.

A store holds the read model of each live document at one version and never lets an older
version replace a newer one (``upsert`` and ``delete`` are version-guarded). Scores are cosine
similarities in [-1, 1] on every store, so results and ``min_score`` mean the same everywhere.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt

from semsearch.text import DateTime, Text


class StoreUnavailable(Exception):
    """The store cannot be reached or refused the operation; the caller may retry."""


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
    vector: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True)
class SearchHit:
    id: uuid.UUID
    score: float
    version: int
    title: str
    body: str
    category: str | None
    tags: tuple[str, ...]
    attributes: dict[str, Any]
    published_at: datetime | None


@dataclass(frozen=True)
class StoredVersion:
    id: uuid.UUID
    version: int
    content_hash: str


FILTER_TEXT = Text(256)
FilterText = Annotated[str, FILTER_TEXT]
"""A filter value: no NUL (no stored text holds one), at most 256 characters."""
Scalar = StrictBool | StrictInt | StrictFloat | FilterText


class Range(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gt: StrictInt | StrictFloat | None = None
    gte: StrictInt | StrictFloat | None = None
    lt: StrictInt | StrictFloat | None = None
    lte: StrictInt | StrictFloat | None = None


class Filters(BaseModel):
    """Filters every store supports; an unknown field is refused."""

    model_config = ConfigDict(extra="forbid")
    category: list[FilterText] | None = Field(default=None, max_length=100,
                                              description="category is one of these")
    tags_any: list[FilterText] | None = Field(default=None, max_length=100)
    tags_all: list[FilterText] | None = Field(default=None, max_length=100)
    published_after: DateTime | None = Field(default=None, description="inclusive")
    published_before: DateTime | None = Field(default=None, description="exclusive")
    attributes: dict[FilterText, Scalar | Range] | None = Field(
        default=None, max_length=32, json_schema_extra={"propertyNames": {
            "maxLength": 256, "pattern": FILTER_TEXT.pattern}})  # (else only patternProperties)

    def is_empty(self) -> bool:
        return not any(getattr(self, name) for name in type(self).model_fields)


Mode = Literal["semantic", "keyword", "hybrid"]


class VectorStore(Protocol):
    name: str

    def ensure_schema(self) -> None: ...

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
    ) -> list[SearchHit]: ...

    def get(self, doc_id: uuid.UUID) -> tuple[SearchHit, np.ndarray] | None: ...

    def versions(self, after: uuid.UUID | None, limit: int) -> list[StoredVersion]:
        """Every (id, version, content hash) in id order, a page at a time (reconcile)."""
        ...

    def count(self) -> int: ...

    def health(self) -> bool: ...

    def close(self) -> None: ...

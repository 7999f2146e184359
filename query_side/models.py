"""Request and response schemas of the query API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from query_side.stores.base import Filters, Mode

MAX_LIMIT = 100
SNIPPET_CHARS = 240


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str | None = Field(default=None, max_length=2000)
    mode: Mode = "semantic"
    filters: Filters = Field(default_factory=Filters)
    limit: int = Field(default=10, ge=1, le=MAX_LIMIT)
    offset: int = Field(default=0, ge=0, le=1000)
    min_score: float | None = Field(default=None, ge=-1.0, le=1.0,
                                    description="drop hits scoring below this (see Hit.score)")
    alpha: float = Field(default=0.5, ge=0.0, le=1.0,
                         description="hybrid only: the semantic side's weight in the fusion "
                         "(1: semantic alone, 0: keyword alone)")
    token: str | None = Field(default=None, max_length=200_000,
                              description="consistency token from a command response")
    wait_ms: int | None = Field(default=None, ge=0, le=60_000,
                                description="longest wait for the token (default: server's)")

    @model_validator(mode="after")
    def _needs_text(self) -> SearchRequest:
        if self.mode in ("keyword", "hybrid") and not (self.query or "").strip():
            raise ValueError(f"mode {self.mode!r} needs a non-empty query")
        if self.mode == "semantic" and not (self.query or "").strip() and self.filters.is_empty():
            raise ValueError("give a query, filters, or both")
        return self


class PassageView(BaseModel):
    text: str
    start: int = Field(description="character offset of the passage in the body")
    end: int = Field(description="character offset just past the passage: body[start:end]")
    score: float


class Hit(BaseModel):
    id: uuid.UUID
    score: float = Field(description="the document's best passage: cosine similarity (semantic), "
                         "BM25 squashed to [0, 1) (keyword) or relative-score fusion in [0, 1] "
                         "(hybrid)")
    title: str
    snippet: str = Field(description="the best passage (the body's start for a listing), "
                         "whitespace collapsed, cut at a word")
    category: str | None
    tags: list[str]
    attributes: dict[str, Any]
    published_at: datetime | None
    version: int
    passages: list[PassageView] = Field(
        default_factory=list, description="the document's best passages for this search, best "
        "first, with character offsets into the body for highlighting (none for a listing)")


class Freshness(BaseModel):
    behind: int
    lag_s: float


class SearchResponse(BaseModel):
    hits: list[Hit]
    took_ms: float
    store: str
    freshness: Freshness
    cached: bool = Field(default=False, description="served from the result cache: the same "
                         "search on the same store, which has not changed since")


class DocumentView(BaseModel):
    id: uuid.UUID
    version: int
    title: str
    body: str
    category: str | None
    tags: list[str]
    attributes: dict[str, Any]
    published_at: datetime | None
    indexed_at: datetime | None
    store: str


def snippet(body: str, limit: int = SNIPPET_CHARS) -> str:
    """The body's first ``limit`` characters, whitespace collapsed, cut at a word. Collapses a
    prefix first (the same result: a collapsed prefix is a prefix of the collapsed whole), so a
    long body costs no more than a short one."""
    text = " ".join(body[:2 * limit].split())
    if len(text) <= limit and len(body) > 2 * limit:
        text = " ".join(body.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit] + "…"

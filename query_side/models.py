"""Request and response schemas of the query API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, model_validator

from common import consistency
from common.text import WHITESPACE, Text
from common.values import WholeNumber, whole_number
from query_side.stores.base import Filters, Mode

MAX_LIMIT = 100
MAX_QUERY = 2000
SNIPPET_CHARS = 240


INDEXED_AT = ("when the answering store applied the version shown (null while its bookkeeping "
              "records another version, or the read model could not be read)")
PENDING_VERSION = ("the newest committed version the worker has seen for this document, when "
                   "newer than the one shown: an edit (or a delete) on its way to this store, or "
                   "stuck there (`semsearch dlq`); null otherwise")

_QUERY = Text(MAX_QUERY)
_LISTS = ("category", "tags_any", "tags_all")
SEARCHABLE: dict[str, Any] = {"anyOf": [
    {"required": ["query"], "properties": {"query": {"type": "string",
                                                     "pattern": Text(MAX_QUERY, blank=False).pattern}}},
    {"required": ["filters"], "properties": {"mode": {"const": "semantic"}, "filters": {"anyOf": [
        *({"required": [name], "properties": {name: {"type": "array", "minItems": 1}}}
          for name in _LISTS),
        *({"required": [name], "properties": {name: {"type": "string"}}}
          for name in ("published_after", "published_before")),
        {"required": ["attributes"], "properties": {"attributes": {"type": "object",
                                                                   "minProperties": 1}}}]}}},
]}
"""The rule ``_needs_text`` checks, in the schema: a query that is more than whitespace, or (in
semantic mode) at least one filter."""


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=SEARCHABLE)

    query: Annotated[str, _QUERY] | None = None
    mode: Mode = "semantic"
    filters: Filters = Field(default_factory=Filters)
    limit: WholeNumber = Field(default=10, ge=1, le=MAX_LIMIT)
    offset: WholeNumber = Field(default=0, ge=0, le=1000)
    min_score: StrictFloat | None = Field(default=None, ge=-1.0, le=1.0, allow_inf_nan=False,
                                          description="drop hits scoring below this (see Hit.score)")
    alpha: StrictFloat = Field(default=0.5, ge=0.0, le=1.0, allow_inf_nan=False,
                         description="hybrid only: the semantic side's weight in the fusion "
                         "(1: semantic alone, 0: keyword alone)")
    token: str | None = Field(default=None, max_length=consistency.MAX_LENGTH,
                              pattern=consistency.PATTERN,
                              description="consistency token from a command response (naming "
                              f"at most {consistency.MAX_WRITES} documents)")
    wait_ms: whole_number(0, 60_000) | None = Field(default=None,  # type: ignore[valid-type]
                                description="longest wait for the token (default: the server's "
                                "CONSISTENCY_WAIT_SECONDS; at most its MAX_WAIT_SECONDS)")

    @model_validator(mode="after")
    def _needs_text(self) -> SearchRequest:
        if self.mode in ("keyword", "hybrid") and not (self.query or "").strip(WHITESPACE):
            raise ValueError(f"mode {self.mode!r} needs a non-empty query")
        if self.mode == "semantic" and not (self.query or "").strip(WHITESPACE) \
                and self.filters.is_empty():
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
    indexed_at: datetime | None = Field(description=INDEXED_AT)
    pending_version: int | None = Field(description=PENDING_VERSION)
    passages: list[PassageView] = Field(
        default_factory=list, description="the document's best passages for this search, best "
        "first, with character offsets into the body for highlighting (none for a listing)")


class Freshness(BaseModel):
    """How far the answering store is behind the committed writes, as of the router's last look
    at it (at most HEALTH_CACHE_SECONDS/2 ago), looked at again after a token wait (so the
    token's writes, which the store holds, are never counted), and never less than the hits
    show: each hit with a ``pending_version`` (not stuck) counts, its commit time bounds
    ``lag_s``."""

    behind: int = Field(description="documents whose newest committed version the worker has "
                        "seen but the store does not hold yet (failed ones apart: `stuck` in "
                        "/readyz); -1 when the read model could not be read")
    lag_s: float = Field(description="age in seconds of the oldest of them (0 when none; -1 "
                         "when unknown)")


class SearchResponse(BaseModel):
    hits: list[Hit]
    took_ms: float
    store: str
    generation: int = Field(description="the index generation that answered (`semsearch index`)")
    model_id: str = Field(description="the embedding model of that generation")
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
    indexed_at: datetime | None = Field(description=INDEXED_AT)
    pending_version: int | None = Field(description=PENDING_VERSION)
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


class StoreReadiness(BaseModel):
    healthy: bool
    behind: int
    lag_s: float
    stuck: int = Field(default=0, description="documents the worker failed to apply to this "
                       "store (dead letters included; `semsearch dlq`), not counted in behind")


class Readiness(BaseModel):
    status: str = Field(description="ready, or unavailable when the serving store is not healthy")
    serving: str
    stores: dict[str, StoreReadiness]

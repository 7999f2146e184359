"""What an answer says beside its hits: per hit, when the store indexed the version shown and
which newer one is on its way; per answer, how far behind the store is (issue 31).

The rule, the cheapest one under which an answer never contradicts itself: ``freshness`` is the
router's last look at the answering store (``StoreRouter.status``, at most HEALTH_CACHE_SECONDS/2
old), except that
- after a token wait, the store's lag is looked at again, after the wait (one count over the
  partial index of what is behind), so it never counts the writes the token named;
- it never says less than its own hits: ``behind`` is at least the number of hits with a pending
  version (stuck ones apart, as in ``readmodel.lag``), ``lag_s`` at least the oldest one's age.

The per-hit state is one primary-key lookup for the page's ids in ``projection_state``, on the
thread that searched; a cached page keeps it (every change to it is announced: query_side.results).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime

from fastapi.responses import Response
from pydantic import TypeAdapter
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from query_side import readmodel
from query_side.db import read_retrying
from query_side.exceptions import DocumentNotIndexed
from query_side.models import DocumentView, Freshness, Hit, PassageView, snippet
from query_side.readmodel import HitState
from query_side.results import Page
from query_side.router import StoreRouter, StoreStatus
from query_side.stores.base import SearchHit

log = logging.getLogger(__name__)

HITS = TypeAdapter(list[Hit])
States = dict[uuid.UUID, HitState]


def stamps(version: int, state: HitState | None) -> tuple[datetime | None, int | None]:
    """(indexed_at, pending_version) of a hit showing ``version``: when the store applied that
    version (None if its state records another, or none), and the newest version seen if newer."""
    if state is None:
        return None, None
    return (state.applied_at if state.version == version else None,
            state.target_version if state.target_version > version else None)


def to_hit(hit: SearchHit, state: HitState | None) -> Hit:
    best = hit.passages[0].text if hit.passages else hit.lead
    indexed_at, pending = stamps(hit.version, state)
    return Hit(id=hit.id, score=round(hit.score, 6), title=hit.title, snippet=snippet(best),
               category=hit.category, tags=list(hit.tags), attributes=hit.attributes,
               published_at=hit.published_at, version=hit.version, indexed_at=indexed_at,
               pending_version=pending,
               passages=[PassageView(text=p.text, start=p.start, end=p.end, score=round(p.score, 6))
                         for p in hit.passages])


def pending(hits: list[SearchHit], states: States) -> tuple[int, datetime | None]:
    """How many hits have a newer version on its way (stuck ones apart), and the oldest one's
    commit time: the least the answer's freshness may say."""
    on_way = [s for h in hits if (s := states.get(h.id)) is not None
              and s.target_version > h.version and not s.stuck]
    return len(on_way), min((s.target_committed_at for s in on_way), default=None)


def page(hits: list[SearchHit], states: States) -> Page:
    """The serialized hits, with what they show as pending."""
    return Page(HITS.dump_json([to_hit(h, states.get(h.id)) for h in hits]), *pending(hits, states))


def look(router: StoreRouter, name: str, hits: list[SearchHit],
         relook: bool) -> tuple[States, dict[str, float | int] | None]:
    """The hits' state in store ``name`` and (``relook``) the store's lag now, in one connection.
    With the read database down (a store may still answer) the state is unknown: none, no lag."""
    def read(conn: Connection) -> tuple[States, dict[str, float | int] | None]:
        states = readmodel.hit_states(conn, name, [h.id for h in hits])
        return states, readmodel.lag(conn, name) if relook else None
    try:
        return read_retrying(router.read_engine, read)
    except DBAPIError as exc:
        log.warning("%s: the hits' indexed state is unknown (read model: %s)", name, exc.orig)
        return {}, None


def freshness(status: StoreStatus, count: int, oldest: datetime | None) -> Freshness:
    """``status`` (the router's look), never saying less than the ``count`` hits pending, the
    ``oldest`` committed at that time, show (an unknown, -1, stays unknown)."""
    behind, lag_s = status.behind, status.lag_s
    if behind >= 0:
        behind = max(behind, count)
    if oldest is not None and lag_s >= 0:
        lag_s = max(lag_s, (datetime.now(UTC) - oldest).total_seconds())
    return Freshness(behind=behind, lag_s=round(lag_s, 3))


def respond(shown: Page, started: float, status: StoreStatus, cached: bool, generation: int,
            model_id: str) -> Response:
    """The search response around a page's serialized hits (cached ones are spliced in as is)."""
    envelope = json.dumps({
        "took_ms": round((time.perf_counter() - started) * 1e3, 2), "store": status.name,
        "generation": generation, "model_id": model_id,
        "freshness": freshness(status, shown.pending, shown.oldest_pending).model_dump(), "cached": cached})
    return Response(b'{"hits":' + shown.hits + b"," + envelope[1:].encode(),
                    media_type="application/json")


def document_view(router: StoreRouter, name: str, doc_id: uuid.UUID) -> DocumentView:
    """Document ``doc_id`` as store ``name`` holds it, with when it was indexed there and the
    newer version on its way, if any."""
    found = router.stores[name].get(doc_id)
    if found is None:
        raise DocumentNotIndexed(f"document {doc_id} is not in the read model ({name})")
    hit, _ = found
    state = read_retrying(router.read_engine, lambda conn: readmodel.hit_states(
        conn, name, [doc_id])).get(doc_id)
    indexed_at, pending = stamps(hit.version, state)
    return DocumentView(id=hit.id, version=hit.version, title=hit.title, body=hit.body or "",
                        category=hit.category, tags=list(hit.tags), attributes=hit.attributes,
                        published_at=hit.published_at, indexed_at=indexed_at,
                        pending_version=pending, store=name)

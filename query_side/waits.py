"""Read-your-writes waits: bounded in time, in number and in cost (ARCHITECTURE invariant 10).

A search or document read that carries a consistency token is answered by the first store that
holds every write the token names; until one does, it waits. A wait holds no thread: it awaits
the ``ChangeSignal`` (woken by each store change the listener hears, and at least every
``recheck_s``), and only its look at the read model runs on the thread pool, at most ``LOOKS``
looks at a time in a process, so waiters never take the threads and connections serving needs.
Each look asks only for the writes that store still lacked at the previous look (a version a
store holds never goes back), so a token of a thousand documents costs a thousand-row look once
and then only what is still missing.

Bounds: at most ``limit`` waits per process (the next is refused at once with 503) and
``per_caller`` per caller (429), both with ``Retry-After``; a wait ends at its cap with
``ReadModelBehind`` (409), even while a look is slow (``GRACE_S`` past the cap at the latest).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from common import auth, consistency
from query_side import readmodel
from query_side.db import read_retrying
from query_side.exceptions import BadToken, ReadModelBehind, TooManyWaits
from query_side.results import ChangeSignal
from query_side.router import StoreRouter
from query_side.settings import QuerySettings

Written = list[tuple[uuid.UUID, int]]
Behind = list[tuple[uuid.UUID, int, int]]
Look = Callable[[str, Written], Behind]
"""``look(store, writes)``: those of ``writes`` that ``store`` does not hold yet, as
(id, wanted, held); a blocking read-model query (run on the thread pool)."""

LOOKS = 4
"""Looks at the read model that a process's waits make at a time."""
POLL_S = 0.1
"""While changes are not being heard (the listener reconnecting), waits look this often."""
GRACE_S = 1.0
"""A look still running at a wait's cap may take this long before the wait is answered anyway."""
RETRY_AFTER_S = 1


@dataclass
class Waits:
    """The token waits of one query API process."""

    signal: ChangeSignal
    limit: int
    per_caller: int
    recheck_s: float = 1.0
    waiting: int = 0
    _callers: Counter[str] = field(default_factory=Counter)
    _looking: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(LOOKS))

    @contextmanager
    def taken(self, caller: str) -> Iterator[None]:
        """One wait of ``caller``'s, refused at once past either bound. (On the event loop.)"""
        if self._callers[caller] >= self.per_caller:
            raise TooManyWaits(429, "TOKEN_WAITS_PER_CALLER", self.per_caller, RETRY_AFTER_S)
        if self.waiting >= self.limit:
            raise TooManyWaits(503, "TOKEN_WAITS", self.limit, RETRY_AFTER_S)
        self.waiting += 1
        self._callers[caller] += 1
        try:
            yield
        finally:
            self.waiting -= 1
            self._callers[caller] -= 1
            if not self._callers[caller]:
                del self._callers[caller]

    async def reached(self, look: Look, candidates: list[str], written: Written,
                      wait_s: float) -> str:
        """The first of ``candidates`` that holds every write in ``written``, waiting up to
        ``wait_s`` for one; ``ReadModelBehind`` at the cap."""
        started = time.monotonic()
        behind: dict[str, Behind] = {name: [(i, v, 0) for i, v in written] for name in candidates}
        try:
            async with asyncio.timeout(wait_s + GRACE_S):
                return await self._until_reached(look, behind, started + wait_s)
        except TimeoutError:
            pass  # a look outlived the cap: answered as behind, as at the cap
        except _Behind:
            pass
        first = candidates[0]
        raise ReadModelBehind(first, behind[first], time.monotonic() - started)

    async def _until_reached(self, look: Look, behind: dict[str, Behind], deadline: float) -> str:
        while True:
            seen = self.signal.count
            for name, lacking in behind.items():
                behind[name] = await self._look(look, name, [(i, v) for i, v, _ in lacking])
                if not behind[name]:
                    return name
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Behind
            if self.signal.live:
                await self.signal.changed_past(seen, min(self.recheck_s * _spread(), left))
            else:
                await asyncio.sleep(min(POLL_S, left))

    async def _look(self, look: Look, store: str, lacking: Written) -> Behind:
        async with self._looking:
            return await run_in_threadpool(look, store, lacking)


async def candidates_now(router: StoreRouter, generation: int | None = None) -> list[str]:
    """The usable stores, best first (health looked at on the thread pool when it is stale)."""
    if router.stale():
        return await run_in_threadpool(router.candidates, generation)
    return router.candidates(generation)


async def token_store(request: Request, router: StoreRouter, token: str, wait_ms: int | None,
                      generation: int | None = None) -> str:
    """The first usable store (of index ``generation``) that has reached ``token``, waiting up
    to ``wait_ms`` (the server's default and cap apply) without holding a thread."""
    try:
        written = consistency.decode(token)
    except consistency.BadToken as exc:
        raise BadToken(f"token: {exc}") from exc
    settings: QuerySettings = request.app.state.settings
    wait_s = settings.consistency_wait_seconds if wait_ms is None else wait_ms / 1e3
    waits: Waits = request.app.state.waits
    with waits.taken(caller(request)):
        candidates = await candidates_now(router, generation)

        def look(store: str, lacking: list[tuple[uuid.UUID, int]]) -> list[tuple[uuid.UUID, int, int]]:
            return read_retrying(router.read_engine,
                                 lambda conn: readmodel.reached(conn, store, lacking))
        return await waits.reached(look, candidates, written, min(wait_s, settings.max_wait_seconds))


def caller(request: Request) -> str:
    """Who waits, for the per-caller bound: the API key's name, else the client's address."""
    found: auth.Principal | None = request.scope.get("state", {}).get("principal")
    if found is not None and found.name != "anonymous":
        return f"key {found.name}"
    return f"client {request.client.host if request.client else '-'}"


def _spread() -> float:
    """Between 0.5 and 1: waits that began together do not all look again at the same moment."""
    return 0.5 + random.random() / 2  # noqa: S311 (not for secrets)


class _Behind(Exception):
    """The cap came with a store still behind (caught in ``Waits.reached``)."""

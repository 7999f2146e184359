"""Which store answers: Weaviate while it is healthy and close enough behind, else pgvector.

"Behind" counts what the worker has yet to apply, not what it failed to apply: a document the
store refuses (a poison document, dead-lettered for the operator) is counted apart as stuck,
and moves serving only when more than ``MAX_STUCK_DOCUMENTS`` are (a store refusing writes).

Fast failover: every health check and every search of a store is bounded by
``STORE_TIMEOUT_SECONDS`` (its client's own retries may hold a call far longer: gRPC retried
for about a minute against a killed Weaviate). A check that does not answer in time counts the
store unhealthy (and no second check starts while one still hangs); a search that does not
answer in time marks it unhealthy and moves to the next store. The checks run every half of
``HEALTH_CACHE_SECONDS``, so a dead store stops serving within about a second, and serves
again from the first check that finds it answering (and not behind).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as CallTimeout
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import Counter, Gauge
from sqlalchemy.engine import Engine

from query_side import readmodel
from query_side.generations import store_name
from query_side.settings import QuerySettings
from query_side.stores.base import StoreUnavailable, VectorStore

T = TypeVar("T")

PREFERENCE = ("weaviate", "pgvector")

# With several query API processes (prometheus_client's multiprocess mode) a gauge is read across
# the live ones: a store is healthy if every process finds it so, behind by the most any finds.
HEALTHY = Gauge("semsearch_store_healthy", "1 when the store answers", ["store"],
                multiprocess_mode="livemin")
BEHIND = Gauge("semsearch_store_behind", "Changes seen but not yet in the store", ["store"],
               multiprocess_mode="livemax")
STUCK = Gauge("semsearch_store_stuck_documents", "Documents whose newest version the worker "
              "failed to apply to the store (dead letters included)", ["store"],
              multiprocess_mode="livemax")
LAG = Gauge("semsearch_store_lag_seconds", "Age of the oldest change not yet in the store",
            ["store"], multiprocess_mode="livemax")
log = logging.getLogger(__name__)

SERVED = Counter("semsearch_searches_total", "Searches answered, by store", ["store"])


@dataclass(frozen=True)
class StoreStatus:
    name: str
    healthy: bool
    behind: int
    lag_s: float
    checked_at: float
    stuck: int = 0
    """Documents the store failed to apply (not counted in ``behind``/``lag_s``)."""


class StoreRouter:
    def __init__(self, stores: dict[str, VectorStore], settings: QuerySettings,
                 read_engine: Engine) -> None:
        self.stores = stores
        self.settings = settings
        self.read_engine = read_engine
        self._status: dict[str, StoreStatus] = {}
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None
        self._calls = ThreadPoolExecutor(max_workers=32, thread_name_prefix="store-call")
        self._checks = ThreadPoolExecutor(max_workers=max(4, len(stores)),
                                          thread_name_prefix="store-check")
        self._checking: dict[str, Future[bool]] = {}
        self.generation = 1
        """The serving index generation (query_side.serving follows the pointer)."""

    def start(self) -> None:
        """Check every store now, then keep the checks fresh from a background thread, so that
        a search never waits for a health check (unless the checks fall behind)."""
        for name in list(self.stores):
            self.status(name, fresh=True)
        every = self.settings.health_cache_seconds / 2
        if every > 0:
            self._refresher = threading.Thread(target=self._refresh, args=(every,), daemon=True,
                                               name="store-health")
            self._refresher.start()

    def stop(self) -> None:
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join(timeout=5)
        self._calls.shutdown(wait=False, cancel_futures=True)
        self._checks.shutdown(wait=False, cancel_futures=True)

    def call(self, name: str, run: Callable[[], T]) -> T:
        """``run`` (a call of store ``name``) within STORE_TIMEOUT_SECONDS, else StoreUnavailable
        (the call itself is left to finish on its own thread)."""
        try:
            return self._calls.submit(run).result(self.settings.store_timeout_seconds)
        except CallTimeout:
            raise StoreUnavailable(f"{name} did not answer within "
                                   f"{self.settings.store_timeout_seconds}s") from None

    def _healthy(self, name: str) -> bool:
        running = self._checking.get(name)
        if running is not None and not running.done():
            return False  # the last check still hangs: the store is not answering
        check = self._checks.submit(self.stores[name].health)
        self._checking[name] = check
        try:
            return check.result(self.settings.store_timeout_seconds)
        except CallTimeout:
            return False

    def _refresh(self, every: float) -> None:
        while not self._stop.wait(every):
            for name in list(self.stores):  # (a new generation's stores may be added meanwhile)
                if name not in self.stores:  # (and a dropped one's removed)
                    continue
                try:
                    self.status(name, fresh=True)
                except Exception:  # a check that raises is the next one's problem
                    log.exception("health check of %s failed", name)

    def stale(self) -> bool:
        """Whether :meth:`candidates` would have to check a store first (and so may block)."""
        now = time.monotonic()
        return any(name not in self._status
                   or now - self._status[name].checked_at >= self.settings.health_cache_seconds
                   for name in list(self.stores))

    def status(self, name: str, fresh: bool = False) -> StoreStatus:
        cached = self._status.get(name)
        now = time.monotonic()
        if cached and not fresh and now - cached.checked_at < self.settings.health_cache_seconds:
            return cached
        healthy = self._healthy(name)
        try:
            with self.read_engine.connect() as conn:
                lag = readmodel.lag(conn, name)
        except Exception:
            lag = {"behind": -1, "lag_s": -1.0, "stuck": -1}
        return self._keep(StoreStatus(name, healthy, int(lag["behind"]), float(lag["lag_s"]), now,
                                      int(lag["stuck"])))

    def relooked(self, name: str, lag: dict[str, float | int]) -> StoreStatus:
        """Store ``name``'s lag, looked at again for an answer (after a token wait), with its
        health from the last check; kept (when there was one), so later answers say no less."""
        old = self._status.get(name)
        status = StoreStatus(name, old.healthy if old else True, int(lag["behind"]),
                             float(lag["lag_s"]), old.checked_at if old else 0.0, int(lag["stuck"]))
        return self._keep(status) if old else status

    def _keep(self, status: StoreStatus) -> StoreStatus:
        name = status.name
        self._status[name] = status
        HEALTHY.labels(name).set(1 if status.healthy else 0)
        BEHIND.labels(name).set(status.behind)
        LAG.labels(name).set(status.lag_s)
        STUCK.labels(name).set(status.stuck)
        return status

    def candidates(self, generation: int | None = None) -> list[str]:
        """Stores of the serving (or the given) index generation that may serve now, best first."""
        number = self.generation if generation is None else generation
        if self.settings.store != "auto":
            return [store_name(self.settings.store, number)]
        usable, present = [], []
        for family in PREFERENCE:
            name = store_name(family, number)
            if name not in self.stores:
                continue
            present.append(name)
            status = self.status(name)
            too_far = family != "pgvector" and (
                status.lag_s > self.settings.max_lag_seconds
                or status.stuck > self.settings.max_stuck_documents)
            if status.healthy and not too_far:
                usable.append(name)
        return usable or present[-1:]

    def remove(self, name: str) -> VectorStore | None:
        """Store ``name`` no longer routed to (its generation was dropped), to be closed."""
        self._status.pop(name, None)
        self._checking.pop(name, None)
        return self.stores.pop(name, None)

    def forget(self, name: str) -> None:
        """A store failed a call: count it unhealthy until its next check."""
        old = self._status.get(name)
        self._status[name] = StoreStatus(name, False, old.behind if old else -1,
                                         old.lag_s if old else -1.0, time.monotonic(),
                                         old.stuck if old else -1)
        HEALTHY.labels(name).set(0)

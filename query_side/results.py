"""Search results kept until the store they came from changes, and not a moment longer.

The worker announces every change it applies to a store (``readmodel.announce``: a PostgreSQL
``NOTIFY`` sent when its bookkeeping transaction commits, so after the store write). The query
API listens on one connection and drops that store's cached results on each announcement, much as
a search engine's request cache is dropped on every index refresh. A token-less search is then
served from memory while the store is unchanged, and sees a change once the notification arrives
(milliseconds after the worker commits). A worker that dies between its store write and its
commit announces nothing; the change is then not yet *recorded* as applied either (the read
model reports it as behind), and the resent job announces it.

Safety rules:
- A result is cached only if no announcement for its store arrived while it was computed (the
  generation it started under is still current), so a search racing a change never caches the
  old answer as new.
- While the listener is not connected (start-up, a lost connection), nothing is served from the
  cache: an announcement might be missed. Reconnecting clears everything first.
- Searches carrying a consistency token never use the cache.
- A page keeps its hits' ``indexed_at`` and ``pending_version``: both change only with an
  announcement (``mark_applied``, ``forget_applied``, and ``note_targets`` when it notes a newer
  version), so a cached page never shows a stale one.

The same announcements wake searches that wait for a consistency token (``ChangeSignal``), so a
read-your-writes wait costs one read-model check per applied batch instead of one every 20 ms.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
import sqlalchemy as sa
from prometheus_client import Counter

from query_side.readmodel import CHANNEL

log = logging.getLogger(__name__)

LOOKUPS = Counter("semsearch_result_cache_total", "Result cache lookups", ["store", "outcome"])


@dataclass(frozen=True)
class Page:
    """A search's serialized hits, and how many of them have a newer version on its way (the
    oldest's commit time): the least the answer's freshness may say (``query_side.answers``)."""

    hits: bytes
    pending: int = 0
    oldest_pending: datetime | None = None


@dataclass
class _StoreEntries:
    generation: int = 0
    entries: OrderedDict[str, Page] = field(default_factory=OrderedDict)


class ResultCache:
    """Bounded LRU of search pages per store, valid for the store's current generation."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.live = False
        """True while changes are being heard; the cache answers only then."""
        self._stores: dict[str, _StoreEntries] = {}
        self._lock = threading.Lock()

    def generation(self, store: str) -> int:
        with self._lock:
            return self._of(store).generation

    def get(self, store: str, key: str) -> Page | None:
        if not self.live or not self.size:
            return None
        with self._lock:
            entries = self._of(store).entries
            found = entries.get(key)
            if found is not None:
                entries.move_to_end(key)
        LOOKUPS.labels(store, "hit" if found is not None else "miss").inc()
        return found

    def put(self, store: str, key: str, value: Page, generation: int) -> None:
        """Keep ``value`` if ``store`` has not changed since ``generation`` was read."""
        if not self.live or not self.size:
            return
        with self._lock:
            current = self._of(store)
            if current.generation != generation:
                return
            current.entries[key] = value
            while len(current.entries) > self.size:
                current.entries.popitem(last=False)

    def changed(self, store: str | None = None) -> None:
        """``store`` changed (``None``: any store may have): its results are gone."""
        with self._lock:
            for name in [store] if store is not None else list(self._stores):
                current = self._of(name)
                current.generation += 1
                current.entries = OrderedDict()

    def _of(self, store: str) -> _StoreEntries:
        return self._stores.setdefault(store, _StoreEntries())


class ChangeSignal:
    """How many store changes have been heard; threads and coroutines wait here for the next.

    A coroutine's wait costs no thread: the listener's thread wakes each event loop that has
    waiters once per change (one ``call_soon_threadsafe``, however many wait in it)."""

    def __init__(self) -> None:
        self.count = 0
        self.live = False
        """True while changes are being heard; otherwise a waiter must poll."""
        self._changed = threading.Condition()
        self._loops: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}

    def notify(self) -> None:
        with self._changed:
            self.count += 1
            self._changed.notify_all()
            loops = list(self._loops)
        for loop in loops:
            try:
                loop.call_soon_threadsafe(self._wake, loop)
            except RuntimeError:  # that loop is closed: nobody waits there any more
                with self._changed:
                    self._loops.pop(loop, None)

    def wait_past(self, seen: int, timeout: float) -> bool:
        """Wait until a change after the ``seen``-th is heard, or ``timeout``; True if one was."""
        with self._changed:
            return self._changed.wait_for(lambda: self.count != seen, timeout)

    async def changed_past(self, seen: int, timeout: float) -> bool:
        """``wait_past`` for a coroutine, holding no thread while it waits."""
        loop = asyncio.get_running_loop()
        with self._changed:
            if self.count != seen:
                return True
            event = self._loops.get(loop)
            if event is None:
                event = self._loops[loop] = asyncio.Event()
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            return self.count != seen
        return True

    def _wake(self, loop: asyncio.AbstractEventLoop) -> None:
        """(On ``loop``.) Wake its waiters; the next ones wait on a fresh event."""
        with self._changed:
            event = self._loops.pop(loop, None)
        if event is not None:
            event.set()


class ChangeListener:
    """A thread that LISTENs for store changes, drops the cached results they make stale and
    wakes the searches waiting for a write."""

    def __init__(self, database_url: str, cache: ResultCache, signal: ChangeSignal | None = None,
                 poll_seconds: float = 1.0) -> None:
        url = sa.engine.make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._cache = cache
        self._signal = signal or ChangeSignal()
        self._poll = poll_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="result-cache-listener", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2 * self._poll + 1)

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._cache.changed()  # whatever happened while nobody listened
                    self._cache.live = self._signal.live = True
                    self._signal.notify()
                    delay = 0.5
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=self._poll):
                            self._cache.changed(note.payload or None)
                            self._signal.notify()
            except Exception as exc:  # the database went away: serve nothing cached until back
                if not self._stop.is_set():
                    log.warning("result cache off: not hearing store changes (%s)", exc)
            finally:
                self._cache.live = self._signal.live = False
                self._cache.changed()
            self._stop.wait(delay)
            delay = min(delay * 2, 10.0)

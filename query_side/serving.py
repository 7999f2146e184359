"""Which index generation answers searches: the pointer, read about once a second.

Every live generation's stores are opened and its encoder loaded (and warmed) as soon as this
process sees it, before it can be promoted, so the switch itself costs a search nothing: the next
search after the pointer moved is embedded by a loaded encoder and answered by checked stores.
A search takes the serving generation once, at its start (:meth:`Serving.taken`), and uses that
generation's encoder and stores to its end.

A generation that is no longer live (dropped) is let go of: its stores are closed, and an
encoder that no generation held here uses any more (ENCODER's own included) is released, its
model's memory handed back. Each search counts itself on its generation while it runs; a
dropped generation that searches still use waits until the last of them has left, and the next
look at the pointer (``POINTER_CACHE_S`` later at most) lets it go. Only the pointer's thread
opens, closes and releases; a search only counts, under one short lock. (A count rather than a
grace period: a search held long in the admission line or by a slow store still ends on what it
started with, and nothing is kept longer than its last search.)
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from embeddings import load_encoder
from embeddings.memory import return_freed_memory
from query_side import generations, readmodel
from query_side.encoding import QueryEncoder
from query_side.generations import Generation
from query_side.router import StoreRouter
from query_side.settings import QuerySettings
from query_side.stores.base import VectorStore

POINTER_CACHE_S = 1.0
"""How long a process may keep serving a generation after the pointer moved."""
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Taken:
    """What one search uses from its start to its end."""

    number: int
    encoder: QueryEncoder
    model_id: str


class Serving:
    def __init__(self, settings: QuerySettings, read_engine: Engine, router: StoreRouter,
                 encoder: QueryEncoder) -> None:
        self.settings = settings
        self.read_engine = read_engine
        self.router = router
        self.encoders: dict[str, QueryEncoder] = {settings.encoder: encoder}
        """Encoder kind → its query encoder (each with its own query cache); ENCODER's own until
        the first look finds no live generation using it."""
        self.generations: dict[int, Generation] = {}
        """The live generations this process has loaded."""
        self.dropped: dict[int, Generation] = {}
        """Generations no longer live that searches in flight still use."""
        self.searches: Counter[int] = Counter()
        """Generation number → searches in flight on it."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def families(self) -> list[str]:
        return ["pgvector"] + (["weaviate"] if self.settings.weaviate_url else [])

    @contextmanager
    def taken(self) -> Iterator[Taken]:
        """The serving generation, its encoder and model id, for one search: none of them is
        closed before the search leaves."""
        with self._lock:
            generation = self.generations[self.router.generation]
            encoder = self.encoders[generation.encoder]
            self.searches[generation.number] += 1
        try:
            yield Taken(generation.number, encoder, generation.model_id)
        finally:
            with self._lock:
                self.searches[generation.number] -= 1
                if not self.searches[generation.number]:
                    del self.searches[generation.number]

    def refresh(self) -> None:
        """Load what a newly seen live generation needs, follow the pointer, then let go of what
        no live generation and no search uses any more."""
        with self.read_engine.connect() as conn:
            serving, _ = generations.pointer(conn)
            live = generations.live(conn)
        self.follow(serving, live)

    def follow(self, serving: int, live: list[Generation]) -> None:
        """:meth:`refresh` once the pointer and the live generations are read."""
        for generation in live:
            if generation.number not in self.generations:
                self._load(generation)
        with self._lock:
            if serving != self.router.generation and serving in self.generations:
                log.warning("index generation %d serves now (was %d)", serving,
                            self.router.generation)
                self.router.generation = serving
            numbers = {g.number for g in live}
            for number in [n for n in self.generations if n not in numbers]:
                if number != self.router.generation:  # (only till the new one is loaded)
                    self.dropped[number] = self.generations.pop(number)
            stores, encoders = self._unused()
        self._let_go(stores, encoders)

    def _unused(self) -> tuple[list[str], list[QueryEncoder]]:
        """Under the lock: forget the dropped generations no search uses; their stores and the
        encoders no generation held here uses are returned, to be closed."""
        idle = [self.dropped.pop(n) for n in list(self.dropped) if not self.searches[n]]
        held = [*self.generations.values(), *self.dropped.values()]
        kept = {g.store(family) for g in held for family in self.families}
        stores = [name for g in idle for family in self.families
                  if (name := g.store(family)) not in kept]
        kinds = {g.encoder for g in held}
        encoders = [self.encoders.pop(kind) for kind in list(self.encoders) if kind not in kinds]
        for generation in idle:
            log.warning("index generation %d is dropped: its stores close", generation.number)
        return stores, encoders

    def _let_go(self, stores: list[str], encoders: list[QueryEncoder]) -> None:
        for name in stores:
            store: VectorStore | None = self.router.remove(name)
            if store is not None:
                store.close()
        for encoder in encoders:
            log.info("encoder %s released: no live generation uses it", encoder.encoder.model_id)
            encoder.close()
        if encoders:
            return_freed_memory()

    def _load(self, generation: Generation) -> None:
        for family in self.families:
            name = generation.store(family)
            if name not in self.router.stores:
                store = generations.open_generation_store(family, generation, self.settings,
                                                          self.read_engine)
                if family == "pgvector":
                    readmodel.ensure_store(self.read_engine, store)
                self.router.stores[name] = store
                self.router.status(name, fresh=True)
        encoder = self.encoders.get(generation.encoder) or QueryEncoder(load_encoder(
            generation.encoder, threads=self.settings.encoder_threads,
            device=self.settings.device, half=self.settings.encoder_fp16),
            self.settings.query_cache_size)
        encoder.encode("warm up")  # loaded before its first search
        with self._lock:
            self.encoders[generation.encoder] = encoder
            self.generations[generation.number] = generation

    def start(self) -> None:
        self.refresh()
        self._thread = threading.Thread(target=self._follow, daemon=True, name="index-pointer")
        self._thread.start()

    def _follow(self) -> None:
        while not self._stop.wait(POINTER_CACHE_S):
            try:
                self.refresh()
            except Exception:  # the next look may succeed (a database restart, a store away)
                log.exception("reading the index generation pointer failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for encoder in self.encoders.values():
            encoder.close()

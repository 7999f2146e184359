"""Which index generation answers searches: the pointer, read about once a second.

Every live generation's stores are opened and its encoder loaded (and warmed) as soon as this
process sees it, before it can be promoted, so the switch itself costs a search nothing: the next
search after the pointer moved is embedded by a loaded encoder and answered by checked stores.
A search takes the serving generation once, at its start, and uses that generation's encoder
and stores to its end.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine

from embeddings import load_encoder
from query_side import generations, readmodel
from query_side.encoding import QueryEncoder
from query_side.generations import Generation
from query_side.router import StoreRouter
from query_side.settings import QuerySettings

POINTER_CACHE_S = 1.0
"""How long a process may keep serving a generation after the pointer moved."""
log = logging.getLogger(__name__)


class Serving:
    def __init__(self, settings: QuerySettings, read_engine: Engine, router: StoreRouter,
                 encoder: QueryEncoder) -> None:
        self.settings = settings
        self.read_engine = read_engine
        self.router = router
        self.encoders: dict[str, QueryEncoder] = {settings.encoder: encoder}
        """Encoder kind → its query encoder (each with its own query cache)."""
        self.generations: dict[int, Generation] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def families(self) -> list[str]:
        return ["pgvector"] + (["weaviate"] if self.settings.weaviate_url else [])

    def encoder(self, number: int) -> QueryEncoder:
        return self.encoders[self.generations[number].encoder]

    def model_id(self, number: int) -> str:
        return self.generations[number].model_id

    def refresh(self) -> None:
        """Load what a newly seen live generation needs, then follow the pointer."""
        with self.read_engine.connect() as conn:
            serving, _ = generations.pointer(conn)
            live = generations.live(conn)
        for generation in live:
            if generation.number not in self.generations:
                self._load(generation)
        if serving != self.router.generation and serving in self.generations:
            log.warning("index generation %d serves now (was %d)", serving, self.router.generation)
            self.router.generation = serving

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
        if generation.encoder not in self.encoders:
            self.encoders[generation.encoder] = QueryEncoder(load_encoder(
                generation.encoder, threads=self.settings.encoder_threads,
                device=self.settings.device, half=self.settings.encoder_fp16),
                self.settings.query_cache_size)
        self.encoders[generation.encoder].encode("warm up")  # loaded before its first search
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
        for kind, encoder in self.encoders.items():
            if kind != self.settings.encoder:
                encoder.close()

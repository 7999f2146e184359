"""What a worker process holds for its whole life: engines, stores and the loaded encoder.

Built once in the worker's ``main()`` (never at import) and installed with :func:`install`;
jobs fetch it with :func:`current`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from prometheus_client import Counter, Histogram
from sqlalchemy.engine import Engine

from embeddings import Encoder, load_encoder
from embeddings.memory import return_freed_memory
from embeddings.passages import PassageSettings
from query_side import generations, readmodel
from query_side.db import make_read_engine
from query_side.stores.base import VectorStore
from query_side.stores.factory import open_store
from sync_worker.settings import WorkerSettings

APPLIED = Counter("semsearch_worker_changes_total", "Changes applied", ["store", "outcome"])
EMBEDDED = Counter("semsearch_worker_embedded_total", "Texts sent to the encoder")
JOB_FAILURES = Counter("semsearch_worker_job_failures_total",
                       "Sync jobs that raised (RQ retries them, then the outbox resends)", ["store"])
DEAD_LETTERED = Counter("semsearch_worker_dead_lettered_total", "Documents dead-lettered", ["store"])
FRESHNESS = Histogram(
    "semsearch_commit_to_searchable_seconds",
    "Seconds from a document's commit until a store holds it",
    ["store"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
log = logging.getLogger("semsearch.worker")


@dataclass
class Runtime:
    settings: WorkerSettings
    write_engine: Engine
    read_engine: Engine
    encoders: dict[str, Encoder]
    """Encoder kind → encoder: ENCODER's own (loaded when first used), and any other the first
    time a generation needs it. Each look at the live generations lets go of the encoders and
    the stores that none of them uses (jobs run one at a time: nothing uses them meanwhile)."""
    stores: dict[str, VectorStore] = field(default_factory=dict)
    registered: bool = False

    @property
    def passages(self) -> PassageSettings:
        return self.settings.passage_settings()

    def store(self, name: str) -> VectorStore:
        return self._kept(name, lambda: open_store(name, self.settings, self.read_engine))

    def _kept(self, name: str, make: Callable[[], VectorStore]) -> VectorStore:
        """Store ``name``, opened by ``make`` and its bookkeeping ensured the first time."""
        if name not in self.stores:
            store = make()
            try:
                readmodel.ensure_store(self.read_engine, store)
            except Exception:
                store.close()
                raise
            self.stores[name] = store
        return self.stores[name]

    @property
    def encoder(self) -> Encoder:
        """ENCODER's own."""
        return self.encoder_for(self.settings.encoder)

    def encoder_for(self, kind: str) -> Encoder:
        if kind not in self.encoders:
            settings = self.settings
            self.encoders[kind] = load_encoder(kind, batch_size=settings.embed_batch_size,
                                               threads=settings.encoder_threads,
                                               device=settings.device, half=settings.encoder_fp16)
        return self.encoders[kind]

    def built_with(self) -> tuple[Encoder, PassageSettings]:
        """The encoder and passage settings generation 1 records: what the stores that
        reconcile, reindex and the dead-letter tools act on were built with, whatever ENCODER
        and the passage settings say today (a folder made by torch stays torch's after the
        default changed). The settings' own while generation 1 is not registered yet."""
        self.live_generations()  # registers generation 1 the first time
        with self.read_engine.connect() as conn:
            first = next((g for g in generations.listing(conn) if g.number == 1), None)
        if first is None:
            return self.encoder, self.passages
        return self.encoder_for(first.encoder), first.passages

    def live_generations(self) -> list[generations.Generation]:
        """Every generation whose stores live writes must reach (generation 1 registered from
        the settings the first time)."""
        if not self.registered:
            generations.ensure_registered(self.read_engine, self.settings)
            self.registered = True
        with self.read_engine.connect() as conn:
            live = generations.live(conn)
        self.keep_only(live)
        return live

    def keep_only(self, live: list[generations.Generation]) -> None:
        """Close the stores of generations no longer live and release the encoders that no
        live generation uses (generation 1's comes back when a repair asks :meth:`built_with`)."""
        numbers, kinds = {g.number for g in live}, {g.encoder for g in live}
        for name in [n for n in self.stores if generations.split_store_name(n)[1] not in numbers]:
            self.stores.pop(name).close()
        released = [kind for kind in self.encoders if kind not in kinds]
        for kind in released:
            log.info("encoder %s released: no live generation uses it",
                     self.encoders.pop(kind).model_id)
        if released:
            return_freed_memory()

    def generation_store(self, family: str, generation: generations.Generation) -> VectorStore:
        """Store ``family`` of ``generation`` (generation 1: :meth:`store`)."""
        name = generation.store(family)
        if generation.number == 1:
            return self.store(name)
        return self._kept(name, lambda: generations.open_generation_store(
            family, generation, self.settings, self.read_engine))

    def close(self) -> None:
        for store in self.stores.values():
            store.close()
        self.write_engine.dispose()
        self.read_engine.dispose()


_current: Runtime | None = None


def build(settings: WorkerSettings, encoder: Encoder | None = None) -> Runtime:
    write_engine = sa.create_engine(settings.database_url, pool_size=4, pool_pre_ping=True)
    read_engine = make_read_engine(settings.read_database_url)
    encoder = encoder or load_encoder(settings.encoder, batch_size=settings.embed_batch_size,
                                      threads=settings.encoder_threads,
                                      device=settings.device, half=settings.encoder_fp16)
    return Runtime(settings, write_engine, read_engine, {settings.encoder: encoder})


def install(runtime: Runtime | None) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("no worker runtime installed: start the worker with `semsearch worker`")
    return _current

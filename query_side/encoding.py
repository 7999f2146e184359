"""Query embeddings: an LRU cache and dynamic micro-batching in front of the encoder.

``QueryEncoder.aencode`` serves the query API's event loop: a cache hit returns at once; misses
wait on a future while one batching task embeds everything queued (up to ``max_batch``) in one
encoder call on a dedicated thread, then takes what queued meanwhile. ``QueryEncoder.encode`` does
the same for plain threads (both share the cache): misses join a queue; the first waiting thread
that finds no batch running becomes the leader, takes everything queued (up to ``max_batch``) and
embeds it in one encoder call while new misses queue for the next batch. No timer holds a query
back: a lone query is embedded alone, and under load each batch is what arrived while the previous
one ran, so a forward pass serves many requests (the encoder does ~5x more short queries per
second in batches than one at a time on a CPU). Identical texts in flight share one slot.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from prometheus_client import Histogram

from embeddings import Encoder

DEFAULT_MAX_BATCH = 64
"""Most queries embedded in one encoder call; bounds the latency a batch adds to its members."""

BATCH_SIZES = Histogram(
    "semsearch_query_embedding_batch_size", "Queries embedded per encoder call",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)


@dataclass
class _Slot:
    """One distinct text waiting for its vector (or the error that its batch raised)."""

    vector: np.ndarray | None = None
    error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.vector is not None or self.error is not None


@dataclass
class Released:
    """What a closed :class:`QueryEncoder` holds in place of its model."""

    model_id: str
    dimensions: int

    def encode(self, texts: list[str]) -> np.ndarray:
        raise RuntimeError(f"the {self.model_id} encoder was released")


class QueryEncoder:
    def __init__(self, encoder: Encoder, cache_size: int = 4096,
                 max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self.encoder = encoder
        self.cache_size = cache_size
        self.max_batch = max_batch
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._queued: OrderedDict[str, _Slot] = OrderedDict()
        self._running: dict[str, _Slot] = {}
        self._leading = False
        self._cond = threading.Condition()
        self.hits = 0
        self.misses = 0
        self.shared = 0
        """Misses that found the same text already queued or being embedded."""
        self.batches = 0
        self._waiting: OrderedDict[str, asyncio.Future[np.ndarray]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[np.ndarray]] = {}
        self._batcher: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="query-encoder")
        """The encoder runs here, off the event loop (it releases the GIL while it computes)."""

    async def aencode(self, text: str) -> np.ndarray:
        """The vector of ``text``, from the cache or from the next batch (event-loop callers)."""
        key = " ".join(text.split())
        with self._cond:
            if (cached := self._cached(key)) is not None:
                return cached
        future = self._inflight.get(key) or self._waiting.get(key)
        if future is not None:
            self.shared += 1
        else:
            self.misses += 1
            future = self._waiting[key] = asyncio.get_running_loop().create_future()
            if self._batcher is None or self._batcher.done():
                self._batcher = asyncio.create_task(self._batches())
        return await asyncio.shield(future)

    async def _batches(self) -> None:
        """Embed what is waiting, a batch at a time, until nothing is."""
        loop = asyncio.get_running_loop()
        while self._waiting:
            count = min(self.max_batch, len(self._waiting))
            self._inflight = dict(self._waiting.popitem(last=False) for _ in range(count))
            texts = list(self._inflight)
            try:
                vectors = await loop.run_in_executor(self._thread, self.encoder.encode, texts)
            except Exception as exc:  # every waiter of the batch gets the error
                for future in self._inflight.values():
                    if not future.done():
                        future.set_exception(exc)
            else:
                BATCH_SIZES.observe(len(texts))
                with self._cond:
                    self.batches += 1
                    for key, vector in zip(texts, vectors, strict=True):
                        self._remember(key, vector)
                for key, vector in zip(texts, vectors, strict=True):
                    if not self._inflight[key].done():
                        self._inflight[key].set_result(vector)
            finally:
                self._inflight = {}

    def close(self) -> None:
        """Stop the encoder's thread and let go of the model (its weights, its ONNX session) and
        the cached vectors; a later call raises. Only once nothing can use it any more."""
        self._thread.shutdown(wait=False, cancel_futures=True)
        self.encoder = Released(self.encoder.model_id, self.encoder.dimensions)
        with self._cond:
            self._cache.clear()

    @property
    def closed(self) -> bool:
        return isinstance(self.encoder, Released)

    def encode(self, text: str) -> np.ndarray:
        key = " ".join(text.split())
        with self._cond:
            if (cached := self._cached(key)) is not None:
                return cached
            slot = self._join(key)
        while True:
            with self._cond:
                while not slot.done and (self._leading or not self._queued):
                    self._cond.wait()
                if slot.done:
                    return self._result(slot)
                batch = self._take()
            self._lead(batch)

    def _cached(self, key: str) -> np.ndarray | None:
        """Under the lock: the cached vector of ``key`` (now the most recently used), if any."""
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self.hits += 1
        return cached

    def _join(self, key: str) -> _Slot:
        slot = self._running.get(key) or self._queued.get(key)
        if slot is not None:
            self.shared += 1
            return slot
        self.misses += 1
        slot = self._queued[key] = _Slot()
        self._cond.notify()
        return slot

    def _take(self) -> dict[str, _Slot]:
        """Under the lock: the oldest queued texts become the running batch; we lead it."""
        count = min(self.max_batch, len(self._queued))
        batch = dict(self._queued.popitem(last=False) for _ in range(count))
        self._running = batch
        self._leading = True
        return batch

    def _lead(self, batch: dict[str, _Slot]) -> None:
        """Embed one batch outside the lock, then hand out the vectors and wake every waiter."""
        vectors: np.ndarray | None = None
        error: BaseException | None = None
        try:
            vectors = self.encoder.encode(list(batch))
        except BaseException as exc:  # every waiter of the batch gets the error
            error = exc
        BATCH_SIZES.observe(len(batch))
        with self._cond:
            self.batches += 1
            for row, (key, slot) in enumerate(batch.items()):
                if vectors is None:
                    slot.error = error
                    continue
                slot.vector = vectors[row]
                self._remember(key, slot.vector)
            self._running = {}
            self._leading = False
            self._cond.notify_all()

    def _remember(self, key: str, vector: np.ndarray) -> None:
        if self.cache_size:
            self._cache[key] = vector
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    @staticmethod
    def _result(slot: _Slot) -> np.ndarray:
        if slot.error is not None:
            raise slot.error
        assert slot.vector is not None
        return slot.vector

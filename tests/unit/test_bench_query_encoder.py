"""Micro-batching in the query encoder: concurrent misses share encoder calls; the cache stays."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from embeddings import HashingEncoder
from query_side.encoding import QueryEncoder


class SlowEncoder(HashingEncoder):
    """A hashing encoder that takes a while per call and records each call's batch."""

    def __init__(self, delay: float = 0.03, fail: bool = False) -> None:
        super().__init__()
        self.delay, self.fail = delay, fail
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        with self.lock:
            self.batches.append(list(texts))
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("model exploded")
        return super().encode(texts)


def test_concurrent_misses_are_batched_and_each_caller_gets_its_own_vector() -> None:
    inner = SlowEncoder()
    encoder = QueryEncoder(inner, cache_size=100)
    texts = [f"query number {i}" for i in range(40)]
    with ThreadPoolExecutor(40) as pool:
        vectors = list(pool.map(encoder.encode, texts))
    reference = HashingEncoder().encode(texts)
    assert all(np.allclose(v, r) for v, r in zip(vectors, reference, strict=True))
    assert sum(len(b) for b in inner.batches) == 40
    assert len(inner.batches) < 40 / 4  # most queries rode in a shared forward pass
    assert max(len(b) for b in inner.batches) > 1
    assert encoder.misses == 40 and encoder.batches == len(inner.batches)


def test_batches_never_exceed_the_cap() -> None:
    inner = SlowEncoder()
    encoder = QueryEncoder(inner, max_batch=5)
    with ThreadPoolExecutor(30) as pool:
        list(pool.map(encoder.encode, [f"q {i}" for i in range(30)]))
    assert max(len(b) for b in inner.batches) <= 5


def test_identical_texts_in_flight_share_one_slot_and_the_cache_answers_later() -> None:
    inner = SlowEncoder()
    encoder = QueryEncoder(inner, cache_size=10)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(encoder.encode, ["the  same query"] * 16))
    assert sum(len(b) for b in inner.batches) == 1
    assert encoder.misses == 1 and encoder.hits + encoder.shared == 15
    calls = len(inner.batches)
    encoder.encode("the same   query")
    assert len(inner.batches) == calls and encoder.hits >= 1


def test_the_cache_is_bounded_lru() -> None:
    encoder = QueryEncoder(HashingEncoder(), cache_size=2)
    for text in ("a", "b", "a", "c"):
        encoder.encode(text)
    assert list(encoder._cache) == ["a", "c"]
    assert QueryEncoder(HashingEncoder(), cache_size=0).encode("x").shape == (384,)


def test_an_encoder_error_reaches_every_waiter_and_the_encoder_recovers() -> None:
    inner = SlowEncoder(fail=True)
    encoder = QueryEncoder(inner)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(encoder.encode, f"q {i}") for i in range(8)]
        for future in futures:
            with pytest.raises(RuntimeError, match="exploded"):
                future.result()
    inner.fail = False
    assert encoder.encode("q 1").shape == (384,)


def test_async_misses_are_batched_and_share_the_cache_with_threads() -> None:
    inner = SlowEncoder()
    encoder = QueryEncoder(inner, cache_size=100)
    texts = [f"query number {i}" for i in range(40)]

    async def many() -> list[np.ndarray]:
        return list(await asyncio.gather(*(encoder.aencode(t) for t in texts + ["query  number 1"])))

    vectors = asyncio.run(many())
    reference = HashingEncoder().encode(texts)
    assert all(np.allclose(v, r) for v, r in zip(vectors[:40], reference, strict=True))
    assert np.allclose(vectors[-1], vectors[1])  # the same text, once: shared, not embedded twice
    assert sum(len(b) for b in inner.batches) == 40
    assert len(inner.batches) <= 2  # one lone first call, then everything that queued meanwhile
    assert encoder.misses == 40 and encoder.shared == 1
    calls = len(inner.batches)
    assert np.allclose(encoder.encode("query number 3"), reference[3])  # the threaded path's cache
    assert len(inner.batches) == calls
    encoder.close()


def test_an_async_encoder_error_reaches_every_waiter_and_the_encoder_recovers() -> None:
    inner = SlowEncoder(fail=True, delay=0.01)
    encoder = QueryEncoder(inner, max_batch=3)

    async def attempt(n: int) -> list[object]:
        return list(await asyncio.gather(*(encoder.aencode(f"q {i}") for i in range(n)),
                                         return_exceptions=True))

    assert all(isinstance(r, RuntimeError) for r in asyncio.run(attempt(7)))
    assert max(len(b) for b in inner.batches) <= 3
    inner.fail = False
    assert all(r.shape == (384,) for r in asyncio.run(attempt(2)))  # type: ignore[attr-defined]
    encoder.close()

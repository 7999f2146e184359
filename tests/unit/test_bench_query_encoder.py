"""Micro-batching in the query encoder: concurrent misses share encoder calls; the cache stays."""

from __future__ import annotations

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

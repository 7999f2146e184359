"""Query embeddings: an LRU cache in front of the encoder, safe to call from many threads."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from embeddings import Encoder


class QueryEncoder:
    def __init__(self, encoder: Encoder, cache_size: int = 4096) -> None:
        self.encoder = encoder
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def encode(self, text: str) -> np.ndarray:
        key = " ".join(text.split())
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                self.hits += 1
                return cached
        vector = self.encoder.encode([key])[0]
        with self._lock:
            self.misses += 1
            if self.cache_size:
                self._cache[key] = vector
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return vector

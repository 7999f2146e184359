"""Load a store's read model directly from cached vectors, for the query benchmark at 100k; and
measure what the store alone can do with ready-made query vectors.

Embedding 100,000 paragraphs takes about an hour on 2 cores, so the query benchmark embeds its
corpus once with the same model the query API uses, keeps the vectors in
``~/.cache/semsearch/bench/vectors/`` (keyed by model and texts), and writes them into the store
through the store's own ``upsert`` — the read model the worker would have built, without the
write model and the queue. The report says so.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from benchmarks.harness.stack import Target
from embeddings import Encoder
from embeddings.passages import PassageSettings, document_hash
from query_side import readmodel
from query_side.db import make_read_engine
from query_side.settings import StoreSettings
from query_side.stores.base import Filters, Passage, ReadDocument
from query_side.stores.factory import open_store

VECTOR_CACHE = Path.home() / ".cache" / "semsearch" / "bench" / "vectors"
CHUNK = 512


def cached_vectors(encoder: Encoder, texts: list[str], cache_dir: Path | None = None) -> np.ndarray:
    """One unit vector per text: from the cache file, or embedded now (with a progress bar)."""
    cache_dir = cache_dir or VECTOR_CACHE
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:20]
    path = cache_dir / encoder.model_id / f"{len(texts)}-{digest}.npy"
    if path.exists():
        return np.load(path)
    out = np.zeros((len(texts), encoder.dimensions), dtype=np.float32)
    with tqdm(total=len(texts), desc="embedding corpus (cached after)", unit="doc") as bar:
        for start in range(0, len(texts), CHUNK):
            out[start:start + CHUNK] = encoder.encode(texts[start:start + CHUNK])
            bar.update(min(CHUNK, len(texts) - start))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path.with_suffix(".partial.npy"), out)
    path.with_suffix(".partial.npy").replace(path)
    return out


def _record(doc: dict[str, Any], text: str, vector: np.ndarray, model_id: str) -> ReadDocument:
    return ReadDocument(
        id=uuid.UUID(doc["id"]), version=1, title=doc["title"], body=doc["body"],
        category=doc.get("category"), tags=tuple(doc.get("tags", ())),
        attributes=dict(doc.get("attributes", {})), published_at=datetime(2024, 1, 1, tzinfo=UTC),
        # one passage over the whole body (paragraphs): vectors come from the cache file
        content_hash=document_hash(doc["title"], doc["body"], model_id, PassageSettings()),
        passages=(Passage(0, len(doc["body"]), vector),),
    )


def load(target: Target, docs: list[dict[str, Any]], texts: list[str], vectors: np.ndarray,
         model_id: str) -> float:
    """Upsert the documents into ``target.store``'s read model; returns the seconds it took."""
    if target.read_database_url is None:
        raise RuntimeError("bulk loading needs the stack's read database (a local stack)")
    settings = StoreSettings(read_database_url=target.read_database_url,
                             weaviate_url=target.weaviate_url,
                             weaviate_grpc_port=target.weaviate_grpc_ports or [50051],
                             weaviate_replication_factor=target.weaviate_replication_factor)
    engine = make_read_engine(settings.read_database_url, pool_size=2)
    store = open_store(target.store, settings, engine)
    started = datetime.now(UTC)
    try:
        store.ensure_schema()
        with tqdm(total=len(docs), desc=f"bulk load {target.store}", unit="doc") as bar:
            for start in range(0, len(docs), CHUNK):
                end = start + CHUNK
                store.upsert([_record(d, t, v, model_id) for d, t, v in
                              zip(docs[start:end], texts[start:end], vectors[start:end], strict=True)])
                bar.update(len(docs[start:end]))
        with engine.begin() as conn:  # a query API's cached results for this store are stale now
            readmodel.announce(conn, target.store)
    finally:
        store.close()
        engine.dispose()
    return (datetime.now(UTC) - started).total_seconds()


def store_rate(target: Target, vectors: np.ndarray, threads: int = 16) -> dict[str, Any]:
    """The store alone: semantic searches/s (top 10, no filter) with ready-made query vectors,
    ``threads`` at a time, no HTTP and no encoder: what the store costs per distinct query."""
    if target.read_database_url is None:
        raise RuntimeError("measuring the store alone needs the stack's read database")
    settings = StoreSettings(read_database_url=target.read_database_url,
                             weaviate_url=target.weaviate_url,
                             weaviate_grpc_port=target.weaviate_grpc_ports or [50051],
                             weaviate_replication_factor=target.weaviate_replication_factor)
    engine = make_read_engine(settings.read_database_url, pool_size=threads, autocommit=True)
    store = open_store(target.store, settings, engine)
    try:
        def search(vector: np.ndarray) -> int:
            return len(store.search(vector, Filters(), 10))

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(search, vectors[:threads * 4]))  # connections and caches warm
            started = time.perf_counter()
            found = list(pool.map(search, vectors))
            seconds = time.perf_counter() - started
    finally:
        store.close()
        engine.dispose()
    return {"searches_per_s": round(len(vectors) / seconds, 1), "threads": threads,
            "searches": len(vectors), "empty": sum(1 for n in found if n == 0)}

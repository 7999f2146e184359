"""Do the two stores agree? Top-k overlap between Weaviate and pgvector on real paragraphs.

Embeds ``docs`` Wikipedia paragraphs once, loads the same vectors into both stores, and for
``queries`` real queries (the opening sentence of other paragraphs) compares each store's top-k
with the other's and with the exact top-k computed by brute force.
"""

from __future__ import annotations

import json
import random
import tempfile
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from embeddings import SentenceTransformerEncoder, content_hash, embedded_text
from operations import corpus
from operations.stack.postgres import EmbeddedPostgres
from query_side.db import make_read_engine
from query_side.stores.base import Filters, Passage, ReadDocument, VectorStore
from query_side.stores.pgvector import PgvectorStore


@dataclass
class Agreement:
    documents: int
    queries: int
    k: int
    overlap: float
    """Mean |top-k(Weaviate) ∩ top-k(pgvector)| / k."""
    overlap_filtered: float
    recall_pgvector: float
    """Mean |top-k(store) ∩ exact top-k| / k."""
    recall_weaviate: float
    worst_overlap: float


def _embed(encoder: SentenceTransformerEncoder, texts: list[str], progress: bool) -> np.ndarray:
    batches = [texts[i:i + 64] for i in range(0, len(texts), 64)]
    return np.vstack([encoder.encode(b) for b in tqdm(batches, desc="embedding", disable=not progress)])


def _top(store: VectorStore, vector: np.ndarray, k: int, filters: Filters) -> list[uuid.UUID]:
    return [h.id for h in store.search(vector, filters, limit=k)]


def measure(stores: dict[str, VectorStore], docs: int, queries: int, k: int = 10,
            progress: bool = True, seed: int = 1) -> Agreement:
    paragraphs = corpus.paragraphs(docs + queries)
    rng = random.Random(seed)
    rng.shuffle(paragraphs)
    indexed, asked = paragraphs[:docs], paragraphs[docs:docs + queries]
    encoder = SentenceTransformerEncoder()
    texts = [embedded_text(p.document()["title"], p.text) for p in indexed]
    vectors = _embed(encoder, texts, progress)
    records = [ReadDocument(id=p.id, version=1, title=p.document()["title"], body=p.text,
                            category=p.article, tags=(), attributes={}, published_at=None,
                            content_hash=content_hash(t, encoder.model_id),
                            passages=(Passage(0, len(p.text), v),))
               for p, t, v in zip(indexed, texts, vectors, strict=True)]
    for store in stores.values():
        for start in range(0, len(records), 500):
            store.upsert(records[start:start + 500])
    query_vectors = encoder.encode([p.text.split(". ")[0] for p in asked])
    ids = [r.id for r in records]
    overlaps, filtered, recall = [], [], {name: [] for name in stores}  # type: ignore[var-annotated]
    for q, p in zip(query_vectors, asked, strict=True):
        exact = {ids[i] for i in np.argsort(-(vectors @ q))[:k]}
        tops = {name: _top(s, q, k, Filters()) for name, s in stores.items()}
        for name, top in tops.items():
            recall[name].append(len(exact & set(top)) / k)
        overlaps.append(len(set(tops["weaviate"]) & set(tops["pgvector"])) / k)
        only = Filters(category=[p.article])
        a, b = (set(_top(s, q, k, only)) for s in (stores["weaviate"], stores["pgvector"]))
        filtered.append(len(a & b) / max(1, max(len(a), len(b))))
    return Agreement(docs, queries, k, float(np.mean(overlaps)), float(np.mean(filtered)),
                     float(np.mean(recall["pgvector"])), float(np.mean(recall["weaviate"])),
                     float(np.min(overlaps)))


def main(docs: int, queries: int, out: Path | None) -> int:
    from operations.stack.weaviate import EmbeddedWeaviate, ensure_binary
    from query_side.stores.weaviate import WeaviateStore, connect

    home = Path(tempfile.mkdtemp(prefix="semsearch-agreement-"))
    binary = ensure_binary(build=True)
    if binary is None:
        print("no weaviate-server (needs Go to build it): nothing to compare")
        return 1
    postgres = EmbeddedPostgres(home / "postgres", durable=False).start()
    weaviate = EmbeddedWeaviate(home / "weaviate", binary=binary).start()
    engine = make_read_engine(postgres.create_database("agreement"))
    stores: dict[str, VectorStore] = {
        "pgvector": PgvectorStore(engine, "agreement"),
        "weaviate": WeaviateStore(connect(weaviate.http_port, weaviate.grpc_port), "Agreement")}
    try:
        for store in stores.values():
            store.ensure_schema()
        result = measure(stores, docs, queries)
    finally:
        for store in stores.values():
            store.close()
        engine.dispose()
        weaviate.stop()
        postgres.stop()
    print(json.dumps(asdict(result), indent=2))
    if out is not None:
        out.write_text(json.dumps(asdict(result), indent=2))
    return 0 if result.overlap >= 0.9 else 1

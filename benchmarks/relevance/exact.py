"""Exact search over the passages a store holds, to measure its ANN recall against.

Every passage vector comes from the read database's embedding cache, keyed by the hash the worker
computed (:func:`sync_worker.projection.prepare` with the stack's passage settings), so nothing is
embedded again. A document's exact score is its best passage's cosine with the query vector,
which the bench process embeds with the stack's encoder backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.harness.stack import Target
from benchmarks.relevance import evaluate as relevance
from embeddings import Encoder
from embeddings.passages import PassageSettings
from operations.quality import metrics
from query_side import readmodel
from query_side.db import make_read_engine
from sync_worker.projection import Prepared, prepare

FETCH = 2000
"""Hashes looked up per query of the embedding cache."""


@dataclass(frozen=True)
class Row:
    """What :func:`prepare` reads of a document row."""

    title: str
    body: str


def plans(docs: Sequence[dict[str, Any]], model_id: str, settings: PassageSettings) -> list[Prepared]:
    """Each document cut into passages exactly as the worker cuts it."""
    return [prepare(Row(d["title"].strip(), d["body"]), model_id, settings) for d in docs]


def unique_texts(prepared: Sequence[Prepared]) -> list[str]:
    """The distinct passage texts (what the worker embeds: one vector per content hash)."""
    return list({h: t for p in prepared for h, t in zip(p.hashes, p.texts, strict=True)}.values())


def cached_vectors(read_database_url: str, model_id: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
    wanted = list(dict.fromkeys(hashes))
    found: dict[str, np.ndarray] = {}
    engine = make_read_engine(read_database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            for start in range(0, len(wanted), FETCH):
                found |= readmodel.cached_embeddings(conn, model_id, wanted[start:start + FETCH])
    finally:
        engine.dispose()
    if missing := len(wanted) - len(found):
        raise RuntimeError(f"{missing} of {len(wanted)} passage vectors are not in the embedding "
                           "cache: the worker cut or hashed passages differently from this bench")
    return found


def exact_scores(queries: np.ndarray, prepared: Sequence[Prepared],
                 vectors: dict[str, np.ndarray]) -> np.ndarray:
    """(queries × documents): each document's best passage cosine."""
    matrix = np.stack([vectors[h] for p in prepared for h in p.hashes]).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True).clip(1e-12)
    q = queries.astype(np.float32)
    q = q / np.linalg.norm(q, axis=1, keepdims=True).clip(1e-12)
    starts = np.cumsum([0] + [len(p.hashes) for p in prepared[:-1]])
    return np.maximum.reduceat(q @ matrix.T, starts, axis=1)


def run(target: Target, docs: Sequence[dict[str, Any]], queries: Sequence[str], encoder: Encoder,
        settings: PassageSettings, clients: int = 4) -> dict[str, Any]:
    """The store's semantic top 10 (no filter: everything it holds) against the exact top 10."""
    assert target.read_database_url is not None, "exact search needs the stack's read database"
    prepared = plans(docs, encoder.model_id, settings)
    vectors = cached_vectors(target.read_database_url, encoder.model_id,
                             [h for p in prepared for h in p.hashes])
    exact = exact_scores(encoder.encode(list(queries)), prepared, vectors)
    found = relevance.ranked_lists(target, queries, "semantic", None, clients,
                                   f"{target.store} ANN vs exact".ljust(28))
    index = {str(d["id"]): n for n, d in enumerate(docs)}
    recalls, gaps = [], []
    for row, hits in zip(exact, found, strict=True):
        top = np.argsort(-row)[: 4 * metrics.K]  # ties at the cut are looked at in ann_recall
        best = {str(docs[i]["id"]): float(row[i]) for i in top}
        recalls.append(relevance.ann_recall([doc for doc, _ in hits], best))
        # the store's score of a hit is its best passage's cosine: the same as computed here
        gaps += [abs(score - float(row[index[doc]])) for doc, score in hits if doc in index]
    return {"documents": len(docs), "passages": sum(len(p.hashes) for p in prepared),
            "queries": len(queries), "recall_at_10": round(float(np.mean(recalls)), 4),
            "min_recall_at_10": round(float(np.min(recalls)), 4),
            "queries_below_0.9": int(sum(r < 0.9 for r in recalls)),
            "max_score_gap": round(max(gaps, default=0.0), 5)}

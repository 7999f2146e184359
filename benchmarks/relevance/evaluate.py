"""Ranking quality: nDCG@10, Recall@10 and MRR@10 of the query API on a labelled set.

Gains are binary (a document is relevant to a query or not). Recall@k divides by every relevant
document, so a heading with more than k paragraphs cannot reach 1. ANN recall@k compares a
store's top k with the exact top k, counting a found document whose exact score ties the k-th.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
from tqdm import tqdm

from benchmarks.harness.stack import Target
from operations.quality.labelled import LabelledSet
from operations.quality.metrics import K, scores

MODES = ("semantic", "keyword", "hybrid")


def mean_scores(per_query: Sequence[Mapping[str, float]]) -> dict[str, float | int]:
    """Each measure's mean over the queries, rounded to 4 places."""
    if not per_query:
        return {"ndcg": 0.0, "recall": 0.0, "mrr": 0.0, "queries": 0}
    out: dict[str, float | int] = {name: round(float(np.mean([q[name] for q in per_query])), 4)
                                   for name in ("ndcg", "recall", "mrr")}
    out["queries"] = len(per_query)
    return out


def ann_recall(found: Sequence[str], exact: Mapping[str, float], k: int = K,
               tolerance: float = 1e-5) -> float:
    """Share of the exact top ``k`` a store found: a found document counts when its exact score is
    at least the exact ``k``-th best (less ``tolerance``), so ties at the cut do not count as misses."""
    if not exact:
        return 1.0
    best = sorted(exact.values(), reverse=True)
    kth = best[min(k, len(best)) - 1]
    hits = sum(1 for doc in dict.fromkeys(found[:k]) if exact.get(doc, -math.inf) >= kth - tolerance)
    return hits / min(k, len(best))


Ranked = list[tuple[str, float]]
"""A search's hits: (document id, score), best first."""


BUSY_RETRIES = 5
"""A search answered 503 (the store over the query API's time bound on a loaded machine) is sent
again this many times, after its Retry-After; the retries are counted in the figures."""


def search(client: httpx.Client, query: str, mode: str, filters: Mapping[str, Any] | None,
           limit: int = K, retried: list[int] | None = None) -> Ranked:
    body: dict[str, Any] = {"query": query, "mode": mode, "limit": limit}
    if filters:
        body["filters"] = dict(filters)
    for _ in range(BUSY_RETRIES):
        reply = client.post("/v1/search", json=body)
        if reply.status_code != 503:
            break
        if retried is not None:
            retried.append(1)
        time.sleep(min(5.0, float(reply.headers.get("Retry-After") or 1)))
    reply.raise_for_status()
    return [(str(hit["id"]), float(hit["score"])) for hit in reply.json()["hits"]]


def ranked_lists(target: Target, queries: Sequence[str], mode: str,
                 filters: Mapping[str, Any] | None, clients: int, label: str,
                 retried: list[int] | None = None) -> list[Ranked]:
    """Every query's top ``K`` hits, in query order, from ``clients`` concurrent HTTP clients."""
    with httpx.Client(base_url=target.query_url, timeout=120) as client, \
            ThreadPoolExecutor(max(1, clients)) as pool, \
            tqdm(total=len(queries), desc=label, unit="query") as bar:
        def one(query: str) -> Ranked:
            found = search(client, query, mode, filters, retried=retried)
            bar.update(1)
            return found

        return list(pool.map(one, queries))


def evaluate(target: Target, labelled: LabelledSet, modes: Sequence[str] = MODES,
             clients: int = 4) -> dict[str, dict[str, float | int]]:
    """Mode → mean nDCG@10, Recall@10, MRR@10 of the set's queries, searched within the set."""
    texts = [q.text for q in labelled.queries]
    out = {}
    for mode in modes:
        retried: list[int] = []
        found = ranked_lists(target, texts, mode, labelled.filters, clients,
                             f"{target.store} {labelled.name} {mode}".ljust(28), retried)
        out[mode] = mean_scores([scores([doc for doc, _ in ranked], q.relevant)
                                 for ranked, q in zip(found, labelled.queries, strict=True)])
        out[mode]["retried_503"] = len(retried)
    return out

"""Ranking quality measures at a cut-off: nDCG, recall and reciprocal rank (the relevance gate
of ``semsearch index promote`` and ``semsearch bench relevance`` use the same ones)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

K = 10


def dcg(ranked: Sequence[str], relevant: Iterable[str], k: int = K) -> float:
    wanted = set(relevant)
    return sum(1 / math.log2(rank + 2) for rank, doc in enumerate(ranked[:k]) if doc in wanted)


def ndcg(ranked: Sequence[str], relevant: Iterable[str], k: int = K) -> float:
    wanted = set(relevant)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(k, len(wanted))))
    return dcg(ranked, wanted, k) / ideal if ideal else 0.0


def recall(ranked: Sequence[str], relevant: Iterable[str], k: int = K) -> float:
    wanted = set(relevant)
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def reciprocal_rank(ranked: Sequence[str], relevant: Iterable[str], k: int = K) -> float:
    wanted = set(relevant)
    return next((1 / (rank + 1) for rank, doc in enumerate(ranked[:k]) if doc in wanted), 0.0)


def scores(ranked: Sequence[str], relevant: Iterable[str], k: int = K) -> dict[str, float]:
    wanted = set(relevant)
    return {"ndcg": ndcg(ranked, wanted, k), "recall": recall(ranked, wanted, k),
            "mrr": reciprocal_rank(ranked, wanted, k)}

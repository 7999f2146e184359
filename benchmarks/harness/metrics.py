"""Prometheus scrapes: a histogram's change over a benchmark phase, as quantiles or a mean."""

from __future__ import annotations

import math
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

FRESHNESS = "semsearch_commit_to_searchable_seconds"
BATCH_SIZE = "semsearch_query_embedding_batch_size"
RESULT_CACHE = "semsearch_result_cache_total"


def scrape(url: str | None) -> Samples:
    """Every sample at ``url`` keyed by (name, sorted labels); empty when unreachable."""
    if not url:
        return {}
    try:
        text = httpx.get(url, timeout=5).text
    except httpx.HTTPError:
        return {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _delta(before: Samples, after: Samples, name: str, match: dict[str, str]) -> dict[str, float]:
    """Bucket counts (by ``le``) of histogram ``name`` gained between two scrapes."""
    out: dict[str, float] = {}
    for (sample, labels), value in after.items():
        found = dict(labels)
        if sample != f"{name}_bucket" or any(found.get(k) != v for k, v in match.items()):
            continue
        out[found["le"]] = value - before.get((sample, labels), 0.0)
    return out


def _quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Prometheus' histogram_quantile: linear inside the bucket that holds the rank."""
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = bound, count
    return lower


def histogram_quantiles(before: Samples, after: Samples, store: str) -> dict[str, Any]:
    """The worker's commit-to-searchable histogram for ``store`` over the phase (bucketed)."""
    delta = _delta(before, after, FRESHNESS, {"store": store})
    if not delta:
        return {}
    buckets = sorted((float(le), count) for le, count in delta.items())
    out: dict[str, Any] = {"count": int(buckets[-1][1])}
    for q in (50, 95, 99):
        value = _quantile(buckets, q / 100)
        out[f"p{q}_ms"] = None if value is None else round(value * 1e3, 1)
    return out


def mean_of(before: Samples, after: Samples, name: str) -> float | None:
    """Mean observation of histogram ``name`` between two scrapes."""
    count = after.get((f"{name}_count", ()), 0.0) - before.get((f"{name}_count", ()), 0.0)
    total = after.get((f"{name}_sum", ()), 0.0) - before.get((f"{name}_sum", ()), 0.0)
    return round(total / count, 2) if count else None


def hit_share(before: Samples, after: Samples, name: str = RESULT_CACHE) -> float | None:
    """Share of lookups of counter ``name`` (labels ``outcome`` hit/miss) that hit, between scrapes."""
    gained = {"hit": 0.0, "miss": 0.0}
    for (sample, labels), value in after.items():
        outcome = dict(labels).get("outcome")
        if sample == name and outcome in gained:
            gained[outcome] += value - before.get((sample, labels), 0.0)
    total = gained["hit"] + gained["miss"]
    return round(gained["hit"] / total, 3) if total else None

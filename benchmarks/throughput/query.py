"""``query``: closed-loop HTTP load on the query API at several concurrency levels.

Four workloads: *distinct* semantic queries (each text new to the query cache, so each costs an
embedding and a vector search), *repeated* queries (32 texts), *filter-only* queries (67 filters,
no text, no encoder), and *filtered semantic* queries (new text plus a category filter). With no
writes going on, repeated and filter-only searches are answered from the query API's result
cache (emptied by every change to the store); the share of cache hits is reported per phase. Distinct
queries are then sent open-loop at half the best rate reached, for the latency at that load.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from functools import partial
from typing import Any

from benchmarks.harness import metrics, texts
from benchmarks.harness.memory import CpuSnapshot, cores_between
from benchmarks.harness.stack import Target
from benchmarks.throughput.load import LoadResult, Request, run_load

KINDS = ("distinct", "repeated", "filter_only", "filtered_semantic")
REPEATED = 32
"""Distinct texts in the repeated workload: all of them stay in the query cache."""
MAX_QPS = 1500
"""Upper bound on any rate reached, to size the supply of never-seen queries."""
LIMIT = 10


class QueryPool:
    """Never-seen query texts, handed out once each so the query cache never helps by accident."""

    def __init__(self, size: int, seed: int = 7) -> None:
        self.seed = seed
        self.queries = texts.queries(size, seed)
        self.used = 0

    def take(self, count: int) -> list[str]:
        needed = self.used + count
        if needed > len(self.queries):  # texts.queries(n) is a prefix of texts.queries(m > n)
            self.queries = texts.queries(max(needed, 2 * len(self.queries)), self.seed)
        out = self.queries[self.used:self.used + count]
        self.used += count
        return out


def _search(body: dict[str, Any]) -> Request:
    return ("POST", "/v1/search", json.dumps({**body, "limit": LIMIT}))


def requests_for(kind: str, pool: QueryPool, categories: list[str], count: int) -> list[Request]:
    rng = random.Random(count)
    match kind:
        case "distinct":
            return [_search({"query": q}) for q in pool.take(count)]
        case "repeated":
            return [_search({"query": q}) for q in texts.queries(REPEATED, seed=1)]
        case "filter_only":
            filters: list[dict[str, Any]] = [{"category": [c]} for c in categories]
            filters += [{"category": [c], "tags_any": ["lead"]} for c in categories]
            filters += [{"attributes": {"paragraph": {"lt": n}}} for n in range(1, 20)]
            return [_search({"filters": f}) for f in filters]
        case "filtered_semantic":
            return [_search({"query": q, "filters": {"category": rng.sample(categories, 3)}})
                    for q in pool.take(count)]
    raise ValueError(f"unknown query workload {kind!r}")


def _measured(target: Target, phase: Callable[[], LoadResult],
              cpu: Callable[[], CpuSnapshot] | None) -> tuple[LoadResult, dict[str, Any]]:
    """Run a phase, reading the query API's mean micro-batch size and result-cache hits over it
    and, given ``cpu``, the CPU milliseconds each process spent per successful request (the
    phase's cores over its QPS; the warm-up at the same load is in both)."""
    url = f"{target.query_url}/metrics"
    before, cpu0 = metrics.scrape(url), cpu() if cpu else None
    result = phase()
    after, cpu1 = metrics.scrape(url), cpu() if cpu else None
    seen: dict[str, Any] = {"mean_embedding_batch": metrics.mean_of(before, after, metrics.BATCH_SIZE),
                            "result_cache_hits": metrics.hit_share(before, after)}
    qps = result.summary()["qps"]
    if cpu0 and cpu1 and qps and (used := cores_between(cpu0, cpu1)):
        per_query = {name: round(cores * 1e3 / qps, 3) for name, cores in used["cores"].items()
                     if cores > 0.005}
        seen["cpu_ms_per_query"] = per_query | {
            "load generator": round(result.cpu_s / result.wall_s * 1e3 / qps, 3),
            "machine": round(used["machine_busy"] * 1e3 / qps, 3)}
    return result, seen


def run(target: Target, pool: QueryPool, categories: list[str], levels: list[int], duration: float,
        warmup: float, label: str, collect: Callable[[str, LoadResult], None],
        cpu: Callable[[], CpuSnapshot] | None = None) -> dict[str, Any]:
    """Every workload at every level, then distinct queries open-loop at half the best rate;
    ``cpu``: snapshots of the stack's CPU use, to report each process's CPU per query."""
    out: dict[str, Any] = {"levels": levels, "kinds": {}}
    supply = int((duration + warmup) * MAX_QPS)
    for kind in KINDS:
        rows = []
        for level in levels:
            requests = requests_for(kind, pool, categories, supply)
            name = f"{label} {kind} c={level}"
            phase = partial(run_load, name, target.query_url, requests, duration, concurrency=level,
                            warmup=warmup)
            result, seen = _measured(target, phase, cpu)
            collect(name, result)
            rows.append({"concurrency": level, **result.summary(), **seen,
                         "per_second": result.per_second()})
        out["kinds"][kind] = rows
    best = max(row["qps"] for row in out["kinds"]["distinct"])
    rate = max(1.0, best / 2)
    requests = requests_for("distinct", pool, categories, int((duration + warmup) * rate) + 10)
    name = f"{label} distinct at half load"
    half, seen = _measured(target, partial(run_load, name, target.query_url, requests, duration,
                                           rate=rate, warmup=warmup), cpu)
    collect(name, half)
    out["half_load"] = {"rate_per_s": round(rate, 1), **half.summary(), **seen}
    out["best"] = {kind: max(out["kinds"][kind], key=lambda r: r["qps"]) for kind in KINDS}
    return out

"""Benchmark pieces without I/O: corpus sizes, arguments, stats, checks, the report's shape."""

from __future__ import annotations

import collections
import json
import math
import subprocess
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from benchmarks import cli
from benchmarks.harness import argtypes, metrics, sts, texts
from benchmarks.harness.memory import (
    WEAVIATE_NODE_MB,
    MachineTimes,
    MemorySampler,
    _slope,
    budget_mb,
    children_map,
    cores_between,
    cpu_s,
    machine_s,
    rss_mb,
)
from benchmarks.harness.results import Run, checks
from benchmarks.throughput import report
from benchmarks.throughput.load import LoadResult
from benchmarks.throughput.query import KINDS, QueryPool, requests_for
from embeddings.onnx import mean_pool


def test_corpus_beyond_the_paragraphs_cuts_them_into_distinct_windows() -> None:
    small = texts.build(50)
    assert len(small.documents) == 50 and "50 whole paragraphs" in small.note
    cut = texts.build(40, offset=4_840)
    assert "cut into windows" in cut.note
    assert len({d["id"] for d in cut.documents}) == 40
    assert len(set(cut.texts())) == 40
    assert texts.build(10, offset=20).documents == texts.build(30).documents[20:]


def test_past_every_window_texts_repeat_and_the_note_says_so() -> None:
    tail = texts.build(30, offset=119_990)
    assert "repeated texts" in tail.note
    assert len({d["id"] for d in tail.documents}) == 30


def test_queries_are_distinct_and_a_prefix_of_longer_lists() -> None:
    found = texts.queries(500)
    assert len(set(found)) == 500
    assert texts.queries(40_000)[:500] == found
    pool = QueryPool(10)
    assert len(set(pool.take(8) + pool.take(8))) == 16


@pytest.mark.parametrize("kind", KINDS)
def test_each_query_workload_is_valid_search_json(kind: str) -> None:
    found = requests_for(kind, QueryPool(100), ["Moon", "Sun", "Trade"], 20)
    assert found and all(method == "POST" and path == "/v1/search" for method, path, _ in found)
    bodies = [json.loads(body) for _, _, body in found]
    assert all(b.get("query") or b.get("filters") for b in bodies)


def test_sizes_and_levels_parse() -> None:
    assert argtypes.size("10k") == 10_000 and argtypes.size("0.1m") == 100_000 and argtypes.size("250") == 250
    assert argtypes.sizes("100k,10k") == [10_000, 100_000]
    args = cli.parser().parse_args(["query", "--store", "pgvector", "--concurrency", "1,4"])
    assert args.subcommand == "query" and args.concurrency == [1, 4] and args.documents == 10_000


def test_load_result_summary_and_per_second() -> None:
    result = LoadResult("x", np.array([0.1, 0.5, 1.2, 1.5]), np.array([0.01, 0.02, 0.03, 0.5]),
                        np.array([200, 200, 200, 500]), wall_s=2.0, cpu_s=0.2)
    summary = result.summary()
    assert summary["ok"] == 3 and summary["errors"] == 1 and summary["error_statuses"] == [500]
    assert summary["qps"] == 1.5 and summary["p50_ms"] == 20.0 and summary["loadgen_cpu_share"] == 0.1
    assert result.per_second() == [2, 1]


def test_histogram_quantiles_interpolate_like_prometheus() -> None:
    name = metrics.FRESHNESS + "_bucket"
    after = {(name, (("le", le), ("store", "pgvector"))): c
             for le, c in (("0.1", 50.0), ("1.0", 100.0), ("+Inf", 100.0))}
    found = metrics.histogram_quantiles({}, after, "pgvector")
    assert found["count"] == 100 and found["p50_ms"] == 100.0 and found["p99_ms"] == pytest.approx(982.0)
    assert metrics.histogram_quantiles({}, after, "weaviate") == {}


def test_result_cache_hit_share_counts_only_the_phase() -> None:
    key = lambda store, outcome: (metrics.RESULT_CACHE, (("outcome", outcome), ("store", store)))  # noqa: E731
    before = {key("pgvector", "hit"): 10.0, key("pgvector", "miss"): 10.0}
    after = {key("pgvector", "hit"): 40.0, key("pgvector", "miss"): 20.0, key("weaviate", "hit"): 0.0}
    assert metrics.hit_share(before, after) == 0.75
    assert metrics.hit_share(after, after) is None


def test_memory_growth_is_a_slope() -> None:
    assert _slope([(0, 100), (1, 101), (2, 102)]) == 1.0
    sampler = MemorySampler(lambda: {})
    sampler.samples = {"worker": [(0.0, 500.0), (1.0, 900.0), (2.0, 1100.0)]}
    assert sampler.summary()["worker"]["within_budget"] is False


def test_mean_pooling_ignores_padding_and_returns_unit_vectors() -> None:
    hidden = np.array([[[1.0, 0.0], [3.0, 0.0], [100.0, 100.0]]], dtype=np.float32)
    pooled = mean_pool(hidden, np.array([[1, 1, 0]]))
    assert np.allclose(pooled, [[1.0, 0.0]])


def test_sts_pairs_parse_the_tab_separated_release(tmp_path: Path) -> None:
    path = tmp_path / "sts.csv"
    path.write_text("g\tf\t2012\t1\t4.0\tA cat.\tA kitten.\n"
                    "g\tf\t2012\t2\t0.5\tA cat.\tThe stock fell.\tsrc\tsrc\n")
    pairs = sts.read_pairs(path)
    assert pairs.first == ["A cat.", "A cat."] and list(pairs.gold) == [4.0, 0.5]


def _figures() -> dict:
    row = {"concurrency": 4, "qps": 1200.0, "p50_ms": 3.0, "p99_ms": 9.0, "errors": 0,
           "loadgen_cpu_share": 0.1, "mean_embedding_batch": 2.0}
    query = {"kinds": {k: [row] for k in KINDS}, "best": {k: row for k in KINDS},
             "half_load": {**row, "rate_per_s": 600.0}, "ratio_to_batched_encoder": 0.7,
             "loaded_by": "bulk"}
    return {"ingest": {"documents": 10, "seconds": 1.0, "documents_per_s": 10.0,
                       "encoder_documents_per_s": 11.0, "ratio_to_encoder": 0.91,
                       "write_documents_per_s": 100.0, "curve": [(0, 0), (1, 10)]},
            "freshness": {"rate_per_s": 5.0, "capacity": {}, "documents": 5, "searchable": 5,
                          "method": "poll", "p50_ms": 10.0, "p95_ms": 20.0, "p99_ms": 30.0,
                          "max_ms": 31.0, "worker_histogram": {}, "latencies_ms": [10.0, 30.0]},
            "query": {"100": query},
            "commands": {"paused": {"create": [{**row, "qps": 400.0}]}},
            "memory": {"relay": {"peak_mb": 70.0, "first_mb": 70.0, "last_mb": 70.0, "budget_mb": 150,
                                 "within_budget": True, "growth_mb_per_min_2nd_half": 0.0}}}


def test_checks_and_report_cover_every_figure(tmp_path: Path) -> None:
    run = Run(tmp_path / "out")
    run.data["stores"]["pgvector"] = _figures()
    found = {c["what"]: c["pass"] for c in checks(run.data)}
    assert found["pgvector: ingest / raw encoder"] is True
    assert found["pgvector @ 100 docs: repeated QPS per query-API process (1200.0 over 1)"] is True
    run.data["stores"]["pgvector"]["query"]["100"]["query_api_processes"] = 2  # 600 each: too few
    again = {c["what"]: c for c in checks(run.data)}
    halved = again["pgvector @ 100 docs: repeated QPS per query-API process (1200.0 over 2)"]
    assert halved["value"] == 600.0 and halved["pass"] is False
    assert any("create/s" in what and passed is False for what, passed in found.items())
    path = report.write(run)
    text = path.read_text()
    for heading in ("## Checks", "### Ingest (pgvector)", "### Freshness (pgvector)",
                    "### Query (pgvector, 100 documents", "### Commands (pgvector)", "### Memory"):
        assert heading in text
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["checks"] and (tmp_path / "out" / "ingest-pgvector.png").exists()


def test_every_weaviate_node_is_held_to_a_nodes_budget_but_not_to_a_flat_line() -> None:
    assert budget_mb("weaviate") == budget_mb("weaviate/2") == budget_mb("weaviate-1") == (
        WEAVIATE_NODE_MB)
    assert budget_mb("postgres") is None and budget_mb("query-api/2") == 1024

    def node(peak: float, growth: float) -> dict:
        return {"peak_mb": peak, "first_mb": 100.0, "last_mb": peak, "budget_mb": WEAVIATE_NODE_MB,
                "within_budget": peak <= WEAVIATE_NODE_MB, "growth_mb_per_min_2nd_half": growth}

    memory = {"weaviate/1": node(WEAVIATE_NODE_MB + 1.0, 30.0), "weaviate/2": node(300.0, 30.0),
              "relay": node(70.0, 2.0) | {"budget_mb": 150, "within_budget": True}}
    found = {c["what"]: c["pass"] for c in checks({"stores": {"weaviate": {
        "memory": memory, "endurance": {}}}})}
    assert found["weaviate: weaviate/1 peak RSS (MB)"] is False  # per node, each on its own
    assert found["weaviate: weaviate/2 peak RSS (MB)"] is True
    growth = {what.split(": ")[1].split(" ")[0] for what in found if "growth" in what}
    assert growth == {"relay"}  # a node grows with the data written into it: not a leak


def test_cpu_between_snapshots_leaves_out_restarted_processes_and_stolen_time() -> None:
    before = (10.0, {"worker": (1, 5.0), "relay": (2, 1.0)}, MachineTimes(busy=100.0, stolen=3.0))
    after = (12.0, {"worker": (1, 8.0), "relay": (9, 0.2)}, MachineTimes(busy=104.0, stolen=4.0))
    used = cores_between(before, after)
    assert used is not None
    assert used["cores"] == {"worker": 1.5}  # the relay restarted: its seconds are not comparable
    assert used["machine_busy"] == 2.0 and used["outside_stack"] == 0.5
    assert used["stolen"] == 0.5  # not part of busy
    assert cores_between(after, after) is None


def test_machine_busy_time_leaves_out_idle_iowait_steal_and_guest(
        monkeypatch: pytest.MonkeyPatch) -> None:
    Times = collections.namedtuple("Times", ["user", "nice", "system", "idle", "iowait", "irq",
                                             "softirq", "steal", "guest", "guest_nice"])
    # guest time is inside user and nice already on Linux
    monkeypatch.setattr(psutil, "cpu_times", lambda: Times(50, 5, 20, 900, 7, 1, 2, 30, 4, 1))
    assert machine_s() == MachineTimes(busy=50 + 5 + 20 + 1 + 2, stolen=30)


def test_a_service_is_counted_with_its_children_and_grandchildren() -> None:
    parent = subprocess.Popen(["bash", "-c", "bash -c 'sleep 30; true' & sleep 30; true"])
    try:
        deadline = time.monotonic() + 20
        while len(below := psutil.Process(parent.pid).children(recursive=True)) < 3:
            assert time.monotonic() < deadline, below
            time.sleep(0.05)
        assert any(p.ppid() != parent.pid for p in below)  # a grandchild is there
        expected = rss_mb(parent.pid) + sum(rss_mb(p.pid) for p in below)
        assert rss_mb(parent.pid, children_map()) == pytest.approx(expected, rel=0.05)
        assert math.isnan(rss_mb(2**30))  # beyond Linux's largest pid: not there
    finally:
        for process in psutil.Process(parent.pid).children(recursive=True):
            process.kill()
        parent.kill()
        parent.wait()


def test_the_cpu_of_a_child_that_ended_stays_with_its_parent() -> None:
    busy = "import time\nt = time.process_time() + 0.3\nwhile time.process_time() < t: pass"
    parent = subprocess.Popen(["bash", "-c", f"python3 -c '{busy}'; sleep 30; true"])
    try:
        deadline = time.monotonic() + 30
        while not any(p.name() == "sleep" for p in psutil.Process(parent.pid).children()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert cpu_s(parent.pid, children_map()) >= 0.3  # the busy child is gone by now
    finally:
        for process in psutil.Process(parent.pid).children(recursive=True):
            process.kill()
        parent.kill()
        parent.wait()


def test_interleaved_ceiling_pauses_the_worker_around_each_sample_and_counts_only_pauses_within() -> None:
    from benchmarks.harness.ceilings import Interleaved

    events: list[str] = []

    class Stack:
        def pause_worker(self) -> None:
            events.append("pause")

        def resume_worker(self) -> None:
            events.append("resume")

    class Encoder:
        def encode(self, texts: list[str]) -> list[str]:
            assert events[-1] == "pause", "the encoder is timed only while the worker stands still"
            events.append(f"encode {len(texts)}")
            time.sleep(0.02)
            return texts

    sample = [f"text {i}" for i in range(10)]
    started = time.monotonic()
    with Interleaved(Stack(), Encoder(), sample, every=0.05, chunk=4) as during:  # type: ignore[arg-type]
        time.sleep(0.4)
    ended = time.monotonic()
    assert len(during.timed) >= 3 and events.count("pause") == events.count("resume") == len(during.timed)
    assert all(n == 4 for n, _ in during.timed)
    assert during.rate is not None and 4 / 0.02 * 0.5 < during.rate <= 4 / 0.02 * 1.01
    whole = during.paused_within(started, ended)
    assert whole == pytest.approx(sum(b - a for a, b in during.pauses))
    began, resumed = during.pauses[0]
    half = (began + resumed) / 2
    assert during.paused_within(began, half) == pytest.approx(half - began)
    assert during.paused_within(ended + 1, ended + 2) == 0.0

"""``semsearch bench ingest --weaviate-nodes 3``: the Weaviate store's stack as a replicated
cluster of three real nodes, each node's memory sampled on its own and held to a node's budget,
and each worker to a worker's. Speed is not asserted here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import cli
from benchmarks.harness.memory import BUDGETS_MB, WEAVIATE_NODE_MB
from tests.integration.test_bench_cli import TINY


@pytest.fixture
def weaviate_binary() -> Path:
    from operations.stack.weaviate import ensure_binary
    from tests.services import weaviate_required

    binary = ensure_binary(build=weaviate_required())
    if binary is None:
        pytest.skip("no weaviate-server binary (run scripts/setup; needs Go)")  # never under CI
    return binary


@pytest.mark.slow
def test_bench_ingest_on_a_three_node_cluster_checks_each_node_and_worker(
        tmp_path: Path, weaviate_binary: Path) -> None:
    out = tmp_path / "cluster"
    argv = ["ingest", *TINY, "--store", "weaviate", "--weaviate-nodes", "3", "--workers", "2",
            "--out", str(out)]
    assert cli.main(argv) == 0
    data = json.loads((out / "results.json").read_text())
    figures = data["stores"]["weaviate"]
    assert figures["weaviate_nodes"] == 3 and figures["ingest"]["documents"] == 60
    memory = figures["memory"]
    nodes = [f"weaviate/{i}" for i in range(3)]
    assert set(nodes) <= set(memory) and "weaviate" not in memory  # one entry per node
    checks = {c["what"]: c for c in data["checks"]}
    for name in nodes:
        assert memory[name]["budget_mb"] == WEAVIATE_NODE_MB
        assert memory[name]["within_budget"] is True
        assert checks[f"weaviate: {name} peak RSS (MB)"]["pass"] is True
    for name in ("worker", "worker/2"):
        assert memory[name]["budget_mb"] == BUDGETS_MB["worker"]
        assert memory[name]["within_budget"] is True
        assert checks[f"weaviate: {name} peak RSS (MB)"]["pass"] is True
    ingest = {p["phase"]: p for p in figures["cpu"]}["ingest, 2 workers"]["cores"]
    assert all(ingest[name] > 0 for name in nodes)  # every replica took the writes
    assert any("cluster of 3 nodes" in note for note in data["notes"])
    assert (out / "rss-weaviate.png").stat().st_size > 1000

"""``semsearch bench`` end to end on a tiny corpus: a real stack (hashing encoder), every
subcommand's code path, and the output folder's shape. Speed is not asserted here."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from benchmarks import cli
from benchmarks.harness.stack import BenchStack, external
from benchmarks.throughput import bulkload, commands
from embeddings.onnx import default_parallel

TINY = ["--store", "pgvector", "--documents", "60", "--encoder", "hashing", "--duration", "0.5",
        "--warmup", "0.2", "--concurrency", "2", "--command-concurrency", "2",
        "--freshness-seconds", "1", "--ceilings", "hashing", "--no-sts",
        "--ceiling-documents", "20", "--ceiling-queries", "40", "--sample-interval", "0.2",
        "--overload-multiples", "1,3", "--burst", "40"]


def test_bench_all_writes_json_markdown_and_plots(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(commands, "UPDATE_TARGETS", 20)
    monkeypatch.setattr(bulkload, "VECTOR_CACHE", tmp_path / "vectors")
    out = tmp_path / "run"
    assert cli.main(["all", *TINY, "--query-sizes", "60,90", "--out", str(out)]) == 0
    data = json.loads((out / "results.json").read_text())
    figures = data["stores"]["pgvector"]
    assert figures["ingest"]["documents"] == 60 and figures["ingest"]["ratio_to_encoder"] > 0
    for measured in (figures["ingest"], figures["query"]["60"]):  # the encoder before and after
        bracket = measured["encoder_bracket"]
        assert bracket["before"] > 0 and bracket["after"] > 0
        assert bracket["mean"] == round((bracket["before"] + bracket["after"]) / 2, 2)
    assert figures["freshness"]["searchable"] == figures["freshness"]["documents"] >= 1
    assert set(figures["query"]) == {"60", "90"}
    assert "bulk load" in figures["query"]["90"]["loaded_by"]
    assert list((tmp_path / "vectors").rglob("*.npy"))
    assert set(figures["query"]["60"]["kinds"]) == {"distinct", "repeated", "filter_only",
                                                    "filtered_semantic"}
    assert figures["query"]["60"]["best"]["filter_only"]["errors"] == 0
    workers = default_parallel()
    assert figures["query"]["60"]["query_api_processes"] == workers
    spent = figures["query"]["60"]["best"]["distinct"]["cpu_ms_per_query"]
    assert spent["machine"] > 0 and spent["load generator"] > 0
    assert sum(v for k, v in spent.items() if k.startswith("query-api")) > 0
    per_process = "pgvector @ 60 docs: repeated QPS per query-API process ("
    assert any(c["what"].startswith(per_process) and c["what"].endswith(f"over {workers})")
               for c in data["checks"])
    over = figures["query"]["60"]["overload"]
    assert [r["multiple"] for r in over["closed"]] == [r["multiple"] for r in over["open"]] == [1, 3]
    assert over["closed"][0]["clients"] == over["best_concurrency"] == 2
    assert over["burst"]["requests"] == 40 and over["burst"]["served"] > 0
    assert over["burst"]["connect_timeouts"] == over["burst"]["response_timeouts"] == 0
    assert any(c["what"].startswith("pgvector @ 60 docs: burst of 40 connections")
               for c in data["checks"])
    alone = figures["query"]["90"]["store_alone"]
    assert alone["searches_per_s"] > 0 and alone["empty"] == 0
    assert 0 < alone["bound_with_encoder_per_s"] < alone["searches_per_s"]
    assert 0 < alone["bound_to_batched_encoder"] < 1
    assert set(figures["commands"]) >= {"running", "paused", "naive"}
    assert figures["commands"]["paused"]["create"][0]["ok"] > 0
    assert figures["commands"]["naive"]["create"][0]["ok"] > 0
    assert {"command-api", "relay", "worker", "query-api"} <= set(figures["memory"])
    assert data["ceilings"]["hashing"]["documents_per_s"] > 0 and data["checks"]
    phases = {p["phase"]: p for p in figures["cpu"]}
    assert {"ceiling", "ingest", "freshness", "query 60", "bulk load to 90", "commands"} <= set(phases)
    assert phases["ingest"]["cores"]["worker"] > 0 and phases["ingest"]["machine_busy"] > 0
    assert phases["ingest"]["outside_stack"] >= 0 and phases["ingest"]["stolen"] >= 0
    text = (out / "report.md").read_text()
    assert "## Checks" in text and "bulk-loaded" in text and "The store alone" in text
    assert "CPU by phase" in text and "CPU per distinct query at the best level" in text
    assert "#### Overload" in text and "Burst: 40 connections" in text
    assert "CPU per document during ingest" in text and "just before and just after" in text
    for picture in ("rss-pgvector.png", "ingest-pgvector.png", "freshness-pgvector.png",
                    "latency-pgvector-query-60.png", "latency-pgvector-commands.png",
                    "throughput-pgvector.png", "overload-pgvector-60.png"):
        assert (out / picture).stat().st_size > 1000, picture


def test_a_running_stack_is_measured_through_its_urls(tmp_path: Path) -> None:
    with BenchStack("pgvector", encoder="hashing") as target:
        found = external("pgvector", target.command_url, target.query_url)
        assert httpx.get(f"{found.query_url}/readyz").status_code == 200
        out = tmp_path / "ext"
        argv = ["ingest", *TINY, "--command-url", target.command_url, "--query-url",
                target.query_url, "--out", str(out)]
        assert cli.main(argv) == 0
    data = json.loads((out / "results.json").read_text())
    assert data["stores"]["pgvector"]["ingest"]["documents"] == 60
    assert "memory" not in data["stores"]["pgvector"]


def test_bench_endurance_writes_and_searches_side_by_side_and_checks_memory(tmp_path: Path) -> None:
    out = tmp_path / "endurance"
    assert cli.main(["endurance", *TINY, "--minutes", "0.1", "--out", str(out)]) == 0
    data = json.loads((out / "results.json").read_text())
    run = data["stores"]["pgvector"]["endurance"]
    assert run["documents_written"] > 0 and run["searches_served"] > 0
    assert run["writes"]["errors"] == 0 and run["searches"]["errors"] == 0
    flat = [c for c in data["checks"] if "endurance run" in c["what"]]
    workers = default_parallel()  # the query API's worker processes: one per CPU, each checked
    assert {c["what"].split(": ")[1].split(" ")[0] for c in flat} == {
        "command-api", "relay", "worker", "query-api"} | (
        {f"query-api/{n}" for n in range(1, workers + 1)} if workers > 1 else set())
    with BenchStack("pgvector", encoder="hashing"):  # (nothing left running by the run above)
        pass
    assert "### Endurance (pgvector)" in (out / "report.md").read_text()


def test_bench_peer_measures_semsearch_and_langchain_on_the_same_documents(tmp_path: Path) -> None:
    out = tmp_path / "peer"  # installs the optional peer group from its lock if it is missing
    argv = ["peer", "--documents", "30", "--encoder", "hashing", "--searches", "12",
            "--rounds", "3", "--out", str(out)]
    assert cli.main(argv) == 0
    data = json.loads((out / "results.json").read_text())
    assert data["ingest"]["semsearch"]["documents"] == data["ingest"]["peer"]["documents"] == 30
    assert data["ingest"]["peer"]["num_added"] == 30 and data["ingest"]["peer"]["num_skipped"] == 0
    for side in ("semsearch", "peer"):  # three slices of ten, each ingested by both and then timed
        assert len(data["ingest"][side]["rounds"]) == len(data["raw_encoder"][side]["rounds"]) == 3
        assert data["raw_encoder"][side]["documents"] == 15
    assert data["raw_encoder"]["peer"]["texts_embedded"] == 15  # one per document; passages ≥ 1
    assert data["raw_encoder"]["semsearch"]["texts_embedded"] >= 15
    peer = data["incremental"]["peer"]  # every 10th document revised: 0, 10, 20
    assert (peer["num_added"], peer["num_deleted"], peer["num_skipped"]) == (3, 3, 27)
    assert data["incremental"]["semsearch"]["changed"] == 3
    assert data["search"]["semsearch"]["searches"] == data["search"]["peer"]["searches"] == 12
    inside = {side: data["search"][side]["inside_p50_ms"] for side in ("semsearch", "peer")}
    assert 0 < inside["semsearch"] <= data["search"]["semsearch"]["p50_ms"]  # its took_ms
    assert 0 <= inside["peer"] <= data["search"]["peer"]["p50_ms"]  # hashing a query: microseconds
    assert data["ratios"]["semsearch_over_peer"] == round(
        data["ingest"]["semsearch"]["documents_per_s"] / data["ingest"]["peer"]["documents_per_s"], 3)
    assert [c["target"] for c in data["checks"]] == ["≥ 1.5", "≥ 0.93"]
    assert "## Incremental: 3 of 30 documents changed" in (out / "report.md").read_text()
    assert (out / "peer.png").stat().st_size > 1000


def test_bench_ingest_by_worker_count_reports_each_count_and_its_cores(tmp_path: Path) -> None:
    out = tmp_path / "workers"
    assert cli.main(["ingest", *TINY, "--workers", "2,1", "--out", str(out)]) == 0
    data = json.loads((out / "results.json").read_text())
    figures = data["stores"]["pgvector"]
    runs = figures["ingest_workers"]
    assert [r["workers"] for r in runs] == [1, 2]  # ascending, each on the same stack
    assert all(r["documents"] == 60 and r["documents_per_s"] > 0 for r in runs)
    assert figures["ingest"] == runs[0]
    phases = {p["phase"]: p for p in figures["cpu"]}
    assert set(phases["ingest, 1 worker"]["cores"]) >= {"worker", "relay", "command-api"}
    assert "worker/2" not in phases["ingest, 1 worker"]["cores"]
    assert {"worker", "worker/2"} <= set(phases["ingest, 2 workers"]["cores"])
    assert "starting workers (2)" in phases
    assert figures["memory"]["worker/2"]["budget_mb"] == figures["memory"]["worker"]["budget_mb"]
    text = (out / "report.md").read_text()
    assert "### Ingest by worker count (pgvector)" in text
    assert "| 1 | 60 |" in text and "| 2 | 60 |" in text
    assert "CPU per document during ingest" in text  # found its phase under its new name

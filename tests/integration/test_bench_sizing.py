"""``semsearch bench sizing`` on a tiny corpus: real PostgreSQL, Redis and weaviate-server started
by the benchmark itself, the hashing encoder, and the figures' internal arithmetic. Speed is not
asserted here."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import cli
from benchmarks.harness import texts
from benchmarks.sizing import report as sizing_report
from embeddings.passages import PassageSettings, passages

DOCUMENTS = 60
ROWS, SINGLE = 300, 40


def earlier_report(folder: Path) -> None:
    """One report after passages (onnx) and one before (torch, the default encoder)."""
    for name, command, rate in (("2026-12-04-ingest", "semsearch bench ingest --encoder onnx", 20.0),
                                ("2026-11-01-ingest", "semsearch bench ingest", 50.0)):
        (folder / name).mkdir(parents=True)
        (folder / name / "results.json").write_text(json.dumps({
            "meta": {"command": command, "machine": {"load_average_at_start": [1.0, 1.0, 1.0]}},
            "stores": {"pgvector": {"ingest": {"documents": 30, "documents_per_s": rate}}}}))


def test_bench_sizing_measures_each_store_the_outbox_and_redis(tmp_path: Path, weaviate) -> None:  # type: ignore[no-untyped-def]
    earlier_report(tmp_path / "reports")
    out = tmp_path / "run"
    argv = ["sizing", "--documents", str(DOCUMENTS), "--encoder", "hashing", "--outbox-rows",
            str(ROWS), "--single-jobs", str(SINGLE), "--reports", str(tmp_path / "reports"),
            "--out", str(out)]
    assert cli.main(argv) == 0
    data = json.loads((out / "results.json").read_text())
    corpus = texts.build(DOCUMENTS).documents
    cut = sum(len(passages(d["title"], d["body"], PassageSettings())) for d in corpus)
    assert data["passages"]["documents"] == DOCUMENTS and data["passages"]["passages"] == cut

    pg = data["stores"]["pgvector"]
    tables = pg["relations"]
    hnsw = [v for k, v in tables["read_documents_passages"].items() if k.endswith("(hnsw)")]
    assert len(hnsw) == 1 and hnsw[0] > 0
    assert pg["hnsw_index_bytes_per_vector"] == round(hnsw[0] / cut, 1)
    total = tables["read_documents"]["total"] + tables["read_documents_passages"]["total"]
    assert pg["bytes_per_document_all"] == round(total / DOCUMENTS, 1)
    assert pg["passages_per_s"] > 0 and pg["vector_column_bytes"] == 4 * 384 + 8

    wv = data["stores"]["weaviate"]
    assert wv["objects"] == DOCUMENTS + cut and wv["disk_bytes"] > 0
    assert wv["rss_after_restart_mb"] > 0 and wv["passages_per_s"] > 0
    assert wv["rss_after_writes_mb"] > wv["rss_empty_mb"] > 0

    cache = data["read_database"]
    assert cache["embedding_cache_bytes_per_passage"] > 4 * 384  # the vector is in each row
    assert cache["write_bytes_per_document"] > 0

    outbox = data["outbox"]
    assert outbox["insert_rows_per_s"] > 0 and outbox["outbox_bytes_per_row"] > 0
    batched, single = outbox["relay_batched"], outbox["relay_one_per_job"]
    assert (batched["rows"], single["rows"]) == (ROWS, SINGLE)  # every row claimed, once
    assert batched["batch_size"] == 256 and single["batch_size"] == 1
    # a job per change carries RQ's per-job bookkeeping each time: dearer than a shared batch
    assert single["redis_bytes_per_change"] > batched["redis_bytes_per_change"] > 0

    rows = {r["report"]: r for r in data["ingest_per_worker"]}
    after, before = rows["2026-12-04-ingest"], rows["2026-11-01-ingest"]
    assert (after["encoder"], before["encoder"]) == ("onnx", "torch")
    assert after["passages_per_s"] == round(20.0 * sizing_report.passages_per_document(30), 1)
    assert "passages_per_s" not in before and before["passages"] is False

    text = (out / "report.md").read_text()
    for heading in ("### pgvector", "### Weaviate (one node)", "## Outbox, relay and Redis",
                    "## Ingest per worker, by encoder"):
        assert heading in text
    assert "load average at start" in text

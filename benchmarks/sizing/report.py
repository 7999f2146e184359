"""``bench sizing``'s report (results.json + report.md), and the ingest figures per worker by
encoder read from earlier benchmark reports."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

PASSAGES_SINCE = "2026-12-03"
"""Reports from this date on cut documents into passages (issue #6); earlier ones embedded one
text per document cut at the model's window, so their documents/s are not today's."""


@cache
def passages_per_document(documents: int) -> float:
    """Passages per document of the benchmark corpus's first ``documents`` documents."""
    from benchmarks.harness import texts
    from embeddings.passages import PassageSettings, passages

    corpus = texts.build(documents).documents
    return round(sum(len(passages(d["title"], d["body"], PassageSettings())) for d in corpus)
                 / len(corpus), 3)


def ingest_rates(folder: Path) -> list[dict[str, Any]]:
    """Every ingest figure (one worker, the whole pipeline until searchable) in ``folder``'s
    reports: date, encoder, store, documents, docs/s and, for reports with passages, passages/s."""
    out = []
    for path in sorted(folder.glob("*/results.json")):
        data = json.loads(path.read_text())
        command = data.get("meta", {}).get("command", "")
        found = re.search(r"--encoder (\w+)", command)
        encoder = found.group(1) if found else "torch"
        for store, figures in (data.get("stores") or {}).items():
            ingest = figures.get("ingest") if isinstance(figures, dict) else None
            if not ingest or not ingest.get("documents_per_s"):
                continue
            row = {"report": path.parent.name, "encoder": encoder, "store": store,
                   "documents": ingest["documents"], "documents_per_s": ingest["documents_per_s"],
                   "encoder_documents_per_s": ingest.get("encoder_documents_per_s"),
                   "load_average": data["meta"]["machine"].get("load_average_at_start"),
                   "passages": path.parent.name >= PASSAGES_SINCE}
            if row["passages"] and encoder != "hashing":
                per = passages_per_document(int(ingest["documents"]))
                row["passages_per_document"] = per
                row["passages_per_s"] = round(ingest["documents_per_s"] * per, 1)
            out.append(row)
    return out


def _kb(value: float) -> str:
    return f"{value / 1024:,.1f} KB"


def markdown(data: dict[str, Any]) -> str:
    m, p = data["meta"], data["passages"]
    lines = [f"# Sizing: {p['documents']:,} documents, {p['passages']:,} passages", "",
             f"`{m['command']}` at {m['started']} (commit {m['git_commit']}); machine: "
             f"{m['machine']['cpus']} CPUs, {m['machine']['cpu_model']}, load average at start "
             f"{m['machine']['load_average_at_start']}, at end "
             f"{m['machine'].get('load_average_at_end')}.", "",
             f"Corpus: {data['corpus']}. Cut as the worker cuts it: {p['per_document']} passages "
             f"per document, {p['dimensions']} dimensions ({p['encoder']} vectors computed up "
             "front: the write rates below leave the encoder out).", "", "## Per store", ""]
    if pg := data["stores"].get("pgvector"):
        lines += ["### pgvector", "",
                  f"- written at **{pg['passages_per_s']:,} passages/s** "
                  f"({pg['documents_per_s']:,} documents/s, {pg['seconds']} s, HNSW built as rows "
                  "arrive)",
                  f"- **{pg['bytes_per_document_all']:,.0f} bytes per document** in all "
                  f"({pg['bytes_per_document']:,.0f} in the document table, "
                  f"{pg['bytes_per_passage']:,.0f} per passage in the passage table)",
                  f"- HNSW index: **{pg['hnsw_index_bytes_per_vector']:,.0f} bytes per vector** "
                  f"(the vector itself is {pg['vector_column_bytes']} bytes in the heap)", "",
                  "| relation | part | bytes |", "| --- | --- | ---: |"]
        lines += [f"| {table} | {part} | {value:,} |" for table, parts in pg["relations"].items()
                  for part, value in parts.items()]
        lines.append("")
    if wv := data["stores"].get("weaviate"):
        lines += ["### Weaviate (one node)", "",
                  f"- written at **{wv['passages_per_s']:,} passages/s** "
                  f"({wv['documents_per_s']:,} documents/s, {wv['seconds']} s)",
                  f"- on disk: **{wv['disk_bytes_per_document_all']:,.0f} bytes per document** in "
                  f"all, {wv['disk_bytes_per_object']:,.0f} per object ({wv['objects']:,} objects: "
                  "a document object and one object per passage)",
                  f"- resident memory: empty {wv['rss_empty_mb']} MB, just after the writes "
                  f"{wv['rss_after_writes_mb']} MB (**{wv['rss_bytes_per_passage_after_writes']:,.0f}"
                  " bytes per passage**: memtables not yet flushed, Go's heap headroom), after a "
                  f"restart with the same data {wv['rss_after_restart_mb']} MB "
                  f"(**{wv['rss_bytes_per_passage_at_rest']:,.0f} bytes per passage at rest**: "
                  f"the HNSW graph and its vectors, the raw vector being {wv['raw_vector_bytes']:,} "
                  "bytes)", ""]
    rd, ob = data["read_database"], data["outbox"]
    batched, single = ob["relay_batched"], ob["relay_one_per_job"]
    lines += ["## Read and write database", "",
              f"- embedding cache: **{rd['embedding_cache_bytes_per_passage']:,.0f} bytes per "
              "passage** (one row per passage text and model)",
              f"- write model: **{rd['write_bytes_per_document']:,.0f} bytes per document**", "",
              "## Outbox, relay and Redis", "",
              f"- inserts: **{ob['insert_rows_per_s']:,} rows/s** ({ob['rows']:,} rows, one per "
              f"transaction, {ob['threads']} threads, fsync on commit); "
              f"{ob['outbox_bytes_per_row']:,.0f} bytes per row",
              f"- relay claims (batches of {batched['batch_size']}): "
              f"**{batched['claim_rows_per_s']:,} rows/s** into {ob['stores_per_change']} queues",
              f"- Redis: **{batched['redis_bytes_per_change']:,.0f} bytes per queued change** in "
              f"batches of {batched['batch_size']} ({_kb(batched['redis_bytes'])} for "
              f"{batched['rows']:,}), **{single['redis_bytes_per_change']:,.0f}** when each change "
              f"is a job of its own ({single['rows']:,} changes at "
              f"{single['claim_rows_per_s']:,} rows/s)", "",
              "## Ingest per worker, by encoder (from earlier reports)", "",
              "| report | encoder | store | documents | docs/s | passages/s | load average |",
              "| --- | --- | --- | ---: | ---: | ---: | --- |"]
    lines += [f"| {r['report']} | {r['encoder']} | {r['store']} | {r['documents']:,} | "
              f"{r['documents_per_s']} | {r.get('passages_per_s', '–')} | {r['load_average']} |"
              for r in data["ingest_per_worker"]]
    lines += ["", f"Reports before {PASSAGES_SINCE} embedded one text per document (before "
              "passages); passages/s is docs/s times the passages per document of that corpus "
              "size.", ""]
    return "\n".join(lines)


def write(out: Path, data: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(data, indent=2, default=str))
    path = out / "report.md"
    path.write_text(markdown(data))
    return path

"""``semsearch bench sizing``: what one document, passage and vector costs in each store, and
how fast each part of the pipeline takes them in, measured on real services, for docs/scaling.md.

One run starts its own PostgreSQL (durable: fsync on commit), Redis and weaviate-server in a
temporary folder and measures, with progress bars:

- **pgvector**: the read model written through the store's own ``upsert`` with vectors computed
  up front (the encoder is left out), then table, TOAST and index sizes per document and per
  passage, the HNSW index per vector, and passages/s written (the index build rate);
- **Weaviate**: the same records, then the data folder's growth on disk and the server's resident
  memory growth per object (what the HNSW graph and the vectors hold in RAM) and passages/s;
- **embedding cache** and **write model**: bytes per cached vector and per document row;
- **outbox**: rows/s inserted (one change per transaction, as the command API commits them, from
  several threads) and rows/s the relay claims and enqueues, and Redis memory per queued change
  (in the relay's batches, and with one change per job);
- **ingest per worker by encoder**: read from the reports in docs/benchmarks (sizing_report.py).

The corpus is cut into passages as the worker cuts it (embeddings/passages.py).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from tqdm import tqdm

from benchmarks.harness.argtypes import size
from benchmarks.harness.results import machine, meta
from benchmarks.sizing import stores as sizing_stores
from embeddings.passages import PassageSettings, document_hash, passage_text, passages
from query_side.stores.base import Passage, ReadDocument

HELP = "bytes per document, passage and vector per store, index build and outbox rates, Redis"
STORES = ("pgvector", "weaviate")
OUTBOX_THREADS = 4
"""Concurrent committers of outbox rows (the command API's requests, one change each)."""
NO_RESEND_S = 24 * 3600.0
"""No worker confirms the changes here: the relay must not send them again while measured."""


def arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--documents", type=size, default=5000, help="corpus size (5000, 5k…)")
    p.add_argument("--store", choices=[*STORES, "both"], default="both")
    p.add_argument("--encoder", choices=["torch", "onnx", "hashing"], default="torch",
                   help="computes the vectors once, up front (cached); hashing: tests only")
    p.add_argument("--outbox-rows", type=size, default=20_000,
                   help="outbox rows inserted and then claimed by the relay")
    p.add_argument("--single-jobs", type=int, default=1000,
                   help="changes relayed one per job, for Redis memory in the worst case")
    p.add_argument("--reports", type=Path, default=Path("docs/benchmarks"),
                   help="earlier reports whose ingest figures give docs/s per worker by encoder")
    p.add_argument("--out", type=Path, help="output folder (default bench-results/<timestamp>/)")
    return p


def records(corpus: list[dict[str, Any]], encoder_name: str) -> list[ReadDocument]:
    """Each document cut into passages as the worker cuts them, with precomputed vectors."""
    from benchmarks.harness import ceilings
    from benchmarks.throughput import bulkload

    settings = PassageSettings()
    cuts = [passages(d["title"], d["body"], settings) for d in tqdm(corpus, desc="passages")]
    texts = [passage_text(d["title"], d["body"][s.start:s.end], settings)
             for d, spans in zip(corpus, cuts, strict=True) for s in spans]
    encoder = ceilings.load_backend(encoder_name)
    vectors = iter(bulkload.cached_vectors(encoder, texts))
    out = []
    for doc, spans in zip(corpus, cuts, strict=True):
        out.append(ReadDocument(
            id=uuid.UUID(doc["id"]), version=1, title=doc["title"], body=doc["body"],
            category=doc.get("category"), tags=tuple(doc.get("tags", ())),
            attributes=dict(doc.get("attributes", {})), published_at=None,
            content_hash=document_hash(doc["title"], doc["body"], encoder.model_id, settings),
            passages=tuple(Passage(s.start, s.end, next(vectors)) for s in spans)))
    return out


def outbox_rates(write_url: str, redis_url: str, rows: int, single: int) -> dict[str, Any]:
    """Outbox rows/s inserted (one per transaction, ``OUTBOX_THREADS`` at a time) and claimed by
    the relay into Redis; Redis memory per queued change, in relay batches and one per job."""
    from redis import Redis

    from command_side.commands import DocumentChanged
    from command_side.outbox import record_changes
    from command_side.settings import CommandSettings

    engine = sa.create_engine(write_url, pool_size=OUTBOX_THREADS)
    stores = list(STORES)
    bar = tqdm(total=rows + single, desc="outbox inserts", unit="row")

    def insert(count: int) -> None:
        for _ in range(count):
            with engine.begin() as conn:
                record_changes(conn, [DocumentChanged(uuid.uuid4(), 1)], stores)
            bar.update(1)

    def commit(total: int) -> float:
        started = time.perf_counter()
        shares = [total // OUTBOX_THREADS + (i < total % OUTBOX_THREADS)
                  for i in range(OUTBOX_THREADS)]
        with ThreadPoolExecutor(OUTBOX_THREADS) as pool:
            list(pool.map(insert, shares))
        return time.perf_counter() - started

    redis = Redis.from_url(redis_url)
    try:
        inserted_s = commit(rows)
        table_bytes = sizing_stores.relation_bytes(engine, ["outbox"])["outbox"]
        batched = _relay(engine, redis, CommandSettings(
            database_url=write_url, redis_url=redis_url, sync_stores=stores,
            resend_after_seconds=NO_RESEND_S), rows)
        commit(single)
        bar.close()
        one = _relay(engine, redis, CommandSettings(
            database_url=write_url, redis_url=redis_url, sync_stores=stores, relay_batch_size=1,
            queue_name="sizing-single", resend_after_seconds=NO_RESEND_S), single)
    finally:
        redis.close()
        engine.dispose()
    return {"rows": rows, "threads": OUTBOX_THREADS, "stores_per_change": len(stores),
            "insert_rows_per_s": round(rows / inserted_s, 1),
            "outbox_bytes_per_row": round(table_bytes["total"] / rows, 1),
            "relay_batched": batched, "relay_one_per_job": one}


def _relay(engine: Any, redis: Any, settings: Any, rows: int) -> dict[str, Any]:
    from command_side.relay import relay_once

    before = int(redis.info("memory")["used_memory"])
    sent = 0
    started = time.perf_counter()
    with tqdm(total=rows, desc=f"relay claims (batch {settings.relay_batch_size})",
              unit="row") as bar:
        while (n := relay_once(engine, redis, settings)) > 0:
            sent += n
            bar.update(n)
    seconds = time.perf_counter() - started
    grown = int(redis.info("memory")["used_memory"]) - before
    jobs = len(settings.sync_stores) * sent
    return {"batch_size": settings.relay_batch_size, "rows": sent,
            "claim_rows_per_s": round(sent / seconds, 1) if seconds else None,
            "redis_bytes": grown, "redis_bytes_per_change": round(grown / sent, 1) if sent else None,
            "redis_bytes_per_change_and_store": round(grown / jobs, 1) if jobs else None}


def main(args: argparse.Namespace, argv: list[str]) -> int:
    from benchmarks.harness import texts
    from benchmarks.sizing import report as sizing_report

    logging.getLogger("semsearch.relay").setLevel(logging.WARNING)  # a line per job otherwise
    out = args.out or Path("bench-results") / time.strftime("%Y%m%d-%H%M%S")
    data: dict[str, Any] = {"meta": meta(["sizing", *argv]), "stores": {}}
    corpus = texts.build(args.documents)
    data["corpus"] = corpus.note
    built = records(corpus.documents, args.encoder)
    count = sum(len(r.passages) for r in built)
    data["passages"] = {"documents": len(built), "passages": count,
                        "per_document": round(count / len(built), 3),
                        "dimensions": int(built[0].passages[0].vector.shape[0]),
                        "encoder": args.encoder}
    stores = list(STORES) if args.store == "both" else [args.store]
    with tempfile.TemporaryDirectory(prefix="semsearch-sizing-") as home:
        services = sizing_stores.Services(Path(home), weaviate="weaviate" in stores)
        with services:
            for store in stores:
                print(f"== {store}: writing {len(built)} documents ({count} passages)…", flush=True)
                data["stores"][store] = sizing_stores.measure(store, services, built)
            print("== embedding cache and write model…", flush=True)
            data["read_database"] = sizing_stores.cache_and_documents(services, built)
            print(f"== outbox: {args.outbox_rows} rows…", flush=True)
            data["outbox"] = outbox_rates(services.write_url, services.redis.url,
                                          args.outbox_rows, args.single_jobs)
    data["ingest_per_worker"] = sizing_report.ingest_rates(args.reports)
    data["meta"]["machine"]["load_average_at_end"] = machine()["load_average_at_start"]
    path = sizing_report.write(out, data)
    print(f"\nreport: {path}")
    return 0


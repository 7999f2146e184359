"""The services ``bench sizing`` measures on, and what each store holds per document, passage and
vector once the same records are written into it (benchmarks/sizing/run.py)."""

from __future__ import annotations

import gc
import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tqdm import tqdm

from benchmarks.harness.memory import children_map, rss_mb
from embeddings import DEFAULT_MODEL
from query_side.db import make_read_engine
from query_side.settings import StoreSettings
from query_side.stores.base import ReadDocument
from query_side.stores.factory import open_store

CHUNK = 256
"""Documents per ``upsert``, as the worker writes one claimed batch."""
MB = 1024 * 1024
SETTLE_S = 5.0
"""Pause after the writes before Weaviate's memory and data folder are read (background flushes)."""


class Services:
    """PostgreSQL (durable), Redis and, if asked, one weaviate-server under ``home``."""

    def __init__(self, home: Path, weaviate: bool) -> None:
        self.home = home
        self.with_weaviate = weaviate
        self.weaviate: Any = None

    def __enter__(self) -> Services:
        from command_side.migrate import upgrade
        from operations.stack.postgres import EmbeddedPostgres
        from operations.stack.redis import EmbeddedRedis

        self.postgres = EmbeddedPostgres(self.home / "postgres").start()
        self.redis = EmbeddedRedis(self.home / "redis", persist=False).start()
        self.write_url = self.postgres.create_database("sizing_write")
        upgrade(self.write_url)
        self.read_url = self.postgres.create_database("sizing_read")
        if self.with_weaviate:
            from operations.stack.weaviate import EmbeddedWeaviate

            self.weaviate = EmbeddedWeaviate(self.home / "weaviate").start()
        return self

    def __exit__(self, *exc: object) -> None:
        for service in (self.weaviate, self.redis, self.postgres):
            if service is not None:
                service.stop()


def relation_bytes(engine: Engine, tables: list[str]) -> dict[str, dict[str, int]]:
    """Per table: heap, TOAST, each index and the total, in bytes."""
    out: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for table in tables:
            heap, total, toast = conn.execute(sa.text(
                "SELECT pg_relation_size(c.oid), pg_total_relation_size(c.oid), "
                "coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0) "
                "FROM pg_class c WHERE c.oid = CAST(:t AS regclass)"), {"t": table}).one()
            out[table] = {"heap": heap, "toast": toast, "total": total}
            for name, method, used in conn.execute(sa.text(
                    "SELECT s.indexrelname, am.amname, pg_relation_size(s.indexrelid) "
                    "FROM pg_stat_user_indexes s JOIN pg_class c ON c.oid = s.indexrelid "
                    "JOIN pg_am am ON am.oid = c.relam WHERE s.relid = CAST(:t AS regclass)"),
                    {"t": table}):
                out[table][f"index {name} ({method})"] = used
    return out


def write(store: Any, built: list[ReadDocument], name: str) -> float:
    """Upsert every record in ``CHUNK``s with a progress bar; the seconds it took."""
    passages = sum(len(r.passages) for r in built)
    started = time.perf_counter()
    with tqdm(total=passages, desc=f"write {name} (vectors ready)", unit="passage") as bar:
        for start in range(0, len(built), CHUNK):
            chunk = built[start:start + CHUNK]
            store.upsert(chunk)
            bar.update(sum(len(r.passages) for r in chunk))
    return time.perf_counter() - started


def measure(name: str, services: Services, built: list[ReadDocument]) -> dict[str, Any]:
    settings = StoreSettings(read_database_url=services.read_url,
                             weaviate_url=services.weaviate.url if services.weaviate else None,
                             weaviate_grpc_port=[services.weaviate.grpc_port if services.weaviate
                                                 else 50051])
    engine = make_read_engine(settings.read_database_url, pool_size=2)
    store = open_store(name, settings, engine)
    try:
        store.ensure_schema()
        before = _weaviate_state(services) if name == "weaviate" else None
        seconds = write(store, built, name)
        passages = sum(len(r.passages) for r in built)
        rates = {"seconds": round(seconds, 2),
                 "passages_per_s": round(passages / seconds, 1),
                 "documents_per_s": round(len(built) / seconds, 1)}
        if name == "pgvector":
            return {**rates, **_pgvector_sizes(engine, settings.pgvector_table, built)}
        time.sleep(SETTLE_S)
        loaded = _weaviate_state(services)
        store.close()
        print("   restarting weaviate-server: its memory at rest with the data…", flush=True)
        services.weaviate.stop()
        services.weaviate.start()
        time.sleep(SETTLE_S)  # (the vector cache fills from disk in the background)
        return {**rates, **_weaviate_sizes(before, loaded, _weaviate_state(services), built)}
    finally:
        store.close()
        engine.dispose()


def _pgvector_sizes(engine: Engine, table: str, built: list[ReadDocument]) -> dict[str, Any]:
    with engine.begin() as conn:
        conn.execute(sa.text(f"ANALYZE {table}, {table}_passages"))
    sizes = relation_bytes(engine, [table, f"{table}_passages"])
    documents, passages = len(built), sum(len(r.passages) for r in built)
    hnsw = sum(v for k, v in sizes[f"{table}_passages"].items() if k.endswith("(hnsw)"))
    dims = built[0].passages[0].vector.shape[0]
    return {"relations": sizes,
            "bytes_per_document": round(sizes[table]["total"] / documents, 1),
            "bytes_per_passage": round(sizes[f"{table}_passages"]["total"] / passages, 1),
            "hnsw_index_bytes_per_vector": round(hnsw / passages, 1),
            "vector_column_bytes": 4 * dims + 8,
            "bytes_per_document_all": round(
                (sizes[table]["total"] + sizes[f"{table}_passages"]["total"]) / documents, 1)}


def _weaviate_state(services: Services) -> dict[str, float]:
    gc.collect()
    pid = services.weaviate.process.pid
    folder = services.weaviate.data_dir / "data"
    disk = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return {"rss_mb": rss_mb(pid, children_map()), "disk_bytes": float(disk)}


def _weaviate_sizes(before: dict[str, float] | None, loaded: dict[str, float],
                    rested: dict[str, float], built: list[ReadDocument]) -> dict[str, Any]:
    """Growth from the empty node to just after the writes (memtables full: the ingest peak's
    share), and to the same data after a restart (memtables flushed: what holding it costs)."""
    assert before is not None
    documents, passages = len(built), sum(len(r.passages) for r in built)
    objects = documents + passages  # a document object (no vector) and one per passage (vector)
    disk = rested["disk_bytes"] - before["disk_bytes"]
    ingest = (loaded["rss_mb"] - before["rss_mb"]) * MB
    rest = (rested["rss_mb"] - before["rss_mb"]) * MB
    dims = int(np.asarray(built[0].passages[0].vector).shape[0])
    return {"objects": objects, "disk_bytes": int(disk),
            "disk_bytes_just_after_writes": int(loaded["disk_bytes"] - before["disk_bytes"]),
            "rss_empty_mb": round(before["rss_mb"], 1),
            "rss_after_writes_mb": round(loaded["rss_mb"], 1),
            "rss_after_restart_mb": round(rested["rss_mb"], 1),
            "disk_bytes_per_document_all": round(disk / documents, 1),
            "disk_bytes_per_object": round(disk / objects, 1),
            "rss_bytes_per_passage_after_writes": round(ingest / passages, 1),
            "rss_bytes_per_passage_at_rest": round(rest / passages, 1),
            "raw_vector_bytes": 4 * dims}


def _key(record: ReadDocument, n: int) -> str:
    """A key of the cache's real shape (a SHA-256 hex digest) for passage ``n``."""
    return hashlib.sha256(f"{record.content_hash}/{n}".encode()).hexdigest()


def cache_and_documents(services: Services, built: list[ReadDocument]) -> dict[str, Any]:
    """The embedding cache (one row per passage text) and the write model's documents."""
    from command_side.schema import documents
    from query_side import readmodel

    read = make_read_engine(services.read_url, pool_size=1)
    write_engine = sa.create_engine(services.write_url)
    try:
        with read.begin() as conn:
            readmodel.ensure_schema(conn)
            for start in range(0, len(built), CHUNK):
                vectors = {_key(r, n): p.vector for r in built[start:start + CHUNK]
                           for n, p in enumerate(r.passages)}
                readmodel.cache_embeddings(conn, DEFAULT_MODEL, vectors)
        with write_engine.begin() as conn:
            now = sa.func.now()
            conn.execute(sa.insert(documents).values(created_at=now, updated_at=now), [
                {"id": r.id, "title": r.title, "body": r.body, "category": r.category,
                 "tags": list(r.tags), "attributes": r.attributes, "version": 1} for r in built])
        cache = relation_bytes(read, ["embedding_cache"])["embedding_cache"]
        docs = relation_bytes(write_engine, ["documents"])["documents"]
    finally:
        read.dispose()
        write_engine.dispose()
    passages = sum(len(r.passages) for r in built)
    return {"embedding_cache": cache, "embedding_cache_bytes_per_passage":
            round(cache["total"] / passages, 1), "write_documents": docs,
            "write_bytes_per_document": round(docs["total"] / len(built), 1)}

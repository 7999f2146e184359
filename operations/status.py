"""``semsearch status``: backlog, lag and health of every store of every live index generation
(``pgvector``, ``weaviate@g2``, …), from both databases, and each node of a Weaviate cluster
(url, pid where the local stack started it, ready, objects)."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from command_side.outbox import backlog
from operations.stack import datafolder
from query_side import generations, readmodel
from query_side.db import make_read_engine
from query_side.generations import Generation, open_generation_store
from query_side.stores.base import VectorStore
from sync_worker.settings import WorkerSettings


def weaviate_nodes(settings: WorkerSettings, pids: dict[str, int]) -> list[dict[str, object]]:
    """Each node of ``WEAVIATE_URL``: url, pid (None unless in ``pids``), ready, objects (the
    documents its own replica holds; None while it is down) and passages."""
    from query_side.stores.weaviate import node_status, node_stores

    found = []
    for url, store in node_stores(settings):
        try:
            found.append({"url": url, "pid": pids.get(url), **node_status(url, store)})
        finally:
            store.close()
    return found


def live_generations(settings: WorkerSettings, read_engine: Engine) -> list[Generation]:
    """Every live index generation (generation 1 registered from the settings the first time,
    as the worker does)."""
    generations.ensure_registered(read_engine, settings)
    with read_engine.connect() as conn:
        return generations.live(conn)


def store_report(store: VectorStore, read_engine: Engine, pending: int,
                 dead: int) -> dict[str, object]:
    """One store of one generation: health, counts, the changes the outbox still owes its
    family, its dead letters and its lag; the store is closed after."""
    try:
        with read_engine.connect() as conn:
            lag = readmodel.lag(conn, store.name)
        healthy = store.health()
        return {"healthy": healthy, "documents": store.count() if healthy else None,
                "passages": store.passage_count() if healthy else None,
                "pending": pending, "dead_letters": dead, **lag}
    finally:
        store.close()


def collect(settings: WorkerSettings, pids: dict[str, int] | None = None) -> dict[str, object]:
    """``pids``: node URL → pid of the Weaviate nodes the local stack started."""
    write_engine = sa.create_engine(settings.database_url, poolclass=sa.pool.NullPool)
    read_engine = make_read_engine(settings.read_database_url, pool_size=1)
    try:
        with write_engine.connect() as conn:
            outbox = backlog(conn)
            pending: dict[str, int] = dict(conn.execute(sa.text(
                "SELECT s, count(*) FROM outbox, unnest(pending_stores) s GROUP BY s")).all())
            dead: dict[str, int] = dict(conn.execute(sa.text(
                "SELECT store, count(*) FROM sync_failures WHERE dead GROUP BY store")).all())
        live = live_generations(settings, read_engine)
        stores = {}
        for g in live:
            for family in settings.sync_stores:
                store = open_generation_store(family, g, settings, read_engine)
                stores[store.name] = store_report(store, read_engine, int(pending.get(family, 0)),
                                                  int(dead.get(store.name, 0)))
        report: dict[str, object] = {"outbox": outbox, "generations": [
            {"number": g.number, "state": g.state, "encoder": g.encoder, "model_id": g.model_id}
            for g in live], "stores": stores}
        if "weaviate" in settings.sync_stores and settings.weaviate_url:
            report["weaviate_nodes"] = weaviate_nodes(settings, pids or {})
        return report
    finally:
        write_engine.dispose()
        read_engine.dispose()


def processes(folder: Path) -> dict[str, dict[str, object]]:
    """The processes of the stack running on ``folder`` (relay-1, worker-1, …, the APIs and the
    services), each with its pid and whether it still runs; {} when no stack holds the folder."""
    if not datafolder.in_use(folder):
        return {}
    found = datafolder.holder(folder)
    named: dict[str, int] = {}
    for part in ("services", "children"):
        if isinstance(listed := found.get(part), dict):
            named |= {str(name): int(pid) for name, pid in listed.items()}
    return {name: {"pid": pid, "running": psutil.pid_exists(pid)} for name, pid in named.items()}


def print_status(folder: Path | None = None, as_json: bool = False,
                 pids: dict[str, int] | None = None) -> int:
    report = collect(WorkerSettings(), pids)
    report["processes"] = processes(folder) if folder is not None else {}
    healthy = all(s["healthy"] for s in report["stores"].values())  # type: ignore[attr-defined]
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return 0 if healthy else 1
    outbox = report["outbox"]
    print(f"outbox: {outbox['pending']} changes pending, oldest {outbox['oldest_age_s']:.1f}s")  # type: ignore[index]
    print("generations: " + ", ".join(f"g{g['number']} {g['state']} ({g['model_id']})"
                                      for g in report["generations"]))  # type: ignore[attr-defined]
    print(f"{'store':<12} {'healthy':<8} {'documents':>10} {'passages':>9} {'pending':>8} "
          f"{'behind':>7} {'lag_s':>8} {'stuck':>5} {'dead':>5}")
    for name, s in report["stores"].items():  # type: ignore[attr-defined]
        print(f"{name:<12} {str(s['healthy']):<8} {str(s['documents']):>10} {str(s['passages']):>9} "
              f"{s['pending']:>8} {s['behind']:>7} {s['lag_s']:>8.2f} {s['stuck']:>5} "
              f"{s['dead_letters']:>5}")
    for node in report.get("weaviate_nodes", []):  # type: ignore[attr-defined]
        print(f"weaviate node {node['url']} pid={node['pid']} ready={node['ready']} "
              f"documents={node['documents']} passages={node['passages']}")
    running: dict[str, dict[str, object]] = report["processes"]  # type: ignore[assignment]
    if running:
        print("processes: " + ", ".join(
            f"{name} {p['pid']}" + ("" if p["running"] else " (gone)") for name, p in running.items()))
    return 0 if healthy else 1

"""``semsearch status``: backlog, lag and health of every store, from both databases."""

from __future__ import annotations

from pathlib import Path

import psutil
import sqlalchemy as sa

from command_side.outbox import backlog
from query_side import readmodel
from query_side.db import make_read_engine
from query_side.stores.factory import open_store
from semsearch.stack import datafolder
from sync_worker.settings import WorkerSettings


def collect(settings: WorkerSettings) -> dict[str, object]:
    write_engine = sa.create_engine(settings.database_url, poolclass=sa.pool.NullPool)
    read_engine = make_read_engine(settings.read_database_url, pool_size=1)
    try:
        with write_engine.connect() as conn:
            outbox = backlog(conn)
            pending: dict[str, int] = dict(conn.execute(sa.text(
                "SELECT s, count(*) FROM outbox, unnest(pending_stores) s GROUP BY s")).all())
            dead: dict[str, int] = dict(conn.execute(sa.text(
                "SELECT store, count(*) FROM sync_failures WHERE dead GROUP BY store")).all())
        stores = {}
        for name in settings.sync_stores:
            store = open_store(name, settings, read_engine)
            with read_engine.connect() as conn:
                lag = readmodel.lag(conn, name)
            healthy = store.health()
            stores[name] = {"healthy": healthy, "documents": store.count() if healthy else None,
                            "passages": store.passage_count() if healthy else None,
                            "pending": int(pending.get(name, 0)),
                            "dead_letters": int(dead.get(name, 0)), **lag}
            store.close()
        return {"outbox": outbox, "stores": stores}
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


def print_status(folder: Path | None = None) -> int:
    report = collect(WorkerSettings())
    outbox = report["outbox"]
    print(f"outbox: {outbox['pending']} changes pending, oldest {outbox['oldest_age_s']:.1f}s")  # type: ignore[index]
    print(f"{'store':<10} {'healthy':<8} {'documents':>10} {'passages':>9} {'pending':>8} "
          f"{'behind':>7} {'lag_s':>8} {'dead':>5}")
    for name, s in report["stores"].items():  # type: ignore[attr-defined]
        print(f"{name:<10} {str(s['healthy']):<8} {str(s['documents']):>10} {str(s['passages']):>9} "
              f"{s['pending']:>8} {s['behind']:>7} {s['lag_s']:>8.2f} {s['dead_letters']:>5}")
    running = processes(folder) if folder is not None else {}
    if running:
        print("processes: " + ", ".join(
            f"{name} {p['pid']}" + ("" if p["running"] else " (gone)") for name, p in running.items()))
    return 0 if all(s["healthy"] for s in report["stores"].values()) else 1  # type: ignore[attr-defined]

"""``semsearch backup`` and ``semsearch restore``: the write database, while the stack serves.

A backup is a folder: ``write.dump`` (``pg_dump --format=custom`` of the write database: the
documents, the outbox, dead letters, idempotency keys and the audit trail) and ``manifest.json``
(versions and counts). The dump and the manifest's counts read one snapshot (exported by a
REPEATABLE READ transaction and handed to ``pg_dump --snapshot``), so the manifest says exactly
what the dump holds, however many writes go on meanwhile.

The read model (pgvector tables, Weaviate, the embedding cache) is not backed up: every passage
and vector is derived from the write database, and a restored folder's empty stores are rebuilt
from it in the background when the stack starts (:mod:`sync_worker.rebuild`), which embeds
every passage again.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import psycopg
import sqlalchemy as sa
from psycopg.conninfo import make_conninfo

from operations.stack import datafolder
from operations.stack.postgres import EmbeddedPostgres, bin_dir

DUMP = "write.dump"
MANIFEST = "manifest.json"
SNAPSHOT_FACTS = """
    SELECT (SELECT version_num FROM alembic_version),
           (SELECT count(*) FROM documents WHERE deleted_at IS NULL),
           (SELECT count(*) FROM documents),
           (SELECT coalesce(max(version), 0) FROM documents),
           current_setting('server_version')
"""


def conninfo(database_url: str) -> str:
    url = sa.engine.make_url(database_url)
    return make_conninfo(host=url.host or "127.0.0.1", port=url.port or 5432,
                         user=url.username or "", dbname=url.database or "",
                         **({"password": url.password} if url.password else {}))


def _show_progress(path: Path, done: threading.Event, what: str) -> None:
    while not done.wait(1.0):
        size = path.stat().st_size if path.exists() else 0
        print(f"  {what}: {size / 1e6:.1f} MB", flush=True)


def _run(args: list[str], watch: Path, what: str) -> None:
    """Run a PostgreSQL client tool, printing the size of ``watch`` each second meanwhile."""
    done = threading.Event()
    shower = threading.Thread(target=_show_progress, args=(watch, done, what), daemon=True)
    shower.start()
    try:
        result = subprocess.run(args, capture_output=True, text=True)
    finally:
        done.set()
        shower.join()
    if result.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} failed: {result.stderr.strip()[-2000:]}")


def serving_model(read_database_url: str | None) -> dict[str, object]:
    """The index generation serving when the backup was taken, named as a search answer and
    ``status`` name it: its ``model_id`` and ``encoder`` (None where the read database is not
    known or has no generation yet). Restored, the read model is rebuilt with ENCODER."""
    facts: dict[str, object] = {"index_generation": None, "encoder": None, "model_id": None}
    if not read_database_url:
        return facts
    from query_side import generations

    engine = sa.create_engine(read_database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            if conn.execute(sa.text("SELECT to_regclass('index_pointer')")).scalar() is None:
                return facts
            serving, _ = generations.pointer(conn)
            found = next(g for g in generations.listing(conn) if g.number == serving)
    finally:
        engine.dispose()
    return {"index_generation": serving, "encoder": found.encoder, "model_id": found.model_id}


def backup(database_url: str, target: Path,
           read_database_url: str | None = None) -> dict[str, object]:
    """Write the backup folder ``target`` (new or empty); returns its manifest, which names the
    serving generation's model as :func:`serving_model` does."""
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"{target} is not empty: a backup goes into a new or empty folder")
    target.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with psycopg.connect(conninfo(database_url)) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]  # type: ignore[index]
        revision, live, rows, max_version, server = conn.execute(SNAPSHOT_FACTS).fetchone()  # type: ignore[misc]
        print(f"backing up {live} documents (max version {max_version}) to {target}", flush=True)
        _run([str(bin_dir() / "pg_dump"), "--format=custom", f"--snapshot={snapshot}",
              f"--file={target / DUMP}", f"--dbname={conninfo(database_url)}"],
             target / DUMP, "write database")
        conn.rollback()
    manifest: dict[str, object] = {
        "semsearch_version": version("semsearch"), "alembic_revision": revision,
        **serving_model(read_database_url), "documents": live, "document_rows": rows,
        "max_version": max_version, "postgres_version": server,
        "created_at": datetime.now(UTC).isoformat(), "write_database": DUMP,
        "read_model": "not backed up: rebuilt from the write database when the restored "
                      "stack starts (every passage embedded again)",
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2))
    size = (target / DUMP).stat().st_size
    print(f"backup written: {live} documents, {size / 1e6:.1f} MB, "
          f"in {time.monotonic() - started:.1f}s", flush=True)
    return manifest


def clear(folder: Path) -> None:
    for item in folder.iterdir():
        shutil.rmtree(item) if item.is_dir() else item.unlink()


def restore(source: Path, data_dir: Path, force: bool = False) -> dict[str, object]:
    """Make ``data_dir`` a data folder holding the backup ``source``; ``force`` replaces what it
    held. Returns the manifest."""
    manifest: dict[str, object] = json.loads((source / MANIFEST).read_text())
    if not (source / DUMP).exists():
        raise FileNotFoundError(f"{source / DUMP} is missing: not a semsearch backup")
    handle = datafolder.lock(data_dir)  # FolderInUse while a stack runs on it
    try:
        held = [p.name for p in data_dir.iterdir() if p.name not in (datafolder.LOCK,
                                                                      datafolder.STACK)]
        if held and not force:
            raise FileExistsError(
                f"{data_dir} is not empty (it holds {', '.join(sorted(held))}): restore onto an "
                "empty folder, or add --force to replace what it holds")
        for name in held:
            item = data_dir / name
            shutil.rmtree(item) if item.is_dir() else item.unlink()
        postgres = EmbeddedPostgres(data_dir / "postgres").start()
        try:
            write_url = postgres.create_database("semsearch")
            print(f"restoring {manifest['documents']} documents into {data_dir}", flush=True)
            _run([str(bin_dir() / "pg_restore"), "--no-owner", "--exit-on-error",
                  f"--dbname={conninfo(write_url)}", str(source / DUMP)],
                 source / DUMP, "write database (dump size)")
            postgres.create_database("semsearch_read")
            _check(write_url, manifest)
        finally:
            postgres.stop()
    finally:
        datafolder.release(data_dir, handle)
    print("restored; start it with `semsearch up --data-dir …`: the read model is rebuilt "
          "in the background (`semsearch status` shows the backlog)", flush=True)
    return manifest


def _check(write_url: str, manifest: dict[str, object]) -> None:
    with psycopg.connect(conninfo(write_url)) as conn:
        _, live, rows, max_version, _ = conn.execute(SNAPSHOT_FACTS).fetchone()  # type: ignore[misc]
    if (live, rows, max_version) != (manifest["documents"], manifest["document_rows"],
                                     manifest["max_version"]):
        raise RuntimeError(f"restored {live} documents ({rows} rows, max version {max_version}), "
                           f"the manifest says {manifest['documents']} ({manifest['document_rows']}"
                           f", {manifest['max_version']})")


def backup_command(args: argparse.Namespace) -> int:
    """(The CLI has found the stack, or refused: :func:`datafolder.operator_env`.)"""
    from common.config import PipelineSettings
    from query_side.settings import StoreSettings

    try:
        backup(PipelineSettings().database_url, args.dir, StoreSettings().read_database_url)
    except (FileExistsError, RuntimeError) as exc:
        print(f"semsearch backup: {exc}", file=sys.stderr)
        return 1
    return 0


def restore_command(args: argparse.Namespace) -> int:
    try:
        restore(args.dir, args.data_dir or datafolder.default_data_dir(), args.force)
    except (FileExistsError, FileNotFoundError, datafolder.FolderInUse, RuntimeError) as exc:
        print(f"semsearch restore: {exc}", file=sys.stderr)
        return 1
    return 0

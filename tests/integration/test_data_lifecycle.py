"""The pieces behind data that outlives the stack, on the session's real services: the relay's
resume at start, the rebuild of an empty store, the data folder's lock, backup and restore."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from rq import Queue

from command_side import relay
from operations import backup
from operations.stack import datafolder
from sync_worker.projection import GONE
from sync_worker.rebuild import rebuild_if_empty
from tests.pipeline import Pipeline


def test_a_relay_that_starts_resends_what_was_sent_but_never_confirmed(pipe: Pipeline) -> None:
    doc = pipe.create(title="Sent once", body="its job was lost with Redis")
    assert pipe.relay() == 1
    Queue(f"{pipe.command_settings.queue_name}-pgvector", connection=pipe.redis).empty()  # lost
    assert pipe.relay() == 0  # the back-off holds it
    assert relay.resume(pipe.write_engine) >= 1
    assert pipe.relay() == 1
    pipe.work()
    assert [r.pending_stores for r in pipe.outbox(doc["id"])] == [[]]
    assert pipe.ids("lost with Redis") == [doc["id"]]


def test_an_empty_store_is_rebuilt_through_the_outbox(pipe: Pipeline) -> None:
    docs = [pipe.create(title=f"Rebuilt {n}", body=f"lantern {n}") for n in range(3)]
    pipe.sync()
    store = pipe.runtime.store("pgvector")
    assert rebuild_if_empty(pipe.write_engine, store) == 0  # it holds them
    store.delete([(uuid.UUID(d["id"]), GONE) for d in docs])
    with pipe.runtime.read_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM projection_state WHERE store = 'pgvector'"))
    assert store.count() == 0
    assert rebuild_if_empty(pipe.write_engine, store) == 3
    assert rebuild_if_empty(pipe.write_engine, store) == 0  # already pending: not twice
    pipe.sync()
    assert sorted(pipe.ids("lantern", mode="keyword")) == sorted(d["id"] for d in docs)


def test_a_data_folder_is_held_by_one_stack_at_a_time(tmp_path: Path) -> None:
    held = datafolder.lock(tmp_path)
    try:
        assert datafolder.in_use(tmp_path)
        with pytest.raises(datafolder.FolderInUse, match=rf"{tmp_path} is in use .*\(pid {os.getpid()}\)"):
            datafolder.lock(tmp_path)
    finally:
        datafolder.release(tmp_path, held)
    assert not datafolder.in_use(tmp_path) and datafolder.running_env(tmp_path) == {}
    datafolder.release(tmp_path, datafolder.lock(tmp_path))


def test_backup_then_restore_gives_the_same_documents(pipe: Pipeline, tmp_path: Path) -> None:
    docs = [pipe.create(title=f"Kept {n}", body=f"archive {n}") for n in range(4)]
    url = str(pipe.write_engine.url.render_as_string(hide_password=False))
    manifest = backup.backup(url, tmp_path / "backup")
    assert manifest["documents"] == 4 and manifest["max_version"] == 1
    assert json.loads((tmp_path / "backup" / "manifest.json").read_text()) == manifest
    with pytest.raises(FileExistsError):
        backup.backup(url, tmp_path / "backup")

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "something").write_text("kept")
    with pytest.raises(FileExistsError, match="not empty"):
        backup.restore(tmp_path / "backup", tmp_path / "data")
    backup.restore(tmp_path / "backup", tmp_path / "data", force=True)
    from operations.stack.postgres import EmbeddedPostgres

    restored = EmbeddedPostgres(tmp_path / "data" / "postgres").start()
    try:
        with psycopg.connect(backup.conninfo(restored.url("semsearch"))) as conn:
            held = dict(conn.execute("SELECT id::text, version FROM documents").fetchall())
    finally:
        restored.stop()
    assert held == {d["id"]: 1 for d in docs}
    assert not (tmp_path / "data" / "something").exists()

"""`semsearch backup` while writes go on, `semsearch restore` onto an empty folder: the same
documents at the same versions, searchable, and every store agrees with PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg

from operations.backup import conninfo
from tests.e2e import up_process


def documents(folder: Path) -> dict[str, int]:
    with psycopg.connect(conninfo(up_process.stack_env(folder)["DATABASE_URL"])) as conn:
        return dict(conn.execute("SELECT id::text, version FROM documents").fetchall())


def keep_writing(command_url: str, stop: threading.Event, written: list[str]) -> None:
    with httpx.Client(base_url=command_url, timeout=30) as client:
        while not stop.is_set():
            reply = client.post("/v1/documents", json={
                "title": f"Written during the backup {len(written)}",
                "body": "Lighthouse keepers log the passing ships every night."})
            reply.raise_for_status()
            written.append(reply.json()["id"])


def test_backup_under_writes_then_restore_to_an_empty_folder(tmp_path: Path) -> None:
    source, target, backup = tmp_path / "source", tmp_path / "restored", tmp_path / "backup"
    up = up_process.start(source, tmp_path / "logs")
    written: list[str] = []
    stop = threading.Event()
    try:
        with httpx.Client(base_url=up.command_url, timeout=30) as client:
            items = client.post("/v1/documents/bulk", json={"documents": [
                {"id": str(uuid.uuid4()), "title": f"Tide table {n}",
                 "body": f"High tide at harbour {n} comes {n % 5} hours after moonrise."}
                for n in range(60)]}).json()["items"]
            for item in items[:20]:  # some documents at version 2
                client.patch(f"/v1/documents/{item['id']}", json={"category": "edited"},
                             headers={"If-Match": str(item["version"])}).raise_for_status()
        before = documents(source)
        writer = threading.Thread(target=keep_writing, args=(up.command_url, stop, written))
        writer.start()
        time.sleep(1)
        made = up_process.operator("backup", str(backup), folder=source)
        stop.set()
        writer.join(30)
        assert made.returncode == 0, made.stdout + made.stderr
        assert made.stdout.startswith("backing up ") and "backup written: " in made.stdout
        assert written, "no write went on during the backup"
        after = documents(source)
    finally:
        stop.set()
        assert up_process.stop(up) == 0

    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["alembic_revision"] and manifest["model_id"] and manifest["semsearch_version"]
    assert len(before) <= manifest["documents"] <= len(after)
    assert manifest["max_version"] == 2

    refused = up_process.operator("restore", str(backup), folder=source)
    assert refused.returncode == 1 and f"{source} is not empty" in refused.stderr
    restored = up_process.operator("restore", str(backup), folder=target)
    assert restored.returncode == 0, restored.stdout + restored.stderr

    again = up_process.start(target, tmp_path / "logs")
    try:
        held = documents(target)
        assert len(held) == manifest["documents"]
        assert {i: held.get(i) for i in before} == before  # same ids, same versions
        assert {i: after[i] for i in held} == held  # only what the source held, as it held it
        up_process.wait_drained(target, 300, again.log)
        reconciled = up_process.operator("reconcile", folder=target)
        assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
        for line in reconciled.stdout.strip().splitlines():
            assert f"checked={len(held)} missing=0 stale=0 orphaned=0" in line, line
        found = httpx.post(f"{again.query_url}/v1/search", timeout=30, json={
            "query": "when is high tide at the harbour", "limit": 3}).json()
        assert found["hits"] and found["hits"][0]["id"] in before
    except BaseException:
        print(again.output()[-5000:])
        raise
    finally:
        assert up_process.stop(again) == 0

"""SIGKILL every process of the stack in the middle of a bulk import, start again on the same data
folder: every acknowledged write is there and becomes searchable with no manual step."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg

from operations.backup import conninfo
from tests.e2e import up_process
from tests.services import weaviate_required

DOCUMENTS = 500
BATCH = 5


def bulk_import(command_url: str, acked: dict[str, int], done: threading.Event) -> None:
    """Import DOCUMENTS documents, BATCH per request, until done or the stack is gone; records
    every document whose request got a 2xx."""
    with httpx.Client(base_url=command_url, timeout=30) as client:
        for start in range(0, DOCUMENTS, BATCH):
            batch = [{"id": str(uuid.uuid4()), "title": f"Crash note {n}",
                      "body": f"Note {n} of the import: a river of {n % 13} stones and "
                              f"{n % 7} herons crossing the marsh at dawn."}
                     for n in range(start, start + BATCH)]
            try:
                reply = client.post("/v1/documents/bulk", json={"documents": batch})
            except httpx.HTTPError:
                break
            if reply.status_code // 100 == 2:
                acked.update({item["id"]: item["version"] for item in reply.json()["items"]})
            if done.is_set():
                break
    done.set()


def test_sigkill_mid_import_then_start_again_loses_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    store = "weaviate" if weaviate_required() else "auto"
    up = up_process.start(folder, tmp_path / "logs", store=store)
    acked: dict[str, int] = {}
    done = threading.Event()
    importer = threading.Thread(target=bulk_import, args=(up.command_url, acked, done))
    try:
        importer.start()
        deadline = time.monotonic() + 240
        while len(acked) < DOCUMENTS * 0.4 and not done.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not done.is_set(), "the import ended before the crash: nothing was tested"
        killed = up_process.kill_everything(up)
        importer.join(60)
        assert len(killed) >= 7 and 0 < len(acked) < DOCUMENTS
    finally:
        done.set()
        up_process.stop(up)

    again = up_process.start(folder, tmp_path / "logs", store=store)
    try:
        ready = time.monotonic()
        status = up_process.operator("status", folder=folder).stdout
        print(f"acknowledged before the crash: {len(acked)}\nstatus at restart:\n{status}")
        assert status.startswith("outbox: ")
        with psycopg.connect(conninfo(up_process.stack_env(folder)["DATABASE_URL"])) as conn:
            held = dict(conn.execute("SELECT id::text, version FROM documents").fetchall())
        assert {i: held.get(i) for i in acked} == acked  # nothing acknowledged was lost

        up_process.wait_drained(folder, ready + 60 - time.monotonic(), again.log)
        with httpx.Client(base_url=again.query_url, timeout=10) as client:
            for doc_id, version in acked.items():
                found = client.get(f"/v1/documents/{doc_id}")
                assert found.status_code == 200 and found.json()["version"] == version, doc_id
            hits = client.post("/v1/search", json={"query": "herons crossing the marsh"}).json()
        assert hits["hits"]
        reconciled = up_process.operator("reconcile", folder=folder)
        assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
        for line in reconciled.stdout.strip().splitlines():
            assert "missing=0 stale=0 orphaned=0 stray-passages-of=0" in line, line
    except BaseException:
        print(again.output()[-5000:])
        raise
    finally:
        assert up_process.stop(again) == 0


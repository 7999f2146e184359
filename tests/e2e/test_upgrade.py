"""A data folder made by the release before passages (811e9aa: Alembic revision 0002, a pgvector
read model of one vector per document) opens with this release: the migrations run at start,
nothing written is lost, and the read model is rebuilt in the background with no manual step.

The old folder is made by the old release itself: its source tree (``git archive``) run on this
checkout's virtual environment, as `semsearch up --data-dir`, writing through its command API."""

from __future__ import annotations

import subprocess
import tarfile
import uuid
from pathlib import Path

import httpx
import psycopg

from operations.backup import conninfo
from tests.e2e import up_process

BEFORE_PASSAGES = "811e9aa"


def old_release(into: Path) -> Path:
    archive = into.with_suffix(".tar")
    subprocess.run(["git", "archive", "--format=tar", f"--output={archive}", BEFORE_PASSAGES],
                   cwd=up_process.ROOT, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


def test_a_folder_of_the_release_before_passages_opens_with_nothing_lost(tmp_path: Path) -> None:
    folder, old = tmp_path / "data", old_release(tmp_path / "old")
    up = up_process.start(folder, tmp_path / "logs", store="pgvector", cwd=old, recorded=False,
                          env=up_process.clean_env(PYTHONPATH=str(old)))
    try:
        assert not (folder / "stack.json").exists()  # the old release runs, not this one
        with httpx.Client(base_url=up.command_url, timeout=30) as client:
            items = client.post("/v1/documents/bulk", json={"documents": [
                {"id": str(uuid.uuid4()), "title": f"Orchard {n}",
                 "body": f"The orchard's {n % 9} old pear trees bloom in the first week of May."}
                for n in range(120)]}).json()["items"]
            for item in items[:10]:
                client.put(f"/v1/documents/{item['id']}", json={
                    "title": "Vineyard", "body": "Grapes ripen on the south-facing terraces."},
                    headers={"If-Match": str(item["version"])}).raise_for_status()
            token = client.post("/v1/documents", json={"title": "Last", "body": "the end"}).json()
        written = {item["id"]: 2 if n < 10 else 1 for n, item in enumerate(items)}
        written[token["id"]] = 1
        for _ in range(10):  # the old read model holds every write (409 while it does not yet)
            reply = httpx.post(f"{up.query_url}/v1/search", timeout=60, json={
                "query": "pear", "token": token["token"], "wait_ms": 30_000})
            if reply.status_code != 409:
                break
        assert reply.status_code == 200, reply.text
    finally:
        assert up_process.stop(up) == 0

    new = up_process.start(folder, tmp_path / "logs", store="pgvector")
    try:
        with psycopg.connect(conninfo(up_process.stack_env(folder)["DATABASE_URL"])) as conn:
            held = dict(conn.execute("SELECT id::text, version FROM documents").fetchall())
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]  # type: ignore[index]
        assert held == written and revision == "0003"
        up_process.wait_drained(folder, 300, new.log)
        logs = "".join(p.read_text() for p in (folder / "logs").glob("*.log"))
        assert "made by a release before passages" in logs
        reconciled = up_process.operator("reconcile", folder=folder)
        assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
        assert f"checked={len(written)} missing=0 stale=0" in reconciled.stdout
        found = httpx.post(f"{new.query_url}/v1/search", timeout=30, json={
            "query": "grapes ripening on terraces", "limit": 10}).json()
        assert {hit["id"] for hit in found["hits"]} == set(list(written)[:10])
        assert all(hit["passages"] for hit in found["hits"])  # the new read model's shape
    except BaseException:
        print(new.output()[-5000:])
        raise
    finally:
        assert up_process.stop(new) == 0

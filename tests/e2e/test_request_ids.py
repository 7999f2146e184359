"""One write followed by its request id through the command API's, relay's and worker's logs
(real processes, JSON lines with the same fields in each), and the outbox row between them."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa

from operations.faults.chaos import Cluster
from tests.services import Services

FIELDS = {"ts", "level", "process", "pid", "logger", "msg"}


def lines_with(log: Path, needle: str) -> list[dict[str, object]]:
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if needle in line:
            found.append(json.loads(line))  # every line that names it is one JSON object
    return found


def test_one_request_id_runs_through_every_process(services: Services) -> None:
    write_url, read_url = services.fresh_databases()
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="trace-")), {
        "DATABASE_URL": write_url, "READ_DATABASE_URL": read_url, "REDIS_URL": services.redis.url,
        "QUEUE_NAME": f"r{uuid.uuid4().hex[:10]}", "ENCODER": "hashing"})
    try:
        cluster.start_command_api()
        cluster.start("relay", "relay")
        cluster.start_worker()
        rid = f"trace-{uuid.uuid4().hex}"
        reply = httpx.post(f"{cluster.command_url}/v1/documents", headers={"X-Request-ID": rid},
                           json={"title": "Traced", "body": "Followed from request to store."})
        assert reply.status_code == 201 and reply.headers["X-Request-ID"] == rid
        made = httpx.post(f"{cluster.command_url}/v1/documents", json={"title": "t", "body": "b"})
        assert len(made.headers["X-Request-ID"]) == 32  # none offered: one is made
        engine = sa.create_engine(write_url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT request_id FROM outbox WHERE doc_id = :d"),
                                {"d": reply.json()["id"]}).scalar() == rid
        engine.dispose()
        deadline = time.monotonic() + 60
        while not any("upserted" in str(e["msg"]) for e in lines_with(cluster.procs["worker"].log, rid)):
            assert time.monotonic() < deadline, "the worker never logged the write"
            time.sleep(0.2)
        for name in ("command-api", "relay", "worker"):
            events = lines_with(cluster.procs[name].log, rid)
            assert events, name
            for event in events:
                assert FIELDS <= set(event) and event["process"] == name, event
        command = lines_with(cluster.procs["command-api"].log, rid)[0]
        assert command["request_id"] == rid and command["documents"] == [reply.json()["id"]]
        assert any(rid in e.get("request_ids", []) for e in lines_with(cluster.procs["relay"].log, rid))  # type: ignore[operator]
    finally:
        cluster.stop()

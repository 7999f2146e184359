"""The audit trail: one row per command (in the command's transaction) and per refusal, read
back with `semsearch audit`; rows past the retention are purged."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from command_side import audit
from tests.pipeline import Pipeline, pipeline
from tests.services import Services

ADMIN = "audit-admin-0123456789"
READER = "audit-reader-0123456789"
ROOT = Path(__file__).resolve().parents[2]
AS_ADMIN = {"X-API-Key": ADMIN}


@pytest.fixture
def keyed(services: Services, real_encoder) -> Iterator[Pipeline]:  # type: ignore[no-untyped-def]
    auth = {"auth": "on", "admin_keys": [f"ops:{ADMIN}"], "read_keys": [f"ui:{READER}"]}
    with pipeline(services, real_encoder, auth=auth) as p:
        yield p


def rows(pipe: Pipeline) -> list[tuple[str, str, str, int, str]]:
    with pipe.write_engine.connect() as conn:
        return [(r.key_name, r.method, r.route, r.status, r.outcome)
                for r in reversed(audit.find(conn, limit=1000))]


def test_every_command_and_refusal_leaves_one_row(keyed: Pipeline) -> None:
    c = keyed.command
    doc = c.post("/v1/documents", json={"title": "A", "body": "b"},
                 headers={**AS_ADMIN, "Idempotency-Key": "k1"}).json()
    path = f"/v1/documents/{doc['id']}"
    assert c.post("/v1/documents", json={"title": "A", "body": "b"},
                  headers={**AS_ADMIN, "Idempotency-Key": "k1"}).status_code == 201  # replayed
    assert c.post("/v1/documents", json={"title": "B", "body": "b"},
                  headers={**AS_ADMIN, "Idempotency-Key": "k1"}).status_code == 409
    assert c.put(path, json={"title": "A2", "body": "b"}, headers=AS_ADMIN).status_code == 200
    assert c.patch(path, json={"title": "A3"}, headers={**AS_ADMIN, "If-Match": '"9"'}).status_code == 412
    assert c.patch(path, json={"title": "A3"}, headers={"X-API-Key": READER}).status_code == 403
    assert c.delete(path).status_code == 401
    assert c.delete(path, headers=AS_ADMIN).status_code == 200
    assert c.delete(path, headers=AS_ADMIN).status_code == 404
    assert c.post("/v1/documents/bulk", json={"documents": [{"title": "C", "body": "d"}] * 2},
                  headers=AS_ADMIN).status_code == 200
    route = "/v1/documents/{doc_id}"
    assert rows(keyed) == [
        ("ops", "POST", "/v1/documents", 201, "written"),
        ("ops", "POST", "/v1/documents", 201, "replayed"),
        ("ops", "POST", "/v1/documents", 409, "refused"),
        ("ops", "PUT", route, 200, "written"),
        ("ops", "PATCH", route, 412, "refused"),
        ("ui", "PATCH", route, 403, "refused"),
        ("-", "DELETE", route, 401, "refused"),
        ("ops", "DELETE", route, 200, "written"),
        ("ops", "DELETE", route, 404, "refused"),
        ("ops", "POST", "/v1/documents/bulk", 200, "written"),
    ]
    with keyed.write_engine.connect() as conn:  # written rows name what the outbox recorded
        written = conn.execute(sa.text(
            "SELECT count(*) FROM audit_log a, unnest(a.doc_ids, a.versions) AS w(id, v) "
            "WHERE a.outcome = 'written' AND NOT EXISTS (SELECT 1 FROM outbox o "
            "WHERE o.doc_id = w.id AND o.version = w.v)")).scalar()
    assert written == 0

    env = {**os.environ, "DATABASE_URL": keyed.command_settings.database_url}
    shown = subprocess.run([sys.executable, "-m", "semsearch.cli", "audit", "--document", doc["id"]],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[-1] == "8 row(s)", shown.stdout  # all but the refused reuse and the bulk
    assert "404 refused" in lines[0] and "key=k1" in lines[-2] and f"{doc['id']}@v1" in lines[-2]
    by_key = subprocess.run([sys.executable, "-m", "semsearch.cli", "audit", "--key", "ui"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert by_key.stdout.splitlines()[-1] == "1 row(s)" and "403 refused" in by_key.stdout


def test_rows_past_the_retention_are_purged(keyed: Pipeline) -> None:
    with keyed.write_engine.begin() as conn:
        for age in ("100 days", "1 day"):
            conn.execute(sa.text("INSERT INTO audit_log (at, key_name, client, method, route, status, "
                                 f"outcome) VALUES (now() - interval '{age}', 'old', '-', 'GET', '/', "
                                 "200, 'written')"))
    assert audit.purge(keyed.write_engine, 90) == 1
    with keyed.write_engine.connect() as conn:
        assert [r.at.date() for r in audit.find(conn, key="old")] != []
        assert len(audit.find(conn, key="old")) == 1


def test_maintenance_is_audited(keyed: Pipeline) -> None:
    audit.maintenance(keyed.write_engine, "reindex", "store=pgvector left=0")
    with keyed.write_engine.connect() as conn:
        row = audit.find(conn, limit=1)[0]
    assert row.key_name.startswith("cli:") and row.route == "reindex" and row.outcome == "done"

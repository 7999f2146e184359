"""Keys with scopes on both APIs: 401 without or with an unknown key, 403 with the wrong scope
(both with WWW-Authenticate), X-API-Key or Bearer, keys from files; nothing written when refused."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from command_side.settings import CommandSettings
from common.auth import check_serving
from tests.pipeline import Pipeline, pipeline
from tests.services import Services

ADMIN = "admin-secret-0123456789"
READER = "reader-secret-0123456789"
DOC = {"title": "Keys", "body": "Only admins write."}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def keyed(services: Services, real_encoder, tmp_path: Path) -> Iterator[Pipeline]:  # type: ignore[no-untyped-def]
    readers = tmp_path / "read_keys"
    readers.write_text(f"search-ui:{READER}\n")  # a secret mounted as a file
    auth = {"auth": "on", "admin_keys": [f"ops:{ADMIN}"], "read_keys_file": readers}
    with pipeline(services, real_encoder, auth=auth) as p:
        yield p


def documents(pipe: Pipeline) -> int:
    with pipe.write_engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM documents")).scalar_one())


def test_writes_need_an_admin_key(keyed: Pipeline) -> None:
    post = keyed.command.post
    reply = post("/v1/documents", json=DOC)
    assert reply.status_code == 401 and reply.headers["WWW-Authenticate"] == 'Bearer realm="semsearch"'
    assert reply.headers["content-type"] == "application/problem+json"
    reply = post("/v1/documents", json=DOC, headers={"X-API-Key": "not-a-known-key-at-all"})
    assert reply.status_code == 401 and 'error="invalid_token"' in reply.headers["WWW-Authenticate"]
    reply = post("/v1/documents", json=DOC, headers={"X-API-Key": READER})
    assert reply.status_code == 403, reply.text
    assert 'error="insufficient_scope", scope="admin"' in reply.headers["WWW-Authenticate"]
    assert "'search-ui' may not admin" in reply.json()["detail"]
    assert documents(keyed) == 0
    assert post("/v1/documents", json=DOC, headers={"X-API-Key": ADMIN}).status_code == 201
    reply = post("/v1/documents", json=DOC, headers={"Authorization": f"Bearer {ADMIN}"})
    assert reply.status_code == 201
    assert documents(keyed) == 2
    assert keyed.command.get("/readyz").status_code == 200  # probes stay open


def test_searches_need_a_read_or_admin_key(keyed: Pipeline) -> None:
    search = {"query": "who writes"}
    reply = keyed.query.post("/v1/search", json=search)
    assert reply.status_code == 401 and "WWW-Authenticate" in reply.headers
    for secret in (READER, ADMIN):
        assert keyed.query.post("/v1/search", json=search,
                                headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert keyed.query.get("/v1/documents/00000000-0000-0000-0000-000000000000",
                           headers={"X-API-Key": READER}).status_code == 404
    assert keyed.query.get("/v1/documents/00000000-0000-0000-0000-000000000000").status_code == 401


def test_the_schema_shows_the_keys(keyed: Pipeline) -> None:
    schema = keyed.command.get("/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"ApiKey", "Bearer"}
    create = schema["paths"]["/v1/documents"]["post"]
    assert create["security"] == [{"ApiKey": []}, {"Bearer": []}]
    assert {"401", "403"} <= set(create["responses"])


def test_unsound_keys_and_open_binds_are_refused() -> None:
    with pytest.raises(ValidationError, match="shorter than 16"):
        CommandSettings(admin_keys=["ops:short"])
    with pytest.raises(ValidationError, match="used twice"):
        CommandSettings(admin_keys=[f"ops:{ADMIN}"], read_keys=[f"ops:{READER}"])
    with pytest.raises(SystemExit, match="no API keys: set ADMIN_KEYS"):
        check_serving(CommandSettings(auth="on"), "127.0.0.1")
    with pytest.raises(SystemExit, match="AUTH=off on 0.0.0.0"):
        check_serving(CommandSettings(auth="off"), "0.0.0.0")
    assert "auth: off" in check_serving(CommandSettings(auth="off"), "127.0.0.1")


def test_an_api_beyond_loopback_without_keys_does_not_start() -> None:
    env = {"PATH": "/usr/bin:/bin", "AUTH": "off"}
    run = subprocess.run([sys.executable, "-m", "semsearch.cli", "query-api", "--host", "0.0.0.0",
                          "--port", "1", "--workers", "1"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode != 0 and "set ADMIN_KEYS and READ_KEYS" in run.stderr, run.stderr


def test_every_credential_presented_must_be_valid(keyed: Pipeline) -> None:
    search = {"query": "who writes"}
    for headers in ({"X-API-Key": "", "Authorization": f"Bearer {READER}"},
                    {"X-API-Key": READER, "Authorization": "Basic Zm9vOmJhcg=="},
                    {"X-API-Key": "", "Authorization": f"Bearer {READER}"}):
        assert keyed.query.post("/v1/search", json=search, headers=headers).status_code == 401

"""Rate limits per key through Redis: 429 with Retry-After and RateLimit-* past the limit,
shared by every process, a bulk import counting its documents, per client address when open."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from command_side.api import create_app
from tests.pipeline import Pipeline, pipeline
from tests.services import Services

DOC = {"title": "Limited", "body": "Three a minute."}


@pytest.fixture
def limited(services: Services, real_encoder) -> Iterator[tuple[Pipeline, str, str, str]]:  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:8]  # key names of this test only: the counters live in Redis
    admin, other, reader = (f"{n}-{tag}-0123456789" for n in ("admin", "other", "reader"))
    auth = {"auth": "on", "admin_keys": [f"a{tag}:{admin}", f"o{tag}:{other}"],
            "read_keys": [f"r{tag}:{reader}"], "rate_limit_admin": 3, "rate_limit_read": 2}
    with pipeline(services, real_encoder, auth=auth) as p:
        yield p, admin, other, reader


def documents(pipe: Pipeline) -> int:
    with pipe.write_engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM documents")).scalar_one())


def test_a_key_past_its_limit_gets_429_across_processes(limited: tuple[Pipeline, str, str, str],
                                                        ) -> None:
    pipe, admin, other, _ = limited
    key = {"X-API-Key": admin}
    assert pipe.command.post("/v1/documents", json=DOC, headers=key).status_code == 201
    with TestClient(create_app(pipe.command_settings)) as second:  # another API process
        assert second.post("/v1/documents", json=DOC, headers=key).status_code == 201
        assert second.post("/v1/documents", json=DOC, headers=key).status_code == 201
        reply = second.post("/v1/documents", json=DOC, headers=key)
    assert reply.status_code == 429, reply.text
    assert 1 <= int(reply.headers["Retry-After"]) <= 60
    assert reply.headers["RateLimit-Limit"] == "3" and reply.headers["RateLimit-Remaining"] == "0"
    assert reply.headers["RateLimit-Reset"] == reply.headers["Retry-After"]
    assert pipe.command.post("/v1/documents", json=DOC, headers=key).status_code == 429
    assert documents(pipe) == 3
    with pipe.write_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE status = 429")).scalar() == 2
    # another key has its own budget; a bulk import counts its documents
    bulk = {"documents": [DOC] * 4}
    assert pipe.command.post("/v1/documents/bulk", json=bulk,
                             headers={"X-API-Key": other}).status_code == 429
    assert pipe.command.post("/v1/documents", json=DOC,
                             headers={"X-API-Key": other}).status_code == 429  # 1 + 4 > 3
    assert documents(pipe) == 3


def test_reads_have_their_own_limit(limited: tuple[Pipeline, str, str, str]) -> None:
    pipe, _, _, reader = limited
    key = {"Authorization": f"Bearer {reader}"}
    statuses = [pipe.query.post("/v1/search", json={"query": "x"}, headers=key).status_code
                for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_open_mode_limits_per_client_address(services: Services, real_encoder) -> None:  # type: ignore[no-untyped-def]
    auth = {"auth": "off", "rate_limit_admin": 1}
    with pipeline(services, real_encoder, auth=auth) as pipe:
        # (TestClient's address is "testclient": one client; the counter is per address)
        pipe.redis.delete(*pipe.redis.keys("semsearch:rl:admin:client testclient:*") or ["-"])
        assert pipe.command.post("/v1/documents", json=DOC).status_code == 201
        reply = pipe.command.post("/v1/documents", json=DOC)
        assert reply.status_code == 429 and "client testclient" in reply.json()["detail"]

"""Real services for the test session: PostgreSQL + pgvector, Redis and Weaviate.

Started once per session on free loopback ports in a temporary folder. Under ``CI=true``
Weaviate is required: a missing binary or a failed start fails the run, never skips.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg

from command_side.migrate import upgrade
from operations.stack.postgres import EmbeddedPostgres
from operations.stack.redis import EmbeddedRedis

TEMPLATE = "semsearch_template"


def weaviate_required() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("SEMSEARCH_REQUIRE_WEAVIATE") == "1"


@dataclass
class Services:
    home: Path
    postgres: EmbeddedPostgres
    redis: EmbeddedRedis
    weaviate: object | None
    weaviate_error: str | None = None

    def fresh_databases(self) -> tuple[str, str]:
        """A new migrated write database and an empty read database, for one test."""
        suffix = uuid.uuid4().hex[:12]
        write, read = f"w_{suffix}", f"r_{suffix}"
        with psycopg.connect(f"host=127.0.0.1 port={self.postgres.port} user=semsearch "
                             "dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{write}" TEMPLATE {TEMPLATE}')
            conn.execute(f'CREATE DATABASE "{read}"')
        return self.postgres.url(write), self.postgres.url(read)

    def stop(self) -> None:
        for service in (self.weaviate, self.redis, self.postgres):
            if service is not None:
                service.stop()  # type: ignore[attr-defined]


def start(home: Path) -> Services:
    postgres = EmbeddedPostgres(home / "postgres", durable=False).start()
    upgrade(postgres.create_database(TEMPLATE))
    redis = EmbeddedRedis(home / "redis").start()
    services = Services(home, postgres, redis, None)
    try:
        from operations.stack.weaviate import EmbeddedWeaviate, ensure_binary

        binary = ensure_binary(build=weaviate_required())
        if binary is None:
            services.weaviate_error = "no weaviate-server binary (run scripts/setup; needs Go)"
        else:
            services.weaviate = EmbeddedWeaviate(home / "weaviate", binary=binary).start()
    except Exception as exc:
        services.weaviate_error = f"Weaviate failed to start: {exc}"
    if services.weaviate is None and weaviate_required():
        services.stop()
        raise RuntimeError(f"CI=true requires a real Weaviate: {services.weaviate_error}")
    return services

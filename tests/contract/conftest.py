"""One store contract, run unchanged against every store: memory, pgvector and Weaviate."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from query_side.db import make_read_engine
from query_side.stores.base import VectorStore
from query_side.stores.memory import MemoryStore
from query_side.stores.pgvector import PgvectorStore
from tests.services import Services

DIMENSIONS = 384


@pytest.fixture(params=["memory", "pgvector", "weaviate"])
def store(request: pytest.FixtureRequest) -> Iterator[VectorStore]:
    match request.param:
        case "memory":
            yield MemoryStore()
        case "pgvector":
            services: Services = request.getfixturevalue("services")
            _, read_url = services.fresh_databases()
            engine = make_read_engine(read_url)
            pg = PgvectorStore(engine, f"contract_{uuid.uuid4().hex[:8]}", DIMENSIONS)
            pg.ensure_schema()
            yield pg
            engine.dispose()
        case "weaviate":
            from query_side.stores.weaviate import WeaviateStore, connect

            server = request.getfixturevalue("weaviate")
            wv = WeaviateStore(connect(server.http_port, server.grpc_port),
                               f"Contract{uuid.uuid4().hex[:10]}")
            wv.ensure_schema()
            yield wv
            wv.close()

"""The whole CQRS path in one test process: real PostgreSQL, Redis, RQ and stores.

The command and query apps run under FastAPI's TestClient; the relay and an RQ SimpleWorker
run in burst mode when a test says so, which makes each step of the sync observable.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa
from fastapi.testclient import TestClient
from redis import Redis
from rq import SimpleWorker

from command_side.api import create_app as command_app
from command_side.relay import relay_once
from command_side.settings import CommandSettings
from embeddings import Encoder
from query_side import readmodel
from query_side.api import create_app as query_app
from query_side.generations import MODEL_IDS
from query_side.settings import QuerySettings
from sync_worker import runtime
from sync_worker.settings import WorkerSettings
from sync_worker.worker import queues
from tests.services import Services


@dataclass
class WrappedEncoder:
    """Passes through to a real encoder; subclasses watch or hold the calls."""

    inner: Encoder

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.inner.encode(texts)


@dataclass
class CountingEncoder(WrappedEncoder):
    """Counts the texts it was asked to embed."""

    texts: list[str] = field(default_factory=list)

    def encode(self, texts: list[str]) -> np.ndarray:
        self.texts.extend(texts)
        return self.inner.encode(texts)


@dataclass
class Pipeline:
    command_settings: CommandSettings
    worker_settings: WorkerSettings
    redis: Redis
    write_engine: sa.Engine
    runtime: runtime.Runtime
    encoder: CountingEncoder
    command: TestClient
    query: TestClient

    def relay(self) -> int:
        total = 0
        while sent := relay_once(self.write_engine, self.redis, self.command_settings):
            total += sent
        return total

    def work(self, settle: bool = True) -> None:
        runtime.install(self.runtime)
        try:
            worker = SimpleWorker(queues(self.worker_settings, self.redis), connection=self.redis)
            worker.work(burst=True, logging_level="WARNING")
        finally:
            runtime.install(None)
        if settle:
            self.settle()

    def sync(self) -> None:
        self.relay()
        self.work()

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until the query API has heard every store change announced so far (its result
        cache drops stale answers on hearing them): a marker announced now is heard after them."""
        results = self.query.app.state.results  # type: ignore[attr-defined]
        if not results.live:
            return  # nothing is served from the cache while it is not listening
        marker = f"settle-{uuid.uuid4().hex}"
        with self.runtime.read_engine.begin() as conn:
            readmodel.announce(conn, marker)
        deadline = time.monotonic() + timeout
        while results.generation(marker) == 0:
            assert time.monotonic() < deadline, "the query API never heard the store changes"
            time.sleep(0.002)

    def create(self, **fields: Any) -> dict[str, Any]:
        body = {"title": "untitled", "body": "empty", **fields}
        reply = self.command.post("/v1/documents", json=body)
        assert reply.status_code == 201, reply.text
        return reply.json()  # type: ignore[no-any-return]

    def search(self, query: str | None = None, **options: Any) -> dict[str, Any]:
        reply = self.query.post("/v1/search", json={"query": query, **options})
        assert reply.status_code == 200, reply.text
        return reply.json()  # type: ignore[no-any-return]

    def ids(self, query: str | None = None, **options: Any) -> list[str]:
        return [hit["id"] for hit in self.search(query, **options)["hits"]]

    def outbox(self, doc_id: str) -> list[Any]:
        with self.write_engine.connect() as conn:
            return conn.execute(sa.text("SELECT seq, version, pending_stores FROM outbox "
                                        "WHERE doc_id = :id ORDER BY seq"), {"id": doc_id}).all()


@contextmanager
def pipeline(services: Services, encoder: Encoder, stores: list[str] | None = None,
             query_store: str = "pgvector", auth: dict[str, Any] | None = None,
             **query_options: Any) -> Iterator[Pipeline]:
    """``auth``: the auth settings of both apps (default: AUTH=off)."""
    auth = auth or {"auth": "off"}
    stores = stores or ["pgvector"]
    write_url, read_url = services.fresh_databases()
    queue = f"t{uuid.uuid4().hex[:10]}"
    weaviate: dict[str, Any] = {}
    if "weaviate" in stores:
        assert services.weaviate is not None, services.weaviate_error
        weaviate = {"weaviate_url": services.weaviate.url,  # type: ignore[attr-defined]
                    "weaviate_grpc_port": services.weaviate.grpc_port,  # type: ignore[attr-defined]
                    "weaviate_collection": f"T{uuid.uuid4().hex[:12]}"}
    redis_url = services.redis.url
    kind = {model: kind for kind, model in MODEL_IDS.items()}.get(encoder.model_id)
    named = {"encoder": kind} if kind else {}  # the encoder handed in (generation 1 records it)
    command_settings = CommandSettings(database_url=write_url, redis_url=redis_url,
                                       sync_stores=stores, queue_name=queue, **auth)
    worker_settings = WorkerSettings(database_url=write_url, read_database_url=read_url,
                                     redis_url=redis_url, sync_stores=stores, queue_name=queue,
                                     **weaviate, **named)
    query_settings = QuerySettings(read_database_url=read_url, store=query_store, redis_url=redis_url,
                                   **weaviate, **auth, **{**named, **query_options})
    counting = CountingEncoder(encoder)
    rt = runtime.build(worker_settings, encoder=counting)
    for name in stores:
        rt.store(name)
    qapp = query_app(query_settings)
    qapp.state.encoder_override = encoder
    redis = Redis.from_url(redis_url)
    write_engine = sa.create_engine(write_url, pool_size=2)
    with TestClient(command_app(command_settings)) as command, TestClient(qapp) as query:
        yield Pipeline(command_settings, worker_settings, redis, write_engine, rt, counting,
                       command, query)
    rt.close()
    write_engine.dispose()
    redis.close()

"""The naive baseline: embed inside the write request, no outbox, no queue, no worker.

``POST /v1/documents`` validates the body with the command API's own schema, embeds title + body
with the same encoder, and writes the row with its vector into one pgvector table, all before it
answers. A document is searchable the moment the answer arrives; the price is that every write
waits for the model, and concurrent writes fight over the same cores. Run it with
``python -m benchmarks.throughput.naive --port 8011 --database-url postgresql+psycopg://… --encoder torch``.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from command_side.models import DocumentCreate
from common import http
from embeddings import embedded_text

TABLE = "naive_documents"
DDL = [
    "CREATE EXTENSION IF NOT EXISTS vector",
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (id uuid PRIMARY KEY, version integer NOT NULL,
        title text NOT NULL, body text NOT NULL, category text, tags text[] NOT NULL,
        attributes jsonb NOT NULL, embedding vector(384) NOT NULL)""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_embedding ON {TABLE} USING hnsw (embedding vector_cosine_ops)",
]
UPSERT = sa.text(f"""
    INSERT INTO {TABLE} (id, version, title, body, category, tags, attributes, embedding)
    VALUES (:id, 1, :title, :body, :category, :tags, CAST(:attributes AS jsonb), :embedding)
    ON CONFLICT (id) DO UPDATE SET version = {TABLE}.version + 1, title = excluded.title,
        body = excluded.body, category = excluded.category, tags = excluded.tags,
        attributes = excluded.attributes, embedding = excluded.embedding
    RETURNING version""")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    from benchmarks.harness.ceilings import load_backend
    from query_side.db import make_read_engine

    engine = make_read_engine(app.state.database_url, pool_size=16)
    with engine.begin() as conn:
        for statement in DDL:
            conn.execute(sa.text(statement))
    app.state.engine = engine
    app.state.encoder = load_backend(app.state.backend)
    app.state.encoder.encode(["warm up"])
    yield
    engine.dispose()


def create_app(database_url: str, backend: str) -> FastAPI:
    app = FastAPI(title="naive write-and-embed baseline", lifespan=lifespan, telemetry=http.TELEMETRY)
    app.state.database_url, app.state.backend = database_url, backend

    @app.post("/v1/documents", status_code=201)
    def create(doc: DocumentCreate, request: Request) -> JSONResponse:
        vector = request.app.state.encoder.encode([embedded_text(doc.title, doc.body)])[0]
        with request.app.state.engine.begin() as conn:
            version = conn.execute(UPSERT, {
                "id": doc.id or uuid.uuid4(), "title": doc.title, "body": doc.body,
                "category": doc.category, "tags": doc.tags, "attributes": json.dumps(doc.attributes),
                "embedding": vector}).scalar_one()
        return JSONResponse(status_code=201, content={"id": str(doc.id), "version": version})

    @app.get("/readyz")
    def readyz() -> dict[str, str]:
        return {"status": "ready"}

    return app


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--database-url", required=True, help="a PostgreSQL database with pgvector")
    parser.add_argument("--encoder", default="torch", choices=["torch", "onnx", "hashing"])
    args = parser.parse_args(argv)
    app = create_app(args.database_url, args.encoder)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

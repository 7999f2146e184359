"""Open the stores named in settings: a ``match`` on the name, nothing more."""

from __future__ import annotations

from urllib.parse import urlparse

from sqlalchemy.engine import Engine

from query_side.settings import StoreSettings
from query_side.stores.base import VectorStore


def open_store(name: str, settings: StoreSettings, read_engine: Engine) -> VectorStore:
    match name:
        case "pgvector":
            from query_side.stores.pgvector import PgvectorStore

            return PgvectorStore(read_engine, settings.pgvector_table)
        case "weaviate":
            from query_side.stores.weaviate import WeaviateStore, connect_url

            if not settings.weaviate_url:
                raise ValueError("store 'weaviate' needs WEAVIATE_URL")
            nodes = settings.weaviate_nodes()
            clients = [connect_url(url, grpc_port) for url, grpc_port in nodes]
            return WeaviateStore(clients, settings.weaviate_collection, settings.failpoints,
                                 read=settings.weaviate_read_consistency,
                                 write=settings.weaviate_write_consistency,
                                 replication_factor=settings.weaviate_replication_factor,
                                 grpc_addresses=[(urlparse(url).hostname or "127.0.0.1", port)
                                                 for url, port in nodes])
        case "memory":
            from query_side.stores.memory import MemoryStore

            return MemoryStore()
        case _:
            raise ValueError(f"unknown store {name!r}: use pgvector or weaviate")

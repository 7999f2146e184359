"""The query API's engine: autocommit, and no ping each time a connection leaves the pool. A read
that meets a connection the database dropped meanwhile (a restart) is tried once more, and
succeeds; processes starting together on it still create the schema once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from query_side.db import make_read_engine, read_retrying
from query_side.stores.base import Filters
from query_side.stores.pgvector import PgvectorStore
from tests.contract.test_store_contract import doc, unit
from tests.services import Services


def drop_connections(services: Services, database: str) -> int:
    """What a restart does to pooled connections: the server ends every session of ``database``."""
    with psycopg.connect(f"host=127.0.0.1 port={services.postgres.port} user=semsearch "
                         "dbname=postgres", autocommit=True) as conn:
        return len(conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = %s AND pid <> pg_backend_pid()", (database,)).fetchall())


def test_reads_survive_connections_dropped_in_the_pool(services: Services) -> None:
    _, read_url = services.fresh_databases()
    database = read_url.rsplit("/", 1)[1]
    engine = make_read_engine(read_url, pool_size=2, autocommit=True, pre_ping=False)
    store = PgvectorStore(engine, "stale")
    store.ensure_schema()
    query = unit(np.random.default_rng(5).standard_normal(384))
    store.upsert([doc(vector=query)])
    assert len(store.search(query, Filters(), 5)) == 1  # a connection now waits in the pool

    assert drop_connections(services, database) >= 1
    with pytest.raises(DBAPIError) as failed:  # unretried, the pooled connection fails the read
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    assert failed.value.connection_invalidated

    store.search(query, Filters(), 5)  # warm the pool again, then drop it again
    drop_connections(services, database)
    assert len(store.search(query, Filters(), 5)) == 1
    assert store.health()

    drop_connections(services, database)
    assert read_retrying(engine, _count) == 1
    engine.dispose()


def _count(conn: sa.Connection) -> int:
    return int(conn.execute(sa.text("SELECT count(*) FROM stale")).scalar_one())


def test_processes_starting_together_create_the_schema_once(services: Services) -> None:
    """The query API's workers start at the same moment on an autocommit engine; each creates
    the pgvector table if missing. They must take turns (a lost race fails a worker's start)."""
    _, read_url = services.fresh_databases()
    engines = [make_read_engine(read_url, pool_size=1, autocommit=True, pre_ping=False)
               for _ in range(4)]
    for round_ in range(8):
        stores = [PgvectorStore(engine, f"race_{round_}") for engine in engines]
        start = threading.Barrier(len(stores))
        with ThreadPoolExecutor(len(stores)) as pool:  # list(): re-raises a thread's error
            list(pool.map(partial(_create_together, start), stores))
        assert stores[0].count() == 0
    for engine in engines:
        engine.dispose()


def _create_together(start: threading.Barrier, store: PgvectorStore) -> None:
    start.wait()
    store.ensure_schema()

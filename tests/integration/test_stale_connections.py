"""The query API's engine does not ping a connection each time it leaves the pool; a read that
meets a connection the database dropped meanwhile (a restart) is tried once more, and succeeds."""

from __future__ import annotations

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
    assert read_retrying(lambda: _count(engine)) == 1
    engine.dispose()


def _count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM stale")).scalar_one())

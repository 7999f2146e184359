"""Read-database engine: pgvector types registered on every connection (numpy in and out)."""

from typing import Any

import sqlalchemy as sa
from pgvector.psycopg import register_vector
from sqlalchemy import event
from sqlalchemy.engine import Engine

from query_side import readmodel
from query_side.readmodel import as_array

__all__ = ["as_array", "make_read_engine"]


def make_read_engine(url: str, pool_size: int = 8) -> Engine:
    """An engine on the read database; creates the vector extension and bookkeeping tables."""
    bootstrap = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with bootstrap.begin() as conn:
        readmodel.ensure_schema(conn)
    bootstrap.dispose()
    engine = sa.create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
        # A crashed client's transaction (and the advisory locks it holds) never outlives a minute.
        connect_args={"connect_timeout": 5,
                      "options": "-c idle_in_transaction_session_timeout=60000"},
    )

    @event.listens_for(engine, "connect")
    def _register(dbapi_connection: Any, _record: Any) -> None:
        register_vector(dbapi_connection)

    return engine

"""pgvector: a selective filter on the HNSW path still returns `limit` hits (iterative scan).

PostgreSQL picks a plain index when one fits the filter, which would hide the problem, so this
test turns sequential scans off for its database: the attribute-range filter can then only be
answered through the HNSW index, where pgvector filters *after* the scan.
"""

from __future__ import annotations

import numpy as np
import psycopg
import sqlalchemy as sa

from query_side.db import make_read_engine
from query_side.stores.base import Filters
from query_side.stores.pgvector import PgvectorStore
from tests.contract.test_store_contract import doc, near, unit
from tests.services import Services


def test_one_percent_filter_on_hnsw_path_fills_the_limit(services: Services) -> None:
    _, read_url = services.fresh_databases()
    database = read_url.rsplit("/", 1)[1]
    with psycopg.connect(f"host=127.0.0.1 port={services.postgres.port} user=semsearch "
                         "dbname=postgres", autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{database}" SET enable_seqscan = off')
    engine = make_read_engine(read_url)
    store = PgvectorStore(engine, "filtered", exact_below=0)  # always through the HNSW index
    store.ensure_schema()
    rng = np.random.default_rng(11)
    query = unit(rng.standard_normal(384))
    common = [doc(vector=near(query, 0.3), attributes={"n": 1}) for _ in range(1980)]
    rare = [doc(attributes={"n": 99}) for _ in range(20)]
    store.upsert(common + rare)

    hits = store.search(query, Filters(attributes={"n": {"gte": 50}}), limit=10)
    assert len(hits) == 10 and {h.id for h in hits} <= {r.id for r in rare}

    with engine.begin() as conn:  # the same query without iterative scan loses hits
        conn.execute(sa.text("SET LOCAL hnsw.iterative_scan = off"))
        plain = conn.execute(sa.text(
            "SELECT doc_id FROM filtered_passages WHERE (attributes ->> 'n')::float8 >= 50 "
            "ORDER BY embedding <=> :q LIMIT 10"), {"q": query}).all()
        plan = "\n".join(r[0] for r in conn.execute(sa.text(
            "EXPLAIN SELECT doc_id FROM filtered_passages WHERE (attributes ->> 'n')::float8 >= 50 "
            "ORDER BY embedding <=> :q LIMIT 10"), {"q": query}))
    assert "filtered_passages_embedding" in plan  # really the HNSW index
    assert len(plain) < 10

    exact = PgvectorStore(engine, "filtered")  # a filter expected to match few rows: all scored
    best = sorted(rare, key=lambda r: -float(np.dot(r.passages[0].vector, query)))[:10]
    found = exact.search(query, Filters(attributes={"n": {"gte": 50}}), limit=10)
    assert [h.id for h in found] == [r.id for r in best]
    engine.dispose()

"""The agreement measurement on a small real corpus (the 2,000-paragraph figure: `semsearch agreement`)."""

from __future__ import annotations

import uuid

from benchmarks.relevance.agreement import measure
from query_side.db import make_read_engine
from query_side.stores.pgvector import PgvectorStore
from query_side.stores.weaviate import WeaviateStore, connect
from tests.services import Services


def test_stores_agree_on_real_paragraphs(services: Services, weaviate) -> None:  # type: ignore[no-untyped-def]
    _, read_url = services.fresh_databases()
    engine = make_read_engine(read_url)
    stores = {"pgvector": PgvectorStore(engine, "agree"),
              "weaviate": WeaviateStore(connect(weaviate.http_port, weaviate.grpc_port),
                                        f"Agree{uuid.uuid4().hex[:8]}")}
    for store in stores.values():
        store.ensure_schema()
    result = measure(stores, docs=150, queries=10, progress=False)
    stores["weaviate"].close()
    engine.dispose()
    assert (result.documents, result.queries, result.k) == (150, 10, 10)
    assert result.overlap >= 0.9 and result.recall_pgvector >= 0.9 and result.recall_weaviate >= 0.9
    assert 0 <= result.overlap_filtered <= 1

"""Reconcile every node of a Weaviate cluster on its own, not only what the cluster answers.

Each node is compared with PostgreSQL through a store bound to it alone that reads at consistency
ONE (query_side/stores/weaviate/nodes.py): the ids, versions, content hashes and passages its own
replica holds. A node that missed writes while it was down shows them as missing or stale here
until async replication has caught it up, even though a QUORUM read through the cluster
already finds them. A soak or fault test calls :func:`compare_nodes` after its load.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from embeddings.passages import PassageSettings
from query_side.settings import StoreSettings
from query_side.stores.weaviate import node_stores
from sync_worker.reconcile import Differences, compare


def compare_nodes(engine: Engine, settings: StoreSettings, model_id: str,
                  passages: PassageSettings | None = None) -> dict[str, Differences]:
    """Node URL → its differences from PostgreSQL (raises StoreUnavailable for a dead node)."""
    found: dict[str, Differences] = {}
    for url, store in node_stores(settings):
        try:
            found[url] = compare(engine, store, model_id, passages)
        finally:
            store.close()
    return found

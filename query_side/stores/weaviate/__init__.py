"""The Weaviate store adapter: its public surface, re-exported from the private modules here.

- ``store.py``: :class:`WeaviateStore` (the :class:`~query_side.stores.VectorStore` on
  Weaviate), :func:`connect` and :func:`connect_url` (a client per node).
- ``failover.py``: the nodes of a cluster, one at a time, moving on when one fails.
- ``filters.py``: search filters → a Weaviate filter; ``objects.py``: records ↔ Weaviate objects;
  ``schema.py``: the two collections (documents, passages) and their settings.
- ``nodes.py``: :func:`node_stores` and :func:`node_status`, each node of a cluster on its own.

Code outside this package imports from here only.
"""

from query_side.stores.weaviate.nodes import node_ready, node_status, node_stores
from query_side.stores.weaviate.store import (
    StoreWriteFailed,
    WeaviateStore,
    connect,
    connect_url,
)

__all__ = [
    "StoreWriteFailed",
    "WeaviateStore",
    "connect",
    "connect_url",
    "node_ready",
    "node_status",
    "node_stores",
]

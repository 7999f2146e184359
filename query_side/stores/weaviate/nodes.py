"""Each node of a Weaviate cluster on its own: what it holds, not what the cluster answers.

- :func:`node_stores`: one :class:`WeaviateStore` per node, bound to that node alone (no moving
  to another) and reading at consistency ONE. A read at ONE is served by the coordinating node's
  own replica when it has one (Weaviate asks the local replica first), and every node holds a
  replica of every shard when the replication factor equals the node count, so a walk of
  ``versions()`` through it lists (id, version) as that node holds them. While a node's own
  replica is not loaded (just restarted) Weaviate may answer from another: reconcile again.
- :func:`node_status`: whether a node is ready and how many documents and passages its own
  replica holds (an aggregate is answered from the local shard, at no consistency level).
"""

from __future__ import annotations

import httpx

from query_side.settings import StoreSettings
from query_side.stores.base import StoreUnavailable
from query_side.stores.weaviate.store import WeaviateStore, connect_url


def node_stores(settings: StoreSettings) -> list[tuple[str, WeaviateStore]]:
    """(URL, store reading only that node) for each node of ``WEAVIATE_URL``."""
    return [(url, WeaviateStore(connect_url(url, port), settings.weaviate_collection,
                                read="ONE", write=settings.weaviate_write_consistency,
                                replication_factor=settings.weaviate_replication_factor))
            for url, port in settings.weaviate_nodes()]


def node_ready(url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"{url.rstrip('/')}/v1/.well-known/ready",
                         timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def node_status(url: str, store: WeaviateStore) -> dict[str, object]:
    """Whether the node at ``url`` is ready, and the documents and passages it holds (its own
    replica's count through ``store``, one of :func:`node_stores`; None while it is down)."""
    ready = node_ready(url)
    counts: dict[str, object] = {"documents": None, "passages": None}
    if ready:
        try:
            counts = {"documents": store.count(), "passages": store.passage_count()}
        except StoreUnavailable:
            pass
    return {"url": url, "ready": ready, "objects": counts["documents"], **counts}

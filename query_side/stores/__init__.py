"""Vector stores behind one small interface (:class:`VectorStore`)."""

from query_side.stores.base import (
    Filters,
    ReadDocument,
    SearchHit,
    StoreUnavailable,
    VectorStore,
)

__all__ = ["Filters", "ReadDocument", "SearchHit", "StoreUnavailable", "VectorStore"]

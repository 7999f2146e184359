"""The pgvector store adapter: its public surface, re-exported from the private modules here.

- ``store.py``: :class:`PgvectorStore` (the :class:`~query_side.stores.VectorStore` in the read
  database, HNSW cosine index, BM25 in SQL) and the keyword helpers :func:`tsvector`, :func:`tsquery`.
- ``filters.py``: search filters → a SQL WHERE clause with bound parameters.

Code outside this package imports from here only.
"""

from query_side.stores.pgvector.store import PgvectorStore, tsquery, tsvector

__all__ = ["PgvectorStore", "tsquery", "tsvector"]

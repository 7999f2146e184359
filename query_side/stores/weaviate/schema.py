"""The Weaviate read model's two collections: what each object holds and how it is indexed.

- ``{name}``: one object per document, the document's UUID as the object's. Metadata, the whole
  body (stored, not indexed), the body's lead (the snippet of a listing), content hash, passage
  count. No vector: searches go to the passages.
- ``{name}Passage``: one object per passage, ``uuid5(document id, ordinal)``: its vector, span
  and text, its keyword terms, and the document's version and filter fields copied, so a
  filtered vector or keyword search needs no join.

Keyword terms are analyzed before they get here (query_side/stores/terms.py: stems, stop words,
the title counted twice), so Weaviate only splits them on whitespace and scores them with BM25
(k1 1.2, b 0.75, no stop words of its own): the same terms and formula as pgvector's SQL.
"""

from __future__ import annotations

from typing import Any

from weaviate.classes.config import (
    Configure,
    DataType,
    Property,
    ReplicationDeletionStrategy,
    StopwordsPreset,
    Tokenization,
    VectorDistances,
)

from query_side.stores import terms

PASSAGE_SUFFIX = "Passage"
MARKER = "passage_count"
"""A document collection without this property was made before passages (a legacy read model)."""

# HNSW: cosine, 32 links per node and ef_construction 128 (twice pgvector's 16/64: better recall
# for the same vectors, at a slower build); ef -1 is dynamic, between 100 and 500 and 8 x limit.
# Filtered queries use ACORN (the 1.39 default) and an exact flat search below 40,000 matches.
VECTOR_INDEX = Configure.VectorIndex.hnsw(
    distance_metric=VectorDistances.COSINE, ef_construction=128, max_connections=32, ef=-1,
    dynamic_ef_min=100, dynamic_ef_max=500, dynamic_ef_factor=8)

KEYWORD_INDEX = Configure.inverted_index(bm25_k1=terms.K1, bm25_b=terms.B,
                                         stopwords_preset=StopwordsPreset.NONE)


def replication(factor: int) -> Any:
    """``factor`` copies of every object. Above one, async replication compares the replicas in
    the background, so a node that was down catches up; a delete that meets a newer write (or the
    reverse) resolves by time, so a node that missed a delete does not bring the object back."""
    if factor == 1:
        return Configure.replication(factor=1)
    return Configure.replication(
        factor=factor, async_enabled=True,
        deletion_strategy=ReplicationDeletionStrategy.TIME_BASED_RESOLUTION)


def _exact(name: str, data_type: DataType) -> Property:
    """Whole-value text for equality filters: field tokenization, no BM25 index."""
    return Property(name=name, data_type=data_type, tokenization=Tokenization.FIELD,
                    index_searchable=False)


def _stored(name: str, data_type: DataType) -> Property:
    """Returned, never searched or filtered on (no index to write at ingest)."""
    if data_type == DataType.TEXT:
        return Property(name=name, data_type=data_type, index_filterable=False,
                        index_searchable=False)
    return Property(name=name, data_type=data_type, index_filterable=False,
                    index_range_filters=False)


def filter_fields() -> list[Property]:
    """What filters read, on both collections (``attr_num__*`` are added as they appear)."""
    return [
        _exact("category", DataType.TEXT),
        _exact("tags", DataType.TEXT_ARRAY),
        Property(name="published_at", data_type=DataType.DATE, index_range_filters=True),
        _exact("attr_eq", DataType.TEXT_ARRAY),
    ]


def document_properties() -> list[Property]:
    return [
        Property(name="version", data_type=DataType.INT),
        _stored("title", DataType.TEXT),
        _stored("lead", DataType.TEXT),
        _stored("body", DataType.TEXT),
        _exact("content_hash", DataType.TEXT),
        _stored("attributes_json", DataType.TEXT),
        _stored(MARKER, DataType.INT),
        *filter_fields(),
    ]


def passage_properties() -> list[Property]:
    return [
        _exact("doc_id", DataType.TEXT),
        Property(name="version", data_type=DataType.INT),
        _stored("ordinal", DataType.INT),
        _stored("span_start", DataType.INT),
        _stored("span_end", DataType.INT),
        _stored("text", DataType.TEXT),
        Property(name="terms", data_type=DataType.TEXT, tokenization=Tokenization.WHITESPACE,
                 index_filterable=False),
        *filter_fields(),
    ]

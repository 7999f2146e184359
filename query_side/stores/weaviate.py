"""Weaviate store: one collection of self-provided vectors, the document UUID as the object UUID.

Semantics match ``PgvectorStore``; where Weaviate differs:

- The version guard reads stored versions, then writes (Weaviate has no conditional write), so two
  writers of one id racing within milliseconds can let the older win; deletes are atomic per
  object (the version condition is part of the delete filter).
- A batch write that fails for some objects raises ``StoreWriteFailed`` naming them; the others
  are written. Writes overwrite the whole object.
- Scores: semantic is cosine similarity (1 - cosine distance), as on pgvector; keyword is BM25
  squashed to [0, 1) by ``s / (s + 1)``; hybrid is Weaviate's relative-score fusion (alpha 0.5)
  in [0, 1]. ``min_score`` applies to semantic search only, as on pgvector.
- Field tokenization trims whitespace, so a category or tag differing only in leading/trailing
  whitespace matches where SQL equality would not.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC
from typing import Any, TypeVar

import grpc
import httpx
import numpy as np
import weaviate
from weaviate.classes.config import Configure, DataType, Property, Tokenization, VectorDistances
from weaviate.classes.data import DataObject
from weaviate.classes.init import AdditionalConfig, Timeout
from weaviate.classes.query import Filter, HybridFusion, MetadataQuery, Sort
from weaviate.collections.classes.filters import _Filters
from weaviate.connect import ConnectionParams
from weaviate.exceptions import (
    UnexpectedStatusCodeError,
    WeaviateBaseError,
    WeaviateInsertManyAllFailedError,
    WeaviateInvalidInputError,
)

from query_side.stores import weaviate_filters as wf
from query_side.stores.base import (
    Filters,
    Mode,
    ReadDocument,
    SearchHit,
    StoredVersion,
    StoreUnavailable,
)

T = TypeVar("T")
RETURNED = ["version", "title", "body", "category", "tags", "published_at", "attributes_json"]
WRITE_CHUNK = 500
"""Objects per ``insert_many`` call."""
READ_CHUNK = 1000
"""Ids per version look-up or delete call (Weaviate caps one delete at 10,000 objects)."""
HYBRID_ALPHA = 0.5
KEYWORD_PROPERTIES = ["title^2", "body"]
"""BM25 fields; the title counts twice, like pgvector's weight A over B."""

# HNSW: cosine, 32 links per node and ef_construction 128 (twice pgvector's 16/64: better recall
# for the same vectors, at a slower build); ef -1 is dynamic, between 100 and 500 and 8 x limit.
# Filtered queries use ACORN (the 1.39 default) and an exact flat search below 40,000 matches.
VECTOR_INDEX = Configure.VectorIndex.hnsw(
    distance_metric=VectorDistances.COSINE, ef_construction=128, max_connections=32, ef=-1,
    dynamic_ef_min=100, dynamic_ef_max=500, dynamic_ef_factor=8)


class StoreWriteFailed(StoreUnavailable):
    """Weaviate refused some objects of a write; ``failed`` maps each id to its error."""

    def __init__(self, failed: dict[uuid.UUID, str]) -> None:
        self.failed = failed
        shown = "; ".join(f"{i}: {msg}" for i, msg in list(failed.items())[:20])
        more = f" (and {len(failed) - 20} more)" if len(failed) > 20 else ""
        super().__init__(f"weaviate: {len(failed)} objects not written: {shown}{more}")


def connect(http_port: int, grpc_port: int, host: str = "127.0.0.1") -> weaviate.WeaviateClient:
    """A client, connected if Weaviate answers; never fails here (the store connects on use).

    Timeouts: 3 s to connect, 20 s per query, 60 s per write.
    """
    client = weaviate.WeaviateClient(
        connection_params=ConnectionParams.from_params(
            http_host=host, http_port=http_port, http_secure=False,
            grpc_host=host, grpc_port=grpc_port, grpc_secure=False),
        additional_config=AdditionalConfig(timeout=Timeout(init=3, query=20, insert=60)),
        skip_init_checks=True,
    )
    try:
        client.connect()
    except WeaviateBaseError:
        pass  # down for now: WeaviateStore connects on first use and reports StoreUnavailable
    return client


def schema_properties() -> list[Property]:
    """Every property, declared (no auto-schema); ``attr_num__*`` ones are added as they appear."""
    return [
        Property(name="version", data_type=DataType.INT),
        # Title and body are searched (BM25), never filtered on: no filterable (bitmap) index,
        # which would cost an inverted-list write per distinct word at every ingest.
        Property(name="title", data_type=DataType.TEXT, index_filterable=False),
        Property(name="body", data_type=DataType.TEXT, index_filterable=False),
        _exact("category", DataType.TEXT),
        _exact("tags", DataType.TEXT_ARRAY),
        Property(name="published_at", data_type=DataType.DATE, index_range_filters=True),
        _exact("content_hash", DataType.TEXT),
        Property(name="attributes_json", data_type=DataType.TEXT, index_filterable=False,
                 index_searchable=False),
        _exact("attr_eq", DataType.TEXT_ARRAY),
    ]


def _exact(name: str, data_type: DataType) -> Property:
    """Whole-value text for equality filters: field tokenization, no BM25 index."""
    return Property(name=name, data_type=data_type, tokenization=Tokenization.FIELD,
                    index_searchable=False)


class WeaviateStore:
    name = "weaviate"

    def __init__(self, client: weaviate.WeaviateClient, collection: str = "Document") -> None:
        self._client = client
        self._name = collection
        self._collection = client.collections.use(collection)
        self._properties: set[str] | None = None
        self._suspect = False
        """Set by a failure: the next call probes REST first, so an outage fails fast instead
        of after the client's ~60 s of gRPC retries (1+2+...+32 s on UNAVAILABLE)."""

    def ensure_schema(self) -> None:
        with self._guard():
            if not self._client.collections.exists(self._name):
                try:
                    self._client.collections.create(
                        self._name, properties=schema_properties(),
                        vector_config=Configure.Vectors.self_provided(
                            vector_index_config=VECTOR_INDEX))
                except UnexpectedStatusCodeError:  # created concurrently by another process?
                    if not self._client.collections.exists(self._name):
                        raise
            self._refresh_properties()

    def upsert(self, records: list[ReadDocument]) -> None:
        if not records:
            return
        newest: dict[uuid.UUID, ReadDocument] = {}
        for record in records:
            if record.id not in newest or newest[record.id].version < record.version:
                newest[record.id] = record
        with self._guard():
            stored = self._stored_versions(list(newest))
            fresh = [r for r in newest.values() if stored.get(r.id, r.version - 1) < r.version]
            self._add_number_properties(fresh)
            failed: dict[uuid.UUID, str] = {}
            for chunk in _chunks(fresh, WRITE_CHUNK):
                failed |= self._insert(chunk)
        if failed:
            raise StoreWriteFailed(failed)

    def _insert(self, chunk: Sequence[ReadDocument]) -> dict[uuid.UUID, str]:
        objects = [DataObject(uuid=r.id, properties=_properties(r),
                              vector=np.asarray(r.vector, dtype=np.float32).tolist())
                   for r in chunk]
        try:
            result = self._collection.data.insert_many(objects)
        except WeaviateInsertManyAllFailedError as exc:
            return {r.id: str(exc.message) for r in chunk}
        return {chunk[index].id: error.message for index, error in result.errors.items()}

    def delete(self, ids: list[tuple[uuid.UUID, int]]) -> None:
        for chunk in _chunks(ids, READ_CHUNK):
            with self._guard():
                result = self._collection.data.delete_many(where=_unless_newer(chunk))
            if result.failed:
                raise StoreUnavailable(
                    f"weaviate: {result.failed} of {result.matches} deletes failed")

    def search(
        self,
        vector: np.ndarray | None,
        filters: Filters,
        limit: int,
        offset: int = 0,
        min_score: float | None = None,
        mode: Mode = "semantic",
        text: str | None = None,
    ) -> list[SearchHit]:
        if limit <= 0 or (mode == "keyword" and not (text or "").strip()):
            return []
        with self._guard():
            if not self._has_properties(wf.range_properties(filters)):
                return []  # a range on a key no document has as a number matches nothing
            where = wf.to_filter(filters)
            hits = self._query(vector, where, limit, offset, min_score, mode, text or "")
        return hits

    def _query(self, vector: np.ndarray | None, where: Any, limit: int, offset: int,
               min_score: float | None, mode: Mode, text: str) -> list[SearchHit]:
        query, page = self._collection.query, {"filters": where, "limit": limit, "offset": offset,
                                               "return_properties": RETURNED}
        match mode:
            case "semantic" if vector is not None:
                res = query.near_vector(_floats(vector), **page, return_metadata=MetadataQuery(
                    distance=True), distance=None if min_score is None else 1 - min_score + 1e-6)
                hits = [_hit(o, 1.0 - float(o.metadata.distance or 0.0)) for o in res.objects]
                return _ranked([h for h in hits if min_score is None or h.score >= min_score])
            case "keyword":
                res = query.bm25(text, query_properties=KEYWORD_PROPERTIES, **page,
                                 return_metadata=MetadataQuery(score=True))
                return _ranked([_hit(o, _squash(o.metadata.score)) for o in res.objects])
            case "hybrid" if vector is not None:
                res = query.hybrid(text, vector=_floats(vector), alpha=HYBRID_ALPHA,
                                   fusion_type=HybridFusion.RELATIVE_SCORE,
                                   query_properties=KEYWORD_PROPERTIES, **page,
                                   return_metadata=MetadataQuery(score=True))
                return _ranked([_hit(o, float(o.metadata.score or 0.0)) for o in res.objects])
            case _:  # filters only: newest first, undated last, then by id (as pgvector)
                res = query.fetch_objects(
                    **page, sort=Sort.by_property("published_at", ascending=False).by_id())
                return [_hit(o, 0.0) for o in res.objects]

    def get(self, doc_id: uuid.UUID) -> tuple[SearchHit, np.ndarray] | None:
        with self._guard():
            obj = self._collection.query.fetch_object_by_id(
                doc_id, include_vector=True, return_properties=RETURNED)
        if obj is None:
            return None
        vector = obj.vector["default"] if isinstance(obj.vector, dict) else obj.vector
        return _hit(obj, 1.0), np.asarray(vector, dtype=np.float32)

    def versions(self, after: uuid.UUID | None, limit: int) -> list[StoredVersion]:
        """Ids in Weaviate's cursor order: by UUID bytes, the same as Python's UUID order."""
        with self._guard():
            res = self._collection.query.fetch_objects(
                after=after, limit=limit, return_properties=["version", "content_hash"])
        return [StoredVersion(_uuid(o.uuid), _int(o.properties["version"]),
                              str(o.properties.get("content_hash") or "")) for o in res.objects]

    def count(self) -> int:
        with self._guard():
            return int(self._collection.aggregate.over_all(total_count=True).total_count or 0)

    def health(self) -> bool:
        try:
            with self._guard():
                self._client.get_meta()  # raises when down, where is_ready() prints the error
                return bool(self._client.is_ready())
        except Exception:
            return False

    def close(self) -> None:
        self._client.close()

    def _stored_versions(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        stored: dict[uuid.UUID, int] = {}
        for chunk in _chunks(ids, READ_CHUNK):
            res = self._collection.query.fetch_objects(
                filters=Filter.by_id().contains_any(list(chunk)), limit=len(chunk),
                return_properties=["version"])
            stored |= {_uuid(o.uuid): _int(o.properties["version"]) for o in res.objects}
        return stored

    def _refresh_properties(self) -> set[str]:
        self._properties = {p.name for p in self._collection.config.get().properties}
        return self._properties

    def _has_properties(self, names: list[str]) -> bool:
        if not names:
            return True
        known = self._properties if self._properties is not None else self._refresh_properties()
        return set(names) <= known or set(names) <= self._refresh_properties()

    def _add_number_properties(self, records: list[ReadDocument]) -> None:
        wanted = {name for r in records for name in wf.number_properties(r.attributes)}
        for name in sorted(wanted):
            if self._has_properties([name]):
                continue
            try:
                self._collection.config.add_property(
                    Property(name=name, data_type=DataType.NUMBER, index_range_filters=True))
            except (UnexpectedStatusCodeError, WeaviateInvalidInputError):  # added concurrently?
                if name not in self._refresh_properties():
                    raise
            assert self._properties is not None
            self._properties.add(name)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Weaviate, gRPC and network failures → StoreUnavailable; bad arguments propagate."""
        try:
            if not self._client.is_connected():
                self._client.connect()  # Weaviate was down when the client was made
            elif self._suspect:
                self._client.get_meta()
            self._suspect = False
            yield
        except (StoreUnavailable, WeaviateInvalidInputError):
            raise
        except (WeaviateBaseError, grpc.RpcError, httpx.HTTPError, OSError) as exc:
            self._suspect = True
            raise StoreUnavailable(f"weaviate: {type(exc).__name__}: {exc}") from exc


def _properties(record: ReadDocument) -> dict[str, Any]:
    published = record.published_at
    if published is not None and published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    props: dict[str, Any] = {
        "version": record.version, "title": record.title, "body": record.body,
        "category": record.category, "tags": list(record.tags), "published_at": published,
        "content_hash": record.content_hash, "attributes_json": json.dumps(record.attributes),
        "attr_eq": wf.equality_terms(record.attributes),
        **wf.number_properties(record.attributes),
    }
    return {key: value for key, value in props.items() if value is not None}


def _unless_newer(ids: Sequence[tuple[uuid.UUID, int]]) -> _Filters:
    """Each id whose stored version is at most the given one: the guard is atomic per object."""
    by_version: dict[int, list[uuid.UUID]] = {}
    for doc_id, version in ids:
        by_version.setdefault(version, []).append(doc_id)
    stored = Filter.by_property("version")
    return Filter.any_of([Filter.by_id().contains_any(doc_ids) & stored.less_or_equal(version)
                          for version, doc_ids in by_version.items()])


def _hit(obj: Any, score: float) -> SearchHit:
    p = obj.properties
    return SearchHit(
        id=_uuid(obj.uuid),
        score=score,
        version=int(p["version"]),
        title=p.get("title") or "",
        body=p.get("body") or "",
        category=p.get("category"),
        tags=tuple(p.get("tags") or ()),
        attributes=json.loads(p.get("attributes_json") or "{}"),
        published_at=p.get("published_at"),
    )


def _ranked(hits: list[SearchHit]) -> list[SearchHit]:
    """Best first, ties by id (Weaviate's order among equal scores is arbitrary)."""
    return sorted(hits, key=lambda hit: (-hit.score, hit.id))


def _uuid(value: Any) -> uuid.UUID:
    return uuid.UUID(str(value))


def _int(value: Any) -> int:
    return int(value)


def _floats(vector: np.ndarray) -> list[float]:
    return [float(x) for x in np.asarray(vector, dtype=np.float32)]


def _squash(score: float | None) -> float:
    return 0.0 if not score else score / (score + 1.0)


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


"""Weaviate store: documents and their passages in two collections (schema.py here).

Semantics match ``PgvectorStore`` (search goes through query_side/stores/ranking.py on both);
where Weaviate differs:

- No transactions and no conditional write. The worker serializes writers per document (an
  advisory lock) and this store reads stored versions before writing, so two writers of one id
  racing without the lock could let the older win; deletes are atomic per object (the version
  condition is part of the delete filter).
- An upsert writes the passages first, then deletes the document's passages of older versions,
  then the document object last: a crash part way leaves the document at its old version with
  some passages newer (reconcile: not ``complete``, so stale), and the worker's retry rewrites
  it. A delete removes the document first, then its passages: a crash in between leaves passages
  without a document, which searches never return and reconcile lists as ``strays``.
- A batch write that fails for some objects raises ``StoreWriteFailed`` naming them.
- Field tokenization trims whitespace, so a category or tag differing only in leading/trailing
  whitespace matches where SQL equality would not.

A cluster: the store talks to one node at a time and moves to another when it fails
(query_side/stores/weaviate/failover.py); a call that failed is not retried (the worker's job
retries, the query router answers from pgvector). Reads and writes carry the consistency levels of
``WEAVIATE_READ_CONSISTENCY`` and ``WEAVIATE_WRITE_CONSISTENCY``; aggregates (counts) have none
and read what one node holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, TypeVar
from urllib.parse import urlparse

import grpc
import httpx
import numpy as np
import weaviate
from weaviate.classes.aggregate import GroupByAggregate, Metrics
from weaviate.classes.config import Configure, ConsistencyLevel, DataType, Property
from weaviate.classes.data import DataObject
from weaviate.classes.init import AdditionalConfig, Timeout
from weaviate.classes.query import Filter, MetadataQuery, Sort
from weaviate.collections.classes.filters import _Filters
from weaviate.connect import ConnectionParams
from weaviate.exceptions import (
    UnexpectedStatusCodeError,
    WeaviateBaseError,
    WeaviateInsertManyAllFailedError,
    WeaviateInvalidInputError,
)

from common.failpoints import crash_if
from query_side.stores import ranking
from query_side.stores.base import (
    Filters,
    Mode,
    ReadDocument,
    SearchHit,
    StoredVersion,
    StoreUnavailable,
)
from query_side.stores.weaviate import filters as wf
from query_side.stores.weaviate import objects as wo
from query_side.stores.weaviate import schema
from query_side.stores.weaviate.failover import Nodes

T = TypeVar("T")
LISTED = ["version", "title", "lead", "category", "tags", "published_at", "attributes_json"]
MATCHED = ["doc_id", "ordinal", "span_start", "span_end"]
"""What a search reads of each passage: not its text, which only the page's hits need."""
WRITE_CHUNK = 500
"""Objects per ``insert_many`` call."""
READ_CHUNK = 1000
"""Ids per version look-up or delete call (Weaviate caps one delete at 10,000 objects)."""
MAX_RESULTS = 10_000
"""Weaviate's QUERY_MAXIMUM_RESULTS: the most objects one query returns."""


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


def connect_url(url: str, grpc_port: int) -> weaviate.WeaviateClient:
    """A client for the node at ``url`` (see :func:`connect`)."""
    parsed = urlparse(url)
    return connect(parsed.port or 8080, grpc_port, host=parsed.hostname or "127.0.0.1")


class WeaviateStore:
    name = "weaviate"

    def __init__(self, client: weaviate.WeaviateClient | Sequence[weaviate.WeaviateClient],
                 collection: str = "Document", failpoints: Sequence[str] = (),
                 read: str = "QUORUM", write: str = "QUORUM", replication_factor: int = 1,
                 grpc_addresses: Sequence[tuple[str, int]] = ()) -> None:
        """``client``: one, or one per node of a cluster (``read``/``write``: consistency;
        ``grpc_addresses``: each node's, see failover.py)."""
        self._nodes = Nodes([client] if isinstance(client, weaviate.WeaviateClient) else client,
                            grpc_addresses)
        self._failpoints = list(failpoints)
        self._names = (collection, collection + schema.PASSAGE_SUFFIX)
        self._read, self._write = ConsistencyLevel(read), ConsistencyLevel(write)
        self._replication = replication_factor
        self._bind()
        self._properties: dict[str, set[str]] = {}
        self._suspect = False
        """Set by a failure: the next call probes REST first, so an outage fails fast instead
        of after the client's ~60 s of gRPC retries (1+2+...+32 s on UNAVAILABLE)."""

    def _bind(self) -> None:
        """Talk to the current node from now on."""
        self._client = self._nodes.client
        self._docs = self._client.collections.use(self._names[0]).with_consistency_level(
            self._read)
        self._passages = self._client.collections.use(self._names[1]).with_consistency_level(
            self._read)

    def ensure_schema(self) -> bool:
        """Create both collections if missing; a document collection made before passages is
        dropped first (it is derived: a reindex rebuilds it). True when one was dropped."""
        docs, passages = self._names
        with self._guard():
            legacy = self._client.collections.exists(docs) and schema.MARKER not in {
                p.name for p in self._docs.config.get().properties}
            if legacy:
                self._client.collections.delete([docs, passages])
            self._create(docs, schema.document_properties(), vectors=False)
            self._create(passages, schema.passage_properties(), vectors=True)
            for name in self._names:
                self._refresh_properties(name)
        return legacy

    def _create(self, name: str, properties: list[Property], vectors: bool) -> None:
        if self._client.collections.exists(name):
            return
        vector_config = Configure.Vectors.self_provided(
            vector_index_config=schema.VECTOR_INDEX if vectors else Configure.VectorIndex.flat())
        try:
            self._client.collections.create(name, properties=properties,
                                            vector_config=vector_config,
                                            inverted_index_config=schema.KEYWORD_INDEX,
                                            replication_config=schema.replication(
                                                self._replication))
        except UnexpectedStatusCodeError:  # created concurrently by another process?
            if not self._client.collections.exists(name):
                raise

    def upsert(self, records: list[ReadDocument]) -> None:
        newest: dict[uuid.UUID, ReadDocument] = {}
        for record in records:
            if record.id not in newest or newest[record.id].version < record.version:
                newest[record.id] = record
        if not newest:
            return
        with self._guard():
            self._nodes.check_write_quorum(self._write, self._replication)
            stored = self._stored_versions(list(newest))
            fresh = [r for r in newest.values() if stored.get(r.id, r.version - 1) < r.version]
            self._add_number_properties(fresh)
            objects = [o for r in fresh for o in wo.passage_objects(r)]
            failed = self._insert(self._passages, objects)
            if not failed:
                self._delete_passages([(r.id, r.version - 1) for r in fresh])
                crash_if("store-mid-document", self._failpoints)
                failed = self._insert(self._docs, [wo.document_object(r) for r in fresh])
        if failed:
            raise StoreWriteFailed(failed)

    def _insert(self, collection: Any, objects: list[DataObject[Any, Any]]) -> dict[uuid.UUID, str]:
        failed: dict[uuid.UUID, str] = {}
        for chunk in _chunks(objects, WRITE_CHUNK):
            try:
                result = collection.with_consistency_level(self._write).data.insert_many(
                    list(chunk))
            except WeaviateInsertManyAllFailedError as exc:
                failed |= {wo.as_uuid(o.uuid): str(exc.message) for o in chunk}
                continue
            failed |= {wo.as_uuid(chunk[i].uuid): e.message for i, e in result.errors.items()}
        return failed

    def delete(self, ids: list[tuple[uuid.UUID, int]]) -> None:
        for chunk in _chunks(ids, READ_CHUNK):
            with self._guard():
                self._nodes.check_write_quorum(self._write, self._replication)
                result = self._docs.with_consistency_level(self._write).data.delete_many(
                    where=_unless_newer(_documents, chunk))
            if result.failed:
                raise StoreUnavailable(
                    f"weaviate: {result.failed} of {result.matches} deletes failed")
            crash_if("store-mid-document", self._failpoints)
            with self._guard():
                self._delete_passages(chunk)

    def _delete_passages(self, ids: Sequence[tuple[uuid.UUID, int]]) -> None:
        """Passages of each (id, version) at that version or older (a document may hold
        ~1,000 passages: small chunks keep each call under Weaviate's 10,000)."""
        for chunk in _chunks(ids, 8):
            result = self._passages.with_consistency_level(self._write).data.delete_many(
                where=_unless_newer(_passages_of, chunk))
            if result.failed:
                raise StoreUnavailable(
                    f"weaviate: {result.failed} of {result.matches} passage deletes failed")

    def search(self, vector: np.ndarray | None, filters: Filters, limit: int, offset: int = 0,
               min_score: float | None = None, mode: Mode = "semantic",
               text: str | None = None, alpha: float = ranking.HYBRID_ALPHA) -> list[SearchHit]:
        return ranking.search(self, vector, filters, limit, offset, min_score, mode, text, alpha)

    def passages(self, kind: ranking.Kind, vector: np.ndarray | None, query: list[str],
                 filters: Filters, k: int) -> list[ranking.PassageMatch]:
        if kind == "keyword" and not query:
            return []
        with self._guard():
            if not self._has_properties(self._names[1], wf.range_properties(filters)):
                return []  # a range on a key no document has as a number matches nothing
            where, limit = wf.to_filter(filters), min(k, MAX_RESULTS)
            if kind == "semantic":
                assert vector is not None
                res = self._passages.query.near_vector(
                    wo.floats(vector), filters=where, limit=limit, return_properties=MATCHED,
                    return_metadata=MetadataQuery(distance=True))
                scores = [1.0 - float(o.metadata.distance or 0.0) for o in res.objects]
            else:
                res = self._passages.query.bm25(
                    " ".join(query), query_properties=["terms"], filters=where, limit=limit,
                    return_properties=MATCHED, return_metadata=MetadataQuery(score=True))
                scores = [float(o.metadata.score or 0.0) for o in res.objects]
        found = [wo.passage_match(o, score) for o, score in zip(res.objects, scores, strict=True)]
        return sorted(found, key=lambda m: (-m.score, m.doc_id, m.start))

    def hits(self, docs: list[ranking.DocMatch]) -> list[SearchHit]:
        if not docs:
            return []
        wanted = [wo.passage_uuid(d.doc_id, p.ordinal) for d in docs for p in d.passages]
        with self._guard():
            res = self._docs.query.fetch_objects(
                filters=Filter.by_id().contains_any([d.doc_id for d in docs]), limit=len(docs),
                return_properties=LISTED)
            found = self._passages.query.fetch_objects(
                filters=Filter.by_id().contains_any(wanted), limit=len(wanted),
                return_properties=["text"]) if wanted else None
        by_id = {wo.as_uuid(o.uuid): wo.hit(o, 0.0) for o in res.objects}
        texts = {wo.as_uuid(o.uuid): str(o.properties.get("text") or "")
                 for o in (found.objects if found else [])}
        return [ranking.with_passages(by_id[d.doc_id], d, [
            texts.get(wo.passage_uuid(d.doc_id, p.ordinal), "") for p in d.passages])
            for d in docs if d.doc_id in by_id]

    def browse(self, filters: Filters, limit: int, offset: int) -> list[SearchHit]:
        """Filters only: newest first, undated last, then by id (as pgvector)."""
        with self._guard():
            if not self._has_properties(self._names[0], wf.range_properties(filters)):
                return []
            res = self._docs.query.fetch_objects(
                filters=wf.to_filter(filters), limit=limit, offset=offset, return_properties=LISTED,
                sort=Sort.by_property("published_at", ascending=False).by_id())
        return [wo.hit(o, 0.0) for o in res.objects]

    def get(self, doc_id: uuid.UUID) -> tuple[SearchHit, np.ndarray] | None:
        with self._guard():
            obj = self._docs.query.fetch_object_by_id(doc_id, return_properties=[*LISTED, "body"])
            if obj is None:
                return None
            res = self._passages.query.fetch_objects(
                filters=Filter.by_property("doc_id").equal(str(doc_id)), limit=MAX_RESULTS,
                include_vector=True, return_properties=["ordinal"])
        vectors = [wo.vector_of(o) for o in res.objects]
        hit = replace(wo.hit(obj, 1.0), body=str(obj.properties.get("body") or ""))
        if not vectors:  # a crash left the document without passages (reconcile: stale)
            return hit, np.zeros(0, dtype=np.float32)
        return hit, ranking.centroid(np.stack(vectors))

    def versions(self, after: uuid.UUID | None, limit: int) -> list[StoredVersion]:
        """Ids in Weaviate's cursor order: by UUID bytes, the same as Python's UUID order."""
        with self._guard():
            res = self._docs.query.fetch_objects(
                after=after, limit=limit, return_properties=["version", "content_hash", schema.MARKER])
            held = self._passage_summary([wo.as_uuid(o.uuid) for o in res.objects])
        out = []
        for o in res.objects:
            doc_id, version = wo.as_uuid(o.uuid), wo.as_int(o.properties["version"])
            count = wo.as_int(o.properties.get(schema.MARKER) or 0)
            complete = held.get(doc_id, (0, version, version)) == (count, version, version)
            out.append(StoredVersion(doc_id, version, str(o.properties.get("content_hash") or ""),
                                     count, complete))
        return out

    def _passage_summary(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int, int]]:
        """(passages, lowest version, highest version) of each document that has passages."""
        out: dict[uuid.UUID, tuple[int, int, int]] = {}
        for chunk in _chunks(ids, 100):
            res = self._passages.aggregate.over_all(
                filters=_passages_of(list(chunk)),
                group_by=GroupByAggregate(prop="doc_id", limit=len(chunk)), total_count=True,
                return_metrics=Metrics("version").integer(minimum=True, maximum=True))
            for group in res.groups:
                version: Any = group.properties["version"]
                out[wo.as_uuid(group.grouped_by.value)] = (
                    int(group.total_count or 0), int(version.minimum), int(version.maximum))
        return out

    def count(self) -> int:
        with self._guard():
            return int(self._docs.aggregate.over_all(total_count=True).total_count or 0)

    def passage_count(self) -> int:
        with self._guard():
            return int(self._passages.aggregate.over_all(total_count=True).total_count or 0)

    def strays(self) -> list[uuid.UUID]:
        """Documents the store does not hold whose passages it still holds (a walk over every
        passage: reconcile calls it only when the passage count says there are some)."""
        seen: set[uuid.UUID] = set()
        with self._guard():
            for obj in self._passages.iterator(return_properties=["doc_id"]):
                seen.add(wo.as_uuid(obj.properties["doc_id"]))
            held = set(self._stored_versions(sorted(seen)))
        return sorted(seen - held)

    def health(self) -> bool:
        try:
            with self._guard():
                self._client.get_meta()  # raises when down, where is_ready() prints the error
                return bool(self._client.is_ready())
        except Exception:
            return False

    def close(self) -> None:
        self._nodes.close()

    def drop(self) -> None:
        """Remove both collections (an index generation retired: ``semsearch index drop``)."""
        with self._guard():
            self._client.collections.delete(list(self._names))

    def point_alias(self, alias: str) -> None:
        """Point ``alias`` (and ``alias`` + the passage suffix) at this store's collections, so
        clients reading Weaviate directly follow an index generation's promote."""
        with self._guard():
            for name, target in zip((alias, alias + schema.PASSAGE_SUFFIX), self._names,
                                    strict=True):
                if self._client.alias.exists(alias_name=name):
                    self._client.alias.update(alias_name=name, new_target_collection=target)
                else:
                    self._client.alias.create(alias_name=name, target_collection=target)

    def _stored_versions(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        stored: dict[uuid.UUID, int] = {}
        for chunk in _chunks(ids, READ_CHUNK):
            res = self._docs.query.fetch_objects(
                filters=Filter.by_id().contains_any(list(chunk)), limit=len(chunk),
                return_properties=["version"])
            stored |= {wo.as_uuid(o.uuid): wo.as_int(o.properties["version"]) for o in res.objects}
        return stored

    def _refresh_properties(self, collection: str) -> set[str]:
        found = {p.name for p in self._client.collections.use(collection).config.get().properties}
        self._properties[collection] = found
        return found

    def _has_properties(self, collection: str, names: list[str]) -> bool:
        if not names:
            return True
        known = self._properties.get(collection) or self._refresh_properties(collection)
        return set(names) <= known or set(names) <= self._refresh_properties(collection)

    def _add_number_properties(self, records: list[ReadDocument]) -> None:
        """Numeric attributes get a range-filterable property on both collections (passages
        first: a search never filters on a property a listing could not)."""
        wanted = sorted({name for r in records for name in wf.number_properties(r.attributes)})
        for collection in reversed(self._names):
            for name in wanted:
                if self._has_properties(collection, [name]):
                    continue
                try:
                    self._client.collections.use(collection).config.add_property(
                        Property(name=name, data_type=DataType.NUMBER, index_range_filters=True))
                except (UnexpectedStatusCodeError, WeaviateInvalidInputError):  # concurrently?
                    if name not in self._refresh_properties(collection):
                        raise
                self._properties[collection].add(name)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Weaviate, gRPC and network failures → StoreUnavailable; bad arguments propagate."""
        try:
            if self._suspect or not self._nodes.accepts_connections():
                if self._nodes.next_answering():  # moved to another node of the cluster
                    self._bind()
            elif not self._client.is_connected():
                self._client.connect()  # Weaviate was down when the client was made
            self._suspect = False
            yield
        except (StoreUnavailable, WeaviateInvalidInputError):
            raise
        except (WeaviateBaseError, grpc.RpcError, httpx.HTTPError, OSError) as exc:
            self._suspect = True
            raise StoreUnavailable(f"weaviate: {type(exc).__name__}: {exc}") from exc


def _unless_newer(matching: Callable[[list[uuid.UUID]], _Filters],
                  ids: Sequence[tuple[uuid.UUID, int]]) -> _Filters:
    """Each id whose stored version is at most the given one: the guard is atomic per object."""
    by_version: dict[int, list[uuid.UUID]] = {}
    for doc_id, version in ids:
        by_version.setdefault(version, []).append(doc_id)
    stored = Filter.by_property("version")
    return Filter.any_of([matching(doc_ids) & stored.less_or_equal(version)
                          for version, doc_ids in by_version.items()])


def _documents(ids: list[uuid.UUID]) -> _Filters:
    return Filter.by_id().contains_any(ids)


def _passages_of(ids: list[uuid.UUID]) -> _Filters:
    return Filter.by_property("doc_id").contains_any([str(i) for i in ids])


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]

"""What the Weaviate store writes and reads back: each document's and passage's object."""

from __future__ import annotations

import json
import uuid
from datetime import UTC
from typing import Any

import numpy as np
from weaviate.classes.data import DataObject

from query_side.stores import ranking, terms
from query_side.stores.base import LEAD_CHARS, ReadDocument, SearchHit
from query_side.stores.weaviate import filters as wf
from query_side.stores.weaviate import schema


def passage_uuid(doc_id: uuid.UUID, ordinal: int) -> uuid.UUID:
    return uuid.uuid5(doc_id, str(ordinal))


def filter_fields(record: ReadDocument) -> dict[str, Any]:
    published = record.published_at
    if published is not None and published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    return {"category": record.category, "tags": list(record.tags), "published_at": published,
            "attr_eq": wf.equality_terms(record.attributes),
            **wf.number_properties(record.attributes)}


def document_properties(record: ReadDocument) -> dict[str, Any]:
    return present({
        "version": record.version, "title": record.title, "lead": record.body[:LEAD_CHARS],
        "body": record.body, "content_hash": record.content_hash,
        "attributes_json": json.dumps(record.attributes), schema.MARKER: len(record.passages),
        **filter_fields(record),
    })


def document_object(record: ReadDocument) -> DataObject[Any, Any]:
    return DataObject(uuid=record.id, properties=document_properties(record))


def passage_objects(record: ReadDocument) -> list[DataObject[Any, Any]]:
    shared = filter_fields(record) | {"doc_id": str(record.id), "version": record.version}
    out = []
    for ordinal, (passage, text) in enumerate(zip(record.passages, record.passage_texts(),
                                                  strict=True)):
        props = shared | {"ordinal": ordinal, "span_start": passage.start, "span_end": passage.end,
                          "text": text, "terms": terms.indexed_terms(record.title, text)}
        out.append(DataObject(uuid=passage_uuid(record.id, ordinal), properties=present(props),
                              vector=floats(passage.vector)))
    return out


def present(props: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in props.items() if value is not None}


def hit(obj: Any, score: float) -> SearchHit:
    p = obj.properties
    return SearchHit(
        id=as_uuid(obj.uuid),
        score=score,
        version=int(p["version"]),
        title=p.get("title") or "",
        category=p.get("category"),
        tags=tuple(p.get("tags") or ()),
        attributes=json.loads(p.get("attributes_json") or "{}"),
        published_at=p.get("published_at"),
        lead=p.get("lead") or "",
    )


def vector_of(obj: Any) -> np.ndarray:
    vector = obj.vector["default"] if isinstance(obj.vector, dict) else obj.vector
    return np.asarray(vector, dtype=np.float32)


def as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def floats(vector: np.ndarray) -> list[float]:
    return [float(x) for x in np.asarray(vector, dtype=np.float32)]


def as_int(value: Any) -> int:
    return int(value)


def passage_match(obj: Any, score: float) -> ranking.PassageMatch:
    p = obj.properties
    return ranking.PassageMatch(as_uuid(p["doc_id"]), int(p["span_start"]), int(p["span_end"]),
                                score, int(p["ordinal"]))

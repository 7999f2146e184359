"""The peer as a LangChain user would set it up: the indexing API (``index()`` with a
``SQLRecordManager``) over langchain-postgres' ``PGVector``, in a database of its own on the
stack's PostgreSQL, embeddings from the packaged model through sentence-transformers.

Imports LangChain at the top: import this module only once the optional ``peer`` group is
installed (:func:`benchmarks.extras.ensure`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from langchain_classic.indexes import SQLRecordManager
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.indexing import index
from langchain_postgres import PGVector
from tqdm import tqdm

from embeddings import Encoder, embedded_text

COLLECTION = "semsearch_peer"
NAMESPACE = f"pgvector/{COLLECTION}"
"""The record manager's namespace, as LangChain's documentation names it: store/collection."""


class PackagedModel(Embeddings):
    """What ``langchain_huggingface.HuggingFaceEmbeddings`` does (``SentenceTransformer.encode``
    on the texts, batches of 32), over the same encoder object the raw-encoder timing uses.
    langchain-huggingface itself cannot be installed beside semsearch's pins (its 1.x wants
    huggingface-hub < 2, its 0.3 wants langchain-core < 1)."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = self.encoder.encode(list(texts)).tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        vector: list[float] = self.encoder.encode([text])[0].tolist()
        return vector


def document(doc: dict[str, Any]) -> Document:
    """A semsearch document as the peer holds it: title + body as the page, the rest as metadata."""
    return Document(page_content=embedded_text(doc["title"], doc["body"]),
                    metadata={"id": doc["id"], "category": doc["category"], "tags": doc["tags"],
                              "attributes": doc["attributes"]})


@dataclass
class Peer:
    store: PGVector
    records: SQLRecordManager

    @classmethod
    def open(cls, url: str, encoder: Encoder) -> Peer:
        store = PGVector(PackagedModel(encoder), connection=url, collection_name=COLLECTION,
                         embedding_length=encoder.dimensions, use_jsonb=True,
                         pre_delete_collection=True)
        records = SQLRecordManager(NAMESPACE, db_url=url)
        records.create_schema()
        return cls(store, records)

    def index(self, docs: list[dict[str, Any]], desc: str) -> dict[str, Any]:
        """``index()`` over every document (incremental cleanup, the document id as source):
        unchanged ones are skipped by their hash, changed ones embedded and their old version
        deleted."""
        with tqdm(total=len(docs), desc=desc, unit="doc") as bar:
            started = time.perf_counter()
            result = index(_fed(docs, bar), self.records, self.store, cleanup="incremental",
                           source_id_key="id")
            seconds = time.perf_counter() - started
        return {"documents": len(docs), "seconds": round(seconds, 2), **dict(result)}

    def search(self, query: str, category: str, limit: int) -> tuple[float, float]:
        """Seconds for one filtered similarity search, and of those, embedding the query (the two
        halves of ``similarity_search``)."""
        started = time.perf_counter()
        vector = self.store.embeddings.embed_query(query)
        embedded = time.perf_counter()
        found = self.store.similarity_search_by_vector(vector, k=limit,
                                                       filter={"category": {"$eq": category}})
        seconds = time.perf_counter() - started
        if any(d.metadata["category"] != category for d in found):
            raise AssertionError("the peer's filtered search returned another category")
        return seconds, embedded - started

def _fed(docs: list[dict[str, Any]], bar: tqdm) -> Iterator[Document]:
    """The documents, lazily: ``index()`` reads them a batch at a time, so the bar moves with it."""
    for doc in docs:
        bar.update(1)
        yield document(doc)


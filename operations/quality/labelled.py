"""Labelled relevance sets, built offline from the Wikipedia articles the project ships.

- **headings**: every paragraph is a document titled with its article's name only (never
  "Article: Section", or the query would be the title); each (article, section heading) is a query
  "Article: Section", and the paragraphs under that heading are its relevant documents.
- **long**: every article is one document, its paragraphs joined with blank lines; queries are
  sentences of ≥ 8 words lying wholly past the first 256 model tokens of title + body (what a
  truncating encoder never sees), a few per article; the host article is the one relevant document.

Each set's documents carry a tag of their own (``set:<name>``), so a search filtered on it never
mixes sets. Ids are uuid5s: the same set has the same ids on every run.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from embeddings import embedded_text
from embeddings.passages import MODEL_WINDOW, Offsets, model_tokenizer, sentences
from operations import corpus

MAX_BODY = 100_000
"""The command API's longest body (command_side.models.MAX_BODY): a longer article is cut at a
paragraph boundary (one article of the 101, 'Oceania', loses its last paragraphs)."""
QUERY_MIN_WORDS = 8
QUERY_MAX_CHARS = 600
"""Longer sentences (lists run together by the data set) are not used as queries."""
DEFAULT_LONG_QUERIES = 3
"""Queries sampled per article in the long set."""


@dataclass(frozen=True)
class Query:
    text: str
    relevant: frozenset[str]
    """Ids of the documents that answer it."""


@dataclass(frozen=True)
class LabelledSet:
    name: str
    documents: list[dict[str, Any]]
    queries: list[Query]
    note: str

    @property
    def tag(self) -> str:
        return tag(self.name)

    @property
    def filters(self) -> dict[str, Any]:
        """The search filter that keeps to this set's documents."""
        return {"tags_any": [self.tag]}


def tag(name: str) -> str:
    return f"set:{name}"


def _id(*parts: object) -> str:
    return str(uuid.uuid5(corpus.NAMESPACE, "relevance/" + "/".join(map(str, parts))))


def articles(limit: int = 0) -> dict[str, list[corpus.Paragraph]]:
    """Article name → its paragraphs in reading order; the first ``limit`` articles by name."""
    found: dict[str, list[corpus.Paragraph]] = {}
    for paragraph in corpus.paragraphs():
        found.setdefault(paragraph.article, []).append(paragraph)
    names = sorted(found)[:limit] if limit else sorted(found)
    return {name: sorted(found[name], key=lambda p: p.index) for name in names}


def headings(article_limit: int = 0, query_limit: int = 0, seed: int = 7) -> LabelledSet:
    """Paragraphs titled with their article; queries "Article: Section" (a deterministic sample
    of ``query_limit`` of them, all when 0)."""
    docs: list[dict[str, Any]] = []
    relevant: dict[str, set[str]] = {}
    for name, paragraphs in articles(article_limit).items():
        for p in paragraphs:
            doc_id = _id("headings", name, p.index)
            docs.append({"id": doc_id, "title": name, "body": p.text, "category": name,
                         "tags": [tag("headings")], "attributes": {"paragraph": p.index}})
            if p.section:
                relevant.setdefault(f"{name}: {p.section}", set()).add(doc_id)
    queries = [Query(text, frozenset(ids)) for text, ids in relevant.items()]
    if query_limit and query_limit < len(queries):
        chosen = sorted(random.Random(seed).sample(range(len(queries)), query_limit))
        queries = [queries[i] for i in chosen]
    note = (f"{len(docs)} paragraphs of {len(articles(article_limit))} Wikipedia articles, each "
            f"titled with its article's name; {len(queries)} of {len(relevant)} (article, section) "
            "queries \"Article: Section\", relevant: the paragraphs under that heading")
    return LabelledSet("headings", docs, queries, note)


def window_end(title: str, body: str, tokens: int = MODEL_WINDOW,
               offsets: Offsets | None = None) -> int:
    """Character offset in ``body`` where the first ``tokens`` model tokens of the embedded text
    (title + body) end; ``len(body)`` when all of it fits."""
    text = embedded_text(title, body)
    spans = (offsets or model_tokenizer())(text)
    if len(spans) <= tokens:
        return len(body)
    prefix = len(text) - len(body.strip()) - (len(body) - len(body.lstrip()))
    return spans[tokens - 1][1] - prefix


def late_sentences(title: str, body: str, offsets: Offsets | None = None) -> Iterator[str]:
    """Sentences of ≥ 8 words that start past the model's window."""
    end = window_end(title, body, offsets=offsets)
    for span in sentences(body):
        text = body[span.start:span.end]
        if span.start >= end and len(text.split()) >= QUERY_MIN_WORDS and len(text) <= QUERY_MAX_CHARS:
            yield text


def long(article_limit: int = 0, per_article: int = DEFAULT_LONG_QUERIES) -> LabelledSet:
    """Whole articles as documents; queries: sentences past the window, ``per_article`` each."""
    docs, queries, cut = [], [], 0
    for name, paragraphs in articles(article_limit).items():
        body = corpus.joined(paragraphs, MAX_BODY)
        cut += len(body) < len(corpus.joined(paragraphs, 10**9))
        doc_id = _id("long", name)
        docs.append({"id": doc_id, "title": name, "body": body, "category": name,
                     "tags": [tag("long")], "attributes": {"chars": len(body)}})
        candidates = list(dict.fromkeys(late_sentences(name, body)))
        rng = random.Random(f"long/{name}")
        for text in rng.sample(candidates, min(per_article, len(candidates))):
            queries.append(Query(text, frozenset({doc_id})))
    note = (f"{len(docs)} whole Wikipedia articles (paragraphs joined, {cut} cut at the command "
            f"API's {MAX_BODY:,}-character limit), titled with the article's name; "
            f"{len(queries)} queries: sentences of ≥ {QUERY_MIN_WORDS} words past the first "
            f"{MODEL_WINDOW} model tokens of title + body, up to {per_article} per article, "
            "relevant: the host article")
    return LabelledSet("long", docs, queries, note)

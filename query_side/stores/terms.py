"""Keyword analysis shared by every store: the same terms, stems and stop words everywhere.

Text → lowercase alphanumeric words → English stop words dropped → Snowball (Porter 2) stems.
Stores index a passage's terms as one space-separated string (the title's terms twice, so a title
match outweighs a body match the same way on every store) and score a query's distinct terms
with BM25 (k1 1.2, b 0.75, Lucene's idf): Weaviate with its own BM25 on a whitespace-tokenized
property, pgvector in SQL over a ``simple`` tsvector, the in-memory store in Python.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable

import Stemmer

K1 = 1.2
B = 0.75
TITLE_WEIGHT = 2
"""The title's terms count this many times in each passage."""
MAX_QUERY_TERMS = 64

# PostgreSQL's and Snowball's English stop word list
STOP_WORDS = frozenset("""
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her
hers herself it its itself they them their theirs themselves what which who whom this that these
those am is are was were be been being have has had having do does did doing a an the and but if
or because as until while of at by for with about against between into through during before
after above below to from up down in out on off over under again further then once here there
when where why how all any both each few more most other some such no nor not only own same so
than too very s t can will just don should now
""".split())

_WORD = re.compile(r"[^\W_]+")


@functools.lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def analyze(text: str) -> list[str]:
    """Every term of ``text``, in order, repeats kept."""
    words = [w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS and len(w) < 64]
    return list(_stemmer().stemWords(words)) if words else []


def query_terms(text: str) -> list[str]:
    """A query's distinct terms in first-seen order: any of them may match."""
    return list(dict.fromkeys(analyze(text)))[:MAX_QUERY_TERMS]


def indexed_terms(title: str, passage: str) -> str:
    """What a store indexes for one passage."""
    title_terms = analyze(title)
    return " ".join(title_terms * TITLE_WEIGHT + analyze(passage))


def idf(documents: int, matching: int) -> float:
    return math.log(1.0 + (documents - matching + 0.5) / (matching + 0.5))


def bm25(query: Iterable[str], terms: Counter[str], length: int, documents: int,
         average_length: float, frequencies: dict[str, int]) -> float:
    """One passage's score (the in-memory store; the others compute the same in their engine).
    Weaviate's form: Lucene's BM25 without the constant ``k1 + 1`` factor on each term."""
    norm = K1 * (1.0 - B + B * length / (average_length or 1.0))
    return sum(idf(documents, frequencies[t]) * terms[t] / (terms[t] + norm)
               for t in query if terms.get(t))


def squash(score: float) -> float:
    """A BM25 score → [0, 1): the keyword score every store reports."""
    return score / (score + 1.0) if score > 0 else 0.0

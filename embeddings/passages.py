"""A body → passages that fit the model's window, counted with the model's own tokenizer.

Sentences first (a passage ends at a sentence end whenever it can), a sentence longer than a
passage split at token boundaries, ``overlap`` sentences repeated at the start of the next passage
(Elasticsearch's ``semantic_text`` defaults: 250 words, one sentence). Every passage is a span of
character offsets into the body, so a hit can be highlighted in the original text. A short body is
one passage; an empty body is one empty passage (the title alone is then embedded).

Each passage is embedded as ``title + passage`` (the title in every passage, so a passage deep in
a long document still says what it is about; ``semsearch bench relevance --passages on,notitle``
compares), and a passage's embedding-cache key depends only on the title and its own text:
editing one paragraph of a long document re-embeds only the passages that changed.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MODEL_WINDOW = 256
"""all-MiniLM-L6-v2's ``max_seq_length``: tokens past it are never seen by the model."""
DEFAULT_TOKENS = 200
"""Passage size in tokens (about 150 words), leaving room for the title and the special tokens."""
DEFAULT_OVERLAP = 1
"""Sentences repeated at the start of the next passage."""
MIN_TOKENS = 32
TITLE_TOKENS = 48
"""At most this many of the title's tokens are counted against a passage's budget; a longer title
is cut by the encoder, never the passage."""

LONG_TOKEN_CHARS = 32
"""A token spanning more characters than this (WordPiece makes one [UNK] of a word it cannot
split, however long: a 100,000-character "word" was one passage of 100,000 characters) counts as
one token per this many characters, so no passage is longer than its budget times this."""

_SENTENCE_END = re.compile(r"(?<=[.!?…。])[\"')\]]*\s+|\n\s*\n|\n(?=\s*[-*•#\d])")


@dataclass(frozen=True)
class PassageSettings:
    tokens: int = DEFAULT_TOKENS
    overlap: int = DEFAULT_OVERLAP
    title: bool = True
    """Embed the title in every passage (else a passage is its text alone)."""
    enabled: bool = True
    """False: one passage per document, truncated by the model as before (``--no-passages``)."""

    @property
    def key(self) -> str:
        """Part of every content hash: a change of settings re-embeds, and reconcile sees it."""
        if not self.enabled:
            return f"whole;title={int(self.title)}"
        return f"p{self.tokens}o{self.overlap};title={int(self.title)}"


@dataclass(frozen=True)
class Span:
    start: int
    end: int


Offsets = Callable[[str], list[tuple[int, int]]]
"""Text → the character span of each of its tokens (special tokens left out)."""


@functools.lru_cache(maxsize=1)
def model_tokenizer() -> Offsets:
    """The packaged model's own WordPiece tokenizer (Rust, no torch), or a word counter when the
    model package is absent (the hashing test encoder)."""
    try:
        from tokenizers import Tokenizer

        from embeddings.packaged import packaged_model_path

        tokenizer = Tokenizer.from_file(f"{packaged_model_path()}/tokenizer.json")
    except Exception:  # pragma: no cover - the model always ships with the project
        return word_offsets
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def offsets(text: str) -> list[tuple[int, int]]:
        encoding = tokenizer.encode(text, add_special_tokens=False)
        return [(int(a), int(b)) for a, b in encoding.offsets]

    return offsets


def word_offsets(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"\w+|[^\w\s]", text)]


def sentences(body: str) -> list[Span]:
    """Sentence spans, whitespace between them left out."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(body):
        if match.start() > start:
            spans.append(Span(start, match.start()))
        start = match.end()
    if start < len(body):
        spans.append(Span(start, len(body)))
    return [_strip(body, s) for s in spans if body[s.start:s.end].strip()]


def _strip(body: str, span: Span) -> Span:
    text = body[span.start:span.end]
    left = len(text) - len(text.lstrip())
    right = len(text.rstrip())
    return Span(span.start + left, span.start + right)


def bounded(tokens: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``tokens`` with each one longer than LONG_TOKEN_CHARS cut into pieces of that length."""
    if all(end - start <= LONG_TOKEN_CHARS for start, end in tokens):
        return tokens
    cut: list[tuple[int, int]] = []
    for start, end in tokens:
        cut.extend((at, min(at + LONG_TOKEN_CHARS, end)) for at in range(start, end, LONG_TOKEN_CHARS))
    return cut


def split(body: str, budget: int, overlap: int = DEFAULT_OVERLAP,
          offsets: Offsets | None = None) -> list[Span]:
    """Passages of at most ``budget`` tokens, as spans of ``body``."""
    offsets = offsets or model_tokenizer()
    if not body.strip():
        return [Span(0, len(body))]
    units: list[tuple[Span, int]] = []  # (span, tokens): sentences, long ones cut in pieces
    for sentence in sentences(body):
        tokens = bounded(offsets(body[sentence.start:sentence.end]))
        if len(tokens) <= budget:
            units.append((sentence, len(tokens)))
            continue
        for first in range(0, len(tokens), budget):
            piece = tokens[first:first + budget]
            units.append((Span(sentence.start + piece[0][0], sentence.start + piece[-1][1]),
                          len(piece)))
    passages: list[Span] = []
    current: list[tuple[Span, int]] = []
    for unit in units:
        if current and sum(n for _, n in current) + unit[1] > budget:
            passages.append(Span(current[0][0].start, current[-1][0].end))
            kept = current[-overlap:] if overlap else []
            # the overlap never takes more than half a passage, and never repeats a whole one
            while kept and (sum(n for _, n in kept) + unit[1] > budget
                            or sum(n for _, n in kept) > budget // 2):
                kept = kept[1:]
            current = kept
        current.append(unit)
    passages.append(Span(current[0][0].start, current[-1][0].end))
    return passages


def passages(title: str, body: str, settings: PassageSettings | None = None,
             offsets: Offsets | None = None) -> list[Span]:
    settings = settings or PassageSettings()
    if not settings.enabled:
        return [Span(0, len(body))]
    offsets = offsets or model_tokenizer()
    title_tokens = min(TITLE_TOKENS, len(offsets(title))) + 1 if settings.title else 0
    budget = max(MIN_TOKENS, min(settings.tokens, MODEL_WINDOW - 2 - title_tokens))
    return split(body, budget, settings.overlap, offsets)


def passage_text(title: str, text: str, settings: PassageSettings | None = None) -> str:
    """What the encoder sees for one passage."""
    settings = settings or PassageSettings()
    if not settings.title or not title.strip():
        return text.strip() or title.strip()
    return f"{title.strip()}\n\n{text.strip()}"


def document_hash(title: str, body: str, model_id: str, settings: PassageSettings) -> str:
    """A document's read-model hash: what it says, which model, how it is cut into passages."""
    digest = hashlib.sha256()
    for part in (model_id, settings.key, title.strip(), body):
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def texts_of(body: str, spans: Sequence[Span]) -> list[str]:
    return [body[s.start:s.end] for s in spans]

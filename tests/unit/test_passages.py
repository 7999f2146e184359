"""Passages and keyword terms: pure functions, checked with the model's own tokenizer."""

from __future__ import annotations

from embeddings import content_hash
from embeddings.passages import (
    MODEL_WINDOW,
    PassageSettings,
    document_hash,
    model_tokenizer,
    passage_text,
    passages,
    sentences,
    split,
)
from query_side.stores import terms
from query_side.stores.pgvector import tsquery, tsvector

SENTENCES = [f"Sentence number {n} tells about the {n}th thing of a long article, in some detail."
             for n in range(120)]
BODY = " ".join(SENTENCES[:60]) + "\n\n" + " ".join(SENTENCES[60:])


def tokens(text: str) -> int:
    return len(model_tokenizer()(text))


def test_a_short_body_is_one_passage() -> None:
    spans = passages("Title", "Octopuses have three hearts. And blue blood.")
    assert [(s.start, s.end) for s in spans] == [(0, 44)]
    assert passages("Title", "") != [] and passages("Title", "   ")[0].start == 0


def test_long_bodies_are_cut_at_sentences_within_the_window() -> None:
    settings = PassageSettings(tokens=120, overlap=1)
    spans = passages("A title", BODY, settings)
    assert len(spans) > 5
    found = sentences(BODY)
    starts = {s.start for s in found}
    ends = {s.end for s in found}
    for span in spans:
        assert tokens(BODY[span.start:span.end]) <= 120 + 2  # joined sentences: ±1 token each side
        assert span.start in starts and span.end in ends
        assert tokens(passage_text("A title", BODY[span.start:span.end], settings)) <= MODEL_WINDOW - 2
    covered = [s for s in found if any(p.start <= s.start and s.end <= p.end for p in spans)]
    assert covered == found  # every sentence is in some passage
    for first, second in zip(spans, spans[1:], strict=False):
        assert second.start < first.end  # one sentence of overlap
        assert BODY[second.start:first.end].count(".") == 1


def test_no_overlap_when_asked() -> None:
    spans = passages("T", BODY, PassageSettings(tokens=100, overlap=0))
    assert all(b.start >= a.end for a, b in zip(spans, spans[1:], strict=False))


def test_a_sentence_longer_than_a_passage_is_split() -> None:
    body = " ".join(f"word{n}" for n in range(600))  # no sentence end anywhere
    spans = split(body, 100, 1)
    assert len(spans) >= 6
    assert all(tokens(body[s.start:s.end]) <= 100 for s in spans)
    assert spans[0].start == 0 and spans[-1].end == len(body)


def test_editing_one_paragraph_changes_only_its_passages() -> None:
    settings = PassageSettings(tokens=120, overlap=0)
    edited = BODY.replace("Sentence number 100 ", "Sentence number one hundred ")

    def keys(body: str) -> list[str]:
        return [content_hash(passage_text("T", body[s.start:s.end], settings), "m")
                for s in passages("T", body, settings)]

    before, after = keys(BODY), keys(edited)
    assert len(before) == len(after) and sum(a != b for a, b in zip(before, after, strict=True)) == 1
    assert document_hash("T", BODY, "m", settings) != document_hash("T", edited, "m", settings)
    assert document_hash("T", BODY, "m", settings) != document_hash(
        "T", BODY, "m", PassageSettings(tokens=100))


def test_passages_off_is_one_whole_document() -> None:
    spans = passages("T", BODY, PassageSettings(enabled=False))
    assert [(s.start, s.end) for s in spans] == [(0, len(BODY))]


def test_terms_stem_and_drop_stop_words() -> None:
    assert terms.analyze("How many hearts does an Octopus have?") == ["mani", "heart", "octopus"]
    assert terms.analyze("Octopuses have three hearts") == ["octopus", "three", "heart"]
    assert terms.query_terms("heart hearts HEART") == ["heart"]
    assert terms.indexed_terms("Blue whale", "whales sing") == "blue whale blue whale whale sing"
    assert terms.analyze("snake_case e-mail") == ["snake", "case", "e", "mail"]


def test_bm25_rewards_more_and_rarer_terms() -> None:
    from collections import Counter

    def score(query: list[str], words: str) -> float:
        return terms.bm25(query, Counter(words.split()), len(words.split()), 100, 4.0,
                          {"rare": 1, "common": 90, "other": 10})

    assert score(["rare"], "rare x y z") > score(["common"], "common x y z")
    assert score(["rare", "other"], "rare other y z") > score(["rare", "other"], "rare x y z")
    assert 0 < terms.squash(5.0) < 1 and terms.squash(0.0) == 0


def test_tsvector_input_is_the_terms_exactly() -> None:
    assert tsvector(["heart", "octopus", "heart"]) == "'heart':1,3 'octopus':2"
    assert tsquery(["a", "b"]) == "'a' | 'b'"

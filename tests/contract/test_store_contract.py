"""The store contract: what the worker and the query side rely on, on every store."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from query_side.stores.base import Filters, Passage, ReadDocument, VectorStore
from query_side.stores.memory import MemoryStore

DIM = 384
rng = np.random.default_rng(7)


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def doc(version: int = 1, vector: np.ndarray | None = None,
        passages: list[tuple[str, np.ndarray]] | None = None, **fields: Any) -> ReadDocument:
    """One passage over the whole body, or ``passages`` (text, vector) joined into the body."""
    body = fields.pop("body", "body text")
    if passages is None:
        spans = (Passage(0, len(body), unit(rng.standard_normal(DIM)) if vector is None else vector),)
    else:
        body, found, at = "", [], 0
        for text, v in passages:
            body += ("\n\n" if body else "") + text
            at = len(body) - len(text)
            found.append(Passage(at, len(body), v))
        spans = tuple(found)
    base: dict[str, Any] = dict(
        id=uuid.uuid4(), version=version, title="title", body=body, category="common",
        tags=("t1",), attributes={"n": 1, "flag": False, "lang": "en"},
        published_at=datetime(2024, 1, 1, tzinfo=UTC), content_hash=f"h{version}",
        passages=spans)
    return ReadDocument(**(base | fields))


def vector_of(d: ReadDocument) -> np.ndarray:
    return d.passages[0].vector


def near(target: np.ndarray, noise: float) -> np.ndarray:
    return unit(target + noise * rng.standard_normal(DIM))


def test_upsert_then_get_round_trips(store: VectorStore) -> None:
    d = doc(title="Moon", body="The Moon", tags=("a", "b"), attributes={"n": 2, "s": "x",
                                                                       "ok": True})
    store.upsert([d])
    hit, vector = store.get(d.id)  # type: ignore[misc]
    assert (hit.version, hit.title, hit.body, hit.category) == (1, "Moon", "The Moon", "common")
    assert set(hit.tags) == {"a", "b"} and hit.attributes == {"n": 2, "s": "x", "ok": True}
    assert hit.published_at == d.published_at
    assert np.allclose(vector, vector_of(d), atol=1e-5)
    assert store.get(uuid.uuid4()) is None


def test_newer_version_overwrites(store: VectorStore) -> None:
    d = doc()
    store.upsert([d])
    store.upsert([replace(d, version=2, title="second", content_hash="h2")])
    assert store.get(d.id)[0].title == "second"  # type: ignore[index]
    assert store.count() == 1


def test_older_version_never_replaces_newer(store: VectorStore) -> None:
    d = doc(version=5, title="five")
    store.upsert([d])
    store.upsert([replace(d, version=4, title="four"), replace(d, version=5, title="again")])
    hit = store.get(d.id)[0]  # type: ignore[index]
    assert (hit.version, hit.title) == (5, "five")


def test_delete_is_version_guarded(store: VectorStore) -> None:
    d = doc(version=3)
    store.upsert([d])
    store.delete([(d.id, 2)])
    assert store.get(d.id) is not None
    store.delete([(d.id, 4)])
    assert store.get(d.id) is None
    store.delete([(uuid.uuid4(), 1)])  # deleting what is not there is fine


def test_scores_are_cosine_similarities_in_order(store: VectorStore) -> None:
    query = unit(rng.standard_normal(DIM))
    docs = [doc(vector=near(query, noise)) for noise in (0.02, 0.05, 0.1, 0.2, 0.4)]
    store.upsert(docs)
    hits = store.search(query, Filters(), limit=5)
    assert [h.id for h in hits] == [d.id for d in docs]
    for hit, d in zip(hits, docs, strict=True):
        assert abs(hit.score - float(np.dot(query, vector_of(d)))) < 1e-3
    best = hits[0].score
    assert [h.id for h in store.search(query, Filters(), 5, min_score=best - 1e-4)] == [docs[0].id]


def test_pagination_walks_the_same_ranking(store: VectorStore) -> None:
    query = unit(rng.standard_normal(DIM))
    store.upsert([doc(vector=near(query, 0.01 * n + 0.05)) for n in range(30)])
    everything = [h.id for h in store.search(query, Filters(), limit=30)]
    pages = [h.id for offset in range(0, 30, 7)
             for h in store.search(query, Filters(), limit=7, offset=offset)]
    assert pages == everything and len(set(pages)) == 30


def test_selective_filter_still_fills_the_limit(store: VectorStore) -> None:
    """1% of 2,000 documents match, all of them far from the query: still `limit` hits."""
    query = unit(rng.standard_normal(DIM))
    common = [doc(vector=near(query, 0.3)) for _ in range(1980)]
    rare = [doc(category="rare", tags=("rare",), attributes={"n": 99}) for _ in range(20)]
    for start in range(0, 2000, 500):
        store.upsert((common + rare)[start:start + 500])
    for filters in (Filters(category=["rare"]), Filters(tags_any=["rare"]),
                    Filters(attributes={"n": {"gte": 50}}), Filters(attributes={"n": 99})):
        hits = store.search(query, filters, limit=10)
        assert len(hits) == 10, filters
        assert {h.id for h in hits} <= {r.id for r in rare}
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_every_filter_kind(store: VectorStore) -> None:
    day = datetime(2024, 3, 1, tzinfo=UTC)
    a = doc(category="news", tags=("x", "y"), attributes={"n": 10, "lang": "en", "ok": True},
            published_at=day)
    b = doc(category="blog", tags=("x",), attributes={"n": 2.5, "lang": "fr", "ok": False},
            published_at=day + timedelta(days=10))
    c = doc(category="news", tags=(), attributes={"lang": "en"}, published_at=None)
    store.upsert([a, b, c])
    q = unit(rng.standard_normal(DIM))

    def ids(**f: Any) -> set[uuid.UUID]:
        return {h.id for h in store.search(q, Filters.model_validate(f), limit=10)}

    assert ids(category=["news"]) == {a.id, c.id}
    assert ids(tags_any=["y", "zz"]) == {a.id}
    assert ids(tags_all=["x", "y"]) == {a.id} and ids(tags_all=["x"]) == {a.id, b.id}
    assert ids(published_after=day.isoformat()) == {a.id, b.id}
    assert ids(published_after=(day + timedelta(days=1)).isoformat()) == {b.id}
    assert ids(published_before=(day + timedelta(days=10)).isoformat()) == {a.id}
    assert ids(attributes={"lang": "en"}) == {a.id, c.id}
    assert ids(attributes={"ok": False}) == {b.id}
    assert ids(attributes={"n": 10}) == {a.id} and ids(attributes={"n": 10.0}) == {a.id}
    assert ids(attributes={"n": {"gt": 2.5}}) == {a.id}
    assert ids(attributes={"n": {"gte": 2.5, "lte": 10}}) == {a.id, b.id}
    assert ids(attributes={"missing": {"gt": 0}}) == set()
    assert ids(category=["news"], attributes={"lang": "en"}, tags_any=["x"]) == {a.id}


def test_empty_results(store: VectorStore) -> None:
    q = unit(rng.standard_normal(DIM))
    assert store.search(q, Filters(), limit=10) == []
    store.upsert([doc()])
    assert store.search(q, Filters(category=["nothing"]), limit=10) == []
    assert store.search(q, Filters(), limit=10, min_score=0.999) == []


def test_filter_only_and_keyword_search(store: VectorStore) -> None:
    a = doc(title="Volcanoes", body="Lava flows from erupting volcanoes", category="geo")
    b = doc(title="Rivers", body="Rivers carry water to the sea", category="geo")
    store.upsert([a, b, doc(category="other")])
    assert {h.id for h in store.search(None, Filters(category=["geo"]), limit=10)} == {a.id, b.id}
    hits = store.search(None, Filters(), limit=10, mode="keyword", text="volcanoes")
    assert [h.id for h in hits] == [a.id]


def test_versions_pages_cover_every_document_once(store: VectorStore) -> None:
    docs = [doc(version=n % 3 + 1) for n in range(25)]
    store.upsert(docs)
    seen, after = [], None
    while page := store.versions(after, 10):
        seen.extend(page)
        after = page[-1].id
    assert sorted(v.id for v in seen) == sorted(d.id for d in docs)
    assert {v.id: v.version for v in seen} == {d.id: d.version for d in docs}
    assert store.count() == 25 and store.health()


def test_a_document_scores_by_its_best_passage_and_comes_once(store: VectorStore) -> None:
    query = unit(rng.standard_normal(DIM))
    far = [unit(rng.standard_normal(DIM)) for _ in range(3)]
    long = doc(passages=[("First part.", far[0]), ("Second part.", far[1]),
                         ("The answer is here.", near(query, 0.05)), ("Fourth.", near(query, 0.3))])
    middling = doc(vector=near(query, 0.15))
    store.upsert([long, middling, doc(vector=far[2])])
    hits = store.search(query, Filters(), limit=10)
    assert [h.id for h in hits][:2] == [long.id, middling.id]
    assert len(hits) == len({h.id for h in hits}) == 3
    top = hits[0]
    assert abs(top.score - float(np.dot(query, long.passages[2].vector))) < 1e-3
    best = top.passages[0]
    assert (best.text, best.start, best.end) == ("The answer is here.", long.passages[2].start,
                                                  long.passages[2].end)
    assert long.body[best.start:best.end] == best.text
    assert abs(best.score - top.score) < 1e-6
    assert [p.score for p in top.passages] == sorted((p.score for p in top.passages), reverse=True)


def test_pagination_over_passages_never_repeats_or_skips(store: VectorStore) -> None:
    query = unit(rng.standard_normal(DIM))
    docs = [doc(passages=[(f"passage {n}.{k}.", near(query, 0.02 * n + 0.05 + 0.3 * k))
                          for k in range(3)]) for n in range(25)]
    store.upsert(docs)
    for mode in ("semantic", "keyword", "hybrid"):
        everything = [h.id for h in store.search(query, Filters(), 25, mode=mode,  # type: ignore[arg-type]
                                                 text="passage text")]
        pages = [h.id for offset in range(0, 25, 4)
                 for h in store.search(query, Filters(), 4, offset, mode=mode,  # type: ignore[arg-type]
                                       text="passage text")]
        assert pages == everything and set(pages) == {d.id for d in docs}, mode


def test_a_shorter_replace_and_a_delete_leave_no_passages_behind(store: VectorStore) -> None:
    v = [unit(rng.standard_normal(DIM)) for _ in range(4)]
    d = doc(passages=[("one.", v[0]), ("two.", v[1]), ("three.", v[2])])
    other = doc()
    store.upsert([d, other])
    assert store.passage_count() == 4
    shorter = doc(version=2, passages=[("only.", v[3])], id=d.id, content_hash="h2")
    store.upsert([shorter])
    assert store.passage_count() == 2
    held = {s.id: s for s in store.versions(None, 10)}
    assert (held[d.id].version, held[d.id].passages, held[d.id].complete) == (2, 1, True)
    hit, vector = store.get(d.id)  # type: ignore[misc]
    assert hit.body == "only." and np.allclose(vector, v[3], atol=1e-5)
    assert {h.id for h in store.search(v[0], Filters(), limit=10)} == {d.id, other.id}
    store.delete([(d.id, 2)])
    assert store.passage_count() == 1 and store.strays() == []
    assert [s.id for s in store.versions(None, 10)] == [other.id]


def test_get_gives_the_mean_of_the_passage_vectors(store: VectorStore) -> None:
    a, b = unit(rng.standard_normal(DIM)), unit(rng.standard_normal(DIM))
    d = doc(passages=[("a.", a), ("b.", b)])
    store.upsert([d])
    _, vector = store.get(d.id)  # type: ignore[misc]
    assert np.allclose(vector, unit(a + b), atol=1e-5)


OCTOPUS = doc(title="Cephalopods", body="Octopuses have three hearts and blue blood.")
KEYWORD_DOCS = [
    OCTOPUS,
    doc(title="Heart surgery", body="A surgeon repairs the hearts of patients."),
    doc(title="Tides", body="The Moon pulls the oceans, and the tides follow it."),
    doc(title="Oceans", body="Many animals live in the deep ocean far from any light."),
]


def test_keyword_search_is_a_bag_of_terms(store: VectorStore) -> None:
    """Any term may match; stems and stop words are the same everywhere; more and rarer
    matches rank higher."""
    store.upsert(KEYWORD_DOCS)
    hits = store.search(None, Filters(), 10, mode="keyword",
                        text="how many hearts does an octopus have")
    assert hits[0].id == OCTOPUS.id
    assert {h.id for h in hits} == {KEYWORD_DOCS[0].id, KEYWORD_DOCS[1].id, KEYWORD_DOCS[3].id}
    assert all(0 < h.score < 1 for h in hits)
    assert hits[0].passages[0].text == OCTOPUS.body
    assert store.search(None, Filters(), 10, mode="keyword", text="the of and") == []
    ocean = store.search(None, Filters(), 10, mode="keyword", text="ocean")
    assert [h.id for h in ocean] == [KEYWORD_DOCS[3].id, KEYWORD_DOCS[2].id]  # title counts more


def test_keyword_scores_are_the_same_bm25_on_every_store(store: VectorStore) -> None:
    reference = MemoryStore()
    for target in (store, reference):
        target.upsert(KEYWORD_DOCS)
    for text in ("how many hearts does an octopus have", "moon tides ocean", "blue light"):
        want = [(h.id, round(h.score, 3)) for h in reference.search(None, Filters(), 10,
                                                                     mode="keyword", text=text)]
        got = [(h.id, round(h.score, 3)) for h in store.search(None, Filters(), 10,
                                                                mode="keyword", text=text)]
        assert got == want, text


def test_hybrid_scores_are_fused_in_zero_one(store: VectorStore) -> None:
    query = unit(rng.standard_normal(DIM))
    both = doc(title="Octopus", body="An octopus has three hearts.", vector=near(query, 0.1))
    meaning = doc(title="Squid", body="A squid swims.", vector=near(query, 0.05))
    words = doc(title="Hearts", body="Hearts pump blood.", vector=unit(rng.standard_normal(DIM)))
    store.upsert([both, meaning, words, doc()])
    hits = store.search(query, Filters(), 10, mode="hybrid", text="octopus hearts")
    assert hits[0].id == both.id and all(0 <= h.score <= 1 for h in hits)
    assert {h.id for h in hits} >= {both.id, meaning.id, words.id}
    # no keyword hit at all: the semantic scores stand alone
    alone = store.search(query, Filters(), 10, mode="hybrid", text="zebra")
    semantic = store.search(query, Filters(), 10)
    assert [(h.id, round(h.score, 4)) for h in alone] == [
        (h.id, round(max(0.0, h.score), 4)) for h in semantic]


def test_versions_report_passages(store: VectorStore) -> None:
    d = doc(passages=[("a.", unit(rng.standard_normal(DIM))), ("b.", unit(rng.standard_normal(DIM)))])
    store.upsert([d, doc()])
    held = {s.id: s for s in store.versions(None, 10)}
    assert (held[d.id].passages, held[d.id].complete) == (2, True)
    assert store.passage_count() == 3


def test_hybrid_alpha_weighs_the_sides_and_min_score_holds_in_every_mode(store: VectorStore) -> None:
    store.upsert(KEYWORD_DOCS)
    tides = vector_of(KEYWORD_DOCS[2])
    meaning = store.search(tides, Filters(), 10, mode="hybrid", text="octopus hearts", alpha=1.0)
    words = store.search(tides, Filters(), 10, mode="hybrid", text="octopus hearts", alpha=0.0)
    assert meaning[0].id == KEYWORD_DOCS[2].id and meaning[0].score == 1.0
    assert words[0].id == OCTOPUS.id and words[0].score == 1.0
    for mode in ("keyword", "hybrid"):
        every = store.search(tides, Filters(), 10, mode=mode, text="octopus hearts ocean")  # type: ignore[arg-type]
        floor = every[1].score
        kept = store.search(tides, Filters(), 10, mode=mode, text="octopus hearts ocean",  # type: ignore[arg-type]
                            min_score=floor)
        assert [h.id for h in kept] == [h.id for h in every if h.score >= floor] and len(kept) >= 2

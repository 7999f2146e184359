"""Index generations (blue-green) on real PostgreSQL, Redis and Weaviate, under search load.

From the torch model (generation 1) to the ONNX int8 model (generation 2): built from PostgreSQL
while generation 1 serves and live writes reach both, promoted through the relevance gate, with
searches running the whole time and none failing; rolled back; a generation that scores lower
(the hashing test encoder) is refused, and forcing it is audited.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from embeddings import HashingEncoder
from embeddings.onnx import ONNX_INT8_MODEL
from embeddings.passages import PassageSettings
from operations import corpus, index
from operations.quality.gate import DEFAULT_TOLERANCE
from query_side import generations, readmodel
from query_side.db import make_read_engine
from query_side.serving import POINTER_CACHE_S
from sync_worker import maintenance, runtime
from tests.pipeline import Pipeline, pipeline
from tests.services import Services

TORCH_MODEL = "all-MiniLM-L6-v2"


@pytest.fixture
def both(services: Services, real_encoder) -> Iterator[Pipeline]:  # type: ignore[no-untyped-def]
    with pipeline(services, real_encoder, stores=["pgvector", "weaviate"],
                  query_store="auto") as p:
        yield p


def act(p: Pipeline, action: str, generation: int | None = None, **options: Any) -> int:
    args = argparse.Namespace(action=action, generation=generation, encoder=None,
                              passage_tokens=None, passage_overlap=None, no_passage_title=False,
                              no_passages=False, force=False, articles=1,
                              tolerance=DEFAULT_TOLERANCE)
    for key, value in options.items():
        setattr(args, key, value)
    return index.run(p.runtime, args)


class SearchLoad:
    """Searches in a loop from two threads; every answer is kept (status, generation, model)."""

    def __init__(self, p: Pipeline, queries: list[str]) -> None:
        self.p, self.queries = p, queries
        self.answers: list[tuple[int, int | None, str | None]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(2)]

    def _run(self, offset: int) -> None:
        n = offset
        while not self._stop.is_set():
            reply = self.p.query.post("/v1/search", json={"query": self.queries[n % len(self.queries)],
                                                          "limit": 5})
            body = reply.json() if reply.status_code == 200 else {}
            self.answers.append((reply.status_code, body.get("generation"), body.get("model_id")))
            n += 2

    def __enter__(self) -> SearchLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)


def wait_for_generation(p: Pipeline, number: int, model_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        found = p.search("the history of the moon", limit=3)
        if (found["generation"], found["model_id"]) == (number, model_id):
            return
        assert time.monotonic() < deadline, f"still {found['generation']} ({found['model_id']})"
        time.sleep(0.2)


def held(p: Pipeline, store: str) -> dict[str, int]:
    with p.runtime.read_engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT doc_id, version FROM projection_state "
                                    "WHERE store = :s AND NOT deleted"), {"s": store})
        return {str(r.doc_id): r.version for r in rows}


def live_versions(p: Pipeline) -> dict[str, int]:
    with p.write_engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, version FROM documents WHERE deleted_at IS NULL"))
        return {str(r.id): r.version for r in rows}


def test_torch_to_onnx_under_search_load(both: Pipeline) -> None:
    p = both
    paragraphs = corpus.paragraphs(30)
    created = [p.create(**para.document()) for para in paragraphs[:24]]
    p.sync()
    queries = [para.text.split(".")[0][:120] for para in paragraphs[:24]]
    assert p.search(queries[0])["generation"] == 1
    assert p.search(queries[0])["model_id"] == TORCH_MODEL

    with SearchLoad(p, queries) as load:
        builder = threading.Thread(target=lambda: results.append(act(p, "build", encoder="onnx")))
        results: list[int] = []
        builder.start()
        # live writes while generation 2 is built: new, changed and deleted documents
        for para in paragraphs[24:]:
            p.create(**para.document())
        for doc in created[:4]:
            assert p.command.patch(f"/v1/documents/{doc['id']}",
                                   json={"body": "Rewritten while a generation was built."}
                                   ).status_code == 200
        assert p.command.delete(f"/v1/documents/{created[5]['id']}").status_code in (200, 204)
        p.sync()
        builder.join(timeout=600)
        assert results == [0]
        p.sync()  # (writes that raced the end of the build)
        with p.runtime.read_engine.connect() as conn:
            states = {g.number: g.state for g in generations.listing(conn)}
        assert states == {1: "serving", 2: "ready"}
        for store in ("pgvector@g2", "weaviate@g2"):
            assert held(p, store) == live_versions(p), store
        assert p.runtime.generation_store("pgvector", _generation(p, 2)).count() == 29

        assert act(p, "promote", 2) == 1  # int8 loses on the 1-article headings set
        assert act(p, "promote", 2, tolerance=0.02) == 0  # the operator accepts that much
        wait_for_generation(p, 2, ONNX_INT8_MODEL)
        written = p.create(title="Written after the switch", body="A quokka smiles on Rottnest.")
        p.sync()
        found = p.search("quokka", token=written["token"])
        assert found["generation"] == 2 and found["hits"][0]["id"] == written["id"]

        assert act(p, "rollback") == 0
        wait_for_generation(p, 1, TORCH_MODEL)
        assert act(p, "rollback") == 0  # back to generation 2 (it was previous)
        wait_for_generation(p, 2, ONNX_INT8_MODEL)
    failed = [a for a in load.answers if a[0] != 200]
    assert failed == [] and len(load.answers) > 20
    assert {a[1:] for a in load.answers} == {(1, TORCH_MODEL), (2, ONNX_INT8_MODEL)}


def _generation(p: Pipeline, number: int) -> generations.Generation:
    with p.runtime.read_engine.connect() as conn:
        return next(g for g in generations.listing(conn) if g.number == number)


def test_a_lower_ndcg_is_refused_and_forcing_it_is_audited(both: Pipeline) -> None:
    p = both
    for para in corpus.paragraphs(12):
        p.create(**para.document())
    p.sync()
    assert act(p, "build", encoder="hashing", passage_tokens=40) == 0  # (a passage setting too)
    second = _generation(p, 2)
    assert (second.model_id, second.passages.tokens) == ("hashing-test-encoder", 40)
    first_store = p.runtime.generation_store("pgvector", _generation(p, 1))
    second_store = p.runtime.generation_store("pgvector", second)
    assert second_store.count() == first_store.count() == 12
    assert second_store.passage_count() > first_store.passage_count()  # shorter passages
    assert act(p, "drop", 1) == 2  # the serving generation is never dropped
    assert act(p, "promote", 2) == 1
    assert p.search("moon")["generation"] == 1
    assert act(p, "promote", 2, force=True) == 0
    wait_for_generation(p, 2, "hashing-test-encoder")
    with p.write_engine.connect() as conn:
        forced = conn.execute(sa.text("SELECT detail FROM audit_log WHERE route = "
                                      "'index promote --force'")).scalars().all()
    assert len(forced) == 1 and "g1->g2" in forced[0]
    assert alias_target(p) == _generation(p, 2).collection
    assert act(p, "rollback") == 0
    wait_for_generation(p, 1, TORCH_MODEL)
    assert alias_target(p) == _generation(p, 1).collection
    table = _generation(p, 2).table
    assert _exists(p, table)
    assert act(p, "drop", 2) == 0
    assert act(p, "rollback") == 2  # nothing to return to once dropped
    assert not _exists(p, table) and _generation(p, 2).state == "dropped"
    assert p.search("moon")["generation"] == 1


def _exists(p: Pipeline, table: str) -> bool:
    with p.runtime.read_engine.connect() as conn:
        return conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": table}).scalar() is not None


def alias_target(p: Pipeline) -> str | None:
    """The collection the Weaviate alias of the serving generation points at."""
    from query_side.stores.weaviate import connect

    settings = p.worker_settings
    url, grpc_port = settings.weaviate_nodes()[0]
    client = connect(int(url.rsplit(":", 1)[1]), grpc_port)
    try:
        found = client.alias.get(alias_name=settings.weaviate_collection + index.ALIAS_SUFFIX)
        return found.collection if found is not None else None
    finally:
        client.close()


def test_generation_1_records_the_encoder_that_made_an_older_folder(services: Services) -> None:
    """A folder from before generations gets generation 1 from its embedding cache: the torch
    model's vectors stay recorded as torch's though the default encoder is now onnx-fp32, and a
    folder with nothing in it takes the setting."""
    settings = PassageSettings()
    for cached, expected in ((TORCH_MODEL, "sentence-transformers"), (None, "onnx-fp32")):
        engine = make_read_engine(services.fresh_databases()[1], pool_size=1)
        with engine.begin() as conn:
            readmodel.ensure_schema(conn)
            if cached:
                readmodel.cache_embeddings(conn, cached, {"h1": np.ones(384, np.float32),
                                                          "h2": np.ones(384, np.float32)})
                readmodel.cache_embeddings(conn, ONNX_INT8_MODEL, {"h3": np.ones(384, np.float32)})
            generations.ensure(conn, "onnx-fp32", settings, "Document", "read_documents")
        with engine.begin() as conn:
            first = generations.listing(conn)[0]
            generations.ensure(conn, "onnx", settings, "Document", "read_documents")  # idempotent
            assert generations.listing(conn) == [first]
        engine.dispose()
        assert (first.number, first.encoder, first.state) == (1, expected, "serving")
        assert first.model_id == generations.MODEL_IDS[expected]


def test_repairs_use_the_encoder_generation_1_records_not_today_s_setting(
        services: Services, real_encoder) -> None:  # type: ignore[no-untyped-def]
    """A torch folder opened with another ENCODER (as after the default became onnx-fp32):
    reconcile compares by torch's content hashes, so it finds nothing wrong, and a reindex
    embeds with torch again, not with the setting's encoder."""
    with pipeline(services, real_encoder) as p:
        for n in range(3):
            p.create(title=f"Comet {n}", body=f"Comet {n} passes the Sun every {70 + n} years.")
        p.sync()
        other = runtime.build(p.worker_settings.model_copy(update={"encoder": "hashing"}))
        try:
            assert other.built_with()[0].model_id == TORCH_MODEL
            found, _ = maintenance.reconcile(other, "pgvector", apply=False, progress=False)
            assert found.total == 0, found
            assert maintenance.reindex(other, "pgvector", progress=False).total == 0
            with p.runtime.read_engine.connect() as conn:
                models = set(conn.execute(sa.text(
                    "SELECT DISTINCT model_id FROM embedding_cache")).scalars())
            assert models == {TORCH_MODEL}, models
        finally:
            other.close()
        assert len(p.ids("a comet that passes the Sun")) == 3


class HeldEncoder(HashingEncoder):
    """The hashing encoder, holding a query that says "zzhold" until ``go`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.holding, self.go = threading.Event(), threading.Event()

    def encode(self, texts: list[str]) -> np.ndarray:
        if any("zzhold" in text for text in texts):
            self.holding.set()
            assert self.go.wait(60)
        return super().encode(texts)


def wait_until(done: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@dataclass
class HeldSearch:
    """A search held in generation 1's encoder while generation 2 is promoted."""

    p: Pipeline
    held: HeldEncoder
    serving: Any
    """The query API's :class:`query_side.serving.Serving`."""
    replies: list[Any]
    thread: threading.Thread

    def answer(self) -> Any:
        """Let the search go on; its reply, which came from generation 1 with its 3 hits."""
        self.held.go.set()
        self.thread.join(30)
        assert self.replies[0].status_code == 200, self.replies[0].text
        assert (self.replies[0].json()["generation"], len(self.replies[0].json()["hits"])) == (1, 3)
        return self.replies[0]


@contextmanager
def held_across_a_promote(services: Services) -> Iterator[HeldSearch]:
    """Hashing (generation 1) to ONNX int8 (generation 2), promoted while a search begun on
    generation 1 waits for its encoder."""
    held = HeldEncoder()
    with pipeline(services, held) as p:
        for n in range(3):
            p.create(title=f"Comet {n}", body=f"Comet {n} passes the Sun every {70 + n} years.")
        p.sync()
        serving = p.query.app.state.serving  # type: ignore[attr-defined]
        assert act(p, "build", encoder="onnx") == 0
        replies: list[Any] = []
        search = threading.Thread(target=lambda: replies.append(
            p.query.post("/v1/search", json={"query": "zzhold a comet"})))
        search.start()
        assert held.holding.wait(30)  # generation 1's encoder has the search now
        assert act(p, "promote", 2, force=True) == 0
        yield HeldSearch(p, held, serving, replies, search)


def test_a_dropped_generation_s_encoder_is_released_after_the_search_in_flight_on_it(
        services: Services) -> None:
    """Generation 1 dropped while a search on it waits for its encoder: the query API keeps
    generation 1 until that search has answered (from generation 1), then closes its stores and
    releases its encoder; the worker releases it too."""
    with held_across_a_promote(services) as search:
        p, serving = search.p, search.serving
        first = serving.encoders["hashing"]
        wait_until(lambda: serving.router.generation == 2, "generation 2 never served")
        with p.runtime.read_engine.begin() as conn:  # what `index drop 1` does first
            generations.apply(conn, "drop", 1)
        wait_until(lambda: 1 in serving.dropped, "the query API never saw the drop")
        time.sleep(2 * POINTER_CACHE_S)  # (looks at the pointer meanwhile)
        assert not first.closed and "pgvector" in serving.router.stores
        search.answer()
        wait_until(lambda: first.closed, "generation 1's encoder was never released")
        assert "hashing" not in serving.encoders and "pgvector" not in serving.router.stores
        assert serving.generations.keys() == {2}
        index.remove_stores(p.runtime, _generation(p, 1))  # what `index drop 1` does then
        assert p.search("a comet")["generation"] == 2
        assert p.runtime.live_generations() == [_generation(p, 2)]
        assert set(p.runtime.encoders) == {"onnx"}


def test_index_drop_just_after_a_promote_waits_for_the_searches_begun_on_the_old_generation(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """`index drop 1` a moment after `promote 2`, while a search begun on generation 1 waits for
    its encoder: the drop removes generation 1's tables only ``DRAIN_S`` after the promote, so
    that search answers from generation 1 (removed at once, it found its table gone)."""
    monkeypatch.setattr(index, "DRAIN_S", 3.0)
    with held_across_a_promote(services) as search:
        p, promoted = search.p, time.monotonic()
        dropped: list[int] = []
        drop = threading.Thread(target=lambda: dropped.append(act(p, "drop", 1)))
        drop.start()
        wait_until(lambda: 1 in search.serving.dropped, "the query API never saw the drop")
        search.answer()
        drop.join(30)
        assert dropped == [0] and time.monotonic() - promoted >= 2.5
        assert p.runtime.live_generations() == [_generation(p, 2)]
        with p.runtime.read_engine.connect() as conn:  # generation 1's table is gone now
            assert not sa.inspect(conn).has_table(_generation(p, 1).table)
        assert p.search("a comet")["generation"] == 2

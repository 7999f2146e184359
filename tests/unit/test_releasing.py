"""An encoder, and a dropped generation's stores, are let go of once no live generation uses
them: in the query API (not under a search still running on them) and in the worker."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from embeddings import HashingEncoder
from embeddings.passages import PassageSettings
from query_side.encoding import QueryEncoder
from query_side.generations import Generation
from query_side.router import StoreRouter
from query_side.serving import Serving
from query_side.settings import QuerySettings
from query_side.stores.base import Filters
from query_side.stores.memory import MemoryStore
from sync_worker.runtime import Runtime
from sync_worker.settings import WorkerSettings

TORCH, ONNX = "sentence-transformers", "onnx-fp32"


class Model(HashingEncoder):
    """A stand-in for a loaded model: what matters is whether anything still holds it."""

    def __init__(self, model_id: str) -> None:
        super().__init__()
        self.model_id = model_id


class Store(MemoryStore):
    closed = False

    def close(self) -> None:
        self.closed = True


def generation(number: int, encoder: str, state: str = "ready") -> Generation:
    return Generation(number, encoder, f"{encoder}-model", PassageSettings(), f"DocumentG{number}",
                      f"read_documents_g{number}", state)


def gone(ref: weakref.ref[Any]) -> bool:
    gc.collect()
    return ref() is None


@contextmanager
def serving_of(*held: Generation, default: str = ONNX) -> Iterator[Serving]:
    """A query API's serving state with ``held`` loaded (each with a store and a model) and the
    first of them serving; ENCODER is ``default``."""
    settings = QuerySettings(auth="off", encoder=default)
    router = StoreRouter({g.store("pgvector"): Store() for g in held}, settings, read_engine=None)  # type: ignore[arg-type]
    serving = Serving(settings, None, router, QueryEncoder(Model(default)))  # type: ignore[arg-type]
    for g in held:
        serving.generations[g.number] = g
        if g.encoder not in serving.encoders:
            serving.encoders[g.encoder] = QueryEncoder(Model(g.encoder))
    router.generation = held[0].number
    try:
        yield serving
    finally:
        serving.stop()
        router.stop()


def test_a_dropped_generation_closes_its_stores_and_releases_its_encoder() -> None:
    first, second = generation(1, TORCH), generation(2, ONNX, "serving")
    with serving_of(second, first) as serving:
        store, encoder = serving.router.stores["pgvector"], serving.encoders[TORCH]
        model = weakref.ref(encoder.encoder)
        serving.follow(2, [first, second])
        assert not encoder.closed and 1 in serving.generations  # still live: kept
        serving.follow(2, [second])  # generation 1 dropped
        assert 1 not in serving.generations and TORCH not in serving.encoders
        assert isinstance(store, Store) and store.closed and "pgvector" not in serving.router.stores
        assert encoder.closed and gone(model)
        with pytest.raises(RuntimeError, match="released"):
            encoder.encoder.encode(["too late"])
        assert not serving.encoders[ONNX].closed and "pgvector@g2" in serving.router.stores
        with serving.taken() as taken:
            assert taken.number == 2 and taken.encoder is serving.encoders[ONNX]


def test_a_search_in_flight_across_the_drop_ends_on_its_own_generation() -> None:
    first, second = generation(1, TORCH, "serving"), generation(2, ONNX)
    first_store = Store()
    with serving_of(first, second) as serving:
        serving.router.stores["pgvector"] = first_store
        started, dropped, answers = threading.Event(), threading.Event(), []

        def search() -> None:
            with serving.taken() as taken:
                started.set()
                dropped.wait(5)
                vector = taken.encoder.encode("the moon")
                store = serving.router.stores[serving.router.candidates(taken.number)[0]]
                answers.append((taken.number, taken.model_id, store.search(vector, Filters(), 3)))

        running = threading.Thread(target=search)
        running.start()
        assert started.wait(5)
        model = weakref.ref(serving.encoders[TORCH].encoder)
        serving.follow(2, [second])  # promoted, then generation 1 dropped, under the search
        with serving.taken() as taken:
            assert taken.number == 2  # a new search takes the new generation
        assert not first_store.closed and not serving.encoders[TORCH].closed
        dropped.set()
        running.join(5)
        assert answers == [(1, f"{TORCH}-model", [])]
        assert not first_store.closed and serving.dropped.keys() == {1}
        serving.follow(2, [second])  # the next look after the last search left
        assert first_store.closed and TORCH not in serving.encoders and gone(model)
        assert serving.dropped == {} and serving.searches == {}


def test_encoder_s_own_is_released_when_no_live_generation_uses_it() -> None:
    first = generation(1, TORCH, "serving")  # a torch folder opened under the onnx default
    with serving_of(first, default=ONNX) as serving:
        default = serving.encoders[ONNX]
        model = weakref.ref(default.encoder)
        serving.follow(1, [first])
        assert default.closed and gone(model) and set(serving.encoders) == {TORCH}


def test_an_encoder_another_live_generation_uses_is_kept() -> None:
    first, second = generation(1, ONNX), generation(2, ONNX, "serving")
    with serving_of(second, first) as serving:
        encoder = serving.encoders[ONNX]
        serving.follow(2, [second])
        assert serving.router.stores.keys() == {"pgvector@g2"}
        assert not encoder.closed and serving.encoders[ONNX] is encoder


def test_the_worker_releases_encoders_and_stores_no_live_generation_uses() -> None:
    torch, onnx = Model(TORCH), Model(ONNX)
    stores = {"pgvector": Store(), "weaviate": Store(), "pgvector@g2": Store()}
    rt = Runtime(WorkerSettings(encoder=ONNX), None, None,  # type: ignore[arg-type]
                 {ONNX: onnx, TORCH: torch}, dict(stores))
    model = weakref.ref(torch)
    del torch
    first, second = generation(1, TORCH, "previous"), generation(2, ONNX, "serving")
    rt.keep_only([first, second])
    assert rt.encoders.keys() == {ONNX, TORCH} and rt.stores.keys() == stores.keys()
    rt.keep_only([second])  # generation 1 dropped
    assert rt.encoders == {ONNX: onnx} and gone(model)
    assert rt.stores.keys() == {"pgvector@g2"}
    assert stores["pgvector"].closed and stores["weaviate"].closed
    assert not stores["pgvector@g2"].closed


def test_the_worker_releases_encoder_s_own_when_no_live_generation_uses_it() -> None:
    default = Model(ONNX)
    rt = Runtime(WorkerSettings(encoder=ONNX), None, None, {ONNX: default})  # type: ignore[arg-type]
    model = weakref.ref(default)
    del default
    rt.keep_only([generation(1, TORCH, "serving")])
    assert rt.encoders == {} and gone(model)

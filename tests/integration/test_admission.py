"""Admission control on the real query API: past its slots and its line, a search is refused at
once with 503 and Retry-After, while admitted searches (and result-cache hits, while the line is
not full) are served."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from httpx import Response

from embeddings import Encoder
from tests.integration.test_result_cache import wait_listening
from tests.pipeline import Pipeline, WrappedEncoder, pipeline
from tests.services import Services


@dataclass
class GatedEncoder(WrappedEncoder):
    """A real encoder that, while the gate is closed, holds every call until it opens: the
    searches in flight stay in flight for as long as the test needs."""

    gate: threading.Event = field(default_factory=threading.Event)

    def encode(self, texts: list[str]) -> np.ndarray:
        assert self.gate.wait(20), "the test never opened the gate"
        return self.inner.encode(texts)


def gated(services: Services, real_encoder: Encoder, **options: Any) -> Iterator[
        tuple[Pipeline, GatedEncoder]]:
    encoder = GatedEncoder(real_encoder)
    encoder.gate.set()
    with pipeline(services, encoder, search_in_flight=1, search_queue=1, **options) as pipe:
        wait_listening(pipe)
        yield pipe, encoder
        encoder.gate.set()


@pytest.fixture
def tiny(services: Services, real_encoder) -> Iterator[tuple[Pipeline, GatedEncoder]]:  # type: ignore[no-untyped-def]
    yield from gated(services, real_encoder, search_queue_seconds=10)


@pytest.fixture
def impatient(services: Services, real_encoder) -> Iterator[tuple[Pipeline, GatedEncoder]]:  # type: ignore[no-untyped-def]
    yield from gated(services, real_encoder, search_queue_seconds=0.05,
                     search_queue_give_up_seconds=0.2)


REFUSED_WITHIN_S = 0.1
"""Issue 16: a search that cannot be served is refused within 100 ms."""


def timed(pipe: Pipeline, query: str) -> tuple[Response, float]:
    started = time.perf_counter()
    reply = pipe.query.post("/v1/search", json={"query": query})
    return reply, time.perf_counter() - started


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def refused_count(pipe: Pipeline, reason: str) -> float:
    for line in pipe.query.get("/metrics").text.splitlines():
        if line.startswith(f'semsearch_query_refused_total{{reason="{reason}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0

def hold_the_slot(pool: ThreadPoolExecutor, pipe: Pipeline, query: str) -> Future[Any]:
    """A search submitted to ``pool`` that takes the one slot and stays in the (held) encoder."""
    admission = pipe.query.app.state.admission  # type: ignore[attr-defined]
    first = pool.submit(timed, pipe, query)
    wait_for(lambda: admission.in_flight == 1 or first.done(), "no search in flight")
    assert not first.done(), first.result()[0].text
    return first



def test_past_the_slot_and_the_line_a_search_is_refused_at_once(
        tiny: tuple[Pipeline, GatedEncoder]) -> None:
    pipe, encoder = tiny
    doc = pipe.create(title="Moon", body="The Moon is Earth's only natural satellite.")
    pipe.sync()
    assert pipe.ids("natural satellite") == [doc["id"]]  # now in the result cache
    admission = pipe.query.app.state.admission  # type: ignore[attr-defined]
    full = refused_count(pipe, "full")
    encoder.gate.clear()
    with ThreadPoolExecutor(2) as pool:
        first = hold_the_slot(pool, pipe, "a moon of the earth")
        cached, took = timed(pipe, "natural satellite")  # a result-cache hit does not wait
        assert cached.status_code == 200 and cached.json()["cached"] and took < 1
        second = pool.submit(timed, pipe, "the earth's satellite")  # waits in line
        wait_for(lambda: admission.waiting == 1, "no search waiting")
        refused, took = timed(pipe, "orbiting bodies")
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"] == "1"
        assert refused.headers["content-type"] == "application/problem+json"
        assert "capacity" in refused.json()["detail"]
        assert took < REFUSED_WITHIN_S, f"refused after {took:.3f}s"
        assert timed(pipe, "natural satellite")[0].status_code == 503  # refused at the door
        assert pipe.query.get("/healthz").status_code == 200
        assert refused_count(pipe, "full") == full + 2
        encoder.gate.set()
        for admitted in (first, second):
            reply, _ = admitted.result(timeout=20)
            assert reply.status_code == 200, reply.text
            assert [hit["id"] for hit in reply.json()["hits"]] == [doc["id"]]
    assert admission.in_flight == 0 and admission.waiting == 0


def test_a_search_in_line_is_served_past_the_wait_the_line_was_sized_for(
        impatient: tuple[Pipeline, GatedEncoder]) -> None:
    pipe, encoder = impatient
    admission = pipe.query.app.state.admission  # type: ignore[attr-defined]
    encoder.gate.clear()
    with ThreadPoolExecutor(2) as pool:
        first = hold_the_slot(pool, pipe, "held in the encoder")
        second = pool.submit(timed, pipe, "waits in line")
        wait_for(lambda: admission.waiting == 1 or second.done(), "no search waiting")
        time.sleep(0.1)  # twice SEARCH_QUEUE_SECONDS, half SEARCH_QUEUE_GIVE_UP_SECONDS
        assert not second.done(), second.result()[0].text
        encoder.gate.set()
        for admitted in (first, second):
            reply, _ = admitted.result(timeout=20)
            assert reply.status_code == 200, reply.text
    assert admission.in_flight == 0 and admission.waiting == 0


def test_a_search_that_waited_past_the_bound_is_refused_not_served_late(
        impatient: tuple[Pipeline, GatedEncoder]) -> None:
    pipe, encoder = impatient
    admission = pipe.query.app.state.admission  # type: ignore[attr-defined]
    waited = refused_count(pipe, "waited")
    encoder.gate.clear()
    with ThreadPoolExecutor(1) as pool:
        first = hold_the_slot(pool, pipe, "held in the encoder")
        reply, took = timed(pipe, "waits in line")
        assert reply.status_code == 503 and reply.headers["Retry-After"] == "1", reply.text
        assert 0.2 <= took < 1.5, f"refused after {took:.3f}s"  # (the safety net: rare)
        assert refused_count(pipe, "waited") == waited + 1
        encoder.gate.set()
        assert first.result(timeout=20)[0].status_code == 200
    assert admission.in_flight == 0 and admission.waiting == 0


def test_while_the_line_is_full_every_search_is_refused_at_the_door_at_once(
        tiny: tuple[Pipeline, GatedEncoder]) -> None:
    pipe, encoder = tiny  # (the one waiting waits up to 10 s: the line stays full meanwhile)
    admission = pipe.query.app.state.admission  # type: ignore[attr-defined]
    full = refused_count(pipe, "full")
    encoder.gate.clear()
    with ThreadPoolExecutor(2) as pool:
        first = hold_the_slot(pool, pipe, "held in the encoder")
        second = pool.submit(timed, pipe, "waits in line")
        wait_for(lambda: admission.waiting == 1, "no search waiting")
        for n in range(20):
            reply, took = timed(pipe, f"refused at the door {n}")
            assert reply.status_code == 503 and reply.headers["Retry-After"] == "1", reply.text
            assert reply.headers["content-type"] == "application/problem+json"
            assert took < REFUSED_WITHIN_S, f"refused after {took:.3f}s"
        assert refused_count(pipe, "full") == full + 20 and admission.waiting == 1
        encoder.gate.set()
        for admitted in (first, second):
            assert admitted.result(timeout=20)[0].status_code == 200
    assert admission.in_flight == 0 and admission.waiting == 0

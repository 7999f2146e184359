"""The HTTP door of both APIs over a real socket (uvicorn with httptools, as served): bodies over
the limit whatever their transfer encoding, trailing slashes, problem titles, repeated JSON keys."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from command_side.api import MAX_REQUEST_BYTES as COMMAND_LIMIT
from command_side.api import create_app as command_app
from operations.stack.process import free_port
from query_side.api import MAX_REQUEST_BYTES as QUERY_LIMIT
from query_side.api import create_app as query_app
from tests.integration.test_bad_input import VALID, counts
from tests.pipeline import Pipeline


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, http="httptools",
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture
def urls(pipe: Pipeline) -> Iterator[tuple[str, str]]:
    """The command and query APIs of ``pipe``'s databases, each served by uvicorn."""
    query = query_app(pipe.query.app.state.settings)  # type: ignore[attr-defined]
    query.state.encoder_override = pipe.query.app.state.encoder_override  # type: ignore[attr-defined]
    with served(command_app(pipe.command_settings)) as command, served(query) as search:
        yield command, search


def chunks(head: bytes, filler_bytes: int, tail: bytes) -> Iterator[bytes]:
    """A JSON body sent chunked (a generator has no Content-Length)."""
    yield head
    step = 256 * 1024
    for sent in range(0, filler_bytes, step):
        yield b"x" * min(step, filler_bytes - sent)
    yield tail


def problem_of(reply: httpx.Response, status: int) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = reply.json()
    assert body["status"] == status and body["title"] == reply.reason_phrase  # as the status line
    return body


def test_a_chunked_body_over_the_limit_gets_413_like_a_sized_one(pipe: Pipeline,
                                                                urls: tuple[str, str]) -> None:
    command, query = urls
    before = counts(pipe)
    with httpx.Client(timeout=60) as client:
        reply = client.post(f"{command}/v1/documents", headers={"content-type": "application/json"},
                            content=chunks(b'{"title": "t", "body": "', COMMAND_LIMIT + 1, b'"}'))
        assert "the limit is 67108864" in problem_of(reply, 413)["detail"]
        reply = client.post(f"{query}/v1/search", headers={"content-type": "application/json"},
                            content=chunks(b'{"query": "', 2 * QUERY_LIMIT, b'"}'))
        chunked = problem_of(reply, 413)
        reply = client.post(f"{query}/v1/search", headers={"content-type": "application/json"},
                            content=b'{"query": "' + b"x" * 2 * QUERY_LIMIT + b'"}')
        sized = problem_of(reply, 413)
    assert chunked.keys() == sized.keys() and chunked["detail"].endswith("the limit is 1048576")
    assert counts(pipe) == before


def test_trailing_slashes_are_not_found_and_titles_are_the_reason_phrase(
        urls: tuple[str, str]) -> None:
    command, query = urls
    with httpx.Client(timeout=30, follow_redirects=False) as client:
        problem_of(client.post(f"{query}/v1/search/", json={"query": "x"}), 404)
        problem_of(client.post(f"{command}/v1/documents/", json=VALID), 404)
        problem_of(client.get(f"{query}/v1/documents/{uuid.uuid4()}/"), 404)
        problem_of(client.post(f"{query}/v1/search", json={"query": "x", "limit": 0}), 422)
        problem_of(client.post(f"{command}/v1/documents", json={"title": "t"}), 422)


def test_a_repeated_json_key_is_refused_naming_it_and_writes_nothing(
        pipe: Pipeline, urls: tuple[str, str]) -> None:
    command, query = urls
    doc = pipe.create(**VALID)
    before = counts(pipe)
    twice_id = (b'{"title": "t", "body": "b", "id": "%s", "id": "%s"}'
                % (uuid.uuid4().hex.encode(), uuid.uuid4().hex.encode()))
    fourth = b'{"documents": [%s, %s, %s, {"title": "a", "body": "b", "title": "c"}]}' % (
        (b'{"title": "t", "body": "b"}',) * 3)
    cases = [
        ("POST", f"{command}/v1/documents", twice_id, "id"),
        ("PUT", f"{command}/v1/documents/{doc['id']}", b'{"title": "t", "body": "b", "body": "c"}',
         "body"),
        ("PATCH", f"{command}/v1/documents/{doc['id']}", b'{"tags": [], "tags": ["a"]}', "tags"),
        ("POST", f"{command}/v1/documents/bulk", fourth, "documents.3.title"),
        ("POST", f"{query}/v1/search", b'{"query": "a", "filters": {"category": ["x"], '
                                        b'"category": ["y"]}}', "filters.category"),
    ]
    with httpx.Client(timeout=30) as client:
        for method, url, body, where in cases:
            reply = client.request(method, url, content=body,
                                   headers={"content-type": "application/json"})
            detail = problem_of(reply, 422)["detail"]
            key = where.rsplit(".", 1)[-1]
            assert detail == f"{where}: the key '{key}' appears more than once in this object; " \
                             "send it once", (method, url, detail)
    assert counts(pipe) == before

"""The shared HTTP layer: body limit, readable validation errors, per-route metrics."""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from common import http


class Item(BaseModel):
    name: str


def app() -> FastAPI:
    made = FastAPI(telemetry=http.TELEMETRY)
    http.install(made, max_body_bytes=100)

    @made.post("/items/{item_id}")
    async def create(item_id: int, item: Item) -> dict[str, str]:
        return {"name": item.name}

    return made


def count(client: TestClient, route: str, status: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("semsearch_http_requests_total{") and f'route="{route}"' in line \
                and f'status="{status}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_an_oversized_body_is_refused_before_the_route_runs() -> None:
    with TestClient(app()) as client:
        reply = client.post("/items/1", content=b'{"name": "' + b"x" * 200 + b'"}',
                            headers={"content-type": "application/json"})
        assert reply.status_code == 413
        assert reply.json()["detail"] == "request body is 212 bytes; the limit is 100"


def test_validation_errors_name_the_field_and_metrics_count_by_route_and_status() -> None:
    with TestClient(app()) as client:
        before = (count(client, "/items/{item_id}", "200"), count(client, "/items/{item_id}", "422"))
        assert client.post("/items/1", json={"name": "a"}).json() == {"name": "a"}
        reply = client.post("/items/x", json={})
        assert reply.status_code == 422
        assert reply.json()["detail"] == ("item_id: Input should be a valid integer, unable to parse "
                                          "string as an integer; name: Field required")
        after = (count(client, "/items/{item_id}", "200"), count(client, "/items/{item_id}", "422"))
        assert (after[0] - before[0], after[1] - before[1]) == (1, 1)
        assert client.get("/healthz").json() == {"status": "ok"}
        client.get("/nowhere")
        assert count(client, "unmatched", "404") >= 1


def drive(app: FastAPI, body: bytes, chunk: int, headers: list[tuple[bytes, bytes]]) -> tuple[
        int, list[dict[str, Any]]]:
    """One POST /items/1 straight through the ASGI interface, its body handed out ``chunk``
    bytes per ``http.request`` message; returns the body bytes handed out and what was sent."""
    handed = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal handed
        if handed >= len(body):
            return {"type": "http.disconnect"}
        part = body[handed:handed + chunk]
        handed += len(part)
        return {"type": "http.request", "body": part, "more_body": handed < len(body)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/items/1", "raw_path": b"/items/1", "query_string": b"",
             "root_path": "", "headers": [(b"content-type", b"application/json"), *headers],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}

    async def lifespan_then_request() -> None:
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)

    asyncio.run(lifespan_then_request())
    return handed, sent


def answer(sent: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent  # one answer: the app did not also try to answer
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert (b"content-type", b"application/problem+json") in starts[0]["headers"]
    return starts[0]["status"], json.loads(body)


def test_a_chunked_body_over_the_limit_is_refused_before_the_rest_is_read() -> None:
    body = b'{"name": "' + b"x" * 1000 + b'"}'
    handed, sent = drive(app(), body, chunk=30, headers=[(b"transfer-encoding", b"chunked")])
    assert handed == 120  # the fourth 30-byte message passed the limit of 100: nothing more read
    status, problem = answer(sent)
    assert status == 413 and problem["status"] == 413
    assert problem["title"] == HTTPStatus(413).phrase  # what uvicorn's status line says
    assert problem["detail"] == "request body is at least 120 bytes; the limit is 100"


def test_a_content_length_that_lies_does_not_get_past_the_limit() -> None:
    body = b'{"name": "' + b"x" * 200 + b'"}'
    handed, sent = drive(app(), body, chunk=len(body), headers=[(b"content-length", b"20")])
    status, problem = answer(sent)
    assert (handed, status) == (212, 413)
    assert problem["detail"] == "request body is at least 212 bytes; the limit is 100"


def test_a_key_repeated_in_a_json_object_is_refused_naming_it_and_where() -> None:
    with TestClient(app()) as client:
        reply = client.post("/items/1", content=b'{"name": "a", "name": "b"}',
                            headers={"content-type": "application/json"})
        assert reply.status_code == 422, reply.text
        assert reply.json()["detail"] == ("name: the key 'name' appears more than once in this "
                                          "object; send it once")
        assert reply.json()["errors"][0]["loc"] == ["body", "name"]
        assert client.post("/items/1", json={"name": "a"}).status_code == 200
    nested = b'{"documents": [{}, {"a": {"b": 1, "b": 2}}, {}, {"title": 1, "x": [], "title": 2}]}'
    try:
        http.load_json_body(nested)
    except http.DuplicateKey as refused:
        assert refused.error["loc"] == ["body", "documents", 1, "a", "b"]
    else:
        raise AssertionError("a repeated key was accepted")
    assert http.load_json_body(b'{"a": [{"b": 1}, {"b": 2}], "c": {"b": 3}}') == {
        "a": [{"b": 1}, {"b": 2}], "c": {"b": 3}}

"""The shared HTTP layer: body limit, readable validation errors, per-route metrics."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from semsearch import http


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

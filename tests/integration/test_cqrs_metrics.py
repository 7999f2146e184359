"""ADR-020's series on /metrics: cqrs_command_total and cqrs_command_duration_seconds by command
and outcome, cqrs_query_total and cqrs_query_duration_seconds by query and store."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.pipeline import Pipeline


def sample(client: TestClient, name: str, **labels: str) -> float:
    want = [f'{k}="{v}"' for k, v in labels.items()]
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + "{") and all(w in line for w in want):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def readings(c: TestClient, q: TestClient) -> dict[str, float]:
    """The series this test watches, read from both APIs' /metrics."""
    return {
        "written": sample(c, "cqrs_command_total", command="create", outcome="written"),
        "refused": sample(c, "cqrs_command_total", command="delete", outcome="refused"),
        "timed": sample(c, "cqrs_command_duration_seconds_count", command="create"),
        "search": sample(q, "cqrs_query_total", query="search", store="pgvector", outcome="ok"),
        "missing": sample(q, "cqrs_query_total", query="document", store="pgvector",
                          outcome="refused"),
        "search_timed": sample(q, "cqrs_query_duration_seconds_count", query="search",
                               store="pgvector"),
    }


def test_commands_and_queries_are_counted_and_timed(pipe: Pipeline) -> None:
    c, q = pipe.command, pipe.query
    before = readings(c, q)
    pipe.create(title="Counted", body="Each command is counted.")
    assert c.delete(f"/v1/documents/{uuid.uuid4()}").status_code == 404
    pipe.search("counted")
    assert q.get(f"/v1/documents/{uuid.uuid4()}").status_code == 404
    after = readings(c, q)
    assert {k: after[k] - before[k] for k in after} == {k: 1.0 for k in after}

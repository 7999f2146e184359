"""Nothing lost, nothing stale, with real processes crashing at the worst moments.

Each test runs the command API, relay and worker(s) as real processes (real model, real
PostgreSQL, Redis and Weaviate), injects one fault, and then requires every store to equal
PostgreSQL (same ids, versions and content hashes) within CONVERGE_SECONDS.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from redis import Redis
from rq import Queue

from command_side.jobs import PROJECT_CHANGES, Change, ProjectChanges
from operations.faults.chaos import Cluster
from tests.services import Services

CONVERGE_SECONDS = 90


@pytest.fixture
def cluster(services: Services, weaviate) -> Iterator[Cluster]:  # type: ignore[no-untyped-def]
    write_url, read_url = services.fresh_databases()
    env = {"DATABASE_URL": write_url, "READ_DATABASE_URL": read_url,
           "REDIS_URL": services.redis.url, "SYNC_STORES": "pgvector,weaviate",
           "QUEUE_NAME": f"f{uuid.uuid4().hex[:10]}", "WEAVIATE_URL": weaviate.url,
           "WEAVIATE_GRPC_PORT": str(weaviate.grpc_port),
           "WEAVIATE_COLLECTION": f"F{uuid.uuid4().hex[:10]}",
           "RESEND_AFTER_SECONDS": "1"}
    c = Cluster(Path(tempfile.mkdtemp(prefix="faults-")), env)
    yield c
    c.stop()


LONG = " ".join(f"Sentence {n} of a long document tells about the sea, its tides and its "
                "currents, in some detail." for n in range(60))
"""A body of several passages (about 1,200 model tokens)."""


def write(c: Cluster, count: int, prefix: str = "Doc", long_every: int = 4) -> list[dict[str, object]]:
    """``count`` documents, every ``long_every``-th one long enough for several passages."""
    docs = [{"title": f"{prefix} {n}", "body": LONG if n % long_every == 0 else
             f"{prefix} paragraph number {n} about the sea."} for n in range(count)]
    reply = httpx.post(f"{c.command_url}/v1/documents/bulk", json={"documents": docs}, timeout=30)
    reply.raise_for_status()
    return reply.json()["items"]  # type: ignore[no-any-return]


def assert_converged(c: Cluster, expected_live: int | None = None) -> None:
    found = c.wait_converged(CONVERGE_SECONDS)
    assert {name: d.total for name, d in found.items()} == {"pgvector": 0, "weaviate": 0}, {
        name: (d.missing[:3], d.stale[:3], d.orphaned[:3], d.strays[:3]) for name, d in found.items()}
    if expected_live is not None:
        assert {name: d.checked for name, d in found.items()} == {
            "pgvector": expected_live, "weaviate": expected_live}


def wait_dead(c: Cluster, name: str, timeout: float = 180) -> None:
    """Until ``name`` has died at its failpoint (a worker first loads its model: a minute on a
    busy machine)."""
    deadline = time.monotonic() + timeout
    while c.procs[name].alive():
        assert time.monotonic() < deadline, f"{name} did not reach its failpoint"
        time.sleep(0.2)


def test_worker_killed_in_the_middle_of_a_batch(cluster: Cluster) -> None:
    cluster.start_command_api()
    cluster.start("relay", "relay")
    cluster.start_worker(failpoints=("worker-mid-batch",))
    write(cluster, 40)
    wait_dead(cluster, "worker")  # it wrote a store, then died before recording or acking
    cluster.start_worker()
    assert_converged(cluster, expected_live=40)


def test_worker_killed_between_a_documents_passages_and_itself(cluster: Cluster) -> None:
    """Weaviate has no transactions: a crash between a document's passages and its own object
    (a shorter replace), or between its object and its passages (a delete), leaves a half-written
    document or stray passages, which reconcile sees and the worker's retry repairs."""
    cluster.start_command_api()
    cluster.start("relay", "relay")
    cluster.start_worker()
    items = write(cluster, 12, "Long", long_every=1)
    assert_converged(cluster, expected_live=12)
    rt = cluster.runtime()
    assert rt.store("weaviate").passage_count() >= 12 * 4

    cluster.kill("worker")
    cluster.start_worker(failpoints=("store-mid-document",))
    for item in items[:6]:
        httpx.put(f"{cluster.command_url}/v1/documents/{item['id']}", timeout=30,
                  json={"title": "Short now", "body": "One passage."}).raise_for_status()
    wait_dead(cluster, "worker")
    half = cluster.differences()["weaviate"]
    assert half.stale, half  # the crash really left documents half written
    cluster.start_worker()
    assert_converged(cluster, expected_live=12)

    cluster.kill("worker")
    cluster.start_worker(failpoints=("store-mid-document",))
    for item in items[6:]:
        httpx.delete(f"{cluster.command_url}/v1/documents/{item['id']}", timeout=30).raise_for_status()
    wait_dead(cluster, "worker")
    assert cluster.differences()["weaviate"].strays  # documents gone, their passages not yet
    cluster.start_worker()
    assert_converged(cluster, expected_live=6)
    assert rt.store("weaviate").passage_count() == rt.store("pgvector").passage_count() == 6


def test_relay_killed_between_claim_and_enqueue(cluster: Cluster) -> None:
    cluster.start_command_api()
    cluster.start("relay", "relay", failpoints=("relay-after-claim",))
    write(cluster, 20)
    wait_dead(cluster, "relay")
    redis = Redis.from_url(cluster.env["REDIS_URL"])
    queue = cluster.env["QUEUE_NAME"]
    assert Queue(f"{queue}-pgvector", connection=redis).count == 0  # nothing was enqueued
    with cluster.runtime().write_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM outbox WHERE sent_at IS NULL")).scalar() == 20
    cluster.start("relay", "relay")
    cluster.start_worker()
    assert_converged(cluster, expected_live=20)


def test_redis_restarted_losing_everything(cluster: Cluster, services: Services) -> None:
    cluster.start_command_api()
    cluster.start("relay", "relay")
    write(cluster, 30, "Before")
    time.sleep(1.0)  # jobs are queued, nobody works them yet
    relay = cluster.procs["relay"].pid
    os.kill(relay, signal.SIGSTOP)  # else it may resend before the check below sees Redis empty
    try:
        services.redis.restart_empty()
        assert Redis.from_url(cluster.env["REDIS_URL"]).dbsize() == 0
    finally:
        os.kill(relay, signal.SIGCONT)
    write(cluster, 10, "After")
    cluster.start_worker()
    assert_converged(cluster, expected_live=40)


def test_command_api_dies_right_after_commit(cluster: Cluster) -> None:
    cluster.start_command_api(failpoints=("command-after-commit",))
    cluster.start("relay", "relay")
    cluster.start_worker()
    doc_id = str(uuid.uuid4())
    with pytest.raises(httpx.HTTPError):  # the client never hears back
        httpx.post(f"{cluster.command_url}/v1/documents", timeout=30,
                   json={"id": doc_id, "title": "Committed", "body": "Then the process died."})
    wait_dead(cluster, "command-api")
    cluster.start_command_api()
    reply = httpx.post(f"{cluster.command_url}/v1/documents", timeout=30,
                       json={"id": doc_id, "title": "Retry", "body": "The client retries."})
    assert reply.status_code == 409  # the first attempt was committed
    assert_converged(cluster, expected_live=1)


def test_store_unreachable_for_a_while(cluster: Cluster, services: Services) -> None:
    cluster.start_command_api()
    cluster.start("relay", "relay")
    cluster.start_worker()
    write(cluster, 10, "Up")
    services.weaviate.stop()  # type: ignore[attr-defined]
    try:
        write(cluster, 10, "Down")  # commands keep succeeding
        time.sleep(3)
    finally:
        services.weaviate.start()  # type: ignore[attr-defined]
    write(cluster, 5, "Back")
    assert_converged(cluster, expected_live=25)


def test_two_workers_with_versions_out_of_order(cluster: Cluster) -> None:
    cluster.start_command_api()
    items = write(cluster, 15, "Race")
    for round_ in range(4):  # four more versions of every document
        for item in items:
            httpx.patch(f"{cluster.command_url}/v1/documents/{item['id']}", timeout=30,
                        json={"body": f"Round {round_} text for {item['id']}"}).raise_for_status()
    redis = Redis.from_url(cluster.env["REDIS_URL"])
    for store in ("pgvector", "weaviate"):  # stale replays queued ahead of everything
        queue = Queue(f"{cluster.env['QUEUE_NAME']}-{store}", connection=redis)
        for item in items:
            stale = ProjectChanges(store, (Change(uuid.UUID(item["id"]), 1, 0),))
            queue.enqueue(PROJECT_CHANGES, *stale.to_payload())
    cluster.start_worker("worker-a")
    cluster.start_worker("worker-b")
    cluster.start("relay", "relay")
    assert_converged(cluster, expected_live=15)
    rt = cluster.runtime()
    for store in ("pgvector", "weaviate"):
        versions = {v.version for v in rt.store(store).versions(None, 100)}
        assert versions == {5}

"""Three workers and two relays as real processes, applying batches in parallel while four
clients write many versions of the same few ids: no store ever shows an older version of a
document than it showed before, and at the end each store holds exactly PostgreSQL's versions.

The hashing encoder stands in for the model: the version guard does not depend on it, and the
workers then spend their time on the stores, where the races are. Which interleavings happen
here is up to the scheduler; the worst one is forced, step by step, in
tests/integration/test_parallel_projection.py."""

from __future__ import annotations

import random
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from operations.faults.chaos import Cluster
from query_side.stores.base import VectorStore
from sync_worker import runtime
from sync_worker.reconcile import stored
from sync_worker.settings import WorkerSettings
from tests.services import Services

WORKERS, RELAYS, CLIENTS, COMMANDS_EACH, IDS = 3, 2, 4, 60, 20
CONVERGE_SECONDS = 180


@pytest.fixture
def cluster(services: Services, weaviate) -> Iterator[Cluster]:  # type: ignore[no-untyped-def]
    write_url, read_url = services.fresh_databases()
    env = {"DATABASE_URL": write_url, "READ_DATABASE_URL": read_url,
           "REDIS_URL": services.redis.url, "SYNC_STORES": "pgvector,weaviate",
           "QUEUE_NAME": f"w{uuid.uuid4().hex[:10]}", "WEAVIATE_URL": weaviate.url,
           "WEAVIATE_GRPC_PORT": str(weaviate.grpc_port),
           "WEAVIATE_COLLECTION": f"W{uuid.uuid4().hex[:10]}", "ENCODER": "hashing",
           "RELAY_BATCH_SIZE": "5", "MAX_QUEUED_JOBS": "0"}  # many small jobs, none held back
    c = Cluster(Path(tempfile.mkdtemp(prefix="workers-")), env)
    yield c
    c.stop()


def client_commands(url: str, ids: list[str], seed: int, statuses: list[int]) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=60) as client:
        for n in range(COMMANDS_EACH):
            doc_id = rng.choice(ids)
            kind = rng.choices(["put", "patch", "delete", "create"], [4, 4, 1, 1])[0]
            text = f"version {n} from client {seed}: " + " ".join(rng.sample(WORDS, 6))
            if kind == "put":
                reply = client.put(f"/v1/documents/{doc_id}", json={"title": text, "body": text})
            elif kind == "patch":
                reply = client.patch(f"/v1/documents/{doc_id}", json={"body": text})
            elif kind == "delete":
                reply = client.delete(f"/v1/documents/{doc_id}")
            else:
                reply = client.post("/v1/documents", json={"id": doc_id, "title": text, "body": text})
            statuses.append(reply.status_code)


WORDS = "river mountain ocean forest desert city music science history planet trade law".split()


class Watcher(threading.Thread):
    """Lists each store's (id, version) over and over; notes any version that went back."""

    def __init__(self, settings: WorkerSettings) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.done = threading.Event()
        self.seen: dict[tuple[str, uuid.UUID], int] = {}
        self.went_back: list[str] = []
        self.rounds = 0

    def run(self) -> None:
        rt = runtime.build(self.settings)  # its own clients: the test's are used meanwhile
        try:
            self.watch([rt.store(n) for n in ("pgvector", "weaviate")])
        finally:
            rt.close()

    def watch(self, stores: list[VectorStore]) -> None:
        while not self.done.is_set():
            for store in stores:
                for held in stored(store):
                    before = self.seen.get((store.name, held.id), 0)
                    if held.version < before:
                        self.went_back.append(f"{store.name} {held.id}: {before} -> {held.version}")
                    self.seen[(store.name, held.id)] = max(before, held.version)
            self.rounds += 1
            self.done.wait(0.2)


def test_parallel_workers_never_let_an_older_version_win(cluster: Cluster) -> None:
    cluster.start_command_api()
    for n in range(1, RELAYS + 1):
        cluster.start(f"relay-{n}", "relay")
    for n in range(1, WORKERS + 1):
        cluster.start_worker(f"worker-{n}")
    ids = [str(uuid.uuid4()) for _ in range(IDS)]
    first = httpx.post(f"{cluster.command_url}/v1/documents/bulk", timeout=60, json={
        "documents": [{"id": i, "title": "first", "body": "first version"} for i in ids]})
    first.raise_for_status()
    watcher = Watcher(cluster.runtime().settings)
    watcher.start()
    statuses: list[int] = []
    clients = [threading.Thread(target=client_commands,
                                args=(cluster.command_url, ids, seed, statuses))
               for seed in range(CLIENTS)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(600)
    assert len(statuses) == CLIENTS * COMMANDS_EACH and max(statuses) < 500, sorted(set(statuses))

    found = cluster.wait_converged(CONVERGE_SECONDS)
    time.sleep(0.5)  # one more listing after convergence
    watcher.done.set()
    watcher.join(60)
    assert watcher.rounds >= 2 and watcher.went_back == [], watcher.went_back[:5]
    assert {name: d.total for name, d in found.items()} == {"pgvector": 0, "weaviate": 0}, {
        name: (d.missing[:3], d.stale[:3], d.orphaned[:3]) for name, d in found.items()}
    with cluster.runtime().write_engine.connect() as conn:
        live, most = conn.execute(sa.text(
            "SELECT count(*) FILTER (WHERE deleted_at IS NULL), max(version) FROM documents "
            "WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids}).one()
    assert {name: d.checked for name, d in found.items()} == {"pgvector": live, "weaviate": live}
    assert most >= 8  # many versions of the same ids went through at once
    applied = [n for n in range(1, WORKERS + 1)
               if "applying" in (cluster.home / f"worker-{n}.log").read_text(errors="replace")]
    assert len(applied) >= 2, applied  # the batches really were shared out

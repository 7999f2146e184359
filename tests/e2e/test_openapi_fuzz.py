"""Schemathesis against both APIs: the OpenAPI schema is what the services do.

With keys on (an admin key for the command API, a read key for the query API, so that its
``ignored_auth`` check sends requests without them and expects 401).

Both APIs, the relay and the worker run as real processes on the session's PostgreSQL, Redis and
Weaviate (the deterministic hashing encoder stands in for the model: what is checked here is the
HTTP contract, not relevance). Schemathesis reads each ``/openapi.json`` and runs every check
(``--checks all``) over its examples, coverage, fuzzing and stateful phases, a bounded number
of examples per operation (SCHEMATHESIS_EXAMPLES, default 60: about 2,100 requests and 2.5
minutes for both APIs here), with a fixed seed so that a failure can be replayed.
``schemathesis.toml`` at the repository root holds the one setting the run needs beyond the
defaults (and ``schemathesis run`` by hand reads it too).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from operations.faults.chaos import Cluster
from operations.stack.process import free_port, wait_until
from tests.services import Services

ROOT = Path(__file__).resolve().parents[2]
ADMIN, READER = "fuzz-admin-0123456789", "fuzz-reader-0123456789"
EXAMPLES = os.environ.get("SCHEMATHESIS_EXAMPLES", "60")


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[tuple[str, str]]:
    write_url, read_url = services.fresh_databases()
    env = {"DATABASE_URL": write_url, "READ_DATABASE_URL": read_url,
           "REDIS_URL": services.redis.url, "QUEUE_NAME": f"s{uuid.uuid4().hex[:10]}",
           "ENCODER": "hashing", "QUERY_API_WORKERS": "1", "AUTH": "on",
           "ADMIN_KEYS": f"fuzz:{ADMIN}", "READ_KEYS": f"fuzz-read:{READER}", "CONSISTENCY_WAIT_SECONDS": "1",
           "MAX_WAIT_SECONDS": "2"}  # a generated token names writes that never come
    if services.weaviate is not None:
        env |= {"SYNC_STORES": "pgvector,weaviate",
                "WEAVIATE_URL": services.weaviate.url,  # type: ignore[attr-defined]
                "WEAVIATE_GRPC_PORT": str(services.weaviate.grpc_port),  # type: ignore[attr-defined]
                "WEAVIATE_COLLECTION": f"S{uuid.uuid4().hex[:10]}"}
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="fuzz-")), env)
    query_port = free_port()
    try:
        cluster.start_command_api()
        cluster.start("relay", "relay")
        cluster.start_worker()
        query = cluster.start("query-api", "query-api", "--port", str(query_port))
        query_url = f"http://127.0.0.1:{query_port}"
        wait_until(lambda: httpx.get(f"{query_url}/readyz").status_code == 200, 120,
                   "query-api", query.log, query.alive)
        yield cluster.command_url, query_url
    finally:
        cluster.stop()


def fuzz(url: str, tmp_path: Path, *extra: str) -> None:
    report = tmp_path / "report"
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--no-color", "run", f"{url}/openapi.json",
         "--checks", "all",
         "--max-examples", EXAMPLES, "--seed", "14", "--phases", "examples,coverage,fuzzing,stateful",
         "--workers", "1", "--request-timeout", "30",
         "--report", "junit", "--report-dir", str(report), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=1200)
    print(run.stdout[-20_000:], run.stderr[-5000:])
    assert run.returncode == 0, run.stdout[-8000:]


@pytest.mark.slow
def test_command_api_keeps_its_openapi_contract(stack: tuple[str, str], tmp_path: Path) -> None:
    fuzz(stack[0], tmp_path, "--header", f"X-API-Key: {ADMIN}")


@pytest.mark.slow
def test_query_api_keeps_its_openapi_contract(stack: tuple[str, str], tmp_path: Path) -> None:
    fuzz(stack[1], tmp_path, "--header", f"Authorization: Bearer {READER}")

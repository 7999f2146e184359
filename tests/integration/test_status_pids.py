"""Issue 31, point 6: `semsearch status` names the pid of each Weaviate node the stack started,
the single server too (not only a cluster's nodes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embeddings.encoder import HashingEncoder
from operations.stack.local import LocalStack, StackConfig
from semsearch import cli
from tests.pipeline import pipeline
from tests.services import Services


def test_status_names_the_pid_of_the_weaviate_server(
        services: Services, weaviate: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    stack = LocalStack(StackConfig(data_dir=tmp_path))
    stack.weaviate = weaviate  # the session's embedded server, as `up` starts it
    stack.record("running")
    pid = weaviate.process.pid  # type: ignore[attr-defined]
    with pipeline(services, HashingEncoder(), stores=["pgvector", "weaviate"]) as p:
        s = p.runtime.settings
        for name, value in (("DATABASE_URL", s.database_url),
                            ("READ_DATABASE_URL", s.read_database_url),
                            ("WEAVIATE_URL", s.weaviate_url),
                            ("WEAVIATE_GRPC_PORT", str(s.weaviate_grpc_port[0])),
                            ("WEAVIATE_COLLECTION", s.weaviate_collection),
                            ("SYNC_STORES", "pgvector,weaviate")):
            monkeypatch.setenv(name, str(value))
        assert cli.main(["status", "--json", "--data-dir", str(tmp_path)]) == 0
    nodes = json.loads(capsys.readouterr().out)["weaviate_nodes"]
    assert [(n["url"], n["pid"]) for n in nodes] == [(s.weaviate_url, pid)]

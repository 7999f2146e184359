"""Session services and the fixtures built on them. See tests/services.py."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import Services, start


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    home = Path(tempfile.mkdtemp(prefix="semsearch-tests-"))
    running = start(home)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def real_encoder():  # type: ignore[no-untyped-def]
    """The real sentence-transformers encoder from the packaged model, loaded once."""
    from embeddings import SentenceTransformerEncoder

    encoder = SentenceTransformerEncoder()
    encoder.encode(["warm up"])
    return encoder


@pytest.fixture
def weaviate(services: Services):  # type: ignore[no-untyped-def]
    if services.weaviate is None:
        pytest.skip(services.weaviate_error or "no Weaviate")  # CI=true never gets here
    return services.weaviate


@pytest.fixture(scope="session")
def _weaviate_cluster(services: Services):  # type: ignore[no-untyped-def]
    """Three ``weaviate-server`` nodes in one replicated cluster, started on first use."""
    from operations.stack.weaviate import ensure_binary
    from operations.stack.weaviate_cluster import WeaviateCluster
    from tests.services import weaviate_required

    binary = ensure_binary(build=weaviate_required())
    if binary is None:
        pytest.skip("no weaviate-server binary (run scripts/setup; needs Go)")  # never under CI
    cluster = WeaviateCluster(services.home / "weaviate-cluster", 3, binary).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def weaviate_cluster(_weaviate_cluster):  # type: ignore[no-untyped-def]
    """The session's 3-node cluster; a test that kills nodes gets them restarted after it."""
    yield _weaviate_cluster
    for i, node in enumerate(_weaviate_cluster.nodes):
        if node.extra_env:  # restarted with test-only settings: back to the defaults
            node.stop()
        if node.process is None or not node.process.alive():
            _weaviate_cluster.restart(i)

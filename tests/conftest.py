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

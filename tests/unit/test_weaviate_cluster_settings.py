"""A Weaviate cluster in the store settings (no I/O)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from query_side.settings import StoreSettings


def test_node_urls_pair_with_one_port_or_one_port_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEAVIATE_URL", "http://127.0.0.1:8080, http://127.0.0.1:8081")
    monkeypatch.setenv("WEAVIATE_GRPC_PORT", "50051,50052")
    assert StoreSettings().weaviate_nodes() == [("http://127.0.0.1:8080", 50051),
                                                ("http://127.0.0.1:8081", 50052)]
    monkeypatch.setenv("WEAVIATE_GRPC_PORT", "50051")
    assert [port for _, port in StoreSettings().weaviate_nodes()] == [50051, 50051]
    monkeypatch.setenv("WEAVIATE_GRPC_PORT", "1,2,3")
    with pytest.raises(ValueError, match="3 ports for 2"):
        StoreSettings().weaviate_nodes()


def test_consistency_and_replication_defaults_and_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = StoreSettings()
    assert (settings.weaviate_replication_factor, settings.weaviate_write_consistency,
            settings.weaviate_read_consistency) == (1, "QUORUM", "QUORUM")
    monkeypatch.setenv("WEAVIATE_READ_CONSISTENCY", "ONE")
    monkeypatch.setenv("WEAVIATE_REPLICATION_FACTOR", "3")
    assert (StoreSettings().weaviate_read_consistency,
            StoreSettings().weaviate_replication_factor) == ("ONE", 3)
    monkeypatch.setenv("WEAVIATE_WRITE_CONSISTENCY", "SOME")
    with pytest.raises(ValidationError):
        StoreSettings()

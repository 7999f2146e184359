"""A short randomized soak with faults injected while it runs; the long one is `semsearch soak`."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from operations.faults.soak import soak, start_cluster
from tests.services import Services

CONVERGE_SECONDS = 180
CLUSTER_CONVERGE_SECONDS = 300
"""Stores and then every node: a write in flight on a killed node is retried by the Weaviate
client for about a minute, and async replication catches the node up after it returns."""


def test_short_soak_with_faults_ends_with_zero_differences(services: Services, weaviate) -> None:  # type: ignore[no-untyped-def]
    """Three workers and two relays side by side, each killed in turn at random."""
    cluster = start_cluster(Path(tempfile.mkdtemp(prefix="soak-")), services.redis,
                            services.postgres, weaviate, workers=3, relays=2)
    assert sorted(cluster.procs) == ["command-api", "relay-1", "relay-2", "worker-1", "worker-2",
                                     "worker-3"]
    try:
        result = soak(cluster, services.redis, weaviate, commands=800, ids=80, fault_every=3,
                      seed=7, converge_timeout=CONVERGE_SECONDS, progress=False, rate=40,
                      min_faults=6)
    finally:
        cluster.stop()
    print(result)
    assert len(result.faults) >= 6, result.faults  # every kind of fault really happened
    assert sum(result.kinds.values()) == 800
    # values at the domains' edges were accepted and reached every store; outside them, refused
    assert result.kinds["refused 422"] > 20 and result.accepted_out_of_domain == 0, result.kinds
    assert result.differences == {"pgvector": 0, "weaviate": 0}
    assert result.live_documents > 0
    assert result.comparisons >= 2  # the periodic comparison ran in the workers (each store)
    # pgvector commits each write with its guard in one transaction: it never needs a repair
    assert not [m for m in result.repaired if m.startswith("pgvector")], result.repaired


@pytest.mark.slow
def test_soak_on_a_three_node_cluster_ends_with_zero_differences_on_every_node(
        services: Services, weaviate_cluster) -> None:  # type: ignore[no-untyped-def]
    """The same soak on a replicated 3-node cluster (replication factor 3): its Weaviate fault
    SIGKILLs one node and restarts it; afterwards each node's own replica equals PostgreSQL.
    The ``hashing`` encoder leaves the two cores to three servers and six processes."""
    cluster = start_cluster(Path(tempfile.mkdtemp(prefix="soak-cluster-")), services.redis,
                            services.postgres, weaviate_cluster, workers=3, relays=2,
                            env={"ENCODER": "hashing"})
    assert cluster.env["WEAVIATE_REPLICATION_FACTOR"] == "3"
    assert len(cluster.env["WEAVIATE_URL"].split(",")) == 3
    try:
        result = soak(cluster, services.redis, weaviate_cluster, commands=600, ids=60,
                      fault_every=3, seed=11, converge_timeout=CLUSTER_CONVERGE_SECONDS,
                      progress=False, rate=40, min_faults=6)
    finally:
        cluster.stop()
    print(result)
    kinds = [f.split(" ")[1] for f in result.faults]
    assert "kill-weaviate-node" in kinds and "weaviate-away" not in kinds, result.faults
    assert len(result.faults) >= 6, result.faults  # every kind of fault really happened
    assert sum(result.kinds.values()) == 600
    assert result.differences == {"pgvector": 0, "weaviate": 0}
    assert result.node_differences == dict.fromkeys(weaviate_cluster.urls, 0)
    assert result.live_documents > 0
    assert result.comparisons >= 2
    assert not [m for m in result.repaired if m.startswith("pgvector")], result.repaired
    assert all(node.process is not None and node.process.alive()
               for node in weaviate_cluster.nodes)

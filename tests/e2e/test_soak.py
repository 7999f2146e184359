"""A short randomized soak with faults injected while it runs; the long one is `semsearch soak`."""

from __future__ import annotations

import tempfile
from pathlib import Path

from semsearch.soak import soak, start_cluster
from tests.services import Services

CONVERGE_SECONDS = 180


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
    assert result.differences == {"pgvector": 0, "weaviate": 0}
    assert result.live_documents > 0

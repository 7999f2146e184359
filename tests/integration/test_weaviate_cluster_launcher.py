"""The cluster launcher's node settings: names, ports, Raft voters, gossip joins (it takes free
loopback ports; no server starts)."""

from __future__ import annotations

from pathlib import Path

from operations.stack.weaviate_cluster import WeaviateCluster


def test_every_node_lists_all_voters_and_joins_the_others(tmp_path: Path) -> None:
    cluster = WeaviateCluster(tmp_path, 3)
    ports = [port for node in cluster.nodes for port in node.ports.values()]
    assert len(set(ports)) == len(ports)  # eighteen distinct ports
    envs = [node._env() for node in cluster.nodes]
    voters = {f"semsearch-node{i}:{node.ports['raft']}" for i, node in enumerate(cluster.nodes)}
    for i, env in enumerate(envs):
        assert env["CLUSTER_HOSTNAME"] == f"semsearch-node{i}"
        assert set(env["RAFT_JOIN"].split(",")) == voters and env["RAFT_BOOTSTRAP_EXPECT"] == "3"
        others = {f"127.0.0.1:{n.ports['gossip']}" for j, n in enumerate(cluster.nodes) if j != i}
        assert set(env["CLUSTER_JOIN"].split(",")) == others
    assert cluster.env()["WEAVIATE_URL"].count(",") == 2
    assert cluster.env()["WEAVIATE_REPLICATION_FACTOR"] == "3"

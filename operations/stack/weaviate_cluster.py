"""N ``weaviate-server`` nodes on loopback that form one replicated cluster.

Node ``i`` is named ``semsearch-node{i}`` and lives in ``{home}/node{i}`` with its own six ports
(remembered there, see :class:`EmbeddedWeaviate`). Every node lists all N as Raft voters
(``RAFT_JOIN``, ``RAFT_BOOTSTRAP_EXPECT=N``) and gossips with the others (``CLUSTER_JOIN``), so a
node that is SIGKILLed and started again on its folder and ports rejoins on its own. Collections
get their replication factor from ``WEAVIATE_REPLICATION_FACTOR`` (query_side/settings.py): the
stack sets it to N.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from operations.stack.leftovers import Ledger
from operations.stack.process import stop_all
from operations.stack.weaviate import EmbeddedWeaviate

NODE_PREFIX = "semsearch-node"


class WeaviateCluster:
    def __init__(self, home: Path, size: int = 3, binary: Path | None = None,
                 ledger: Ledger | None = None) -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one node")
        self.home = home
        self.ledger = ledger
        self.nodes: list[EmbeddedWeaviate] = []
        for i in range(size):
            self.nodes.append(self._node(i, binary))
        for node in self.nodes:
            node.peers = [n for n in self.nodes if n is not node]

    def _node(self, i: int, binary: Path | None) -> EmbeddedWeaviate:
        """Node ``i``, on ports none of the nodes before it took (each picks free ones alone)."""
        taken = {port for n in self.nodes for port in n.ports.values()}
        while True:
            node = EmbeddedWeaviate(self.home / f"node{i}", binary=binary,
                                    name=f"{NODE_PREFIX}{i}", ledger=self.ledger)
            if not taken & set(node.ports.values()):
                return node

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    @property
    def url(self) -> str:
        """``WEAVIATE_URL``: every node, comma-separated."""
        return ",".join(self.urls)

    @property
    def grpc_ports(self) -> str:
        """``WEAVIATE_GRPC_PORT``: each node's, in the order of :attr:`url`."""
        return ",".join(str(n.grpc_port) for n in self.nodes)

    def env(self) -> dict[str, str]:
        return {"WEAVIATE_URL": self.url, "WEAVIATE_GRPC_PORT": self.grpc_ports,
                "WEAVIATE_REPLICATION_FACTOR": str(len(self.nodes))}

    def start(self) -> WeaviateCluster:
        """Every node first (Raft bootstraps once all N are up), then wait for each."""
        try:
            for node in self.nodes:
                node.launch()
            for node in self.nodes:
                node.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self, i: int) -> None:
        """SIGKILL node ``i`` (a crash)."""
        self.nodes[i].kill()

    def restart(self, i: int, env: dict[str, str] | None = None) -> None:
        """Start node ``i`` again on its folder and ports (``env``: server settings for this
        run only); returns once it is ready."""
        self.nodes[i].extra_env = env or {}
        self.nodes[i].start()

    def members(self, via: int = 0) -> dict[str, str]:
        """Each node's name and status (HEALTHY, UNAVAILABLE, ...) as node ``via`` sees them."""
        reply = httpx.get(f"{self.nodes[via].url}/v1/nodes", timeout=10)
        reply.raise_for_status()
        return {n["name"]: n["status"] for n in reply.json()["nodes"]}

    def stop(self) -> None:
        """Every node at once (SIGTERM, SIGKILL after STOP_GRACE): bounded however many."""
        stop_all(node.process for node in self.nodes if node.process is not None)

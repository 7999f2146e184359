"""Which node of a Weaviate cluster the store talks to, and when to move to another.

One client per node; one of them is current. Before a call the current node's gRPC port is
checked with one TCP handshake (a cluster only): a server that died refuses at once, where a gRPC
call to it is retried by the client for ~63 s (1+2+...+32 s on UNAVAILABLE). After a failure the
current node is probed over REST and, if it does not answer, the first of the others that does
becomes current. A write is refused at once when fewer nodes are healthy than its consistency
level needs, rather than held by Weaviate until the client's timeout.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

import grpc
import httpx
import weaviate
from weaviate.classes.config import ConsistencyLevel
from weaviate.exceptions import WeaviateBaseError

from query_side.stores.base import StoreUnavailable

PROBE_SECONDS = 0.5
"""Longest a cluster node's gRPC port may take to accept a connection before the next node."""


class Nodes:
    def __init__(self, clients: Sequence[weaviate.WeaviateClient],
                 grpc_addresses: Sequence[tuple[str, int]] = ()) -> None:
        """``grpc_addresses``: each node's (host, gRPC port), in the order of ``clients``."""
        self.clients = list(clients)
        self.addresses = list(grpc_addresses)
        self.current = 0

    @property
    def client(self) -> weaviate.WeaviateClient:
        return self.clients[self.current]

    def accepts_connections(self) -> bool:
        """Whether the current node's gRPC port takes a connection (True for a single node)."""
        if len(self.addresses) < 2:
            return True
        try:
            socket.create_connection(self.addresses[self.current], timeout=PROBE_SECONDS).close()
        except OSError:
            return False
        return True

    def next_answering(self) -> bool:
        """Stay on the current node if it answers, else move to the first of the others that
        does; True when the current node changed. StoreUnavailable when none answers."""
        count = len(self.clients)
        for step in range(count):
            node = (self.current + step) % count
            client = self.clients[node]
            try:
                if not client.is_connected():
                    client.connect()
                client.get_meta()
            except (WeaviateBaseError, grpc.RpcError, httpx.HTTPError, OSError):
                continue
            moved, self.current = node != self.current, node
            return moved
        raise StoreUnavailable(f"weaviate: none of {count} node(s) answers")

    def check_write_quorum(self, level: ConsistencyLevel, replication_factor: int) -> None:
        """StoreUnavailable when, as the current node sees the cluster, fewer nodes are healthy
        than a write at ``level`` needs."""
        if replication_factor < 2:
            return
        needed = {ConsistencyLevel.ONE: 1, ConsistencyLevel.ALL: replication_factor}.get(
            level, replication_factor // 2 + 1)
        healthy = sum(n.status == "HEALTHY" for n in self.client.cluster.nodes())
        if healthy < needed:
            raise StoreUnavailable(f"weaviate: {healthy} healthy node(s), a {level.value} write "
                                   f"needs {needed}")

    def close(self) -> None:
        for client in self.clients:
            client.close()

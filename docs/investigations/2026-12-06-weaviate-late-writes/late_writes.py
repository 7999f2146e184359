"""Two writes of one object to a 3-node Weaviate cluster whose clients gave up: do they land later?

A cluster of three ``weaviate-server`` nodes (replication factor 3, async replication, the
collection settings the store uses). Object X is written at version 1; node 2 is SIGKILLed; X is
written at version 2 by a client that gives up after 2 s, then at version 3 by a client with the
store's 60 s write timeout, both through node 0 at QUORUM; node 2 is started again 4 s later;
then what each node holds of X (read at ONE from each) is printed every 3 s for a minute.

    .venv/bin/python docs/investigations/2026-12-06-weaviate-late-writes/late_writes.py
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from pathlib import Path

import weaviate
from weaviate.classes.config import Configure, ConsistencyLevel, DataType, Property
from weaviate.classes.data import DataObject
from weaviate.classes.init import AdditionalConfig, Timeout
from weaviate.connect import ConnectionParams

from operations.stack.weaviate import ensure_binary
from operations.stack.weaviate_cluster import WeaviateCluster
from query_side.stores.weaviate.schema import replication

START = time.monotonic()


def say(*parts: object) -> None:
    print(f"{time.monotonic() - START:7.2f}", *parts, flush=True)


def client(cluster: WeaviateCluster, node: int, insert: float = 60) -> weaviate.WeaviateClient:
    n = cluster.nodes[node]
    c = weaviate.WeaviateClient(
        connection_params=ConnectionParams.from_params(
            http_host="127.0.0.1", http_port=n.http_port, http_secure=False,
            grpc_host="127.0.0.1", grpc_port=n.grpc_port, grpc_secure=False),
        additional_config=AdditionalConfig(timeout=Timeout(init=3, query=20, insert=insert)),
        skip_init_checks=True)
    c.connect()
    return c


def main() -> None:
    binary = ensure_binary()
    assert binary is not None, "no weaviate-server: run scripts/setup"
    cluster = WeaviateCluster(Path(tempfile.mkdtemp(prefix="late-writes-")), 3, binary).start()
    x = uuid.uuid4()

    def collection(c: weaviate.WeaviateClient, level: str = "QUORUM"):  # type: ignore[no-untyped-def]
        return c.collections.use("Late").with_consistency_level(ConsistencyLevel(level))

    def put(c: weaviate.WeaviateClient, version: int, who: str) -> None:
        started = time.monotonic()
        try:
            result = collection(c).data.insert_many(
                [DataObject(uuid=x, properties={"version": version}, vector=[0.1] * 4)])
            say(who, f"v{version} returned after {time.monotonic() - started:.2f}s, "
                     f"errors {dict(result.errors)}")
        except Exception as exc:  # the client gave up: what the worker sees
            say(who, f"v{version} raised after {time.monotonic() - started:.2f}s: "
                     f"{type(exc).__name__}: {str(exc)[:160]}")

    try:
        first = client(cluster, 0)
        first.collections.create("Late", properties=[Property(name="version",
                                                              data_type=DataType.INT)],
                                 vector_config=Configure.Vectors.self_provided(),
                                 replication_config=replication(3))
        put(first, 1, "writer")
        cluster.kill(2)
        say("node2 SIGKILLed")
        impatient = threading.Thread(target=put, args=(client(cluster, 0, insert=2), 2,
                                                       "gives up after 2 s"), daemon=True)
        impatient.start()
        impatient.join(3)
        put(client(cluster, 0), 3, "writer")
        time.sleep(4)
        cluster.restart(2)
        say("node2 back")
        for _ in range(20):
            held = [collection(client(cluster, node), "ONE").query.fetch_object_by_id(x)
                    for node in range(3)]
            say("version on node0, node1, node2:",
                [None if o is None else o.properties["version"] for o in held])
            time.sleep(3)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()

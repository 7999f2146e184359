"""``semsearch soak``: a randomized stream of commands with faults injected while it runs.

Creates, replaces, patches and deletes documents over a fixed set of ids through a real command
API (a quarter of creates and replaces with values at the edges of the value domains, and one
command in twelve with a value outside them, which must be refused with a 422), while a fault
thread SIGKILLs and restarts workers, relays and the command API, wipes Redis
and takes Weaviate away for a while. On a replicated Weaviate cluster (``--weaviate-nodes 3``,
replication factor 3) the Weaviate fault SIGKILLs one node and restarts it a few seconds later,
one node at a time, so QUORUM writes and reads go on. At the end every store must equal
PostgreSQL, and so must every Weaviate node's own replica.

The relays enqueue the periodic comparison of each store with PostgreSQL every
``RECONCILE_SECONDS`` here (not the default five minutes), so that what a store loses or brings
back after confirming it is repaired within the wait; the repairs it made are in the result.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from operations.faults.chaos import Cluster
from operations.stack.postgres import EmbeddedPostgres
from operations.stack.redis import EmbeddedRedis
from sync_worker.antientropy import COMPARED, REPAIRED_MARK

WORDS = ("river mountain ocean forest desert city music science history planet language "
         "trade law medicine energy weather island volcano glacier bridge").split()


@dataclass
class SoakResult:
    commands: int
    ids: int
    kinds: Counter[str] = field(default_factory=Counter)
    faults: list[str] = field(default_factory=list)
    seconds: float = 0.0
    converge_seconds: float = 0.0
    differences: dict[str, int] = field(default_factory=dict)
    node_differences: dict[str, int] = field(default_factory=dict)
    """Weaviate node URL → differences of its own replica from PostgreSQL."""
    live_documents: int = 0
    comparisons: int = 0
    """Periodic comparisons of a store with PostgreSQL the workers made (each logs a line)."""
    repaired: list[str] = field(default_factory=list)
    """What the periodic comparison repaired (the workers' log messages, each starting with the
    store's name): a store that lost or brought back a confirmed write."""

    @property
    def ok(self) -> bool:
        return not self.accepted_out_of_domain and all(
            total == 0 for total in [*self.differences.values(), *self.node_differences.values()])

    @property
    def accepted_out_of_domain(self) -> int:
        """Commands with a value outside the domains that were not refused with a 422."""
        return sum(n for kind, n in self.kinds.items()
                   if kind.startswith("refused ") and kind != "refused 422")


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 25)))


def _body(rng: random.Random) -> str:
    """Mostly a short body; one in eight long enough for several passages, so replaces with a
    shorter body and deletes must leave no passage behind."""
    if rng.random() >= 1 / 8:
        return _text(rng)
    return " ".join(_text(rng).capitalize() + "." for _ in range(rng.randint(20, 35)))


EDGE_DATES = ("1678-01-01T00:00:00+14:00", "2261-12-31T23:59:59.999999-14:00",
              "1970-01-01T00:00:00Z", "1678-01-01T00:00:00-14:00")
EDGE_NUMBERS = (2**53 - 1, -(2**53 - 1), 5e-324, -0.0, 0.1, 1.7976931348623157e+308 / 2**971)
EDGE_TEXTS = ("  padded  ", "\u3000wide\u3000", "\U0001f600 astral", "zero\u200bwidth")


def _edges(rng: random.Random) -> dict[str, Any]:
    """Fields at the value domains' edges (common/values.py): all accepted, and every store
    must hold them (the title hides a zero-width character, the body may be one long word)."""
    body = rng.choice(["x" * rng.randint(200, 5000), "\U0001f600" * rng.randint(50, 2000), _body(rng)])
    return {"title": "\u200b" + _text(rng)[:40], "body": body,
            "published_at": rng.choice(EDGE_DATES), "category": f" {rng.choice(WORDS)}\u3000",
            "tags": [f" {w} " for w in rng.sample(WORDS, 2)],
            "attributes": {"n": rng.choice(EDGE_NUMBERS), "s": rng.choice(EDGE_TEXTS)}}


REFUSED = ('"published_at": "0001-01-01T00:00:00+14:00"', '"published_at": "9999-12-31T23:59:59-14:00"',
           '"attributes": {"n": 1180591620717411303424}', '"attributes": {"n": 1e300}',
           '"attributes": {"n": NaN}', '"attributes": {"n": -Infinity}', '"title": "\u200b\u200d"',
           '"tags": [" a\t"]')
"""Values some store could not hold or compare alike: each must be refused (422), nothing written."""


def _refused(rng: random.Random, doc_id: uuid.UUID, exists: bool) -> tuple[str, str, bytes]:
    bad = rng.choice(REFUSED)
    body = '{"title": "t", "body": "b", ' + bad + "}"
    if bad.startswith('"title"'):
        body = '{"body": "b", ' + bad + "}"
    if exists:
        return "refused", f"/v1/documents/{doc_id}", body.encode()
    return "refused", "/v1/documents", body.replace("{", f'{{"id": "{doc_id}", ', 1).encode()


def _command(rng: random.Random, doc_id: uuid.UUID, exists: bool,
             ) -> tuple[str, str, dict[str, Any] | bytes | None]:
    path = f"/v1/documents/{doc_id}"
    if rng.random() < 1 / 12:
        return _refused(rng, doc_id, exists)
    edges = _edges(rng) if rng.random() < 1 / 4 else {}
    if not exists:
        return "create", "/v1/documents", {"id": str(doc_id), "title": _text(rng)[:60], "body": _body(rng),
                                          "tags": rng.sample(WORDS, 2), **edges}
    kind = rng.choices(["replace", "patch-body", "patch-tags", "delete"], [3, 3, 2, 2])[0]
    if kind == "replace":
        return kind, path, {"title": _text(rng)[:60], "body": _body(rng), "category": rng.choice(WORDS),
                            **edges}
    if kind == "patch-body":
        return kind, path, {"body": _body(rng)}
    if kind == "patch-tags":
        return kind, path, {"tags": rng.sample(WORDS, 3)}
    return kind, path, None


def _send(client: httpx.Client, kind: str, path: str, body: dict[str, Any] | bytes | None) -> int:
    """Send one command, riding out a restarting command API; returns the status code."""
    method = {"create": "POST", "replace": "PUT", "delete": "DELETE"}.get(kind, "PATCH")
    if kind == "refused":
        method = "PUT" if path != "/v1/documents" else "POST"
    content = body if isinstance(body, bytes) else None
    for _ in range(600):
        try:
            if content is not None:
                return client.request(method, path, content=content,
                                      headers={"content-type": "application/json"}).status_code
            return client.request(method, path, json=body).status_code
        except httpx.HTTPError:
            time.sleep(0.1)  # the command API is down (a fault): try again
    raise RuntimeError("the command API did not come back within a minute")


NODE_DOWN_SECONDS = 4.0
"""How long a SIGKILLed Weaviate node stays down before it is started again."""


def _nodes(weaviate: Any) -> list[Any]:
    """The nodes of a replicated cluster (WeaviateCluster); empty for one server or none."""
    nodes = getattr(weaviate, "nodes", [])
    return list(nodes) if len(nodes) > 1 else []


class Faults(threading.Thread):
    """Injects one fault every ``every`` seconds until stopped, one at a time (a Weaviate node
    killed is back before the next fault, so never two nodes are down at once)."""

    def __init__(self, cluster: Cluster, redis: EmbeddedRedis, weaviate: Any, every: float,
                 rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.cluster, self.redis, self.weaviate, self.every, self.rng = (
            cluster, redis, weaviate, every, rng)
        self.done = threading.Event()
        self.log: list[str] = []

    def run(self) -> None:
        away = "kill-weaviate-node" if _nodes(self.weaviate) else "weaviate-away"
        kinds = ["kill-worker", "kill-relay", "kill-command-api", "wipe-redis", away,
                 "crash-mid-document"]
        while not self.done.wait(self.every):
            kind = kinds[len(self.log) % len(kinds)] if len(self.log) < len(kinds) else self.rng.choice(kinds)
            self.log.append(f"{time.strftime('%H:%M:%S')} {kind}")
            self.inject(kind)

    def pick(self, prefix: str) -> str:
        """One of the cluster's workers or relays, at random (seeded), named in the log."""
        name = self.rng.choice(sorted(n for n in self.cluster.procs if n.startswith(prefix)))
        self.log[-1] += f" {name}"
        return name

    def behind(self) -> str:
        """How far each node lags PostgreSQL just after a restart, for the log (the others lag
        too by whatever the workers have not applied yet)."""
        try:
            found = self.cluster.node_differences()
        except Exception as exc:  # not answering yet: only the log loses a figure
            return f"not compared: {type(exc).__name__}"
        names = {node.url: node.name for node in self.weaviate.nodes}
        return "differences " + ", ".join(f"{names.get(url, url)} {d.total}"
                                          for url, d in found.items())

    def inject(self, kind: str) -> None:
        c = self.cluster
        if kind == "kill-worker":
            worker = self.pick("worker-")
            c.kill(worker)
            c.start_worker(worker, wait=False)
        elif kind == "crash-mid-document":  # dies between a document's two Weaviate writes
            worker = self.pick("worker-")
            c.kill(worker)
            c.start_worker(worker, failpoints=("store-mid-document",), wait=False)
        elif kind == "kill-relay":
            relay = self.pick("relay-")
            c.kill(relay)
            c.start(relay, "relay")
        elif kind == "kill-command-api":
            c.kill("command-api")
            c.start_command_api()
        elif kind == "wipe-redis":
            self.redis.restart_empty()
        elif kind == "kill-weaviate-node":
            node = self.rng.randrange(len(self.weaviate.nodes))
            self.log[-1] += f" {self.weaviate.nodes[node].name}"
            self.weaviate.kill(node)  # SIGKILL: a crash
            time.sleep(NODE_DOWN_SECONDS)
            self.weaviate.restart(node)  # its folder and ports; rejoins and catches up
            self.log[-1] += f" (back; {self.behind()})"
        elif kind == "weaviate-away" and self.weaviate is not None:
            self.weaviate.stop()
            time.sleep(3)
            self.weaviate.start()


def soak(cluster: Cluster, redis: EmbeddedRedis, weaviate: Any, commands: int, ids: int,
         faults: bool = True, fault_every: float = 5.0, seed: int = 0,
         converge_timeout: float = 180.0, progress: bool = True, rate: float = 50.0,
         min_faults: int = 0) -> SoakResult:
    """Drive ``commands`` random commands over ``ids`` documents; returns what converged.
    ``min_faults``: after the last command, let the faults go on until this many have been
    injected (a slow machine restarts processes slowly, so fewer fit in the commands' time)."""
    rng = random.Random(seed)
    result = SoakResult(commands, ids)
    doc_ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(ids)]
    exists = dict.fromkeys(doc_ids, False)
    injector = Faults(cluster, redis, weaviate, fault_every, rng)
    started = time.monotonic()
    if faults:
        injector.start()
    with httpx.Client(base_url=cluster.command_url, timeout=30) as client:
        for n in tqdm(range(commands), desc="soak", unit="cmd", disable=not progress):
            time.sleep(max(0.0, started + n / rate - time.monotonic()))  # paced: faults overlap
            doc_id = rng.choice(doc_ids)
            kind, path, body = _command(rng, doc_id, exists[doc_id])
            status = _send(client, kind, path, body)
            result.kinds[f"{kind} {status}"] += 1
            if kind == "refused":
                continue  # (refused: nothing written, whatever existed still does)
            exists[doc_id] = {"create": status in (201, 409), "delete": False}.get(
                kind, status == 200) if status != 404 else False
    deadline = time.monotonic() + fault_every * max(min_faults, 1) * 10
    while faults and len(injector.log) < min_faults and time.monotonic() < deadline:
        time.sleep(0.1)
    injector.done.set()
    if faults:
        injector.join()
    result.faults = injector.log
    result.seconds = time.monotonic() - started
    for i, node in enumerate(_nodes(weaviate)):  # so is a node a failed restart left down
        if node.process is None or not node.process.alive():
            weaviate.restart(i)
    for name, proc in list(cluster.procs.items()):  # whatever a fault left down comes back
        if proc.alive():
            continue
        if name.startswith("worker"):
            cluster.start_worker(name)
        else:
            cluster.start(name, *proc.args[3:])
    converging = time.monotonic()
    found = cluster.wait_converged(converge_timeout)
    result.converge_seconds = time.monotonic() - converging
    result.differences = {name: d.total for name, d in found.items()}
    result.live_documents = max((d.checked for d in found.values()), default=0)
    left = max(0.0, converge_timeout - result.converge_seconds)
    nodes = cluster.wait_nodes_converged(left) if _nodes(weaviate) else {}
    result.node_differences = {url: d.total for url, d in nodes.items()}
    result.converge_seconds = time.monotonic() - converging
    result.repaired = cluster.log_messages("worker-", REPAIRED_MARK)
    result.comparisons = len(cluster.log_messages("worker-", COMPARED))
    return result


RECONCILE_SECONDS = 15
"""How often the soak's relays enqueue the comparison of each store with PostgreSQL."""


DEFAULT_WORKERS = 3
"""Sync worker processes the soak runs (worker-1, …): batches of the same ids in parallel."""
DEFAULT_RELAYS = 2
"""Relay processes the soak runs (relay-1, …): outbox rows claimed side by side."""


def start_cluster(home: Path, redis: EmbeddedRedis, postgres: EmbeddedPostgres,
                  weaviate: Any, workers: int = DEFAULT_WORKERS,
                  relays: int = DEFAULT_RELAYS, env: dict[str, str] | None = None) -> Cluster:
    """The command API, relays and workers over these servers; ``weaviate``: an
    EmbeddedWeaviate, a WeaviateCluster (every node, replication factor N) or None; ``env``:
    more settings for every process (e.g. ENCODER)."""
    write = postgres.create_database(f"soak_{uuid.uuid4().hex[:8]}")
    read = postgres.create_database(f"soak_read_{uuid.uuid4().hex[:8]}")
    from command_side.migrate import upgrade

    upgrade(write)
    stores = "pgvector,weaviate" if weaviate is not None else "pgvector"
    settings = {"DATABASE_URL": write, "READ_DATABASE_URL": read, "REDIS_URL": redis.url,
           "SYNC_STORES": stores, "QUEUE_NAME": f"soak{uuid.uuid4().hex[:8]}",
           "RESEND_AFTER_SECONDS": "2", "WEAVIATE_COLLECTION": f"Soak{uuid.uuid4().hex[:8]}",
           "RECONCILE_EVERY_SECONDS": str(RECONCILE_SECONDS), **(env or {})}
    if _nodes(weaviate):
        settings |= weaviate.env()
    elif weaviate is not None:
        settings |= {"WEAVIATE_URL": weaviate.url, "WEAVIATE_GRPC_PORT": str(weaviate.grpc_port)}
    cluster = Cluster(home, settings)
    cluster.start_command_api()
    for n in range(1, relays + 1):
        cluster.start(f"relay-{n}", "relay")
    for n in range(1, workers + 1):
        cluster.start_worker(f"worker-{n}")
    return cluster


DEFAULT_WEAVIATE_NODES = 1
"""Weaviate servers the soak runs: one, as ``semsearch up`` does by default, because each node
is one more server sharing a small machine's cores with the workers' model; ``--weaviate-nodes
3`` soaks a replicated cluster (what tests/e2e/test_soak.py runs, on the session's cluster)."""


def start_weaviate(home: Path, nodes: int) -> Any:
    """One server, a cluster of ``nodes`` (replication factor ``nodes``), or None without a
    binary (pgvector alone)."""
    from operations.stack.weaviate import EmbeddedWeaviate, ensure_binary
    from operations.stack.weaviate_cluster import WeaviateCluster

    binary = ensure_binary(build=True)
    if binary is None:
        if nodes > 1:
            raise RuntimeError("--weaviate-nodes needs weaviate-server (Go to build it)")
        return None
    if nodes > 1:
        return WeaviateCluster(home / "weaviate-cluster", nodes, binary).start()
    return EmbeddedWeaviate(home / "weaviate", binary=binary).start()


def main(commands: int, ids: int, faults: bool, seed: int, rate: float = 50.0,
         workers: int = DEFAULT_WORKERS, relays: int = DEFAULT_RELAYS,
         weaviate_nodes: int = DEFAULT_WEAVIATE_NODES) -> int:
    home = Path(tempfile.mkdtemp(prefix="semsearch-soak-"))
    postgres = EmbeddedPostgres(home / "postgres", durable=False).start()
    redis = EmbeddedRedis(home / "redis").start()
    weaviate = start_weaviate(home, weaviate_nodes)
    cluster = start_cluster(home / "logs", redis, postgres, weaviate, workers, relays)
    try:
        result = soak(cluster, redis, weaviate, commands, ids, faults, seed=seed, rate=rate)
    finally:
        cluster.stop()
        for service in (weaviate, redis, postgres):
            if service is not None:
                service.stop()
    print(f"{workers} workers, {relays} relays, {weaviate_nodes} Weaviate node(s); "
          f"{result.commands} commands over {result.ids} ids in {result.seconds:.0f}s; "
          f"{len(result.faults)} faults: {', '.join(f.split(' ', 1)[1] for f in result.faults)}")
    print("commands: " + ", ".join(f"{k}: {v}" for k, v in sorted(result.kinds.items())))
    print(f"converged in {result.converge_seconds:.1f}s; live documents {result.live_documents}; "
          f"differences per store: {result.differences}")
    if result.node_differences:
        print(f"differences per Weaviate node: {result.node_differences}")
    print(f"periodic comparisons of a store with PostgreSQL: {result.comparisons}, "
          f"documents they repaired: {len(result.repaired)}")
    for line in result.repaired:
        print(f"  {line}")
    return 0 if result.ok else 1

"""The whole stack on one machine: services, migrations, relay, worker and both APIs.

PostgreSQL and Redis are embedded unless DATABASE_URL / REDIS_URL point elsewhere; Weaviate runs
when a ``weaviate-server`` binary is at hand (built once with ``go install`` and cached) and the
chosen store allows it. Every child runs in its own process group, dies with this process and is
stopped on exit, all at once within STOP_GRACE + KILL_WAIT seconds (operations/stack/process.py);
the next start on the data folder ends whatever the last one left (operations/stack/leftovers.py).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any, Literal

import httpx

from embeddings.encoder import DEFAULT_ENCODER
from operations.stack import datafolder
from operations.stack.leftovers import Ledger, end_leftovers
from operations.stack.postgres import EmbeddedPostgres
from operations.stack.process import Managed, free_port, stop_all, wait_until
from operations.stack.redis import EmbeddedRedis

StoreChoice = Literal["auto", "pgvector", "weaviate"]


@dataclass
class StackConfig:
    store: StoreChoice = "auto"
    command_port: int = 8001
    query_port: int = 8002
    data_dir: Path | None = None
    """Where the data lives and stays; None: a temporary folder, deleted on stop."""
    encoder: str = field(default_factory=lambda: os.environ.get("ENCODER") or DEFAULT_ENCODER)
    """The children's ENCODER: as this process's environment sets it, else the default."""
    require_weaviate: bool = False
    weaviate_nodes: int = 1
    """Above 1: a replicated cluster of that many nodes (operations/stack/weaviate_cluster.py)."""
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    """Sync worker processes, named worker-1, worker-2, …; they share the store queues."""
    relays: int = 1
    """Relay processes, named relay-1, relay-2, …; they claim outbox rows with SKIP LOCKED."""


class LocalStack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self._temporary = config.data_dir is None
        self.home = config.data_dir or Path(tempfile.mkdtemp(prefix="semsearch-"))
        self.home.mkdir(parents=True, exist_ok=True)
        self._lock: IO[str] | None = None
        self.ledger = Ledger(self.home)
        self.postgres: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None
        self.weaviate: object | None = None
        self.children: dict[str, Managed] = {}
        self.env: dict[str, str] = {}
        self.notes: list[str] = []

    @property
    def command_url(self) -> str:
        return f"http://127.0.0.1:{self.config.command_port}"

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.config.query_port}"

    def start_services(self) -> dict[str, str]:
        """Databases, Redis and (where possible) Weaviate; returns the settings for children."""
        env = {"ENCODER": self.config.encoder, **self.config.extra_env}
        database_url = os.environ.get("DATABASE_URL")
        if database_url:
            env["DATABASE_URL"] = database_url
            env["READ_DATABASE_URL"] = os.environ.get("READ_DATABASE_URL", database_url)
        else:
            self.postgres = EmbeddedPostgres(self.home / "postgres", ledger=self.ledger).start()
            env["DATABASE_URL"] = self.postgres.create_database("semsearch")
            env["READ_DATABASE_URL"] = self.postgres.create_database("semsearch_read")
        if os.environ.get("REDIS_URL"):
            env["REDIS_URL"] = os.environ["REDIS_URL"]
        else:
            self.redis = EmbeddedRedis(self.home / "redis", ledger=self.ledger).start()
            env["REDIS_URL"] = self.redis.url
        env |= self._start_weaviate()
        env |= self._auth()
        from command_side.migrate import upgrade

        upgrade(env["DATABASE_URL"])
        self.env = env
        return env

    def _start_weaviate(self) -> dict[str, str]:
        if self.config.store == "pgvector":
            self.notes.append("store: pgvector (Weaviate not requested)")
            return {"SYNC_STORES": "pgvector", "STORE": "pgvector"}
        from operations.stack.weaviate import EmbeddedWeaviate, ensure_binary

        binary = ensure_binary(build=True)
        if binary is None:
            if self.config.require_weaviate or self.config.store == "weaviate":
                raise RuntimeError("Weaviate was asked for but no weaviate-server binary is "
                                   "available and Go is missing to build it")
            self.notes.append("store: pgvector only (no Go here to build weaviate-server)")
            return {"SYNC_STORES": "pgvector", "STORE": "pgvector"}
        if self.config.weaviate_nodes > 1:
            return self._start_weaviate_cluster(binary)
        weaviate = EmbeddedWeaviate(self.home / "weaviate", binary=binary,
                                    ledger=self.ledger).start()
        self.weaviate = weaviate
        self.notes.append(f"store: {self.config.store} (Weaviate {weaviate.url}, pgvector fallback)")
        return {"SYNC_STORES": "pgvector,weaviate", "STORE": self.config.store,
                "WEAVIATE_URL": weaviate.url, "WEAVIATE_GRPC_PORT": str(weaviate.grpc_port)}

    def _start_weaviate_cluster(self, binary: Path) -> dict[str, str]:
        from operations.stack.weaviate_cluster import WeaviateCluster

        cluster = WeaviateCluster(self.home / "weaviate-cluster", self.config.weaviate_nodes,
                                  binary, self.ledger).start()
        self.weaviate = cluster
        self.notes.append(f"store: {self.config.store} (Weaviate cluster of {len(cluster.nodes)}"
                          f" nodes, replication factor {len(cluster.nodes)}: "
                          f"{' '.join(cluster.urls)}; pgvector fallback)")
        return {"SYNC_STORES": "pgvector,weaviate", "STORE": self.config.store, **cluster.env()}

    def _auth(self) -> dict[str, str]:
        """Keys when the environment gives them; else an open stack, on loopback only."""
        given = {**os.environ, **self.config.extra_env}
        if any(given.get(name) for name in
               ("AUTH", "ADMIN_KEYS", "ADMIN_KEYS_FILE", "READ_KEYS", "READ_KEYS_FILE")):
            self.notes.append("auth: as set (AUTH, ADMIN_KEYS, READ_KEYS)")
            return {}
        self.notes.append("auth: off (loopback only; set ADMIN_KEYS and READ_KEYS, name:secret,…, "
                          "to require keys)")
        return {"AUTH": "off"}

    def spawn(self, name: str, *args: str, env: dict[str, str] | None = None,
              launcher: list[str] | None = None) -> Managed:
        """``launcher``: a command the process runs under (a profiler: ``py-spy record … --``)."""
        child_env = {**os.environ, **self.env, **(env or {}), "PYTHONUNBUFFERED": "1"}
        managed = Managed(name, [*(launcher or []), sys.executable, "-m", "semsearch.cli", *args],
                          self.home / "logs" / f"{name}.log", env=child_env,
                          ledger=self.ledger).start()
        self.children[name] = managed
        return managed

    def start_processes(self) -> None:
        for n in range(1, self.config.relays + 1):
            self.spawn(f"relay-{n}", "relay")
        for n in range(1, self.config.workers + 1):
            self.spawn(f"worker-{n}", "worker")
        self.spawn("command-api", "command-api", "--port", str(self.config.command_port))
        self.spawn("query-api", "query-api", "--port", str(self.config.query_port))
        for name, url in (("command-api", self.command_url), ("query-api", self.query_url)):
            wait_until(partial(answers, f"{url}/readyz"), 180, name,
                       self.home / "logs" / f"{name}.log", self.children[name].alive)

    def hold_folder(self) -> None:
        """Take the data folder's lock (:mod:`operations.stack.datafolder`); raises
        ``FolderInUse`` if another stack holds it), then end what the last stack on it left."""
        if self._lock is None:
            self._lock = datafolder.lock(self.home)
            ended = end_leftovers(self.ledger)
            if ended:
                self.notes.append(f"ended what the last stack left running: {', '.join(ended)}")

    def start(self) -> LocalStack:
        self.hold_folder()
        try:
            self.start_services()
            self.start_processes()
        except BaseException:
            self.stop()
            raise
        self.record("running")
        return self

    def record(self, state: str) -> None:
        """``stack.json``: this process, its children and the settings they run with (no keys)."""
        datafolder.record(self.home, {
            "pid": os.getpid(), "state": state, "command_url": self.command_url,
            "query_url": self.query_url,
            "children": {name: child.pid for name, child in self.children.items()},
            "services": {name: process.pid for name, process in self.service_processes()},
            "env": {k: v for k, v in self.env.items() if "KEY" not in k},
            "weaviate_nodes": [{"name": node.name, "url": node.url,
                                "pid": node.process.pid if node.process else None}
                               for node in self.weaviate_nodes()],
        })

    def weaviate_nodes(self) -> list[Any]:
        """Each Weaviate server this stack started: a cluster's nodes, or the one server."""
        return getattr(self.weaviate, "nodes", None) or (
            [self.weaviate] if self.weaviate is not None else [])

    def service_processes(self) -> list[tuple[str, Managed]]:
        found = [("postgres", self.postgres), ("redis", self.redis), ("weaviate", self.weaviate),
                 *((node.name, node) for node in getattr(self.weaviate, "nodes", []))]
        processes = [(name, getattr(service, "process", None)) for name, service in found]
        return [(name, process) for name, process in processes if process is not None]

    def stop(self) -> None:
        """Every process at once: SIGTERM, then SIGKILL after STOP_GRACE seconds."""
        stop_all([*self.children.values(), *(p for _, p in self.service_processes())])
        for service in (self.weaviate, self.redis, self.postgres):
            if service is not None:
                service.stop()  # type: ignore[attr-defined]
        if self._lock is not None:
            self.ledger.clear()
            datafolder.release(self.home, self._lock)
            self._lock = None
        if self._temporary:
            shutil.rmtree(self.home, ignore_errors=True)


def answers(url: str) -> bool:
    return httpx.get(url, timeout=2).status_code == 200


def pick_ports(config: StackConfig) -> StackConfig:
    """Free ports for tests and benchmarks that run beside a developer's own stack."""
    config.command_port, config.query_port = free_port(), free_port()
    return config
